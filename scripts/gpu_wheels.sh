#!/usr/bin/env bash
# The cp312 wheels the GPU machine lacks, for `deer-ros bench gpu` there (docs/performance.md).
#
#   scripts/gpu_wheels.sh download   fetch them into wheels/cp312 (gitignored), versions pinned
#                                    by requirements/constraints.txt
#   scripts/gpu_wheels.sh check      prove the set-up step of scripts/gpu_check.sh works here:
#                                    an offline cp312 install from wheels/cp312 alone, and every
#                                    requirement of those wheels either carried or on the GPU
#                                    machine already (its package list, below)
#
# The GPU machine (/work/.library/device/KINDS.md) has Python 3.12 with torch, torchvision,
# transformers, tokenizers, timm, einops, safetensors, huggingface-hub, regex, tqdm, numpy,
# pillow, pyyaml, opencv-python-headless and nvidia-ml-py, and no package registry. deer_ros
# imports open_flamingo's helpers (which import open_clip, einops_exts) and open_clip imports
# ftfy (which needs wcwidth): those five are carried. The ros-* wheels are not: deer_ros's own
# messages need a colcon/rosidl build for cp312 there, so the node run falls back to the engine
# alone and says so (deer_ros/bench/node_budgets.py).
set -euo pipefail
cd "$(dirname "$0")/.."
DEST=${DEER_ROS_WHEELS:-wheels/cp312}
PY=${PYTHON:-.venv/bin/python}
CARRIED=(open-flamingo open_clip_torch einops-exts ftfy wcwidth)
# Requirements already met on the GPU machine (names as pip normalises them).
ON_GPU=" torch torchvision transformers tokenizers timm einops safetensors huggingface-hub regex "
ON_GPU+="tqdm numpy pillow pyyaml opencv-python-headless nvidia-ml-py protobuf packaging "
ON_GPU+="sentencepiece "

pins() {
  for name in "${CARRIED[@]}"; do
    pin=$(grep -i "^${name}==" requirements/constraints.txt || true)
    [ -n "$pin" ] || { echo "no pin for $name in requirements/constraints.txt" >&2; exit 1; }
    echo "$pin"
  done
}

case "${1:-}" in
  download)
    mkdir -p "$DEST"
    "$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
      --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
      --platform manylinux2014_x86_64 --platform any -d "$DEST" $(pins)
    ls -l "$DEST"
    ;;
  check)
    ls "$DEST"/*.whl >/dev/null 2>&1 || { echo "no wheels in $DEST: run '$0 download'" >&2; exit 1; }
    [ "$(ls "$DEST"/*.whl | wc -l)" -eq "${#CARRIED[@]}" ] \
      || { echo "$DEST must hold exactly one wheel of each: ${CARRIED[*]}" >&2; exit 1; }
    export PIP_CONFIG_FILE=/dev/null     # wheels/cp312 alone, as on the GPU machine
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    # 1. What gpu_check.sh runs there, resolved for cp312 with no index.
    "$PY" -m pip install -q --dry-run --no-index --no-deps --find-links "$DEST" \
      --python-version 3.12 --only-binary=:all: --target "$tmp/site" $(pins)
    # 2. Every requirement of the carried wheels is carried or already on the GPU machine.
    missing=0
    for whl in "$DEST"/*.whl; do
      for req in $(unzip -p "$whl" '*.dist-info/METADATA' | grep '^Requires-Dist:' \
                   | grep -v 'extra ==' | sed -E 's/^Requires-Dist: *([A-Za-z0-9_.-]+).*/\1/' \
                   | tr 'A-Z_.' 'a-z--'); do
        carried=" $(printf '%s ' "${CARRIED[@]}" | tr 'A-Z_.' 'a-z--') "
        if [[ "$ON_GPU" != *" $req "* && "$carried" != *" $req "* ]]; then
          echo "$(basename "$whl") needs $req: neither carried nor on the GPU machine" >&2
          missing=1
        fi
      done
    done
    [ "$missing" = 0 ] || exit 1
    # 3. A real offline install into a throwaway folder with a cp312 interpreter, when there is one.
    PY312=${PY312:-python3.12}
    if "$PY312" -c 'import sys; assert sys.version_info[:2] == (3, 12)' 2>/dev/null; then
      "$PY312" -m pip install -q --no-index --no-deps --no-compile --target "$tmp/real" \
        "$DEST"/*.whl
      echo "installed with $("$PY312" --version) into a throwaway folder"
    else
      echo "no Python 3.12 here (PY312=...): the offline install was checked as a dry run only"
    fi
    echo "gpu wheels OK: $(ls "$DEST" | tr '\n' ' ')($(du -sh "$DEST" | cut -f1))"
    ;;
  *)
    echo "usage: $0 download|check" >&2
    exit 2
    ;;
esac
