#!/bin/bash
# On a GPU machine: the three joint runs of the ablation (time-locked, none, global) side by side with one recipe,
# sized by a short probe to fit TRAIN_S seconds of training, then each run's EMA weights packed for the trip back.
#
#   bash recipes/gpu/ablation.sh PACK TRAIN_S OUT        (PACK from pack.py; wheels of this repo in .whl/)
#
# Recipe: batch 32 of 2 s windows, lr 5e-4 with 300 warm-up on a cosine, EMA 0.999 (with warm-up since b4a7779),
# change weight 3, cross-modal dropout 0.15 where there is cross-modal attention, seed 11, 3 % held out.
set -u
PACK=${1:?usage: ablation.sh PACK TRAIN_S OUT}; TRAIN_S=${2:-420}; OUT=${3:?usage: ablation.sh PACK TRAIN_S OUT}
HERE=$(cd "$(dirname "$0")" && pwd)
export PYTHONUNBUFFERED=1 OMP_NUM_THREADS=${OMP_NUM_THREADS:-4} BS=${BS:-32}
PROBE=${PROBE:-120}
T0=$(date +%s)
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site
fi
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null
python3 -c "import lzma,shutil,sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open('/tmp/pack.pt','wb'))" "$PACK" || exit 1
common() { echo --preset tiny --video-patch 4 --batch-size $BS --crop-seconds 2 --lr 5e-4 --warmup 300 \
  --ema-decay 0.999 --held-out 0.03 --change-weight 3 --seed 11 --no-progress --cross $1 \
  $([ $1 != none ] && echo --cross-dropout 0.15); }
RUNS="time-locked none global"
for c in $RUNS; do
  python3 "$HERE/train.py" /tmp/pack.pt $(common $c) --steps $PROBE --out /tmp/probe-$c --log-every 20 \
    --eval-every 0 --ckpt-every 0 > /tmp/probe-$c.log 2>&1 &
done
wait
T1=$(date +%s)
STEPS=$(python3 "$HERE/steps.py" $TRAIN_S /tmp/probe-time-locked /tmp/probe-none /tmp/probe-global) \
  || { tail -20 /tmp/probe-*.log; exit 1; }
echo "probe took $((T1-T0)) s; $STEPS updates each"
for c in $RUNS; do
  timeout -s INT $((TRAIN_S + 40)) python3 "$HERE/train.py" /tmp/pack.pt $(common $c) --steps $STEPS \
    --out /tmp/joint-$c --log-every 100 --eval-every 1000 --ckpt-every 1000 > /tmp/joint-$c.log 2>&1 &
done
wait
echo "training took $(( $(date +%s) - T1 )) s"
for c in $RUNS; do tail -1 /tmp/joint-$c/log.jsonl; done
python3 "$HERE/collect.py" "$OUT" /tmp/joint-time-locked /tmp/joint-none /tmp/joint-global
echo "total $(( $(date +%s) - T0 )) s"
