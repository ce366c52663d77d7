#!/usr/bin/env bash
# The recipes of the joint models (samples/duetto-tiny, its CPU ablations), after recipes/tiny-vaes.sh; the shipped
# bundle's own is at the end (a GPU run, then a CPU leg).
#
#   recipes/tiny-joint.sh RUNS [STEPS]
#
# Latents: the 1,320 synthetic clips of recipes/tiny-vaes.sh encoded with the shipped VAEs (fp16). Three runs
# with the same settings and seed differ only in their cross-modal attention: time-locked (+-0.2 s, shipped),
# none, and global. Training windows are 2 s crops; the video latents (16 x 8 x 8 per frame) go in 4 x 4
# patches, 4 tokens per frame. On a 2-core CPU with the three runs side by side (1 thread each) each runs at
# about 0.5 updates/s (batch 8); alone with 2 threads, about 1.2. Every step resumes.
# Evaluation prompts and given streams come from held-out synthetic clips of other seeds (90000 up).
set -euo pipefail
# --voice-dim 64: the voice embedding these models were trained with (without the pitch added on 2026-12-08)
RUNS=${1:?usage: recipes/tiny-joint.sh RUNS [STEPS]}
STEPS=${2:-2000}
HERE=$(cd "$(dirname "$0")/.." && pwd)
VVAE=$HERE/samples/vae-video-tiny
AVAE=$HERE/samples/vae-audio-tiny
[ -d "$RUNS/latents" ] || duetto-data encode "$RUNS"/shards-big/{impacts,music,speech} "$RUNS"/shards/{impacts,music,speech} \
  --video-vae "$VVAE" --audio-vae "$AVAE" --out "$RUNS/latents" --dtype float16 --quiet
for f in impacts music speech; do
  [ -d "$RUNS/shards-heldout/$f" ] || duetto-data synth --family "$f" --n 24 --seconds 4 --seed 90000 \
    --out "$RUNS/shards-heldout/$f" --quiet
done
for cross in time-locked none global; do
  OMP_NUM_THREADS=1 duetto-train joint --data "$RUNS/latents" --preset tiny --voice-dim 64 --video-patch 4 --cross "$cross" \
    --steps "$STEPS" --out "$RUNS/joint-$cross" --batch-size 8 --crop-seconds 2 --lr 5e-4 --warmup 200 \
    --ema-decay 0.995 --held-out 0.03 --ckpt-every 100 --eval-every 500 --log-every 50 --no-progress &
done
wait
for cross in time-locked none global; do
  duetto-train export "$RUNS/joint-$cross" --half --video-vae "$VVAE" --audio-vae "$AVAE" --out "$RUNS/bundle-$cross"
  duetto-train eval "$RUNS/bundle-$cross" --clips "$RUNS"/shards-heldout/* --n 64 --out "$RUNS/eval-$cross" --no-progress
done
for given in video audio; do
  duetto-train eval "$RUNS/bundle-time-locked" --clips "$RUNS"/shards-heldout/* --given "$given" --n 64 \
    --out "$RUNS/eval-given-$given" --no-progress
done
# The shipped bundle is the time-locked run trained on in a second leg: the same command with --steps 6000 (the
# cosine restarts from 3.5e-4 and ends at 0 at 6,000), exported with guidance 6 (see samples/README.md). The
# ablations at 4,000 updates: the none and global runs resumed the same way and stopped by hand once their
# step-4000 checkpoint existed (the trainer keeps the newest three), exported with --step 4000:
#   duetto-train joint ...each command above... --steps 6000
#   duetto-train export "$RUNS/joint-time-locked" --half --guidance 6 --video-vae "$VVAE" --audio-vae "$AVAE" \
#     --out "$RUNS/bundle-time-locked"
#   duetto-train eval BUNDLE --clips "$RUNS"/shards-heldout/* --n 64 --video-scale 6 --audio-scale 6
# Third leg (the shipped bundle): a new run started from that bundle's weights, with 15 % of clips denoised
# with the streams apart (what cross-modal guidance compares against), fresh batches (seed 1), 2,000 updates
# (lr 3e-4, 200 warm-up, cosine to 2,000), exported with guidance 6 and cross-modal guidance 2. (The shipped run
# was first started with --steps 5000 and resumed from its step-500 checkpoint with --steps 2000, so its first
# 500 updates ran at a slightly higher learning rate than this command gives.) It starts from whatever
# "$RUNS/bundle-time-locked" holds: run the second leg above first, or it fine-tunes the 2,000-update model.
duetto-train joint --data "$RUNS/latents" --preset tiny --voice-dim 64 --video-patch 4 --steps 2000 --out "$RUNS/joint-ft" \
  --batch-size 8 --crop-seconds 2 --lr 3e-4 --warmup 200 --ema-decay 0.995 --held-out 0.03 --ckpt-every 250 \
  --eval-every 1000 --log-every 50 --init "$RUNS/bundle-time-locked" --cross-dropout 0.15 --seed 1 --no-progress
duetto-train export "$RUNS/joint-ft" --half --guidance 6 --sync-scale 2 --video-vae "$VVAE" --audio-vae "$AVAE" \
  --out "$RUNS/bundle-ft"
duetto-train eval "$RUNS/bundle-ft" --clips "$RUNS"/shards-heldout/* --n 64 --out "$RUNS/eval-ft" --no-progress
# Fourth leg: the flow loss weighted up where the latents change in time (--change-weight 3), fresh batches
# (seed 2), 2,000 updates from the third leg's weights. Its control, the same command without --change-weight,
# is the "plain" row of the card.
duetto-train joint --data "$RUNS/latents" --preset tiny --voice-dim 64 --video-patch 4 --steps 2000 --out "$RUNS/joint-change" \
  --batch-size 8 --crop-seconds 2 --lr 3e-4 --warmup 200 --ema-decay 0.995 --held-out 0.03 --ckpt-every 250 \
  --eval-every 1000 --log-every 50 --init "$RUNS/bundle-ft" --cross-dropout 0.15 --change-weight 3 --seed 2 \
  --no-progress
# Fifth leg: the same from the fourth leg's weights, seed 3, 3,000 updates; from this leg on
# a cropped speech window is given only the words spoken in it.
duetto-train joint --data "$RUNS/latents" --preset tiny --voice-dim 64 --video-patch 4 --steps 3000 --out "$RUNS/joint-change2" \
  --batch-size 8 --crop-seconds 2 --lr 3e-4 --warmup 200 --ema-decay 0.995 --held-out 0.03 --ckpt-every 250 \
  --eval-every 1000 --log-every 50 --init "$RUNS/joint-change/model" --cross-dropout 0.15 --change-weight 3 \
  --seed 3 --no-progress
# Sixth and seventh legs (the shipped bundle): the same settings at half the peak learning rate, 100 warm-up,
# 2,000 updates (seed 4) and then 2,500 more (seed 7). An eighth leg (2,500 more at lr 1.2e-4, seed 8) and the mean of
# legs 7 and 8's weights were tried and not shipped, as was a ninth leg from leg 7 with --family-weight speech=2
# (1,500 updates, lr 1e-4, seed 9; samples/README.md).
duetto-train joint --data "$RUNS/latents" --preset tiny --voice-dim 64 --video-patch 4 --steps 2000 --out "$RUNS/joint-change3" \
  --batch-size 8 --crop-seconds 2 --lr 1.5e-4 --warmup 100 --ema-decay 0.995 --held-out 0.03 --ckpt-every 250 \
  --eval-every 1000 --log-every 50 --init "$RUNS/joint-change2/model" --cross-dropout 0.15 --change-weight 3 \
  --seed 4 --no-progress
duetto-train joint --data "$RUNS/latents" --preset tiny --voice-dim 64 --video-patch 4 --steps 2500 --out "$RUNS/joint-change4" \
  --batch-size 8 --crop-seconds 2 --lr 1.5e-4 --warmup 100 --ema-decay 0.995 --held-out 0.03 --ckpt-every 250 \
  --eval-every 1000 --log-every 50 --init "$RUNS/joint-change3/model" --cross-dropout 0.15 --change-weight 3 \
  --seed 7 --no-progress
# Sampling (2026-12-04, chosen on prompts from seeds 95000+ that no other choice has seen; samples/README.md): the
# picture guided at 2 rather than 6, and both kinds of guidance only at flow times <= 0.85 (the noisiest steps
# unguided). The weights are leg 7's, unchanged.
duetto-train export "$RUNS/joint-change4" --half --guidance 6 --video-guidance 2 --guidance-max-t 0.85 --sync-scale 2 \
  --video-vae "$VVAE" --audio-vae "$AVAE" --out "$RUNS/bundle-change4"
duetto-train eval "$RUNS/bundle-change4" --clips "$RUNS"/shards-heldout/* --n 64 --out "$RUNS/eval-change4" --no-progress
# Leg 7 shipped until 2026-12-04 (evening). The bundle shipped since then is another lineage: the time-locked run of
# recipes/gpu/ablation.sh (1,500 updates of batch 32 on a GPU; see recipes/gpu/README.md), its EMA repaired with
# recipes/gpu/debias.py (that run's EMA had no warm-up yet) and exported by recipes/gpu/unpack.sh into
# "$RUNS/gpu/bundle-time-locked", then one leg on the CPU:
duetto-train joint --data "$RUNS/latents" --preset tiny --voice-dim 64 --video-patch 4 --steps 3000 --out "$RUNS/joint-gpu-ft" \
  --batch-size 8 --crop-seconds 2 --lr 1.5e-4 --warmup 100 --ema-decay 0.995 --held-out 0.03 --ckpt-every 250 \
  --eval-every 1000 --log-every 50 --init "$RUNS/gpu/bundle-time-locked" --cross-dropout 0.15 --change-weight 3 \
  --seed 12 --no-progress
duetto-train export "$RUNS/joint-gpu-ft" --half --guidance 6 --video-guidance 2 --guidance-max-t 0.85 --sync-scale 2 \
  --video-vae "$VVAE" --audio-vae "$AVAE" --out "$RUNS/bundle-gpu-ft"
duetto-train eval "$RUNS/bundle-gpu-ft" --clips "$RUNS"/shards-heldout/* --n 64 --out "$RUNS/eval-gpu-ft" --no-progress
rm -rf "$HERE/samples/duetto-tiny" && cp -r "$RUNS/bundle-gpu-ft" "$HERE/samples/duetto-tiny"
