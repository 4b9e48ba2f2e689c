#!/usr/bin/env bash
# One prepared GPU check (issue 14, item 5): the authors' transformer settings (config gpu-paper)
# trained for at most MINUTES minutes of one GPU and evaluated, by the training run itself, on its
# 10,000-matrix test set; the small records (config.json, metrics.jsonl, results.json, summary,
# nvidia-smi and versions) are copied under $OUT (default results/gpu/out).
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
# Lessons of the 2026-11-30 attempt (results/gpu/README.md): the run folder (its checkpoint is
# about 350 MB) lives outside $OUT, so what comes back stays small; the records are copied to $OUT
# after every stage and on exit; DEADLINE seconds after the start the whole process group is
# stopped, so a slow stage cannot eat the device time of a rerun.
# Commit what lands in $OUT as results/gpu/<date>-gpu-paper/. Never report a GPU number that this
# script did not produce.
set -uo pipefail
# Its own process group, so that the watchdog's kill stops this script's processes and no others.
if [ "${RUN_SH_GROUP:-0}" != 1 ] && command -v setsid > /dev/null; then
    RUN_SH_GROUP=1 exec setsid --wait bash "$0" "$@"
fi
cd "$(dirname "$0")/../.."
OUT=${OUT:-results/gpu/out}
WORK=${WORK:-$(mktemp -d)}  # set WORK to resume an interrupted run in place
STEPS=${STEPS:-470000}
MINUTES=${MINUTES:-4}
DEADLINE=${DEADLINE:-480}
RUN="$WORK/gpu-paper"
mkdir -p "$OUT" "$WORK"
export PYTHONUNBUFFERED=1
# Some images have only python3 (a venv's python3 must not be symlinked: it would lose its venv).
PY=$(command -v python || command -v python3)

save() {
    [ -d "$RUN" ] || return 0
    mkdir -p "$OUT/gpu-paper"
    for f in config.json metrics.jsonl results.json; do
        [ -f "$RUN/$f" ] && cp "$RUN/$f" "$OUT/gpu-paper/"
    done
    return 0
}
# The watchdog stops every process of this script's group once DEADLINE seconds have passed; on
# exit the script stops the watchdog and its sleep (which would otherwise hold the output open).
( trap 'kill "$nap" 2> /dev/null; exit 0' TERM
  sleep "$DEADLINE" & nap=$!
  wait "$nap" || exit 0
  echo "run.sh: deadline of ${DEADLINE}s reached, stopping" >&2; save; kill -TERM 0 ) &
WATCHDOG=$!
trap 'save; kill "$WATCHDOG" 2> /dev/null' EXIT

SETS=(--set "steps=$STEPS" --set "max_minutes=$MINUTES" --set decay_over=steps)
if [ "${SMOKE:-0}" = 1 ]; then
    SETS+=(--set device=cpu --set steps=3 --set warmup=2 --set test_size=16 --set eval_size=8
           --set eval_every=2 --set checkpoint_every=2 --set log_every=1 --set threads=1)
else
    "$PY" - <<'PY' || exit 1
import sys
import torch
if not torch.cuda.is_available():
    sys.exit("results/gpu/run.sh: no CUDA device visible to torch; this check needs a GPU (SMOKE=1 tests the script on CPU)")
print("cuda:", torch.cuda.get_device_name(0), "torch", torch.__version__, "cuda", torch.version.cuda)
PY
    nvidia-smi > "$OUT/env.txt" 2>&1 || true
fi
"$PY" -c "import platform, numpy, scipy, torch; print('python', platform.python_version(), 'torch', torch.__version__, 'numpy', numpy.__version__, 'scipy', scipy.__version__)" >> "$OUT/env.txt"
if [ -f "$RUN/checkpoint.pt" ] && [ ! -f "$RUN/results.json" ]; then
    "$PY" -m experiments train --resume "$RUN"
elif [ ! -f "$RUN/results.json" ]; then
    "$PY" -m experiments train --config gpu-paper "${SETS[@]}" --out "$RUN"
fi
status=$?
save
"$PY" -m experiments summarize "$RUN" | tee "$OUT/summary.md"
exit "$status"
