#!/usr/bin/env bash
# The CPU measurements in results/README.md: 3x3 matrices, <= 6 minutes of training per run,
# one thread per run, run one after another. Usage (from the repository root):
#   nohup bash results/run_cpu.sh > results/run_cpu.log 2>&1 &
# Then: python -m experiments summarize results/runs
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS=1
OUT=results/runs

run() {  # run NAME ARGS... ; skips a finished run, resumes an interrupted one
    local name=$1; shift
    if [ -f "$OUT/$name/results.json" ]; then echo "$name: done already"; return; fi
    if [ -f "$OUT/$name/checkpoint.pt" ]; then
        python -m experiments train --resume "$OUT/$name" --quiet
    else
        python -m experiments train "$@" --out "$OUT/$name" --quiet
    fi
}

# exp on U[-1, 1]: the MLP and the transformer with each encoding.
run exp-mlp --config cpu-mlp --set function=exp
for enc in P10 P1000 B1999 FP15; do
    run "exp-transformer-$enc" --config cpu-transformer --set function=exp --set encoding="$enc"
done

# Best encoding on exp: highest accuracy within 5%, ties broken by the median error.
BEST=$(python - <<'PY'
import json, math
scores = {}
for enc in ("P10", "P1000", "B1999", "FP15"):
    final = json.load(open(f"results/runs/exp-transformer-{enc}/results.json"))["final"]["l1"]
    median = final["quantiles"]["0.5"]
    scores[enc] = (final["accuracy"]["0.05"]["acc"], -(median if median is not None else math.inf))
print(max(scores, key=scores.get))
PY
)
echo "best encoding on exp: $BEST"

# sign on its well-posed distribution (distribution=auto -> sign_wellposed) and sin on U[-1, 1].
for f in sign sin; do
    run "$f-mlp" --config cpu-mlp --set function=$f
    run "$f-transformer-$BEST" --config cpu-transformer --set function=$f --set encoding="$BEST"
done
python -m experiments summarize "$OUT"
