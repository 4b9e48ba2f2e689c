"""Side by side with Charton's LAWT code (issue 13, item 1): our transformer against LAWT's own.

    python -m benchmarks --only models --against-lawt DIR [--force] [--rounds N] [--threads N] [--quick]
    python -m benchmarks.against_lawt DIR [--force] [--rounds N] [--threads N] [--quick] [--out PATH]

DIR is a clone of facebookresearch/LAWT outside the project, with the two one-line fixes and the
timing scripts ``lawt_train_step.py`` and ``lawt_decode.py`` copied in (shared/bench/README.md).
LAWT's code is only ever run, as subprocesses with DIR as their working directory.

Each round runs three subprocesses, all with ``OMP_NUM_THREADS = MKL_NUM_THREADS = T``:

* ours: ``benchmarks/bench_models.py --configs reference --precision float32 bf16 --no-mlp``
  (training step and cached greedy decoding of the reference configuration, both precisions);
* LAWT's training step: ``lawt_train_step.py bench<r> 10`` (5 warm-up and 10 timed steps);
* LAWT's greedy decoding: ``lawt_decode.py bench<r>`` (3 timed batches of 128).

Ours runs first in even rounds and last in odd rounds, so that a drift of the machine's speed
over the run falls on both sides alike. After the three, the round times ``torch.mm`` on
1024 x 1024 matrices in this process with T threads (the attained ceiling). In the last round
only, ours also gets ``--profile``: bench_models then profiles one training step and one cached
decoding with torch.profiler after all its timed calls, so the timed numbers are not disturbed.

Ratios are per round (the two sides of a ratio ran minutes apart at most), then summarised by
their median, min and max over the rounds: training = LAWT step seconds / our step seconds
(target >= 2), decoding = our cached matrices/s / LAWT's matrices/s (target >= 3). LAWT always
runs in float32; our bf16 row compares our bf16 autocast against that same float32 LAWT.

For every target a precision misses, the summary keeps (``summary[precision]["missed"]``) the
top operators of the matching profile and a reason computed from it: the share of self CPU time
in matrix products (MATMUL_OPS) against the rest, and what the target would need of the rest.

The machine must be quiet: with a 1-minute load average above 0.5 before the run it refuses to
measure (exit 3) unless ``--force`` is given, which the record then says (``"forced": true``).
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
from collections.abc import Callable
from pathlib import Path

if __package__ in (None, ""):  # run as a script: same as python -m benchmarks.against_lawt
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from benchmarks.against_lawt import main

    raise SystemExit(main())

import torch  # noqa: E402

from .timing import environment  # noqa: E402

__all__ = [
    "REQUIRED",
    "LOAD_LIMIT",
    "TARGETS",
    "FLOP_PER_CYCLE",
    "NotRun",
    "missing_files",
    "our_command",
    "lawt_train_command",
    "lawt_decode_command",
    "round_order",
    "matmul_share",
    "missed_entry",
    "mm_ceiling",
    "cpu_mhz",
    "nominal_peak_gflop_per_s",
    "summarise",
    "run",
    "format_summary",
    "measure_and_write",
    "main",
]

ROOT = Path(__file__).resolve().parents[1]
BENCH_MODELS = ROOT / "benchmarks" / "bench_models.py"
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "lawt.json"
SETUP_DOC = "shared/bench/README.md"

REQUIRED = ("train.py", "src/", "lawt_train_step.py", "lawt_decode.py")
LOAD_LIMIT = 0.5  # 1-minute load average above which the run is refused
TARGETS = {"train_ratio": 2.0, "decode_ratio": 3.0}
PRECISIONS = ("float32", "bf16", "bf16-compiled")
OUR_KEYS = {p: "reference" + ("" if p == "float32" else f"-{p}") for p in PRECISIONS}  # bench_models' keys
# The arithmetic each precision's matrix products run in (bf16-compiled: torch.compile of the bf16 step).
DTYPE = {"float32": "float32", "bf16": "bf16", "bf16-compiled": "bf16"}
# Precisions whose decoding runs another precision's code (nothing is compiled for decoding): their
# decoding is timed and shown, but a missed decoding target is explained once, under the other.
DECODES_AS = {"bf16-compiled": "bf16"}
# Per core and cycle: two 256-bit FMA pipes = 2 x 8 lanes x 2 FLOP in float32 (Zen 4 runs AVX-512
# double-pumped on the same pipes, so 512-bit code does not double it); VDPBF16PS does two
# multiply-adds per float32 lane, twice that for bf16.
FLOP_PER_CYCLE = {"float32": 32, "bf16": 64}
LAWT_TRAIN_STEPS, LAWT_TRAIN_STEPS_QUICK = 10, 3
MM_SIZE = 1024
SUBPROCESS_TIMEOUT_S = 3600

# Operators whose self CPU time is matrix products (aten::matmul dispatches to the others and keeps
# little self time of its own; what it keeps is counted with them).
MATMUL_OPS = ("aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm", "aten::matmul")
TOP_OPS = 6  # profile rows printed and stored per missed target
# missed part -> (bench_models profile, ratio key of the summary, what the profile covers)
PARTS = {
    "train": ("train_step", "train_ratio", "one training step"),
    "decode": ("decode_cached", "decode_ratio", "one cached greedy decoding of the batch"),
}

# (round, threads, quick, out JSON path, profile) -> argv, run with the repository root as cwd
OurCommand = Callable[[int, int, bool, Path, bool], list[str]]
# (round, quick) -> argv, run with the LAWT folder as cwd
LawtCommand = Callable[[int, bool], list[str]]
# (threads) -> {precision: {"size", "median_s", ...}}
Ceiling = Callable[[int], dict]


class NotRun(Exception):
    """The side by side was not measured; ``exit_code`` says why (2: set-up, 3: busy, 1: failed)."""

    def __init__(self, exit_code: int, message: str):
        super().__init__(message)
        self.exit_code = exit_code


def missing_files(lawt_dir: Path) -> list[str]:
    """The entries of REQUIRED that ``lawt_dir`` lacks (a trailing / means a folder)."""
    lawt_dir = Path(lawt_dir)
    return [
        name
        for name in REQUIRED
        if not ((lawt_dir / name).is_dir() if name.endswith("/") else (lawt_dir / name).is_file())
    ]


def our_command(r: int, threads: int, quick: bool, out: Path, profile: bool = False) -> list[str]:
    """bench_models on the reference configuration, both precisions, transformer only; with
    ``profile``, also ``--profile`` (top operators of one training step and one cached decoding)."""
    argv = [sys.executable, str(BENCH_MODELS), "--configs", "reference", "--precision", *PRECISIONS]
    # One uncached decoding: it is the reference for cached == uncached, not a timed side here.
    argv += ["--no-mlp", "--uncached-repeats", "1", "--threads", str(threads), "--out", str(out)]
    return argv + (["--quick"] if quick else []) + (["--profile"] if profile else [])


def lawt_train_command(r: int, quick: bool) -> list[str]:
    """LAWT's training step timer: 5 warm-up steps, then 10 timed (3 with quick)."""
    steps = LAWT_TRAIN_STEPS_QUICK if quick else LAWT_TRAIN_STEPS
    return [sys.executable, "lawt_train_step.py", f"bench{r}", str(steps)]


def lawt_decode_command(r: int, quick: bool) -> list[str]:
    """LAWT's greedy-decoding timer (its sizes are fixed; quick changes nothing)."""
    return [sys.executable, "lawt_decode.py", f"bench{r}"]


def round_order(r: int) -> list[str]:
    """The order of the three sides in round r: ours first in even rounds, last in odd ones."""
    lawt = ["lawt_train", "lawt_decode"]
    return ["ours", *lawt] if r % 2 == 0 else [*lawt, "ours"]


def _env(threads: int) -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}


def _last_json_line(stdout: str) -> dict:
    """The last line of stdout that is a JSON object (LAWT's logger prints before it)."""
    for line in reversed(stdout.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                value = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(value, dict):
                return value
    raise ValueError("no JSON line on stdout")


def _call(argv: list[str], cwd: Path, threads: int, what: str) -> tuple[str, float]:
    """Run one side; its stdout and wall seconds. Raises NotRun(1) with the stderr tail on failure."""
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(
            argv,
            cwd=cwd,
            env=_env(threads),
            capture_output=True,
            text=True,
            timeout=SUBPROCESS_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        raise NotRun(1, f"{what} ran over {SUBPROCESS_TIMEOUT_S} s: {' '.join(argv)}") from None
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        tail = " | ".join((proc.stderr or proc.stdout).strip().splitlines()[-3:])
        raise NotRun(1, f"{what} failed (exit {proc.returncode}): {' '.join(argv)}: {tail}")
    return proc.stdout, wall


def mm_ceiling(threads: int, size: int = MM_SIZE, warmup: int = 2, repeats: int = 5) -> dict:
    """Median seconds of ``torch.mm`` on size x size matrices, float32 and bf16, with ``threads``
    torch threads (restored afterwards), and the GFLOP/s that makes (2 size^3 FLOP per product)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        g = torch.Generator().manual_seed(0)
        out = {}
        for precision, dtype in (("float32", torch.float32), ("bf16", torch.bfloat16)):
            a = torch.randn(size, size, generator=g).to(dtype)
            b = torch.randn(size, size, generator=g).to(dtype)
            for _ in range(warmup):
                torch.mm(a, b)
            times = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                torch.mm(a, b)
                times.append(time.perf_counter() - t0)
            median = statistics.median(times)
            out[precision] = {
                "size": size,
                "median_s": median,
                "repeats": repeats,
                "warmup": warmup,
                "gflop_per_s": 2 * size**3 / median / 1e9,
            }
        return out
    finally:
        torch.set_num_threads(previous)


def cpu_mhz() -> float | None:
    """Mean of the "cpu MHz" lines of /proc/cpuinfo (None where there are none)."""
    try:
        with open("/proc/cpuinfo") as fh:
            values = [float(line.split(":", 1)[1]) for line in fh if line.startswith("cpu MHz")]
    except (OSError, ValueError):
        return None
    return statistics.mean(values) if values else None


def nominal_peak_gflop_per_s(precision: str, cores: int, mhz: float) -> float:
    """cores x FLOP per cycle per core (FLOP_PER_CYCLE) x clock, in GFLOP/s."""
    return cores * FLOP_PER_CYCLE[DTYPE[precision]] * mhz / 1e3


def _git(folder: Path) -> dict:
    """HEAD commit of the git tree holding ``folder`` and its modified tracked files (None: no git)."""

    def git(*args: str) -> str | None:
        try:
            proc = subprocess.run(["git", "-C", str(folder), *args], capture_output=True, text=True)
        except OSError:
            return None
        return proc.stdout if proc.returncode == 0 else None

    head = git("rev-parse", "HEAD")
    if head is None:
        return {"commit": None, "dirty": None, "modified": []}
    status = git("status", "--porcelain", "--untracked-files=no") or ""
    modified = [line[3:] for line in status.splitlines() if line.strip()]
    return {"commit": head.strip(), "dirty": bool(modified), "modified": modified}


def _spread(values: list[float]) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "per_round": values}


def matmul_share(profile: list[dict]) -> float:
    """Sum of the shares of the MATMUL_OPS rows of a bench_models profile.

    Shares are of the whole profile's self CPU time, but bench_models keeps only its top rows: a
    matrix product below them counts as rest, so this is a lower bound (exact when none is cut).
    """
    return sum(row["share"] for row in profile if row["op"] in MATMUL_OPS)


def _ops(rows: list[dict]) -> str:
    return ", ".join(f"`{row['op']}` {row['share']:.0%}" for row in rows)


def _what_is_left(ratio: float, target: float, share: float) -> str:
    """The rest's budget: the target needs ratio / target of today's time; with the matrix
    products unchanged, the rest gets what they leave of it."""
    allowed = ratio / target
    if allowed > share:
        return (
            f"the target needs {allowed:.2f} of today's time, i.e. the rest cut from {1 - share:.0%} "
            f"to {allowed - share:.0%} of today's time with the matrix products unchanged"
        )
    return (
        f"the target needs {allowed:.2f} of today's time, less than the matrix products alone take "
        f"({share:.0%}), so cutting the rest cannot reach it"
    )


def missed_entry(part: str, profile: list[dict] | None, s: dict) -> dict:
    """What ``summary[precision]["missed"][part]`` holds for a missed target ("train" or "decode").

    From the last round's bench_models profile of that part and the precision's summary row ``s``:
    "profile" (its name), "top" (its first TOP_OPS rows: op, self_cpu_ms, share, calls),
    "matmul_share" (:func:`matmul_share`) and "reason", a sentence whose every number is computed
    from those two. For training also "matmul_fraction_of_ceiling", the step's matmul FLOP
    (train_flop_per_step counts only those) over the matrix products' share of the step time,
    against the attained mm ceiling (None when that share is 0), and "ratio_bound_at_ceiling", the
    ratio with every counted FLOP at that ceiling and nothing else. Without a profile (None or
    empty) "top" is empty, "matmul_share" None, and the reason says so.
    """
    name, key, covers = PARTS[part]
    ratio, target = s[key]["median"], s["targets"][key]
    head = f"{'Training' if part == 'train' else 'Decoding'} ratio {ratio:.2f} < {target:g}"
    if not profile:
        return {"profile": name, "top": [], "matmul_share": None, "reason": f"{head}; no profile recorded."}
    share = matmul_share(profile)
    matmuls = _ops([row for row in profile if row["op"] in MATMUL_OPS]) or "none listed"
    others = _ops([row for row in profile if row["op"] not in MATMUL_OPS][:3]) or "none listed"
    rest = f"the rest, {1 - share:.0%} (led by {others})"
    entry = {"profile": name, "top": profile[:TOP_OPS], "matmul_share": share}
    took = (
        f"{head}: matrix products ({matmuls}) take {share:.0%} of the self CPU time of {covers} "
        "(profiled in the last round)"
    )
    left = _what_is_left(ratio, target, share)
    if part == "decode":
        entry["reason"] = (
            f"{took}, {rest}; {left} (the record has no FLOP count of decoding to set the matrix "
            "products against the ceiling)."
        )
        return entry
    whole = s["fraction_of_attained_ceiling"]
    at_ceiling = whole / share if share > 0 else None
    bound = ratio / whole
    entry["matmul_fraction_of_ceiling"] = at_ceiling
    entry["ratio_bound_at_ceiling"] = bound
    pace = (
        ""
        if at_ceiling is None
        else f" and, at {s['ours_gflop_per_s']:.1f} GFLOP/s over the whole step ({whole:.0%} of the "
        f"attained mm ceiling), already run at {at_ceiling:.0%} of that ceiling"
    )
    entry["reason"] = (
        f"{took}{pace}, so {rest}, bounds what is left: {left}; with every counted FLOP at the "
        f"attained ceiling and nothing else the ratio would be {bound:.2f}"
        + (", below the target." if bound < target else ".")
    )
    return entry


def summarise(rounds: list[dict], threads: int, mhz: float | None) -> tuple[dict, dict]:
    """(summary per precision, peaks per precision) from the raw rounds.

    Per precision: the per-round training ratio LAWT step s / our step s and decoding ratio our
    cached matrices/s / LAWT matrices/s, each as median, min and max over the rounds, judged
    against TARGETS by the median; our GFLOP/s = train_flop_per_step / (median over rounds of our
    median step seconds), as a fraction of the nominal peak and of the attained mm ceiling;
    "missed": {part: :func:`missed_entry`} for each missed target, from the last round's profiles
    (an empty dict when both are met).
    """
    cores = min(threads, os.cpu_count() or threads)
    peaks, summary = {}, {}
    for prec in PRECISIONS:
        ours = [rd["ours"]["transformer"][OUR_KEYS[prec]] for rd in rounds]
        ours_step = [o["train_step_s"]["median_s"] for o in ours]
        ours_decode = [o["decode_cached_matrices_per_s"] for o in ours]
        lawt_step = [rd["lawt_train"]["lawt_step_median_s"] for rd in rounds]
        lawt_decode = [rd["lawt_decode"]["lawt_decoded_per_s"] for rd in rounds]
        dtype = DTYPE[prec]
        ceiling = [rd["ceiling"][dtype] for rd in rounds]
        attained = statistics.median(2 * c["size"] ** 3 / c["median_s"] / 1e9 for c in ceiling)
        nominal = None if mhz is None else nominal_peak_gflop_per_s(prec, cores, mhz)
        peaks[prec] = {
            "nominal_gflop_per_s": nominal,
            "attained_gflop_per_s": attained,
            "peak_method": {
                "nominal": f"{cores} cores x {FLOP_PER_CYCLE[dtype]} FLOP/cycle/core x "
                + ("unknown clock" if mhz is None else f"{mhz:.0f} MHz")
                + " ('cpu MHz' of /proc/cpuinfo, mean over CPUs; boost clocks may be higher). "
                + (
                    "float32: two 256-bit FMA pipes, 2 x 8 lanes x 2 FLOP (Zen 4 runs AVX-512 "
                    "double-pumped on them)"
                    if dtype == "float32"
                    else "bf16: VDPBF16PS, two multiply-adds per float32 lane, twice float32"
                ),
                "attained": f"torch.mm of two {ceiling[0]['size']}x{ceiling[0]['size']} "
                f"{'float32' if dtype == 'float32' else 'bfloat16'} matrices, {threads} torch threads, "
                f"median of {ceiling[0]['repeats']} after {ceiling[0]['warmup']} warm-up, "
                "2 n^3 FLOP per product; median over the rounds (measured at the end of each round)",
            },
        }
        train = _spread([lt / o for lt, o in zip(lawt_step, ours_step, strict=True)])
        decode = _spread([o / lt for o, lt in zip(ours_decode, lawt_decode, strict=True)])
        step = statistics.median(ours_step)
        flop = ours[0]["train_flop_per_step"]
        gflops = flop / step / 1e9
        summary[prec] = {
            "ours_key": OUR_KEYS[prec],
            "ours_step_median_s": step,
            "lawt_step_median_s": statistics.median(lawt_step),
            "train_ratio": train,
            "ours_decode_matrices_per_s": statistics.median(ours_decode),
            "lawt_decode_matrices_per_s": statistics.median(lawt_decode),
            "decode_ratio": decode,
            "train_flop_per_step": flop,
            "ours_gflop_per_s": gflops,
            "fraction_of_nominal_peak": None if nominal is None else gflops / nominal,
            "fraction_of_attained_ceiling": gflops / attained,
            "targets": dict(TARGETS),
            "met": {
                "train_ratio": bool(train["median"] >= TARGETS["train_ratio"]),
                "decode_ratio": bool(decode["median"] >= TARGETS["decode_ratio"]),
            },
        }
        profiles = ours[-1].get("profiles") or {}  # only the last round is profiled
        summary[prec]["missed"] = {
            part: missed_entry(part, profiles.get(name), summary[prec])
            for part, (name, key, _) in PARTS.items()
            if not summary[prec]["met"][key] and not (part == "decode" and prec in DECODES_AS)
        }
    return summary, peaks


def run(
    lawt_dir: Path,
    rounds: int = 3,
    threads: int = 2,
    quick: bool = False,
    force: bool = False,
    ours: OurCommand = our_command,
    lawt_train: LawtCommand = lawt_train_command,
    lawt_decode: LawtCommand = lawt_decode_command,
    ceiling: Ceiling = mm_ceiling,
    log: Callable[[str], None] = print,
) -> dict:
    """Measure the side by side and return the record (see the module docstring); writes nothing.

    Raises NotRun(2) when ``lawt_dir`` lacks a file of REQUIRED, NotRun(3) when the 1-minute load
    average is above LOAD_LIMIT and ``force`` is false (both before any side runs), NotRun(1)
    when a side fails. The command builders are arguments so that tests can run stubs.
    """
    lawt_dir = Path(lawt_dir).resolve()
    if rounds < 1 or threads < 1:
        raise ValueError(f"need rounds >= 1 and threads >= 1, got {rounds}, {threads}")
    missing = missing_files(lawt_dir)
    if missing:
        raise NotRun(
            2,
            f"{lawt_dir} is not a prepared LAWT folder: missing {', '.join(missing)} (set-up: {SETUP_DOC})",
        )
    load_before = list(os.getloadavg())
    if load_before[0] > LOAD_LIMIT and not force:
        raise NotRun(
            3,
            f"1-minute load average {load_before[0]:.2f} > {LOAD_LIMIT}: the machine is busy, "
            "not measuring (--force overrides)",
        )
    env = environment()
    mhz = cpu_mhz()
    t_start = time.perf_counter()
    raw = []
    with tempfile.TemporaryDirectory(prefix="against-lawt-") as tmp:
        for r in range(rounds):
            rd: dict = {"round": r, "order": round_order(r), "wall_s": {}}
            for side in rd["order"]:
                if side == "ours":
                    out = Path(tmp) / f"ours{r}.json"
                    # Profiles only in the last round: bench_models profiles after all its timed
                    # calls, so they cost that round some wall time but leave its timings alone.
                    argv, cwd = ours(r, threads, quick, out, r == rounds - 1), ROOT
                else:
                    argv, cwd = (lawt_train if side == "lawt_train" else lawt_decode)(r, quick), lawt_dir
                stdout, wall = _call(argv, cwd, threads, side)
                try:
                    rd[side] = json.loads(out.read_text()) if side == "ours" else _last_json_line(stdout)
                except (OSError, ValueError) as e:
                    raise NotRun(1, f"{side} gave no JSON ({e}): {' '.join(argv)}") from None
                rd["wall_s"][side] = wall
                rd.setdefault("commands", {})[side] = {"argv": argv, "cwd": str(cwd)}
            rd["ceiling"] = ceiling(threads)
            raw.append(rd)
            log(
                f"round {r + 1}/{rounds}: "
                + ", ".join(f"{s} {rd['wall_s'][s]:.1f} s" for s in rd["order"])
                + f"; load {os.getloadavg()[0]:.2f}"
            )
    summary, peaks = summarise(raw, threads, mhz)
    return {
        "benchmark": "side by side with LAWT (issue 13 item 1)",
        "date_utc": env["date_utc"],
        "machine": {
            "cpu": env["cpu"],
            "logical_cpus": env["cpu_count"],
            "torch_cpu_capability": env["torch_cpu_capability"],
            "cpu_mhz": mhz,
            "cpu_mhz_note": "'cpu MHz' of /proc/cpuinfo at the start, mean over CPUs; "
            "boost clocks may be higher",
            "platform": env["platform"],
        },
        "versions": {"python": env["python"], "torch": env["torch"], "numpy": env["numpy"]},
        "ours_git": _git(ROOT),
        "lawt_dir": str(lawt_dir),
        "lawt_git": _git(lawt_dir),
        "lawt_precision": "float32 (LAWT's scripts run with --fp16 false)",
        "threads": threads,
        "thread_env": {"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)},
        "rounds": rounds,
        "quick": quick,
        "load_limit": LOAD_LIMIT,
        "load_average_before": load_before,
        "load_average_after": list(os.getloadavg()),
        "forced": bool(force),
        "wall_s": time.perf_counter() - t_start,
        "ratio_method": "per round (the sides ran back to back), then median, min and max over the "
        "rounds; training = LAWT step s / our step s, decoding = our cached matrices/s / LAWT "
        "matrices/s; a target is met when the median reaches it",
        "summary": summary,
        "peaks": peaks,
        "cached_equals_uncached": {
            prec: [rd["ours"]["transformer"][OUR_KEYS[prec]]["cached_equals_uncached"] for rd in raw]
            for prec in PRECISIONS
        },
        "raw_rounds": raw,
    }


def _load(values: list[float]) -> str:
    return ", ".join(f"{v:.2f}" for v in values)


def _ratio(s: dict) -> str:
    return f"{s['median']:.2f} [{s['min']:.2f}, {s['max']:.2f}]"


def _frac(v: float | None) -> str:
    return "-" if v is None else f"{v:.1%}"


def format_summary(record: dict) -> str:
    """The record's summary as plain-text lines for the terminal."""
    ours, lawt = record["ours_git"], record["lawt_git"]
    lines = [
        f"LAWT side by side, {record['date_utc']}: {record['rounds']} rounds, {record['threads']} threads"
        + (", quick" if record["quick"] else "")
        + (", FORCED on a busy machine" if record["forced"] else ""),
        f"load average (1, 5, 15 min) before {_load(record['load_average_before'])}, "
        f"after {_load(record['load_average_after'])}",
        f"ours {str(ours['commit'])[:10]}{' (dirty)' if ours['dirty'] else ''}, "
        f"LAWT {str(lawt['commit'])[:10]}{' (dirty)' if lawt['dirty'] else ''}",
        f"{'precision':<14}{'ours s/step':>12}{'LAWT s/step':>12}  {'train ratio [min, max]':<24}"
        f"{'>= 2':<9}{'ours mat/s':>11}{'LAWT mat/s':>11}  {'decode ratio [min, max]':<24}{'>= 3':<8}",
    ]
    met = {True: "met", False: "NOT met"}
    for prec, s in record["summary"].items():
        lines.append(
            f"{prec:<14}{s['ours_step_median_s']:>12.3f}{s['lawt_step_median_s']:>12.3f}  "
            f"{_ratio(s['train_ratio']):<24}{met[s['met']['train_ratio']]:<9}"
            f"{s['ours_decode_matrices_per_s']:>11.1f}{s['lawt_decode_matrices_per_s']:>11.1f}  "
            f"{_ratio(s['decode_ratio']):<24}{met[s['met']['decode_ratio']]:<8}"
        )
    for prec, s in record["summary"].items():
        p = record["peaks"][prec]
        nominal = "-" if p["nominal_gflop_per_s"] is None else f"{p['nominal_gflop_per_s']:.0f}"
        lines.append(
            f"{prec}: our step {s['ours_gflop_per_s']:.1f} GFLOP/s = "
            f"{_frac(s['fraction_of_nominal_peak'])} of the nominal peak ({nominal} GFLOP/s), "
            f"{_frac(s['fraction_of_attained_ceiling'])} of the attained mm ceiling "
            f"({p['attained_gflop_per_s']:.0f} GFLOP/s)"
        )
    same = {prec: all(v) for prec, v in record["cached_equals_uncached"].items()}
    lines.append("cached == uncached decoding: " + ", ".join(f"{k} {v}" for k, v in same.items()))
    for prec, s in record["summary"].items():
        for part, m in (s.get("missed") or {}).items():
            lines += _format_missed(prec, part, m)
    return "\n".join(lines)


def _format_missed(prec: str, part: str, m: dict) -> list[str]:
    """A missed target's top operators (op, share, calls) and its reason, for the terminal."""
    what = "training" if part == "train" else "decoding"
    lines = [f"{prec} {what} target missed; top operators by self CPU time ({m['profile']}, last round):"]
    lines += [f"  {row['op']:<40}{row['share']:>7.1%}{row['calls']:>8} calls" for row in m["top"]]
    return [*lines, f"  reason: {m['reason']}"]


def main(argv: list[str] | None = None, **run_kwargs) -> int:
    """CLI; ``run_kwargs`` go to :func:`run` (tests pass stub commands through it)."""
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.against_lawt", description=__doc__.split("\n\n")[0]
    )
    p.add_argument("lawt_dir", type=Path, metavar="DIR", help=f"prepared LAWT clone ({SETUP_DOC})")
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    p.add_argument(
        "--threads", type=int, default=2, help="OMP/MKL and torch threads of every side (default 2)"
    )
    p.add_argument("--force", action="store_true", help=f"measure even with a load average > {LOAD_LIMIT}")
    p.add_argument("--quick", action="store_true", help="fewer repeats on both sides (smoke test)")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="the JSON record (default %(default)s)")
    args = p.parse_args(argv)
    if args.rounds < 1 or args.threads < 1:
        p.error("--rounds and --threads must be >= 1")
    return measure_and_write(
        args.lawt_dir, args.out, args.rounds, args.threads, args.quick, args.force, **run_kwargs
    )


def measure_and_write(
    lawt_dir: Path, out: Path, rounds: int, threads: int, quick: bool, force: bool, **run_kwargs
) -> int:
    """Run, print the summary, write the record to ``out``; the exit code (0, or NotRun's)."""
    try:
        record = run(lawt_dir, rounds, threads, quick, force, **run_kwargs)
    except NotRun as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    print(format_summary(record))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
