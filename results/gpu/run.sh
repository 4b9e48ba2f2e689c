#!/usr/bin/env bash
# One prepared GPU check (issue 14, item 5): the authors' transformer settings (config gpu-paper)
# trained for at most MINUTES minutes of one GPU, then the evaluation on its 10,000-matrix test
# set, the run record and nvidia-smi output under $OUT (default results/gpu/out).
#
# Why a minutes guard is honest here: gpu-paper's schedule is the authors' "adam_warmup" (linear
# warm-up, then a constant rate), so the learning rate at step k does not depend on where training
# stops. Same seed, same trajectory: the guard only decides the step at which it is cut, and the
# record states that step (results.json "steps"). STEPS caps it as well.
#
#   bash results/gpu/run.sh                  # on the GPU machine (refuses without CUDA)
#   MINUTES=6 STEPS=20000 bash results/gpu/run.sh
#   SMOKE=1 bash results/gpu/run.sh          # CPU, 3 steps, tiny test set: checks the script only
#
# Commit what lands in $OUT as results/gpu/<date>-gpu-paper/ (config.json, metrics.jsonl,
# results.json, env.txt). Never report a GPU number that this script did not produce.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-results/gpu/out}
STEPS=${STEPS:-470000}
MINUTES=${MINUTES:-6}
mkdir -p "$OUT"
SETS=(--set "steps=$STEPS" --set "max_minutes=$MINUTES" --set decay_over=steps)
if [ "${SMOKE:-0}" = 1 ]; then
    SETS+=(--set device=cpu --set steps=3 --set warmup=2 --set test_size=16 --set eval_size=8
           --set eval_every=2 --set checkpoint_every=2 --set log_every=1 --set threads=1)
else
    python - <<'PY'
import sys
import torch
if not torch.cuda.is_available():
    sys.exit("results/gpu/run.sh: no CUDA device visible to torch; this check needs a GPU (SMOKE=1 tests the script on CPU)")
print("cuda:", torch.cuda.get_device_name(0), "torch", torch.__version__, "cuda", torch.version.cuda)
PY
    nvidia-smi > "$OUT/env.txt" 2>&1 || true
fi
RUN="$OUT/gpu-paper"
if [ -f "$RUN/checkpoint.pt" ] && [ ! -f "$RUN/results.json" ]; then
    python -m experiments train --resume "$RUN" --quiet
elif [ ! -f "$RUN/results.json" ]; then
    python -m experiments train --config gpu-paper "${SETS[@]}" --out "$RUN" --quiet
fi
python -m experiments evaluate "$RUN" --json > "$OUT/evaluate.json"
python -m experiments summarize "$RUN"
