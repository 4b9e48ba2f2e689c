"""One test set, three kinds of approximation: constructive networks, trained MLPs, transformers.

The shared test set is drawn from the constructive networks' domain, the "ball" distribution
``{||A||_2 <= r}`` (boundary included), so every network is judged where its guarantee holds and all
models see the same matrices. Scores come from :func:`experiments.evaluate.evaluate_predictions`,
the one scoring function of the study.
"""

from __future__ import annotations

import json
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from constructive import PrecisionWarning, count, exp_network
from experiments.data import SamplerConfig, TestSet, make_test_set
from experiments.evaluate import TOLERANCES, EvalResult, evaluate_predictions, load_trained, predict
from experiments.run_index import run_summary
from experiments.train import CHECKPOINT

__all__ = ["CompareConfig", "compare", "shared_test_set", "markdown_table"]


@dataclass(frozen=True)
class CompareConfig:
    """What to compare: the test set (n, radius, size, seed), the constructive eps values and methods."""

    n: int = 3
    radius: float = 1.0
    test_size: int = 1000
    seed: int = 20261129
    constructive_eps: tuple[float, ...] = (1e-1, 1e-2, 1e-3, 1e-4, 1e-6)
    methods: tuple[str, ...] = ("horner", "scaling_squaring", "paterson_stockmeyer")
    norm: str = "l1"
    repeats: int = 3  # timing repeats for throughput (median)

    def __post_init__(self):
        if self.n < 1 or self.radius <= 0 or self.test_size < 1 or self.repeats < 1:
            raise ValueError("compare needs n >= 1, radius > 0, test_size >= 1 and repeats >= 1")


def shared_test_set(cfg: CompareConfig) -> TestSet:
    """The ball test set for exp, fixed by (n, radius, size, seed)."""
    sampler = SamplerConfig(function="exp", distribution="ball", n=cfg.n, params={"r": cfg.radius})
    return make_test_set(sampler, cfg.test_size, cfg.seed)


def throughput(fn, A: torch.Tensor, repeats: int) -> float:
    """Matrices per second of ``fn(A)``: the median of ``repeats`` timed calls after one warm-up."""
    fn(A[: min(len(A), 16)])  # warm-up, excluded
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn(A)
        times.append(time.perf_counter() - t0)
    times.sort()
    return len(A) / max(times[len(times) // 2], 1e-12)


def _finite_or_none(x: torch.Tensor) -> float | None:
    """JSON has no infinity: an invalid or non-finite prediction's error is stored as null."""
    return float(x) if torch.isfinite(x) else None


def _row(name: str, kind: str, res: EvalResult, **extra) -> dict:
    d = res.to_dict()
    errs = res.errors
    finite = errs[torch.isfinite(errs)]
    return {
        "name": name,
        "kind": kind,
        **extra,
        "accuracy": d["accuracy"],
        "median_rel_error": _finite_or_none(errs.median()),
        "worst_rel_error": _finite_or_none(errs.max()),
        "n_invalid": d["n_invalid"],
        "rel_errors": [float(e) if torch.isfinite(e) else None for e in errs],
        "finite_fraction": len(finite) / len(errs),
    }


def _model_row(label: str, model, number_encoding, A, F, cfg: CompareConfig, **extra) -> dict:
    """Score one trained model (MLP or transformer) on the shared test set."""
    with torch.no_grad():
        pred, valid = predict(model, A, encoding=number_encoding)
        tput = throughput(lambda X, m=model, e=number_encoding: predict(m, X, encoding=e), A, 1)
    res = evaluate_predictions(pred, valid, F, norm=cfg.norm)
    if number_encoding is None:
        from experiments.models.mlp import count_mlp

        c = count_mlp(model)
        size = {"params": c.params, "depth": c.depth, "width": c.width}
    else:
        size = {"params": sum(p.numel() for p in model.parameters()), "depth": None, "width": None}
    kind = "mlp" if number_encoding is None else "transformer"
    return _row(label, kind, res, throughput=tput, **size, **extra)


def compare(cfg: CompareConfig, run_dirs: list[Path], progress=None, shipped: list | None = None) -> dict:
    """Score constructive networks, every trained exp run of matching n and every shipped exp
    model (experiments.shipped.ShippedModel) of matching n on the shared test set."""
    test = shared_test_set(cfg)
    A, F = test.A, test.F
    rows = []
    for method in cfg.methods:
        for eps in cfg.constructive_eps:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", PrecisionWarning)
                net = exp_network(cfg.n, eps, cfg.radius, method=method)
            with torch.no_grad():
                pred = net(A)
                tput = throughput(net.structured, A, cfg.repeats)
            c = count(net.to_relu_network())
            res = evaluate_predictions(pred, torch.ones(len(A), dtype=torch.bool), F, norm=cfg.norm)
            rows.append(
                _row(
                    f"{method.replace('_', '-')} eps={eps:g}",
                    "constructive",
                    res,
                    method=method,
                    eps=eps,
                    params=c.params,
                    depth=c.depth,
                    width=c.width,
                    throughput=tput,
                )
            )
            if progress:
                progress(rows[-1]["name"])
    for run_dir in run_dirs:
        summary = run_summary(run_dir)
        if summary is None or summary["function"] != "exp" or summary["n"] != cfg.n:
            continue
        if not (Path(run_dir) / CHECKPOINT).is_file():
            print(
                f"compare: skipped {run_dir}: no checkpoint (run records are committed, checkpoints are not)"
            )
            continue
        model, encoding, config = load_trained(run_dir)
        label = f"MLP {summary['run']}" if encoding is None else f"transformer {config.data.encoding}"
        rows.append(
            _model_row(
                label,
                model,
                encoding,
                A,
                F,
                cfg,
                run=str(run_dir),
                encoding=summary["label"],
                train_distribution=summary["distribution"],
            )
        )
        if progress:
            progress(label)
    for sm in shipped or []:
        if sm.config.data.function != "exp" or sm.config.data.n != cfg.n:
            continue
        kind = "MLP" if sm.encoding is None else f"transformer {sm.config.data.encoding}"
        label = f"{kind} (shipped {sm.name}, {sm.meta['steps']} steps)"
        rows.append(
            _model_row(
                label,
                sm.model,
                sm.encoding,
                A,
                F,
                cfg,
                run=f"models/{sm.name}",
                encoding=sm.config.data.encoding if sm.encoding is not None else "mlp",
                train_distribution=sm.config.data.distribution,
            )
        )
        if progress:
            progress(label)
    return {
        "config": asdict(cfg),
        "norm": cfg.norm,
        "tolerances": list(TOLERANCES),
        "test_set": {
            "description": f"exp, {cfg.test_size} matrices {cfg.n}x{cfg.n} with ||A||_2 <= {cfg.radius:g}",
            "size": cfg.test_size,
            "seed": cfg.seed,
            "n": cfg.n,
            "radius": cfg.radius,
        },
        "rows": rows,
    }


def _fmt_err(x: float | None) -> str:
    return "inf (invalid)" if x is None else f"{x:.2e}"


def markdown_table(result: dict) -> str:
    """Accuracy at each tolerance (95% Wilson interval), median/worst error, size, throughput."""
    tols = [f"{t:g}" for t in result["tolerances"]]
    head = [
        "model",
        *[f"within {float(t):.1%}" for t in tols],
        "median err",
        "worst err",
        "params",
        "depth",
        "matrices/s",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in result["rows"]:
        cells = [r["name"]]
        for t in tols:
            a = r["accuracy"][t]
            cells.append(f"{100 * a['acc']:.1f} [{100 * a['ci95'][0]:.1f}, {100 * a['ci95'][1]:.1f}]")
        cells += [
            _fmt_err(r["median_rel_error"]),
            _fmt_err(r["worst_rel_error"]),
            f"{r['params']:,}",
            "-" if r["depth"] is None else str(r["depth"]),
            f"{r['throughput']:,.0f}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write(result: dict, out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    j, m = out_dir / "compare.json", out_dir / "compare.md"
    j.write_text(json.dumps(result, indent=1))
    m.write_text(
        f"Test set: {result['test_set']['description']}, norm {result['norm']}.\n\n"
        + markdown_table(result)
        + "\n"
    )
    return [j, m]
