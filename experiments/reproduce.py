"""``python -m experiments reproduce``: the main job, from the bounds table to every figure.

Steps (each writes result files under ``--out``; figures are drawn from those files only):

1. the bounds table of THEORY.md section 10.3 and the grid behind figure 1 (``bounds``);
2. the squaring network study and the built, checked constructive networks (figures 2, 3);
3. small MLPs trained on exp over the ball ``||A||_2 <= 1`` (``--full``/``--gpu``: also one
   transformer per encoding; ``--quick`` scores the shipped transformers of ``models/`` instead);
4. the comparison on one shared test set (figures 4, 7; ``compare.md``);
5. every figure, with the committed run records under ``results/runs`` and ``results/study``
   (figures 5, 6, 8, 11, 12).

Outputs go to ``runs/reproduce/`` (ignored by git), so a user's run leaves the clone clean; the
committed reference records (``results/reproduce/``, ``figures/``) are rewritten only when asked
for (``--out results/reproduce --figures figures``). Finished steps are reused on a re-run when
their settings *and the code that computes them* are unchanged (a hash of the modules involved);
each cached file records the commit and dirty state of the run that computed it. A training run
that was killed resumes from its last checkpoint.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path

import torch

import bounds
from experiments import compare as compare_mod
from experiments import theory_study
from experiments.figures import FIGURES, draw_all
from experiments.run_index import find_runs
from experiments.runrecord import collect_run_record, git_commit, utc_now

__all__ = ["MODES", "Plan", "reproduce"]

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO / "runs" / "reproduce"  # ignored by git: a user's run leaves the clone clean
REFERENCE_OUT = REPO / "results" / "reproduce"  # the committed reference records
STUDY_RUNS = REPO / "results" / "study"


@dataclass(frozen=True)
class Plan:
    """Sizes of one mode of the main job."""

    name: str
    constructive_ns: tuple[int, ...]
    constructive_radii: tuple[float, ...]
    constructive_eps: tuple[float, ...]
    constructive_random: int
    mlp_sizes: tuple[tuple[int, int], ...]  # (width, depth)
    mlp_minutes: float
    transformer_minutes: float
    encodings: tuple[str, ...]
    config_prefix: str  # "cpu" or "gpu"
    test_size: int
    sign_rhos: tuple[float, ...] = (0.25, 0.5)
    sign_eps: tuple[float, ...] = (1e-1, 1e-2, 1e-3)
    squaring_max_m: int = 30  # figure 3 right: m = 1..squaring_max_m
    # every registered function's network (theory_study.functions_grid; figures 1 and 2)
    functions_ns: tuple[int, ...] = (1, 2, 3)
    functions_eps: tuple[float, ...] = (1e-1, 1e-2, 1e-3)
    functions_random: int = 50
    functions_bounds_ns: tuple[int, ...] = (2, 3, 5)
    functions_bounds_eps: tuple[float, ...] = (1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6)
    shipped: bool = False  # also score the shipped models (models/) in the comparison


_ENCODINGS = ("P10", "P1000", "B1999", "FP15")
_GRID_EPS = (1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6)
MODES = {
    "quick": Plan(
        "quick",
        constructive_ns=(1, 2, 3),
        constructive_radii=(1.0, 4.0),
        constructive_eps=(1e-1, 1e-2, 1e-4, 1e-6),
        constructive_random=100,
        mlp_sizes=((64, 2), (256, 3)),
        mlp_minutes=0.5,
        transformer_minutes=0.75,
        encodings=(),  # the shipped transformers (trained for the study) instead of 45-s ones
        config_prefix="cpu",
        test_size=500,
        shipped=True,
    ),
    "full": Plan(
        "full",
        constructive_ns=(1, 2, 3),
        constructive_radii=(0.5, 1.0, 2.0, 4.0),
        constructive_eps=_GRID_EPS,
        constructive_random=200,
        mlp_sizes=((64, 2), (256, 3), (512, 4)),
        mlp_minutes=6.0,
        transformer_minutes=6.0,
        encodings=_ENCODINGS,
        config_prefix="cpu",
        test_size=1000,
        sign_rhos=(0.25, 0.5, 0.9),
        sign_eps=(1e-1, 1e-2, 1e-3, 1e-4),
    ),
    "gpu": Plan(
        "gpu",
        constructive_ns=(1, 2, 3),
        constructive_radii=(0.5, 1.0, 2.0, 4.0),
        constructive_eps=_GRID_EPS,
        constructive_random=200,
        mlp_sizes=((256, 4), (1024, 6)),
        mlp_minutes=60.0,
        transformer_minutes=120.0,
        encodings=_ENCODINGS,
        config_prefix="gpu",
        test_size=1000,
    ),
    # seconds; exercises the whole pipeline in the tests, produces no results worth reading
    "tiny": Plan(
        "tiny",
        constructive_ns=(1, 2),
        constructive_radii=(1.0,),
        constructive_eps=(1e-2,),
        constructive_random=10,
        mlp_sizes=((16, 1),),
        mlp_minutes=0.05,
        transformer_minutes=0.05,
        encodings=("P1000",),
        config_prefix="tiny",
        test_size=50,
        sign_rhos=(0.5,),
        sign_eps=(1e-1,),
        squaring_max_m=8,
        shipped=True,
        functions_ns=(2,),
        functions_eps=(1e-1,),
        functions_random=10,
        functions_bounds_ns=(2, 3),
        functions_bounds_eps=(1e-1, 1e-2),
    ),
}


def _say(msg: str) -> None:
    print(msg, flush=True)


CODE_PACKAGES = ("bounds", "constructive")
CODE_MODULES = ("experiments/theory_study.py", "experiments/reproduce.py")


def code_hash() -> str:
    """sha256 over the source of the modules that compute the cached results (bounds/,
    constructive/, theory_study, reproduce): a change there invalidates the cache."""
    h = hashlib.sha256()
    files = sorted(p for pkg in CODE_PACKAGES for p in (REPO / pkg).rglob("*.py"))
    files += [REPO / m for m in CODE_MODULES]
    for p in files:
        h.update(str(p.relative_to(REPO)).encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def _cached(path: Path, spec: dict, compute, what: str):
    """Reuse ``path`` when it was written for the same ``spec`` by the same code; otherwise
    compute it and write it with the commit (and dirty flag) of the code that computed it."""
    code = code_hash()
    if path.is_file():
        old = json.loads(path.read_text())
        if old.get("spec") == spec and old.get("code") == code:
            _say(f"  reusing {path} (same settings and code; delete it to recompute {what})")
            return old
    commit, dirty = git_commit()
    computed_by = {"git_commit": commit, "git_dirty": dirty, "utc": utc_now()}
    data = {"spec": spec, "code": code, "computed_by": computed_by, **compute()}
    path.write_text(json.dumps(data, indent=1))
    return data


def bounds_table() -> str:
    """THEORY.md section 10.3's grid from the rules, as ``python -m bounds`` prints it."""
    from bounds.__main__ import format_table

    choices = [
        bounds.choose(n, eps, r, method=method)
        for n in (2, 3, 5, 10)
        for r in (1.0, 4.0)
        for eps in (1e-2, 1e-4, 1e-6)
        for method in bounds.ALL_METHODS
    ]
    return format_table(choices)


def _train_runs(plan: Plan, runs_dir: Path, quiet: bool) -> list[Path]:
    """Train (or reuse, or resume) the plan's MLPs and transformers on exp over the ball."""
    from experiments.config import load_config
    from experiments.train import CHECKPOINT, RUN_FILES, train

    common = [
        "data.function=exp",
        "data.distribution=ball",
        'data.params={"r": 1.0}',
        "data.n=3",
        f"data.test_size={plan.test_size}",
    ]
    jobs = []
    for width, depth in plan.mlp_sizes:
        jobs.append(
            (
                f"mlp-w{width}-d{depth}",
                f"{plan.config_prefix}-mlp",
                [
                    *common,
                    f"model.width={width}",
                    f"model.depth={depth}",
                    f"train.max_minutes={plan.mlp_minutes}",
                ],
            )
        )
    for enc in plan.encodings:
        jobs.append(
            (
                f"transformer-{enc}",
                f"{plan.config_prefix}-transformer",
                [*common, f"data.encoding={enc}", f"train.max_minutes={plan.transformer_minutes}"],
            )
        )
    done = []
    for name, config_name, overrides in jobs:
        run_dir = runs_dir / name
        config = load_config(config_name, overrides)
        if (run_dir / "results.json").is_file():
            old = json.loads((run_dir / "config.json").read_text())
            if old == config.to_dict() and (run_dir / CHECKPOINT).is_file():
                _say(f"  {name}: reusing the finished run in {run_dir}")
                done.append(run_dir)
                continue
            why = (
                "settings changed" if old != config.to_dict() else "its checkpoint is missing (not committed)"
            )
            _say(f"  {name}: {why} since {run_dir} was trained; retraining")
            for f in RUN_FILES:
                (run_dir / f).unlink(missing_ok=True)
        resume = (run_dir / CHECKPOINT).is_file()
        _say(
            f"  {name}: {'resuming from its checkpoint' if resume else 'training'} "
            f"({config_name}, budget {config.train.max_minutes:g} min) -> {run_dir}"
        )
        train(config, run_dir, resume=resume, quiet=quiet)
        done.append(run_dir)
    return done


def reproduce(
    mode: str = "quick",
    out: Path | None = None,
    figures_dir: Path | None = None,
    quiet: bool = False,
    skip_training: bool = False,
) -> list[Path]:
    """Run the main job; returns the files it wrote."""
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; allowed: {', '.join(MODES)}")
    if mode == "gpu" and not torch.cuda.is_available():
        raise ValueError("--gpu needs CUDA, and no CUDA device is visible; use --quick or --full on a CPU")
    plan = MODES[mode]
    out = Path(out) if out else DEFAULT_OUT
    figures_dir = Path(figures_dir) if figures_dir else out / "figures"
    out.mkdir(parents=True, exist_ok=True)
    started, t0 = utc_now(), time.perf_counter()
    written: list[Path] = []

    _say("[1/5] bounds: proven width, depth and parameters (THEORY.md section 10.3 grid)")
    table = bounds_table()
    _say(table)
    (out / "bounds_table.txt").write_text(table + "\n")
    theory_study_spec = {
        "ns": list(theory_study.BOUNDS_NS),
        "eps": list(theory_study.BOUNDS_EPS),
        "r": 1.0,
        "methods": list(bounds.ALL_METHODS),
    }
    _cached(out / "bounds_grid.json", theory_study_spec, theory_study.bounds_grid, "the bounds grid")
    written += [out / "bounds_table.txt", out / "bounds_grid.json"]

    _say("[2/5] constructive: squaring network and built exp networks, checked against scipy/mpmath")
    _cached(
        out / "squaring.json",
        {"v": 2, "m": plan.squaring_max_m},
        lambda: theory_study.squaring_study(error_ms=tuple(range(1, plan.squaring_max_m + 1))),
        "the squaring study",
    )
    spec = {
        "ns": list(plan.constructive_ns),
        "radii": list(plan.constructive_radii),
        "eps": list(plan.constructive_eps),
        "count_random": plan.constructive_random,
    }
    grid = _cached(
        out / "constructive_check.json",
        spec,
        lambda: theory_study.constructive_grid(
            plan.constructive_ns,
            plan.constructive_radii,
            plan.constructive_eps,
            count_random=plan.constructive_random,
            progress=not quiet,
        ),
        "the constructive check",
    )
    summary = theory_study.summary_ratios(grid)
    _say(
        f"  {summary['networks']} networks; counts agree with bounds: {summary['all_counts_agree']}; "
        f"worst error <= eps everywhere: {summary['all_below_eps']} "
        f"(max error/eps {summary['max_error_over_eps']:.3f}, median {summary['median_error_over_eps']:.3f})"
    )
    sign_spec = {"ns": list(plan.constructive_ns), "rhos": list(plan.sign_rhos), "eps": list(plan.sign_eps)}
    signs = _cached(
        out / "sign_check.json",
        sign_spec,
        lambda: theory_study.sign_grid(
            plan.constructive_ns, plan.sign_rhos, plan.sign_eps, progress=not quiet
        ),
        "the sign-network check",
    )
    sign_ok = all(r["counts_agree"] and r["worst_error"] <= r["eps"] for r in signs["rows"])
    _say(
        f"  {len(signs['rows'])} sign networks (||I - A^2||_2 <= rho): "
        f"counts agree and worst error <= eps: {sign_ok}"
    )
    functions_spec = {
        "functions": list(theory_study.FUNCTION_DOMAINS),
        "ns": list(plan.functions_ns),
        "eps": list(plan.functions_eps),
        "count_random": plan.functions_random,
    }
    fchecks = _cached(
        out / "functions_check.json",
        functions_spec,
        lambda: theory_study.functions_grid(
            tuple(theory_study.FUNCTION_DOMAINS),
            plan.functions_ns,
            plan.functions_eps,
            count_random=plan.functions_random,
            progress=not quiet,
        ),
        "the functions check",
    )
    f_ok = all(r["counts_agree"] and r["worst_error"] <= r["eps"] for r in fchecks["rows"])
    _say(
        f"  {len(fchecks['rows'])} networks of {len(theory_study.FUNCTION_DOMAINS)} functions "
        f"(constructive.network): counts agree and worst error <= eps: {f_ok}"
    )
    _cached(
        out / "functions_bounds.json",
        {"ns": list(plan.functions_bounds_ns), "eps": list(plan.functions_bounds_eps)},
        lambda: theory_study.functions_bounds_grid(
            tuple(theory_study.FUNCTION_DOMAINS), plan.functions_bounds_ns, plan.functions_bounds_eps
        ),
        "the functions bounds grid",
    )
    written += [out / "squaring.json", out / "constructive_check.json", out / "sign_check.json"]
    written += [out / "functions_check.json", out / "functions_bounds.json"]

    runs_dir = out / "runs"
    if skip_training:
        _say("[3/5] training: skipped (--skip-training); comparing the runs already there")
        trained = find_runs(runs_dir)
    else:
        _say(f"[3/5] training small models on exp, 3x3, ||A||_2 <= 1 ({mode} mode)")
        trained = _train_runs(plan, runs_dir, quiet)
    written += trained

    _say("[4/5] comparison on one shared test set")
    cfg = compare_mod.CompareConfig(
        n=3, radius=1.0, test_size=plan.test_size, repeats=1 if mode == "tiny" else 3
    )
    shipped = []
    if plan.shipped:
        from experiments.shipped import list_models, load_model

        shipped = [load_model(m["name"]) for m in list_models()]
        _say(f"  shipped models: {', '.join(m.name for m in shipped) or 'none under models/'}")
    result = compare_mod.compare(
        cfg, trained, progress=None if quiet else (lambda s: _say(f"  scored {s}")), shipped=shipped
    )
    written += compare_mod.write(result, out)
    _say(compare_mod.markdown_table(result))

    _say("[5/5] figures (drawn from the result files)")
    all_runs = find_runs(REPO / "results" / "runs", STUDY_RUNS, runs_dir)
    drawn = draw_all(out, figures_dir, all_runs)
    for name, paths in drawn.items():
        written += paths
        _say(f"  {name}: {FIGURES[name][1]}")

    record = collect_run_record(torch.device("cpu"), 0, started, time.perf_counter() - t0)
    rec_path = out / "run_record.json"
    computed = {
        p.name: json.loads(p.read_text()).get("computed_by")
        for p in (
            out / "bounds_grid.json",
            out / "squaring.json",
            out / "constructive_check.json",
            out / "sign_check.json",
            out / "functions_check.json",
            out / "functions_bounds.json",
        )
    }
    rec_path.write_text(
        json.dumps(
            {
                "mode": mode,
                "record": record.to_dict(),
                "note": "record.git_commit is the code of this invocation; each cached file was computed "
                "by the commit in computed_by (reused when settings and code hash match)",
                "computed_by": computed,
                "constructive_summary": summary,
            },
            indent=1,
        )
    )
    written.append(rec_path)
    _say(f"done in {time.perf_counter() - t0:.0f} s. Files written:")
    for p in written:
        _say(f"  {p.relative_to(REPO) if p.is_relative_to(REPO) else p}")
    return written
