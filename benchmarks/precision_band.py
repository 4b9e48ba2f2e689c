"""A faster training setting against its reference on the real training loop: loss band and
speed-up (issue 13).

Trains a config (default ``cpu-transformer``: 3x3 exp, P1000, d_model 128, 2+2 layers) twice from
the same seed for a fixed number of steps with the learning rate laid out over those steps
(``decay_over=steps``), in one of the PAIRS of settings:

* ``float32-bf16`` (default): float32 against ``cpu_amp=true`` (the forward under
  ``torch.autocast("cpu", dtype=torch.bfloat16)``; weights, AdamW state, loss and evaluation stay
  float32);
* ``bf16-compiled``: ``cpu_amp=true`` against ``cpu_amp=true`` with ``compile=true`` (the training
  forward through ``torch.compile``).

The two runs go side by side, each in its own one-thread process, as the study runs its pairs,
so both see the same machine.

The **band**: the logged training loss is averaged over consecutive windows of ``window`` steps;
for every window, the candidate's mean must lie within ``BAND`` (relative) of the reference's.
Both runs draw the same batches, so the difference is the setting plus the divergence of two
trajectories, which grows with training; 2,000 steps cover the warm-up and the fast part of
the curve. The **speed-up** is the ratio of the two runs' median training examples/s (the
progress lines after the first, so compilation and evaluation are excluded); the records keep
each run's whole wall time too, which includes them.

    python -m benchmarks.precision_band [--pair float32-bf16] [--steps 2000] [--config cpu-transformer]
                                        [--out benchmarks/results/precision_band.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.timing import environment, write_record  # noqa: E402
from experiments.run_folder import read_metrics  # noqa: E402
from experiments.runrecord import git_commit  # noqa: E402

__all__ = ["BAND", "PAIRS", "train_pair", "compare", "run", "main"]

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "benchmarks" / "results" / "precision_band.json"
BAND = 0.03
# pair -> {name: its settings}; the first name is the reference, the second the candidate.
PAIRS = {
    "float32-bf16": {"float32": ["cpu_amp=false"], "bf16": ["cpu_amp=true"]},
    "bf16-compiled": {
        "bf16": ["cpu_amp=true", "compile=false"],
        "bf16-compiled": ["cpu_amp=true", "compile=true"],
    },
}
DEFAULT_OUTS = {
    "float32-bf16": DEFAULT_OUT,
    "bf16-compiled": REPO / "benchmarks" / "results" / "precision_band-compiled.json",
}


def _settings(steps: int, setting: list[str]) -> list[str]:
    return [
        "decay_over=steps",
        f"steps={steps}",
        "max_minutes=null",
        *setting,
        "log_every=25",
        f"eval_every={steps}",
        f"checkpoint_every={steps}",
        "test_size=200",
        "threads=1",
    ]


def train_pair(
    steps: int, work: Path, config: str = "cpu-transformer", pair: str = "float32-bf16"
) -> dict[str, Path]:
    """Train the config in both settings of ``pair`` side by side; returns name -> run folder
    (reference first)."""
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONPATH=str(REPO))
    procs, dirs = {}, {}
    for name, setting in PAIRS[pair].items():
        dirs[name] = work / name
        cmd = [sys.executable, "-m", "experiments", "train", "--config", config, "--out", str(dirs[name])]
        for s in _settings(steps, setting):
            cmd += ["--set", s]
        cmd.append("--quiet")
        procs[name] = subprocess.Popen(
            cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
    for name, p in procs.items():
        out, _ = p.communicate()
        if p.returncode != 0:
            raise RuntimeError(f"{name} training failed (exit {p.returncode}):\n{out.decode()[-2000:]}")
    return dirs


def _train_rows(run_dir: Path) -> list[dict]:
    return [r for r in read_metrics(run_dir) if r["kind"] == "train"]


def compare(dirs: dict[str, Path], window: int = 200, band: float = BAND) -> dict:
    """Window means of the loss of both runs, their relative differences, and the speed-up
    candidate / reference (``dirs``: reference first, then candidate)."""
    reference, candidate = dirs
    rows = {name: _train_rows(d) for name, d in dirs.items()}
    steps = min(r[-1]["step"] for r in rows.values())
    windows = []
    for lo in range(0, steps, window):
        means = {}
        for name, rs in rows.items():
            losses = [r["loss"] for r in rs if lo < r["step"] <= lo + window]
            means[name] = statistics.fmean(losses)
        rel = abs(means[candidate] - means[reference]) / means[reference]
        windows.append({"steps": [lo + 1, lo + window], **means, "relative_difference": rel})
    speed = {name: statistics.median(r["examples_per_s"] for r in rs[1:]) for name, rs in rows.items()}
    final = {}
    for name, d in dirs.items():
        res = json.loads((d / "results.json").read_text())
        l1 = res["final"]["l1"]
        final[name] = {
            "accuracy_within_5pct": l1["accuracy"]["0.05"]["acc"],
            "test_matrices": l1["n"],
            "wall_time_s": res["record"]["wall_time_s"],
        }
    worst = max(w["relative_difference"] for w in windows)
    return {
        "reference": reference,
        "candidate": candidate,
        "window": window,
        "band": band,
        "windows": windows,
        "max_relative_difference": worst,
        "within_band": worst <= band,
        "examples_per_s": speed,
        "speedup": speed[candidate] / speed[reference],
        "final": final,
    }


def run(
    steps: int = 2000,
    work: Path | None = None,
    window: int = 200,
    pair: str = "float32-bf16",
    config: str = "cpu-transformer",
) -> dict:
    """Train both settings of ``pair``, compare, and return the JSON-ready record."""
    if pair not in PAIRS:
        raise ValueError(f"unknown pair {pair!r}; allowed: {', '.join(PAIRS)}")
    load_before = os.getloadavg()
    t0 = time.time()
    with tempfile.TemporaryDirectory(prefix="precision-band-") as tmp:
        dirs = train_pair(steps, Path(work) if work else Path(tmp), config, pair)
        result = compare(dirs, window)
    commit, dirty = git_commit()
    reference, candidate = PAIRS[pair]
    return {
        "benchmark": f"{candidate} vs {reference} on the {config} config (issue 13)",
        "pair": pair,
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "environment": environment(),
        "commit": commit,
        "dirty": dirty,
        "config": config,
        "settings": {name: _settings(steps, v) for name, v in PAIRS[pair].items()},
        "steps": steps,
        "load_average_before": list(load_before),
        "load_average_after": list(os.getloadavg()),
        "wall_s": time.time() - t0,
        **result,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.precision_band", description=__doc__.split("\n\n")[0]
    )
    p.add_argument("--steps", type=int, default=2000, help="training steps of each run (default 2000)")
    p.add_argument("--window", type=int, default=200, help="steps per loss window (default 200)")
    p.add_argument(
        "--pair",
        choices=list(PAIRS),
        default="float32-bf16",
        help="reference and candidate settings (default float32-bf16; bf16-compiled: bf16 with and "
        "without torch.compile)",
    )
    p.add_argument("--config", default="cpu-transformer", help="training config (default cpu-transformer)")
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help="record to write (default benchmarks/results/precision_band.json, or "
        "precision_band-compiled.json for the bf16-compiled pair)",
    )
    p.add_argument(
        "--work", type=Path, default=None, help="keep the two run folders here (default: a temp dir)"
    )
    args = p.parse_args(argv)
    if args.steps < 1 or args.window < 1 or args.window > args.steps:
        p.error("--steps and --window must be >= 1, with --window <= --steps")
    res = run(args.steps, args.work, args.window, args.pair, args.config)
    ref, cand = res["reference"], res["candidate"]
    for w in res["windows"]:
        print(
            f"steps {w['steps'][0]:>5}-{w['steps'][1]:<5} {ref} {w[ref]:.4f}  {cand} {w[cand]:.4f}"
            f"  rel. diff {w['relative_difference']:.2%}"
        )
    print(
        f"max relative difference {res['max_relative_difference']:.2%} (band {res['band']:.0%}: "
        f"{'within' if res['within_band'] else 'OUTSIDE'}); {cand} speed-up {res['speedup']:.2f}x "
        f"({res['examples_per_s'][cand]:.0f} vs {res['examples_per_s'][ref]:.0f} examples/s)"
    )
    write_record(args.out or DEFAULT_OUTS[args.pair], res)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
