#!/usr/bin/env bash
# The recipe for the shipped tiny autoencoders: synthetic shards, both VAEs, then fp16 exports into samples/.
#
#   recipes/tiny-vaes.sh RUNS [VIDEO_STEPS] [AUDIO_STEPS] [EXPORT_STEP_VIDEO] [EXPORT_STEP_AUDIO]
#
# Data: 40 clips per family from seed 0 and 400 per family from seed 2000 (4 s, 64x64, 16 kHz), 1,320 clips,
# 3 % held out for the runs' own evaluation. Held-out figures for the closing notes come from other seeds
# (90000 up, bench/vae_quality.py).
#
# Every step resumes: shards that exist are kept, runs continue from their newest checkpoint, and a run can be
# exported while it trains (duetto-train export --step N). On a 2-core CPU the frame-by-frame (x1) video VAE
# trains at about 1.3 updates/s (batch 4 x 9 frames, 2 threads) and the audio VAE at about 3 updates/s (batch
# 4 x 1 s); a GPU is far faster (the trainer uses bf16 autocast there). The video VAE is `tiny-x1` at lr 3e-4:
# bench/vae_capacity.py --clips 96 measured it keeping moving objects 3 dB better than x4 after 400 updates.
set -euo pipefail
RUNS=${1:?usage: recipes/tiny-vaes.sh RUNS [VIDEO_STEPS] [AUDIO_STEPS] [EXPORT_STEP_VIDEO] [EXPORT_STEP_AUDIO]}
VSTEPS=${2:-20000}
ASTEPS=${3:-20000}
HERE=$(cd "$(dirname "$0")/.." && pwd)
DATA=()
for f in impacts music speech; do
  [ -d "$RUNS/shards/$f" ] || duetto-data synth --family "$f" --n 40 --seconds 4 --seed 0 --out "$RUNS/shards/$f" --quiet
  [ -d "$RUNS/shards-big/$f" ] || duetto-data synth --family "$f" --n 400 --seconds 4 --seed 2000 \
    --out "$RUNS/shards-big/$f" --quiet
  DATA+=("$RUNS/shards-big/$f" "$RUNS/shards/$f")
done
duetto-train vae --modality video --data "${DATA[@]}" --preset tiny-x1 --steps "$VSTEPS" --out "$RUNS/vvae-tiny" \
  --frames 9 --batch-size 4 --lr 3e-4 --ema-decay 0.995 --ckpt-every 100 --eval-every 250 --log-every 50 \
  --held-out 0.03 --no-progress
duetto-train vae --modality audio --data "${DATA[@]}" --preset tiny --steps "$ASTEPS" --gan-start $((ASTEPS * 4 / 5)) \
  --out "$RUNS/avae-tiny" --seconds 1 --batch-size 4 --lr 3e-4 --ema-decay 0.995 --ckpt-every 200 --eval-every 500 \
  --log-every 50 --held-out 0.03 --no-progress
duetto-train export "$RUNS/vvae-tiny" ${4:+--step "$4"} --half --out "$HERE/samples/vae-video-tiny"
duetto-train export "$RUNS/avae-tiny" ${5:+--step "$5"} --half --out "$HERE/samples/vae-audio-tiny"
