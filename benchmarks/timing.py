"""Shared measurement helpers for the benchmark groups: side-by-side timing and the machine record.

Timing rules (issue 7): warm-up calls excluded, the median of the timed repeats reported, and the
functions being compared timed interleaved (A B A B ...) in one process, so that load from other
processes on a shared machine falls on both sides of a ratio alike.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

__all__ = ["Timing", "time_side_by_side", "environment", "row", "write_record"]


@dataclass(frozen=True)
class Timing:
    """Seconds per call: median and min of wall time (``perf_counter``), median of process CPU time."""

    wall_median_s: float
    wall_min_s: float
    cpu_median_s: float
    repeats: int
    warmup: int

    def as_dict(self) -> dict:
        return asdict(self)


def time_side_by_side(
    fns: dict[str, Callable[[], object]], repeats: int, warmup: int = 1
) -> dict[str, Timing]:
    """Time several functions interleaved: ``warmup`` untimed calls each, then ``repeats`` rounds
    in which every function is called once (the order rotates between rounds)."""
    if repeats < 1 or warmup < 0:
        raise ValueError(f"need repeats >= 1 and warmup >= 0, got {repeats}, {warmup}")
    names = list(fns)
    for name in names:
        for _ in range(warmup):
            fns[name]()
    wall: dict[str, list[float]] = {k: [] for k in names}
    cpu: dict[str, list[float]] = {k: [] for k in names}
    for r in range(repeats):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            c0, t0 = time.process_time(), time.perf_counter()
            fns[name]()
            wall[name].append(time.perf_counter() - t0)
            cpu[name].append(time.process_time() - c0)
    return {
        k: Timing(statistics.median(wall[k]), min(wall[k]), statistics.median(cpu[k]), repeats, warmup)
        for k in names
    }


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment() -> dict:
    """Machine, versions, torch threads and the load average (1, 5, 15 min) at the call."""
    return {
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "load_average_1_5_15min": [round(x, 2) for x in os.getloadavg()],
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "numpy": np.__version__,
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def row(
    item: str,
    case: str,
    metric: str,
    value: float,
    unit: str,
    target: float | None = None,
    higher_is_better: bool = True,
) -> dict:
    """One line of the summary table; ``met`` is None where the issue sets no target."""
    met = None
    if target is not None:
        met = bool(value >= target) if higher_is_better else bool(value <= target)
    return {
        "item": item,
        "case": case,
        "metric": metric,
        "value": float(value),
        "unit": unit,
        "target": target,
        "higher_is_better": higher_is_better,
        "met": met,
    }


def write_record(path: Path, record: dict) -> None:
    """Write a benchmark record as indented JSON (creating its folder) and say where."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {path}")
