#!/bin/bash
# Here, after the GPU run: the runs' files (from collect.py) -> run folders -> generation bundles.
# usage: bash recipes/gpu/unpack.sh FILES_DIR RUNS_DIR
set -euo pipefail
SRC=$1; RUNS=$2
HERE=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$RUNS"
tar xf "$SRC/runs.tar" -C "$RUNS"
for c in time-locked none global; do
  cat "$SRC/joint-$c.xz.0" "$SRC/joint-$c.xz.1" | xz -dc > "$RUNS/joint-$c/model/model.safetensors"
  s=2; [ $c = none ] && s=0
  duetto-train export "$RUNS/joint-$c" --half --guidance 6 --video-guidance 2 --guidance-max-t 0.85 --sync-scale $s \
    --video-vae "$HERE/samples/vae-video-tiny" --audio-vae "$HERE/samples/vae-audio-tiny" --out "$RUNS/bundle-$c"
done
