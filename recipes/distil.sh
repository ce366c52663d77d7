#!/usr/bin/env bash
# The 4-step student of the shipped samples/duetto-tiny (issue: fast sampling), as made on 2026-12-06 on the 2-core CPU.
#
#   recipes/distil.sh RUNS
#
# RUNS holds the latents of recipes/conditioning.sh (speech 400, music 200, impacts 200 clips of seeds 2000+, encoded
# with samples/vae-*-tiny), the held-out clips (seeds 90000+, 24 a family) and the two voice references.
# 1. The teacher's rollouts: 448 guided trajectories (its 25 steps, shift 3, guidance 2/6, sync 2, up to t = 0.85)
#    from the training clips' conditions, 80 % both streams, 10 % video given, 10 % audio given; two processes.
# 2. Two students on the same rollouts, one process each, to update 120 (of a 500-update schedule): the segment target
#    (a step lands where the teacher's steps landed) and the endpoint target (every step aims at the teacher's final
#    sample). Held-out rollouts at update 120 (eval/sample4_*, log.jsonl; mean squared latent difference of the
#    student's 4-step samples to the teacher's, video / audio): segment 0.031 / 1.15, endpoint 0.048 / 2.48 (the
#    teacher's weights unguided: 0.041 / 2.14). The segment student went on, two processes, to update 500.
set -euo pipefail
RUNS=${1:?usage: recipes/distil.sh RUNS}
HERE=$(cd "$(dirname "$0")/.." && pwd)
DATA=("$RUNS"/latents/{speech,music,impacts})
COMMON=(--teacher "$HERE/samples/duetto-tiny" --data "${DATA[@]}" --student-steps 4 --rollouts 448 --batch-size 8
        --lr 1e-4 --steps 500 --ckpt-every 40 --eval-every 120 --log-every 10 --device cpu --no-progress)
OMP_NUM_THREADS=1 torchrun --nproc_per_node 2 -m duetto.train.cli distil "${COMMON[@]}" --rollouts-only --out "$RUNS/student"
mkdir -p "$RUNS/student-endpoint"
cp -rn "$RUNS/student/rollouts" "$RUNS/student-endpoint/"        # the same teacher trajectories
OMP_NUM_THREADS=1 duetto-train distil "${COMMON[@]}" --out "$RUNS/student" &
OMP_NUM_THREADS=1 duetto-train distil "${COMMON[@]}" --target endpoint --out "$RUNS/student-endpoint" &
while [ ! -d "$RUNS/student/checkpoints/step-00000120" ] || [ ! -d "$RUNS/student-endpoint/checkpoints/step-00000120" ]; do
  sleep 30
done
sleep 60; kill %1 %2 || true; wait || true                          # compare eval/sample4_* at update 120 in log.jsonl
OMP_NUM_THREADS=1 torchrun --nproc_per_node 2 -m duetto.train.cli distil "${COMMON[@]}" --out "$RUNS/student"
duetto-train export "$RUNS/student" --half --out "$RUNS/bundle-student"
# held-out figures, the same prompts and seeds as the teacher's (recipes/conditioning.sh's eval of duetto-tiny)
for S in 4 2 1; do
  OMP_NUM_THREADS=1 duetto-train eval "$RUNS/bundle-student" --steps $S --clips "$RUNS"/heldout/* --n 72 \
    --family impacts --family music --out "$RUNS/eval-s$S-im" --no-progress &
  OMP_NUM_THREADS=1 duetto-train eval "$RUNS/bundle-student" --steps $S --clips "$RUNS/heldout/speech" --n 24 \
    --voices "$RUNS/voices/low.wav" "$RUNS/voices/high.wav" --out "$RUNS/eval-s$S-speech" --no-progress &
  wait
done
python "$HERE/bench/distil.py" --teacher "$HERE/samples/duetto-tiny" --student "$RUNS/bundle-student" \
  --report teacher="$RUNS/eval-shipped-im,$RUNS/eval-shipped-speech" \
  --report student-4="$RUNS/eval-s4-im,$RUNS/eval-s4-speech" --report student-2="$RUNS/eval-s2-im,$RUNS/eval-s2-speech" \
  --report student-1="$RUNS/eval-s1-im,$RUNS/eval-s1-speech"
