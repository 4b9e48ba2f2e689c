"""Provenance of a run: code version, software, hardware, seed and wall time.

Written into every results.json so a number in the README can be traced to the commit, library
version and machine that produced it. Collecting never fails: a missing git or an unreadable
/proc file yields None in that field.
"""

from __future__ import annotations

import dataclasses
import os
import platform
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import torch

__all__ = ["RunRecord", "collect_run_record", "git_commit", "device_name", "utc_now"]

_REPO = Path(__file__).resolve().parent.parent


def utc_now() -> str:
    """ISO 8601 UTC timestamp to the second, e.g. '2026-11-29T07:40:00Z'."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def git_commit(repo: Path = _REPO) -> tuple[str | None, bool | None]:
    """(HEAD commit hash, whether tracked files differ from it); (None, None) outside git."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, timeout=10
        )
        if head.returncode != 0:
            return None, None
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=repo,
            capture_output=True,
            text=True,
            timeout=10,
        )
        return head.stdout.strip(), bool(dirty.stdout.strip()) if dirty.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None, None


def _cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def device_name(device: torch.device) -> str:
    """Human-readable name of the device the run used (GPU model or CPU model)."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return _cpu_model() or "cpu"


def _memory_gib() -> float | None:
    try:
        pages = os.sysconf("SC_PHYS_PAGES")
        size = os.sysconf("SC_PAGE_SIZE")
        return round(pages * size / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        return None


@dataclass(frozen=True)
class RunRecord:
    """Everything needed to say where and with what a number was produced."""

    git_commit: str | None
    git_dirty: bool | None
    python: str
    torch: str
    cuda: str | None
    device: str
    device_name: str
    cpu: str | None
    cpu_count: int | None
    torch_threads: int
    memory_gib: float | None
    gpu_count: int
    world_size: int
    seed: int
    started: str
    finished: str
    wall_time_s: float

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def collect_run_record(
    device: torch.device,
    seed: int,
    started: str,
    wall_time_s: float,
    world_size: int = 1,
    commit: tuple[str | None, bool | None] | None = None,
) -> RunRecord:
    """Snapshot of the current process's software and hardware for a finished (part of a) run.

    `commit` is git_commit() taken when the process started training (the code that ran);
    None reads it now.
    """
    commit, dirty = commit if commit is not None else git_commit()
    return RunRecord(
        git_commit=commit,
        git_dirty=dirty,
        python=sys.version.split()[0],
        torch=torch.__version__,
        cuda=torch.version.cuda,
        device=str(device),
        device_name=device_name(device),
        cpu=_cpu_model(),
        cpu_count=os.cpu_count(),
        torch_threads=torch.get_num_threads(),
        memory_gib=_memory_gib(),
        gpu_count=torch.cuda.device_count() if torch.cuda.is_available() else 0,
        world_size=world_size,
        seed=seed,
        started=started,
        finished=utc_now(),
        wall_time_s=round(float(wall_time_s), 3),
    )
