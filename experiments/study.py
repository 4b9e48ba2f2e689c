"""A study plan: many training runs, run a few at a time, across several working sessions.

A plan is a JSON file (one is committed: ``experiments/plans/study-3x3.json``)::

    {"description": "...", "out": "results/study",
     "groups": [{"config": "study-transformer", "function": ["exp", "sign"],
                 "encoding": ["P1000"], "seed": [0], "set": {"steps": 40000}, "tag": "long"},
                {"config": "study-transformer", "function": ["exp"], "encoding": "best", "seed": [1, 2]}]}

Each group is the product of its lists; a run is named ``<function>-<encoding or mlp>[-<tag>]-s<seed>``
and lives in ``<out>/<name>/``. ``"encoding": "best"`` stands for the encoding with the highest
final accuracy within 5% (ties: the lower median error) among the finished untagged seed-0 runs
of the same function and config; it becomes runnable once all four encodings have finished.

:func:`run_plan` starts what is not finished, ``jobs`` at a time, each in its own one-thread
process (``python -m experiments train``): a finished run (``results.json`` with status
finished) is skipped, a run with a checkpoint is resumed, a folder left without a checkpoint by
a run killed before its first one is started afresh. A relative ``out`` is taken from the
repository root, so the runner can be started from anywhere. It never commits anything; the records
are committed by hand as runs finish.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from experiments.data import ENCODINGS

__all__ = ["PlanError", "PlannedRun", "Plan", "load_plan", "run_state", "resolve_best", "run_plan"]

REPO = Path(__file__).resolve().parent.parent
BEST = "best"
POLL_S = 2.0
LOCK = ".runner.pid"


class PlanError(ValueError):
    """A plan file that cannot be read or names something not allowed; the message says what."""


@dataclass(frozen=True)
class PlannedRun:
    """One run of a plan. ``encoding`` is "mlp" for an MLP and may be "best" until resolved."""

    config: str
    function: str
    encoding: str
    seed: int
    tag: str = ""
    overrides: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        parts = [self.function, self.encoding] + ([self.tag] if self.tag else []) + [f"s{self.seed}"]
        return "-".join(parts)

    def settings(self) -> list[str]:
        """The ``--set`` overrides that make this run from its named config."""
        sets = [f"function={self.function}", f"seed={self.seed}"]
        if self.encoding not in ("mlp", BEST):
            sets.append(f"encoding={self.encoding}")
        return [*sets, *self.overrides]

    def train_args(self) -> list[str]:
        """Arguments of ``python -m experiments train`` (without ``--out``)."""
        args = ["--config", self.config]
        for s in self.settings():
            args += ["--set", s]
        return args


@dataclass(frozen=True)
class Plan:
    path: Path
    out: Path
    description: str
    runs: tuple[PlannedRun, ...] = field(default_factory=tuple)


def _as_list(group: dict, key: str, default=None) -> list:
    v = group.get(key, default)
    if v is None:
        raise PlanError(f"plan group {group} needs {key!r}")
    return v if isinstance(v, list) else [v]


def load_plan(path: str | Path, out: str | Path | None = None) -> Plan:
    """Read and validate a plan; every run's config is built once here, so a bad name or value
    fails before anything starts. ``out`` overrides the plan's output folder.

    Raises:
        PlanError: unreadable file, unknown keys, bad config names or values, duplicate runs.
    """
    from experiments.config import ConfigError, load_config

    path = Path(path)
    try:
        d = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise PlanError(f"cannot read plan {str(path)!r}: {e}") from None
    if not isinstance(d, dict) or not isinstance(d.get("groups"), list):
        raise PlanError(f"plan {str(path)!r} must be a JSON object with a list 'groups'")
    unknown = sorted(set(d) - {"description", "out", "groups"})
    if unknown:
        raise PlanError(f"unknown plan key(s) {unknown}; allowed: description, out, groups")
    allowed = {"config", "function", "encoding", "seed", "set", "tag"}
    runs: list[PlannedRun] = []
    for group in d["groups"]:
        if not isinstance(group, dict):
            raise PlanError(f"each plan group must be a JSON object, got {group!r}")
        bad = sorted(set(group) - allowed)
        if bad:
            raise PlanError(f"unknown group key(s) {bad}; allowed: {', '.join(sorted(allowed))}")
        config = group.get("config")
        if not isinstance(config, str):
            raise PlanError(f"plan group {group} needs a config name")
        sets = group.get("set", {})
        if not isinstance(sets, dict):
            raise PlanError(f"'set' must be a JSON object of config overrides, got {sets!r}")
        overrides = tuple(f"{k}={json.dumps(v) if isinstance(v, dict) else v}" for k, v in sets.items())
        tag = str(group.get("tag", ""))
        if tag and not tag.replace("_", "").isalnum():
            raise PlanError(f"tag must be letters, digits or '_', got {tag!r}")
        try:
            kind = load_config(config).model.kind
        except ConfigError as e:
            raise PlanError(str(e)) from None
        encodings = ["mlp"] if kind == "mlp" else _as_list(group, "encoding")
        for enc in encodings:
            if kind != "mlp" and enc != BEST and enc not in ENCODINGS:
                raise PlanError(f"unknown encoding {enc!r}; allowed: best, {', '.join(ENCODINGS)}")
        for f, enc, seed in itertools.product(
            _as_list(group, "function"), encodings, _as_list(group, "seed")
        ):
            if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
                raise PlanError(f"seeds must be non-negative integers, got {seed!r}")
            run = PlannedRun(config, f, enc, seed, tag, overrides)
            try:
                load_config(config, run.settings())
            except ConfigError as e:
                raise PlanError(f"run {run.name}: {e}") from None
            runs.append(run)
    names = [r.name for r in runs]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise PlanError(f"plan lists run(s) {dup} more than once")
    out_dir = Path(out) if out is not None else REPO / d.get("out", "results/study")
    return Plan(path, out_dir, str(d.get("description", "")), tuple(runs))


def _results(run_dir: Path) -> dict | None:
    try:
        r = json.loads((run_dir / "results.json").read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return r if r.get("status") == "finished" else None


def run_state(run_dir: Path) -> str:
    """ "finished", "resumable" (a checkpoint), "stale" (a folder without one) or "new"."""
    if _results(run_dir) is not None:
        return "finished"
    if (run_dir / "checkpoint.pt").is_file():
        return "resumable"
    return "stale" if run_dir.exists() else "new"


def _score(result: dict) -> tuple[float, float]:
    final = result["final"]["l1"]
    median = final["quantiles"].get("0.5")
    return final["accuracy"]["0.05"]["acc"], -(median if median is not None else math.inf)


def resolve_best(plan: Plan, run: PlannedRun) -> PlannedRun | None:
    """``run`` with encoding "best" replaced by the winner, or None while any of the four
    seed-0 untagged runs of its function and config is unfinished (or not in the plan)."""
    if run.encoding != BEST:
        return run
    scores = {}
    for enc in ENCODINGS:
        result = _results(plan.out / PlannedRun(run.config, run.function, enc, 0).name)
        if result is None:
            return None
        scores[enc] = _score(result)
    best = max(scores, key=scores.get)
    return PlannedRun(run.config, run.function, best, run.seed, run.tag, run.overrides)


def _resolved(plan: Plan) -> list[tuple[PlannedRun, PlannedRun | None]]:
    return [(r, resolve_best(plan, r)) for r in plan.runs]


def describe(plan: Plan) -> str:
    """One line per planned run: its folder and state (finished runs with accuracy within 5%)."""
    lines = []
    seen = set()
    for run, res in _resolved(plan):
        if res is None:
            lines.append(f"  {run.name:<28} waiting (best encoding of {run.function} not known yet)")
            continue
        if res.name in seen:
            continue
        seen.add(res.name)
        state = run_state(plan.out / res.name)
        extra = ""
        if state == "finished":
            r = _results(plan.out / res.name)
            extra = f"  acc<5% = {r['final']['l1']['accuracy']['0.05']['acc']:.3f}  ({r['steps']} steps)"
        lines.append(f"  {res.name:<28} {state}{extra}")
    return "\n".join(lines)


@dataclass
class _Job:
    run: PlannedRun
    proc: subprocess.Popen
    log: Path
    started: float


def _launch(plan: Plan, run: PlannedRun, python: str) -> _Job:
    run_dir = plan.out / run.name
    state = run_state(run_dir)
    if state == "stale":
        shutil.rmtree(run_dir)  # killed before its first checkpoint: nothing to keep
    if state == "resumable":
        args = ["--resume", str(run_dir)]
    else:
        args = [*run.train_args(), "--out", str(run_dir)]
    log = plan.out / "logs" / f"{run.name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    with open(log, "a") as fh:
        proc = subprocess.Popen(
            [python, "-m", "experiments", "train", *args, "--quiet"],
            stdout=fh,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,  # a Ctrl-C reaches the runner, which stops the children
        )
    return _Job(run, proc, log, time.monotonic())


def run_plan(
    plan: Plan,
    jobs: int = 2,
    max_runs: int | None = None,
    start_within_minutes: float | None = None,
    python: str = sys.executable,
    echo: Callable[[str], None] = print,
) -> int:
    """Run every unfinished run of ``plan``, ``jobs`` processes at a time; returns the number of
    runs that failed. Stops starting new runs after ``max_runs`` starts or once
    ``start_within_minutes`` have passed; running ones are always waited for. SIGTERM or
    Ctrl-C stops the children (each resumes from its last checkpoint next time). The plan file is
    re-read before each start, so runs can be added or reordered while it works.

    Raises:
        PlanError: another live runner holds ``plan.out``'s lock.
    """
    _take_lock(plan.out)
    t0 = time.monotonic()
    running: list[_Job] = []
    started: set[str] = set()
    failed = 0
    n_started = 0

    def stop_children(signum, frame):
        for job in running:
            job.proc.send_signal(signal.SIGTERM)
        for job in running:
            job.proc.wait()
        echo(f"stopped {len(running)} run(s); each resumes from its last checkpoint")
        raise SystemExit(130)

    old = signal.signal(signal.SIGTERM, stop_children)
    old_int = signal.signal(signal.SIGINT, stop_children)
    try:
        while True:
            for job in list(running):
                if job.proc.poll() is None:
                    continue
                running.remove(job)
                minutes = (time.monotonic() - job.started) / 60
                r = _results(plan.out / job.run.name)
                if job.proc.returncode == 0 and r is not None:
                    acc = r["final"]["l1"]["accuracy"]["0.05"]
                    echo(
                        f"finished {job.run.name} in {minutes:.1f} min: {r['steps']} steps, "
                        f"within 5%: {acc['acc']:.3f} [{acc['ci95'][0]:.3f}, {acc['ci95'][1]:.3f}]"
                    )
                else:
                    failed += 1
                    tail = job.log.read_text().strip().splitlines()[-1:] if job.log.exists() else []
                    echo(f"FAILED {job.run.name} (exit {job.proc.returncode}): {' '.join(tail)}")
            may_start = (max_runs is None or n_started < max_runs) and (
                start_within_minutes is None or (time.monotonic() - t0) / 60 < start_within_minutes
            )
            waiting = False
            if may_start and len(running) < jobs:
                plan = _reread(plan, echo)
            while may_start and len(running) < jobs:
                nxt = None
                for _run, res in _resolved(plan):
                    if res is None:
                        waiting = True
                        continue
                    if res.name in started or run_state(plan.out / res.name) == "finished":
                        continue
                    nxt = res
                    break
                if nxt is None:
                    break
                state = run_state(plan.out / nxt.name)
                job = _launch(plan, nxt, python)
                running.append(job)
                started.add(nxt.name)
                n_started += 1
                verb = "resumed" if state == "resumable" else "started"
                echo(f"{verb} {nxt.name} (log {job.log})")
                may_start = max_runs is None or n_started < max_runs
            if not running:
                if waiting and may_start:
                    echo("runs waiting for a best encoding whose four seed-0 runs are not all finished")
                break
            time.sleep(POLL_S)
    finally:
        signal.signal(signal.SIGTERM, old)
        signal.signal(signal.SIGINT, old_int)
        (plan.out / LOCK).unlink(missing_ok=True)
    return failed


def _reread(plan: Plan, echo: Callable[[str], None]) -> Plan:
    """The plan file as it is now (edits take effect at the next start), or the old plan if the
    file became invalid meanwhile, or names a setting that this runner's code, loaded when it
    started, does not know yet (the message says to restart it then)."""
    try:
        return load_plan(plan.path, plan.out)
    except PlanError as e:
        echo(
            f"plan file unreadable now, keeping the loaded plan: {e}. If the plan uses a setting added "
            "to the code after this runner started, restart the runner (finished runs are skipped, "
            "running ones resume from their checkpoints)"
        )
        return plan


def _take_lock(out: Path) -> None:
    """Refuse to run when another live runner works on the same folder (it would start the same
    runs twice); a lock left by a dead runner is taken over."""
    out.mkdir(parents=True, exist_ok=True)
    lock = out / LOCK
    if lock.is_file():
        try:
            pid = int(lock.read_text().strip())
            os.kill(pid, 0)
        except (ValueError, ProcessLookupError):
            pass  # stale lock
        except PermissionError:
            raise PlanError(
                f"another runner (pid {lock.read_text().strip()}) works on {str(out)!r}"
            ) from None
        else:
            if pid != os.getpid():
                raise PlanError(f"another runner (pid {pid}) works on {str(out)!r}; wait for it or stop it")
    lock.write_text(str(os.getpid()))
