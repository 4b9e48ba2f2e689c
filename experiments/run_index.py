"""Read finished training runs (results.json, metrics.jsonl) for the comparison and the figures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import NamedTuple

__all__ = ["Curve", "find_runs", "run_summary", "run_curve"]


def find_runs(*roots: Path) -> list[Path]:
    """Run folders (those holding results.json) at or one level below each root, sorted, unique."""
    found = set()
    for root in roots:
        root = Path(root)
        if (root / "results.json").is_file():
            found.add(root.resolve())
        elif root.is_dir():
            found.update(p.parent.resolve() for p in root.glob("*/results.json"))
    return sorted(found)


def run_summary(run_dir: Path) -> dict | None:
    """Function, distribution, label (encoding, or "mlp") and final accuracy within 5% (l1 norm)
    with its 95% Wilson interval; None if the run has not finished."""
    path = Path(run_dir) / "results.json"
    if not path.is_file():
        return None
    res = json.loads(path.read_text())
    acc = res["final"]["l1"]["accuracy"]["0.05"]
    return {
        "run": res.get("run", Path(run_dir).name),
        "function": res["function"],
        "distribution": res["distribution"],
        "n": res["n"],
        "label": res["encoding"] if res.get("model") == "transformer" else "mlp",
        "model": res.get("model"),
        "acc5": acc["acc"],
        "acc5_low": acc["ci95"][0],
        "acc5_high": acc["ci95"][1],
        "steps": res.get("steps"),
        "wall_time_s": res.get("record", {}).get("wall_time_s"),
    }


class Curve(NamedTuple):
    """Periodic and final test evaluations of a run: step, accuracy within 5%, median error (l1)."""

    steps: list[int]
    acc5: list[float]
    median: list[float | None]


def run_curve(run_dir: Path) -> Curve:
    """The learning curve of a run from its metrics.jsonl (empty lists if there is none)."""
    steps, acc, median = [], [], []
    path = Path(run_dir) / "metrics.jsonl"
    if not path.is_file():
        return Curve(steps, acc, median)
    for line in path.read_text().splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut by a kill; the run record says where it resumed
        if row.get("kind") == "eval":
            steps.append(row["step"])
            acc.append(row["test"]["accuracy"]["0.05"]["acc"])
            median.append(row["test"]["quantiles"].get("0.5"))
    return Curve(steps, acc, median)
