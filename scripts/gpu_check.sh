#!/usr/bin/env bash
# The one command to give the device tool's `run` on a lent GPU (docs/performance.md):
#
#   run(command="bash scripts/gpu_check.sh", carry=["wheels/cp312"], timeout_s=600)
#
# after `scripts/gpu_wheels.sh download && scripts/gpu_wheels.sh check` here. It installs the
# carried cp312 wheels offline (the GPU machine has no package registry), checks that the stack
# imports, then runs `deer-ros bench gpu` for each preset, all under one time budget, writing
# $OUT/<preset>/{gpu.json,gpu.md,environment.json,memory_trace.json} (8 files for two presets:
# what the device tool brings back). Each preset's run writes after every section, so one stopped
# by its timeout keeps what it measured. Settings (environment variables):
#   DEER_ROS_GPU_PRESETS  presets, in order                      (default: deer-3b deer-9b)
#   DEER_ROS_GPU_BUDGET_S seconds for all presets together       (default: 540)
#   DEER_ROS_GPU_DEVICE   torch device                           (default: cuda)
#   DEER_ROS_WHEELS       the carried wheels                     (default: wheels/cp312)
#   PYTHON                the interpreter holding torch          (default: python3)
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-runs/gpu}
WHEELS=${DEER_ROS_WHEELS:-wheels/cp312}
read -r -a PRESETS <<< "${DEER_ROS_GPU_PRESETS:-deer-3b deer-9b}"
BUDGET_S=${DEER_ROS_GPU_BUDGET_S:-540}
DEVICE=${DEER_ROS_GPU_DEVICE:-cuda}
PY=${PYTHON:-python3}
export PYTHONUNBUFFERED=1
start=$SECONDS

if ls "$WHEELS"/*.whl >/dev/null 2>&1; then
  site=$(mktemp -d)/site
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target "$site" "$WHEELS"/*.whl || { echo "gpu_check: installing $WHEELS failed"; exit 1; }
  export PYTHONPATH=$PWD:$site
else
  echo "gpu_check: no wheels in $WHEELS (carry it); using what $PY has"
  export PYTHONPATH=$PWD
fi
nvidia-smi --query-gpu=name,driver_version,memory.total,memory.used --format=csv \
  2>/dev/null || echo "gpu_check: nvidia-smi absent"
"$PY" -c 'import torch, open_clip, open_flamingo, deer_ros.bench.gpu
print("gpu_check: torch", torch.__version__, "CUDA", torch.version.cuda,
      "available", torch.cuda.is_available())' || { echo "gpu_check: imports failed"; exit 1; }

rc=0
for i in "${!PRESETS[@]}"; do
  preset=${PRESETS[$i]}
  left=$(( BUDGET_S - (SECONDS - start) ))
  share=$(( left / (${#PRESETS[@]} - i) ))
  if [ "$share" -lt 30 ]; then echo "gpu_check: no time left for $preset"; rc=1; continue; fi
  mkdir -p "$OUT/$preset"
  echo "gpu_check: $preset on $DEVICE, ${share} s (sections start until $(( share * 3 / 4 )) s)"
  timeout -k 10 "$share" "$PY" -m deer_ros.cli bench gpu --preset "$preset" --device "$DEVICE" \
    --time-limit-s $(( share * 3 / 4 )) --out "$OUT/$preset" --strict > /dev/null
  status=$?
  [ "$status" = 0 ] || { echo "gpu_check: $preset exited $status"; rc=1; }
  # The reply carries the end of the output: each preset's section table and headline figures.
  [ -f "$OUT/$preset/gpu.md" ] && sed -n '1,12p' "$OUT/$preset/gpu.md"
done
echo "gpu_check: done in $(( SECONDS - start )) s"
exit $rc
