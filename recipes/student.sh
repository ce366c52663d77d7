#!/usr/bin/env bash
# The shipped student, samples/duetto-tiny-student (2026-12-07; the 2-core CPU): the student of the default
# samples/duetto-tiny-v2. 448 guided rollouts of v2 (its 25 steps, guidance of its generation.json; 80 % both streams,
# 10 % video given, 10 % audio given; two processes, about 55 minutes on a busy CPU), then one process, batches of 8
# segments at peak learning rate 1e-4 on a 1,000-update cosine schedule, stopped at update 700 (about 60 minutes on
# a busy CPU: the session's time ran out; its held-out sample error had halved by update 250, log.jsonl). Stored as an
# int8 rank-64 delta on duetto-tiny, v2's own base (deltas do not chain: 6.1 MB), sampling 2 steps by default (its
# 4-step setting speaks the words worse: phoneme error 69.9 % against 58.5 %, samples/README.md). The earlier student
# (of duetto-tiny, 2,000 updates, rank-64 float16 delta, 12 MB) is in git history before this recipe.
#
#   recipes/student.sh RUNS
#
# RUNS holds the latents of recipes/conditioning.sh and the held-out clips (seeds 90000+, 24 a family).
set -euo pipefail
RUNS=${1:?usage: recipes/student.sh RUNS}
HERE=$(cd "$(dirname "$0")/.." && pwd)
COMMON=(--teacher "$HERE/samples/duetto-tiny-v2" --data "$RUNS"/latents/{speech,music,impacts} --student-steps 4
        --rollouts 448 --batch-size 8 --lr 1e-4 --steps 1000 --ckpt-every 50 --eval-every 250 --log-every 10
        --device cpu --no-progress --out "$RUNS/student-v2")
OMP_NUM_THREADS=1 torchrun --nproc_per_node 2 -m duetto.train.cli distil "${COMMON[@]}" --rollouts-only
OMP_NUM_THREADS=1 duetto-train distil "${COMMON[@]}"          # the shipped one: stopped after update 700
duetto-train export "$RUNS/student-v2" --step 700 --half --delta 64 --int8 --sample-steps 2 \
  --out "$HERE/samples/duetto-tiny-student"
for S in 2 4; do
  OMP_NUM_THREADS=1 duetto-train eval "$HERE/samples/duetto-tiny-student" --steps $S \
    --clips "$RUNS"/heldout/{impacts,music,speech} --n 72 --out "$RUNS/eval-sv2-s$S" --no-progress
done
# held-v2: the teacher on the same prompts (duetto-train eval samples/duetto-tiny-v2 --clips ... --n 72)
python "$HERE/bench/distil.py" --teacher "$HERE/samples/duetto-tiny-v2" --student "$HERE/samples/duetto-tiny-student" \
  --student-steps 4,2,1 --report teacher="$RUNS/held-v2" --report student-4="$RUNS/eval-sv2-s4" \
  --report student-2="$RUNS/eval-sv2-s2"
