#!/usr/bin/env bash
# The shipped student, samples/duetto-tiny-student (2026-12-06, night; the 2-core CPU): the 448 teacher rollouts of
# recipes/distil.sh (RUNS/student/rollouts), one process, 2,000 updates of 8 segments at peak learning rate 1e-4
# (cosine to 1e-5; about 90 minutes on a busy 2-core CPU), stored as a rank-64 delta on duetto-tiny (bench/delta.py
# gives bytes against held-out sample error per rank) that samples 2 steps by default (its 4-step setting misses
# the speech Frechet bar and draws no visible strike in 9 of 24 music clips), then measured on the held-out clips
# like the teacher (RUNS/eval-final: `duetto-train eval samples/duetto-tiny --clips ... --n 72`).
#
#   recipes/student.sh RUNS
set -euo pipefail
RUNS=${1:?usage: recipes/student.sh RUNS}
HERE=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$RUNS/student2"
cp -rn "$RUNS/student/rollouts" "$RUNS/student2/"                  # the same teacher trajectories
OMP_NUM_THREADS=1 duetto-train distil --teacher "$HERE/samples/duetto-tiny" --data "$RUNS"/latents/{speech,music,impacts} \
  --student-steps 4 --rollouts 448 --batch-size 8 --lr 1e-4 --steps 2000 --ckpt-every 50 --eval-every 250 \
  --log-every 10 --device cpu --no-progress --out "$RUNS/student2"
python "$HERE/bench/delta.py" "$RUNS/student2" --ranks 32 64
duetto-train export "$RUNS/student2" --half --delta 64 --sample-steps 2 --out "$HERE/samples/duetto-tiny-student"
for S in 4 2; do
  duetto-train eval "$HERE/samples/duetto-tiny-student" --steps $S --clips "$RUNS"/heldout/{impacts,music,speech} \
    --n 72 --out "$RUNS/eval-student2-s$S" --no-progress
done
python "$HERE/bench/distil.py" --teacher "$HERE/samples/duetto-tiny" --student "$HERE/samples/duetto-tiny-student" \
  --student-steps 4,2,1 --report teacher="$RUNS/eval-final" --report student-4="$RUNS/eval-student2-s4" \
  --report student-2="$RUNS/eval-student2-s2"
