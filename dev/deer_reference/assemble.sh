#!/usr/bin/env bash
# Assemble DeeR-VLA's own inference code into $OUT (default /tmp/deer_ref/src) for run_deer.py.
#   DEER_REPO: a clone of github.com/yueyang130/DeeR-VLA (tested at b30de50)
#   MPT_CODE:  a folder with MosaicGPT's remote code (attention.py, gpt_blocks.py,
#              low_precision_layernorm.py), as shipped in mosaicml/mpt-1b-redpajama-200b-dolly
# Nothing here is copied into the product; the assembled tree stays outside the repository.
set -euo pipefail
DEER_REPO=${DEER_REPO:?clone of yueyang130/DeeR-VLA}
MPT_CODE=${MPT_CODE:?folder with MosaicGPT attention.py gpt_blocks.py low_precision_layernorm.py}
OUT=${OUT:-/tmp/deer_ref/src}
HERE=$(cd "$(dirname "$0")" && pwd)
rm -rf "$OUT" && mkdir -p "$OUT/mosaic_ref"
git -C "$DEER_REPO" archive HEAD robot_flamingo/models robot_flamingo/data/data.py \
    open_flamingo/open_flamingo/src \
    open_flamingo/open_flamingo/__init__.py mosaic_gpt_3b.py \
  | tar -x -C "$OUT"
mv "$OUT/open_flamingo/open_flamingo" "$OUT/open_flamingo_pkg" && rm -rf "$OUT/open_flamingo"
mv "$OUT/open_flamingo_pkg" "$OUT/open_flamingo"
touch "$OUT/robot_flamingo/__init__.py" "$OUT/robot_flamingo/models/__init__.py"
for f in attention.py gpt_blocks.py low_precision_layernorm.py; do cp "$MPT_CODE/$f" "$OUT/mosaic_ref/"; done
cp "$OUT/mosaic_gpt_3b.py" "$OUT/mosaic_ref/mosaic_gpt.py"              # DeeR's MosaicGPT
cp "$HERE/mosaic_config.py" "$OUT/mosaic_ref/configuration_mosaic_gpt.py"
# initialisation is irrelevant: every weight is loaded afterwards (run_deer.py checks it)
printf 'import collections\nMODEL_INIT_REGISTRY = collections.defaultdict(lambda: lambda **kw: None)\n' \
  > "$OUT/mosaic_ref/param_init_fns.py"
touch "$OUT/mosaic_ref/__init__.py"
echo "$OUT"
