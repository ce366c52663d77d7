#!/usr/bin/env bash
# The recipe for the shipped tiny autoencoders: synthetic shards, both VAEs, then an fp16 export into samples/.
#
#   recipes/tiny-vaes.sh RUNS [CLIPS_PER_FAMILY] [VIDEO_STEPS] [AUDIO_STEPS]
#
# Every step resumes: shards that exist are kept, runs continue from their newest checkpoint. On a 2-core CPU
# the video VAE trains at about 0.6 updates/s (batch 4 x 9 frames) and the audio VAE at about 2 updates/s
# (batch 4 x 1 s); a GPU is far faster (the trainer uses bf16 autocast there).
set -euo pipefail
RUNS=${1:?usage: recipes/tiny-vaes.sh RUNS [CLIPS_PER_FAMILY] [VIDEO_STEPS] [AUDIO_STEPS]}
CLIPS=${2:-40}
VSTEPS=${3:-20000}
ASTEPS=${4:-20000}
HERE=$(cd "$(dirname "$0")/.." && pwd)
for f in impacts music speech; do
  [ -d "$RUNS/shards/$f" ] || duetto-data synth --family "$f" --n "$CLIPS" --seconds 4 --seed 0 --out "$RUNS/shards/$f" --quiet
done
DATA=("$RUNS/shards/impacts" "$RUNS/shards/music" "$RUNS/shards/speech")
duetto-train vae --modality video --data "${DATA[@]}" --preset tiny --steps "$VSTEPS" --out "$RUNS/vvae-tiny" \
  --frames 9 --batch-size 4 --lr 1e-3 --ema-decay 0.995 --ckpt-every 100 --eval-every 500 --log-every 50 --no-progress
duetto-train vae --modality audio --data "${DATA[@]}" --preset tiny --steps "$ASTEPS" --gan-start $((ASTEPS * 4 / 5)) \
  --out "$RUNS/avae-tiny" --seconds 1 --batch-size 4 --lr 3e-4 --ema-decay 0.995 --ckpt-every 200 --eval-every 500 \
  --log-every 50 --no-progress
python - "$RUNS" "$HERE/samples" <<'PY'
import sys, torch
from duetto.data.autoencoder import load_autoencoder
runs, samples = sys.argv[1], sys.argv[2]
for run, name in (("vvae-tiny", "vae-video-tiny"), ("avae-tiny", "vae-audio-tiny")):
    print(load_autoencoder(f"{runs}/{run}/model").save_pretrained(f"{samples}/{name}", dtype=torch.float16))
PY
