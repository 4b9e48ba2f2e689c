"""Command line: ``python -m experiments {train,evaluate,summarize,compare,figures,reproduce} ...``.

Each subcommand is one function ``cmd_<name>(args) -> int`` plus one function that adds its
arguments, registered in COMMANDS; adding ``compare``/``figures``/``reproduce`` is one more
entry. Bad input (unknown names, bad --set keys or values, unusable run folders or
checkpoints) prints one line ``experiments: error: ...`` on stderr and exits with status 2,
before anything is written.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

from experiments import study_cli
from experiments._cli import EXIT_BAD_INPUT, EXIT_FAILED
from experiments._cli import fail as _fail

__all__ = ["COMMANDS", "main", "build_parser"]


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (exit 2), like every other bad input."""

    def error(self, message: str):  # noqa: D401
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message}\n")


# ---------------------------------------------------------------------------------------------
# train


def _args_train(p: argparse.ArgumentParser) -> None:
    from experiments.config import known_configs

    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument(
        "--config",
        metavar="NAME|PATH",
        help=f"named config ({', '.join(known_configs())}) or a config .json file",
    )
    src.add_argument("--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config field, e.g. --set encoding=FP15 --set function=sin (repeatable)",
    )
    p.add_argument("--out", metavar="DIR", help="run folder (default runs/<config>-<f>-<enc>-s<seed>)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def cmd_train(args: argparse.Namespace) -> int:
    """Start a run (--config) or continue one (--resume); prints the run folder and accuracy."""
    from experiments.config import load_config
    from experiments.train import NonFiniteLossError, train

    try:
        if args.resume:
            if args.overrides or args.out:
                return _fail("--resume takes no --set or --out: a run continues its own config")
            run_dir = Path(args.resume)
            if not (run_dir / "config.json").is_file():
                return _fail(
                    f"cannot resume {str(run_dir)!r}: no config.json there; allowed: a run "
                    "folder written by `python -m experiments train`"
                )
            config = load_config(str(run_dir / "config.json"))
            result = train(config, run_dir, resume=True, quiet=args.quiet)
        else:
            config = load_config(args.config, args.overrides)
            result = train(config, args.out, quiet=args.quiet)
    except NonFiniteLossError as e:
        return _fail(str(e), EXIT_FAILED)
    except ValueError as e:  # ConfigError, RunFolderError, CheckpointError, data-layer checks
        return _fail(str(e))
    finally:
        _leave_process_group()
    if result.run_dir is None:  # a non-zero torchrun rank: rank 0 reports
        return 0
    if result.stopped_by == "already_finished":
        print(f"{result.run_dir}: run already finished at step {result.step}; nothing to do")
        return 0
    acc = result.final["accuracy"] if result.final else {}
    summary = ", ".join(f"acc<{float(t) * 100:g}%={v['acc']:.3f}" for t, v in acc.items())
    print(f"{result.run_dir}: {result.step} steps ({result.stopped_by}); {summary}")
    return 0


def _leave_process_group() -> None:
    """Under torchrun, train() joined a process group; leave it cleanly before exiting."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


# ---------------------------------------------------------------------------------------------
# evaluate


def _args_evaluate(p: argparse.ArgumentParser) -> None:
    from experiments.evaluate import NORMS

    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--test-set", metavar="FILE", help="a TestSet file (default: the run's)")
    p.add_argument("--norm", default="l1", help=f"one of {', '.join(NORMS)} (default l1)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Score RUN_DIR's checkpoint; a table (or --json) on stdout."""
    from experiments.evaluate import evaluate_run

    try:
        result = evaluate_run(args.run_dir, args.test_set, norm=args.norm)
    except ValueError as e:
        return _fail(str(e))
    d = result.to_dict()
    if args.json:
        print(json.dumps(d, indent=2))
        return 0
    print(f"{args.run_dir}: {d['n']} test matrices, norm {d['norm']}, invalid {d['n_invalid']}")
    for tau, entry in d["accuracy"].items():
        lo, hi = entry["ci95"]
        print(f"  error < {float(tau):<6g} accuracy {entry['acc']:.4f}  95% CI [{lo:.4f}, {hi:.4f}]")
    quants = ", ".join(f"q{q}={v:.3g}" if v is not None else f"q{q}=inf" for q, v in d["quantiles"].items())
    print(f"  relative error quantiles: {quants}")
    return 0


# ---------------------------------------------------------------------------------------------
# summarize


def _args_summarize(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="+", metavar="RUNS", help="run folders or folders of them")
    p.add_argument("--norm", default="l1", help="l1, fro or max (default l1)")
    p.add_argument(
        "--write-readme",
        action="store_true",
        help="write RUNS/README.md (the study table with its commands, machine and CPU hours); "
        "one folder of runs only",
    )


def cmd_summarize(args: argparse.Namespace) -> int:
    """Markdown accuracy and learning-curve tables of finished runs (reads files only); for a
    folder of runs also the table across seeds (experiments.study_table)."""
    from experiments.evaluate import summarize_runs
    from experiments.study_table import cell_table, collect_cells, study_readme

    try:
        if args.write_readme:
            if len(args.paths) != 1 or not Path(args.paths[0]).is_dir():
                return _fail("--write-readme takes exactly one folder of run folders")
            if not collect_cells(args.paths[0]):
                return _fail(f"no finished runs named <f>-<model>-s<seed> under {args.paths[0]!r}")
            path = Path(args.paths[0]) / "README.md"
            path.write_text(study_readme(args.paths[0]))
            print(f"wrote {path}")
            return 0
        print(summarize_runs(args.paths, norm=args.norm), end="")
        for p in args.paths:
            cells = collect_cells(p) if Path(p).is_dir() else []
            if cells:
                print(f"\nAcross seeds ({p}): median [min, max] accuracy in %\n")
                print(cell_table(cells, norm=args.norm), end="")
    except (ValueError, KeyError) as e:
        return _fail(str(e))
    return 0


# ---------------------------------------------------------------------------------------------
# study


def _args_study(p: argparse.ArgumentParser) -> None:
    p.add_argument("plan", metavar="PLAN", help="a plan file, e.g. experiments/plans/study-3x3.json")
    p.add_argument("--out", metavar="DIR", help="run folders go here (default: the plan's 'out')")
    p.add_argument("--jobs", type=int, default=2, help="runs side by side, one thread each (default 2)")
    p.add_argument("--max-runs", type=int, metavar="K", help="start at most K runs, then wait for them")
    p.add_argument(
        "--start-within",
        type=float,
        metavar="MINUTES",
        help="start no new run after MINUTES (e.g. what is left of a working session)",
    )
    p.add_argument("--dry-run", action="store_true", help="list the runs and their state; run nothing")


def cmd_study(args: argparse.Namespace) -> int:
    """Run what is not finished of a plan, two one-thread runs side by side; commits nothing."""
    from experiments.study import PlanError, describe, load_plan, run_plan

    if args.jobs < 1 or (args.max_runs is not None and args.max_runs < 0):
        return _fail("--jobs must be >= 1 and --max-runs >= 0")
    try:
        plan = load_plan(args.plan, args.out)
    except PlanError as e:
        return _fail(str(e))
    print(f"plan {args.plan}: {len(plan.runs)} runs into {plan.out}")
    print(describe(plan), flush=True)
    if args.dry_run:
        return 0
    try:
        failed = run_plan(
            plan,
            jobs=args.jobs,
            max_runs=args.max_runs,
            start_within_minutes=args.start_within,
            echo=lambda s: print(time.strftime("%H:%M:%S ") + s, flush=True),
        )
    except PlanError as e:
        return _fail(str(e))
    print(describe(plan))
    return EXIT_FAILED if failed else 0


# ---------------------------------------------------------------------------------------------
# shipped models: models, predict


def _args_models(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--export",
        nargs=2,
        metavar=("RUN_DIR", "NAME"),
        help="ship a finished run's weights (float16) as models/NAME, scoring them on the run's test set",
    )
    p.add_argument("--json", action="store_true", help="print the model.json records as JSON")


def cmd_models(args: argparse.Namespace) -> int:
    """List the shipped models (name, function, training domain, accuracy), or --export one."""
    from experiments.shipped import export_model, list_models

    if args.export:
        try:
            target = export_model(*args.export)
        except ValueError as e:
            return _fail(str(e))
        print(f"wrote {target}")
        return 0
    models = list_models()
    if args.json:
        print(json.dumps(models, indent=2))
        return 0
    if not models:
        print("no shipped models under models/")
        return 0
    print("| name | f | training distribution | n | model | params | trained by | within 5% [95% CI] |")
    print("|---|---|---|---|---|---|---|---|")
    for m in models:
        acc = m["test"]["l1"]["accuracy"]["0.05"]
        lo, hi = acc["ci95"]
        kind = m["kind"] if m["kind"] == "mlp" else f"transformer {m['encoding']}"
        vocab = m.get("vocabulary")
        if vocab:
            kind += f" ({vocab['kept']} of {vocab['of']} tokens)"
        print(
            f"| {m['name']} | {m['function']} | {m['distribution']} | {m['n']} | {kind} | "
            f"{m['parameters']} | {m['source_run']}, {m['steps']} steps | "
            f"{100 * acc['acc']:.1f} [{100 * lo:.1f}, {100 * hi:.1f}] |"
        )
    return 0


def _args_predict(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, metavar="NAME", help="a shipped model (see `models`)")
    p.add_argument(
        "--input", required=True, metavar="FILE", help=".npy or .json matrix (n, n) or batch (B, n, n)"
    )
    p.add_argument("--json", action="store_true", help="print one JSON object (lists per matrix)")
    p.add_argument("--out", metavar="FILE.npy", help="also write the predictions (B, n, n; NaN if invalid)")


def cmd_predict(args: argparse.Namespace) -> int:
    """f(A) by a shipped model, beside the float64 reference and the relative l1 error."""
    import numpy as np

    from experiments.predict import predict_matrices, read_matrices, to_json
    from experiments.shipped import load_model

    if args.out is not None and not args.out.endswith(".npy"):
        return _fail(f"--out must name a .npy file, got {args.out!r}")
    try:
        shipped = load_model(args.model)
        A = read_matrices(args.input)
        result = predict_matrices(shipped, A)
    except ValueError as e:
        return _fail(str(e))
    for i, why in enumerate(result.outside):
        if why is not None:
            print(
                f"experiments: warning: matrix {i} is outside {args.model}'s training domain: {why}; "
                "the prediction carries no accuracy claim",
                file=sys.stderr,
            )
    if args.out:
        np.save(args.out, result.prediction.numpy())
    if args.json:
        print(json.dumps(to_json(shipped, result)))
        return 0
    f = shipped.config.data.function
    with np.printoptions(precision=6, suppress=True):
        for i in range(A.shape[0]):
            err = result.relative_error[i]
            status = (
                "invalid output"
                if not bool(result.valid[i])
                else f"relative l1 error {err:.3g}"
                if err is not None
                else "no reference"
            )
            print(f"matrix {i}: {status}")
            print(f"  prediction of {f}(A):\n{result.prediction[i].numpy()}")
            print(f"  reference {f}(A) (float64):\n{result.reference[i].numpy()}")
    return 0


# ---------------------------------------------------------------------------------------------
# tables


def _args_tables(p: argparse.ArgumentParser) -> None:
    from experiments.readme_tables import DEFAULT_FILES

    p.add_argument(
        "files", nargs="*", metavar="FILE", help=f"Markdown files (default: {' '.join(DEFAULT_FILES)})"
    )
    p.add_argument("--check", action="store_true", help="rewrite nothing; exit 1 listing the stale blocks")


def cmd_tables(args: argparse.Namespace) -> int:
    """Regenerate the README blocks from their records (experiments.readme_tables), or --check them."""
    from experiments.readme_tables import DEFAULT_FILES, GeneratorError, check, render, repo_root

    files = [Path(f) for f in args.files] or [repo_root(Path.cwd()) / f for f in DEFAULT_FILES]
    stale = []
    try:
        for f in files:
            if args.check:
                stale += check(f)
            else:
                new = render(f)
                if new != f.read_text():
                    f.write_text(new)
                    print(f"rewrote {f}")
    except (GeneratorError, OSError) as e:
        return _fail(str(e))
    for b in stale:
        print(b)
    return EXIT_FAILED if stale else 0


# ---------------------------------------------------------------------------------------------
# authors-sweep


def _args_authors_sweep(p: argparse.ArgumentParser) -> None:
    from experiments.authors_sweep import add_arguments

    add_arguments(p)


def cmd_authors_sweep(args: argparse.Namespace) -> int:
    """The authors' MLP sample-complexity sweep and ours, one JSON record each (experiments.authors_sweep)."""
    from experiments.authors_sweep import SweepError, run_cli

    try:
        return run_cli(args)
    except SweepError as e:
        return _fail(str(e))


def _args_compare_functions(p: argparse.ArgumentParser) -> None:
    from experiments.compare_functions import add_arguments

    add_arguments(p)


def cmd_compare_functions(args: argparse.Namespace) -> int:
    """Constructive networks beside trained models per function (experiments.compare_functions)."""
    from experiments.compare_functions import run_cli

    try:
        return run_cli(args)
    except ValueError as e:
        return _fail(str(e))


def _args_generalisation(p: argparse.ArgumentParser) -> None:
    from experiments.generalisation import add_arguments

    add_arguments(p)


def cmd_generalisation(args: argparse.Namespace) -> int:
    """Shipped models and certified networks on every matrix class (experiments.generalisation)."""
    from experiments.generalisation import run_cli

    try:
        return run_cli(args)
    except ValueError as e:
        return _fail(str(e))


# ---------------------------------------------------------------------------------------------
# analyze


def _args_analyze(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run folder with its checkpoint")
    p.add_argument("--json", action="store_true", help="print the analysis as JSON")
    p.add_argument("--no-write", action="store_true", help="do not write RUN_DIR/analysis.json")


def cmd_analyze(args: argparse.Namespace) -> int:
    """Accuracy within 5% per group of test matrices (dynamic range, inertia, ...)."""
    from experiments.failure_analysis import analyze_run, format_analysis

    try:
        result = analyze_run(args.run_dir, write=not args.no_write)
    except ValueError as e:
        return _fail(str(e))
    print(json.dumps(result, indent=1) if args.json else format_analysis(result))
    return 0


# name -> (add arguments, run, one-line help)
COMMANDS: dict[str, tuple[Callable, Callable[[argparse.Namespace], int], str]] = {
    "train": (_args_train, cmd_train, "train an MLP or transformer (or --resume a run)"),
    "evaluate": (_args_evaluate, cmd_evaluate, "tolerance accuracy of a run's checkpoint"),
    "summarize": (_args_summarize, cmd_summarize, "accuracy tables of finished run folders"),
    "study": (_args_study, cmd_study, "run the unfinished runs of a study plan, two at a time"),
    "analyze": (_args_analyze, cmd_analyze, "which test matrices a trained run gets wrong, by group"),
    "models": (_args_models, cmd_models, "list the shipped trained models (or --export a run as one)"),
    "predict": (_args_predict, cmd_predict, "run a shipped model on your own matrices"),
    "tables": (_args_tables, cmd_tables, "regenerate (or --check) the README tables from their records"),
    "compare": (
        study_cli.args_compare,
        study_cli.cmd_compare,
        "constructive networks, MLPs and transformers on one shared test set",
    ),
    "compare-functions": (
        _args_compare_functions,
        cmd_compare_functions,
        "constructive networks beside trained models for every function, on the study's test sets",
    ),
    "generalisation": (
        _args_generalisation,
        cmd_generalisation,
        "shipped models and certified networks on every matrix class, unscaled and norm-scaled",
    ),
    "figures": (study_cli.args_figures, study_cli.cmd_figures, "draw every figure from the result files"),
    "reproduce": (
        study_cli.args_reproduce,
        study_cli.cmd_reproduce,
        "the main job: bounds, constructive checks, training, comparison, figures",
    ),
    "authors-sweep": (
        _args_authors_sweep,
        cmd_authors_sweep,
        "the authors' MLP sample-complexity sweep beside our MLP (records, resumable)",
    ),
}


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="experiments", description="Trained approximations of matrix functions.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name, (add_args, _run, help_text) in COMMANDS.items():
        add_args(sub.add_parser(name, help=help_text, description=help_text))
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return COMMANDS[args.command][1](args)


if __name__ == "__main__":
    sys.exit(main())
