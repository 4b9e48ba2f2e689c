"""Tolerance evaluation of approximations to matrix functions.

One function, :func:`evaluate_predictions`, scores any approximation of f(A) -- a constructive
ReLU network, a trained MLP or a decoded transformer output -- the same way: relative error per
test matrix in a named norm, accuracy at tolerances with 95% Wilson intervals, error quantiles,
and invalid predictions (malformed decodes) counted as failures and reported separately.

The default norm is the entrywise L1 norm, the metric of Charton (2022), "Linear algebra with
transformers", TMLR, section 2: a prediction P of F = f(A) is correct at tolerance tau when
sum_ij |P_ij - F_ij| / sum_ij |F_ij| < tau.

Model-level helpers (:func:`predict`, :func:`evaluate_model`, :func:`evaluate_run`) and the run
summary table (:func:`summarize_runs`) sit below it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from experiments.config import ConfigError, load_config
from experiments.run_folder import build_model, get_run_encoding, load_checkpoint, read_test_set, run_test_set

__all__ = [
    "NORMS",
    "TOLERANCES",
    "EvalResult",
    "wilson_interval",
    "relative_errors",
    "evaluate_predictions",
    "predict",
    "evaluate_model",
    "evaluate_run",
    "load_trained",
    "summarize_runs",
]

TOLERANCES = (0.05, 0.02, 0.01, 0.005)
QUANTILES = (0.5, 0.9, 0.99)
# Two-sided 95% standard normal quantile, Phi^{-1}(0.975).
Z95 = 1.959963984540054


def _norm_l1(X: Tensor) -> Tensor:
    return X.abs().sum(dim=(-2, -1))


def _norm_fro(X: Tensor) -> Tensor:
    return torch.linalg.matrix_norm(X, ord="fro")


def _norm_max(X: Tensor) -> Tensor:
    return X.abs().amax(dim=(-2, -1))


NORMS = {
    "l1": _norm_l1,  # entrywise sum |x_ij| (Charton 2022)
    "fro": _norm_fro,  # Frobenius
    "max": _norm_max,  # largest entry in absolute value
}


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (Wilson 1927, JASA 22, eq. for p_+/-).

    Returns (low, high) with 0 <= low <= successes/n <= high <= 1. Unlike the normal
    approximation it stays inside [0, 1] and is informative at 0% and 100% accuracy, which is
    where small test sets end up.
    """
    if n <= 0:
        raise ValueError(f"wilson_interval needs n >= 1 trials, got n={n}")
    if not 0 <= successes <= n:
        raise ValueError(f"successes must lie in [0, n={n}], got {successes}")
    p = successes / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z / denom * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    # At k = 0 and k = n the bounds are exactly 0 and 1; rounding would give ~1e-18 off.
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return low, high


def relative_errors(pred: Tensor, target: Tensor, norm: str = "l1") -> Tensor:
    """||pred - target|| / ||target|| per matrix; (B, n, n), (B, n, n) -> (B,) float64."""
    if norm not in NORMS:
        raise ValueError(f"unknown norm {norm!r}; known norms: {', '.join(NORMS)}")
    f = NORMS[norm]
    pred = pred.to(torch.float64)
    target = target.to(torch.float64)
    denom = f(target)
    if bool((denom == 0).any()):
        idx = torch.nonzero(denom == 0).flatten()[:5].tolist()
        raise ValueError(
            f"relative error undefined: target matrices {idx} have zero {norm} norm; "
            "choose a distribution whose f(A) is never the zero matrix"
        )
    return f(pred - target) / denom


@dataclass(frozen=True)
class EvalResult:
    """Scores of B predictions against their targets.

    Attributes:
        norm: name of the norm in NORMS.
        errors: (B,) float64 relative errors; +inf for invalid or non-finite predictions.
        valid: (B,) bool, the caller's validity mask (False = malformed decode).
        tolerances: the tolerances tau, in the order given.
        accuracy: fraction of matrices with error < tau, per tolerance (invalid count as wrong).
        intervals: 95% Wilson interval (low, high) per tolerance.
        quantiles: {q: sorted_errors[ceil(q (B - 1))]} over all B matrices (the "higher"
            empirical quantile, an observed error); +inf when that one is invalid.
        n: number of test matrices B.
        n_invalid: predictions the caller marked invalid.
        n_nonfinite: predictions marked valid that nevertheless contain NaN or inf.
    """

    norm: str
    errors: Tensor
    valid: Tensor
    tolerances: tuple[float, ...]
    accuracy: tuple[float, ...]
    intervals: tuple[tuple[float, float], ...]
    quantiles: dict[float, float]
    n: int
    n_invalid: int
    n_nonfinite: int

    def to_dict(self) -> dict:
        """JSON-ready summary (no per-matrix errors); infinite quantiles become None."""

        def finite_or_none(x: float) -> float | None:
            return x if math.isfinite(x) else None

        return {
            "norm": self.norm,
            "n": self.n,
            "n_invalid": self.n_invalid,
            "n_nonfinite": self.n_nonfinite,
            "accuracy": {
                f"{tau:g}": {"acc": acc, "ci95": list(ci)}
                for tau, acc, ci in zip(self.tolerances, self.accuracy, self.intervals, strict=True)
            },
            "quantiles": {f"{q:g}": finite_or_none(v) for q, v in self.quantiles.items()},
        }


def evaluate_predictions(
    pred: Tensor,
    valid: Tensor,
    target: Tensor,
    norm: str = "l1",
    tolerances: Sequence[float] = TOLERANCES,
) -> EvalResult:
    """Score predictions of f(A) at several tolerances (Charton 2022, section 2 metric).

    Args:
        pred: (B, n, n) predictions; rows where valid is False are ignored (may be NaN).
        valid: (B,) bool, False where the model produced no usable matrix.
        target: (B, n, n) reference values f(A).
        norm: "l1" (entrywise, default), "fro" or "max".
        tolerances: each tau in (0, inf); a prediction is correct when its error < tau.

    Returns:
        EvalResult. Invalid predictions and valid ones containing NaN/inf get error +inf, so
        they count as failures at every tolerance; they are also counted separately.

    Raises:
        ValueError: on shape mismatch, unknown norm, non-positive tolerance, empty batch, or a
            target with zero norm.
    """
    if norm not in NORMS:
        raise ValueError(f"unknown norm {norm!r}; known norms: {', '.join(NORMS)}")
    if pred.ndim != 3 or pred.shape != target.shape or pred.shape[-1] != pred.shape[-2]:
        raise ValueError(
            f"pred and target must both be (B, n, n); got {tuple(pred.shape)} and {tuple(target.shape)}"
        )
    B = pred.shape[0]
    if B == 0:
        raise ValueError("cannot evaluate an empty batch (B = 0)")
    valid = torch.as_tensor(valid, dtype=torch.bool, device=pred.device)
    if valid.shape != (B,):
        raise ValueError(f"valid must be a (B,) = ({B},) bool tensor, got {tuple(valid.shape)}")
    tolerances = tuple(float(t) for t in tolerances)
    if not tolerances or any(not (t > 0) for t in tolerances):
        raise ValueError(f"tolerances must be positive numbers, got {tolerances}")

    pred = pred.detach().to("cpu", torch.float64)
    target = target.detach().to("cpu", torch.float64)
    valid = valid.cpu()
    finite = torch.isfinite(pred).all(dim=(-2, -1))
    usable = valid & finite
    # Zero invalid rows before the norm so NaNs cannot leak; their error is set to inf below.
    safe_pred = torch.where(usable[:, None, None], pred, torch.zeros_like(pred))
    errors = relative_errors(safe_pred, target, norm)
    errors = torch.where(usable, errors, torch.full_like(errors, math.inf))

    accuracy, intervals = [], []
    for tau in tolerances:
        k = int((errors < tau).sum())
        accuracy.append(k / B)
        intervals.append(wilson_interval(k, B))
    # "higher": the quantile is an observed error (linear interpolation would give nan next to
    # an inf) and errs on the pessimistic side.
    q = torch.quantile(errors, torch.tensor(QUANTILES, dtype=torch.float64), interpolation="higher")
    return EvalResult(
        norm=norm,
        errors=errors,
        valid=valid,
        tolerances=tolerances,
        accuracy=tuple(accuracy),
        intervals=tuple(intervals),
        quantiles={qq: float(v) for qq, v in zip(QUANTILES, q, strict=True)},
        n=B,
        n_invalid=int((~valid).sum()),
        n_nonfinite=int((valid & ~finite).sum()),
    )


# ----------------------------------------------------------------------------------------------
# trained models


@torch.no_grad()
def predict(
    model: torch.nn.Module,
    A: Tensor,
    *,
    encoding=None,
    device: torch.device | str | None = None,
    chunk: int = 500,
) -> tuple[Tensor, Tensor]:
    """A trained model's approximation of f(A), ready for evaluate_predictions.

    Args:
        model: an experiments.models MLP (encoding None) or Seq2SeqTransformer (encoding given).
        A: (B, n, n) inputs.
        encoding: the transformer's number encoding; None for an MLP.
        device: where to run (default: the model's device).
        chunk: matrices per forward pass / greedy decode.

    Returns:
        pred (B, n, n) float64 on CPU, NaN where invalid; valid (B,) bool (all True for an MLP).
        The transformer decodes greedily (with KV cache) up to sequence_length + 1 tokens.
    """
    if A.ndim != 3 or A.shape[-1] != A.shape[-2]:
        raise ValueError(f"A must be (B, n, n), got {tuple(A.shape)}")
    if device is None:
        device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    B, n = A.shape[0], A.shape[-1]
    preds, valids = [], []
    for i in range(0, B, chunk):
        a = A[i : i + chunk]
        if encoding is None:
            x = a.reshape(-1, n * n).to(device, torch.float32)  # (b, n*n)
            preds.append(model(x).double().cpu().reshape(-1, n, n))  # (b, n, n)
            valids.append(torch.ones(a.shape[0], dtype=torch.bool))
        else:
            src = encoding.encode_batch(a).to(device)  # (b, S)
            max_len = encoding.sequence_length(n, n) + 1  # tokens + EOS
            ids = model.greedy_decode(src, max_len, encoding.bos_id, encoding.eos_id)
            decoded = encoding.decode_batch(ids.cpu(), (n, n))
            preds.append(decoded.value.to(torch.float64))
            valids.append(decoded.valid.to(torch.bool))
    model.train(was_training)
    return torch.cat(preds), torch.cat(valids)


def evaluate_model(
    model: torch.nn.Module, test_set, *, encoding=None, norm: str = "l1", device=None
) -> EvalResult:
    """evaluate_predictions of predict(model, test_set.A) against test_set.F."""
    pred, valid = predict(model, test_set.A, encoding=encoding, device=device)
    return evaluate_predictions(pred, valid, test_set.F, norm=norm)


def load_trained(run_dir: str | Path):
    """(model in eval mode, encoding or None, config) from a run folder's config.json and checkpoint.

    Raises:
        ValueError (CheckpointError, ConfigError): not a run folder, missing or corrupt checkpoint.
    """
    run_dir = Path(run_dir)
    if not (run_dir / "config.json").is_file():
        raise ConfigError(
            f"{str(run_dir)!r} is not a run folder (no config.json); allowed: a folder "
            "written by `python -m experiments train`"
        )
    config = load_config(str(run_dir / "config.json"))
    ckpt = load_checkpoint(run_dir)
    encoding = get_run_encoding(config)
    model = build_model(config, encoding)
    model.load_state_dict(ckpt["model"])
    model.eval()
    return model, encoding, config


def evaluate_run(
    run_dir: str | Path, test_set_path: str | Path | None = None, norm: str = "l1"
) -> EvalResult:
    """Score the checkpoint in run_dir on its test set (or the TestSet file given).

    The run's test set is the one training used: run_dir/test_set.pt, or the same matrices
    drawn again from config.json when that file is absent (run_folder.run_test_set).

    Raises:
        ValueError (CheckpointError, ConfigError, RunFolderError): missing/corrupt checkpoint or
            config, a test set file that cannot be read (truncated, damaged, foreign) or whose
            matrix size differs from the run's.
    """
    run_dir = Path(run_dir)
    model, encoding, config = load_trained(run_dir)
    if test_set_path is not None:
        test_set = read_test_set(test_set_path)
    else:
        test_set = run_test_set(run_dir, config)
    if test_set.A.shape[-1] != config.data.n:
        raise ValueError(
            f"test set holds {test_set.A.shape[-1]}x{test_set.A.shape[-1]} matrices but the run "
            f"was trained on n={config.data.n}"
        )
    return evaluate_model(model, test_set, encoding=encoding, norm=norm)


# ----------------------------------------------------------------------------------------------
# summary of run folders


def _fmt_acc(entry: dict) -> str:
    lo, hi = entry["ci95"]
    return f"{100 * entry['acc']:.1f} [{100 * lo:.1f}, {100 * hi:.1f}]"


def summarize_runs(paths: Sequence[str | Path], norm: str = "l1") -> str:
    """Markdown tables from run folders' results.json and metrics.jsonl (nothing re-run).

    `paths` are run folders or folders of run folders. The first table has final test
    accuracy (%, 95% Wilson interval) at each tolerance, the median relative error and the
    number of invalid outputs; the second the learning curve: accuracy within 5% and median
    error at the evaluations closest to each quarter of the run.
    """
    runs = []
    for p in paths:
        p = Path(p)
        if (p / "results.json").is_file():
            runs.append(p)
        elif p.is_dir():
            runs.extend(sorted(q.parent for q in p.glob("*/results.json")))
    if not runs:
        raise ValueError(f"no run folders with results.json under {[str(p) for p in paths]}")
    head = ["run", "model", "f", "enc", "steps", "examples", "min", "invalid", "median err"]
    taus = None
    rows, curves = [], []
    for run in runs:
        res = json.loads((run / "results.json").read_text())
        final = res["final"][norm]
        if taus is None:
            taus = list(final["accuracy"])
        median = final["quantiles"]["0.5"]
        rows.append(
            [
                run.name,
                res["model"],
                res["function"],
                res["encoding"] or "-",
                str(res["steps"]),
                str(res["examples_seen"]),
                f"{res['record']['wall_time_s'] / 60:.1f}",
                f"{final['n_invalid']}/{final['n']}",
                f"{median:.3g}" if median is not None else "inf",
            ]
            + [_fmt_acc(final["accuracy"][t]) for t in taus]
        )
        evals = [r for r in _read_jsonl(run / "metrics.jsonl") if r.get("kind") == "eval"]
        curve = []
        for k in (1, 2, 3, 4):
            # The evaluation closest to k/4 of the run (the last one is the final, full test).
            target = k * res["steps"] / 4
            r = min(evals, key=lambda r: (abs(r["step"] - target), -r["step"]))
            med = r["test"]["quantiles"]["0.5"]
            med = f"{med:.3g}" if med is not None else "inf"
            curve.append(f"{r['step']}: {100 * r['test']['accuracy']['0.05']['acc']:.1f} ({med})")
        curves.append([run.name, *curve])
    head += [f"acc < {float(t) * 100:g}%" for t in taus]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    lines += [
        "",
        "Learning curve, `step: accuracy within 5% in % (median relative error)` at about 1/4,",
        "2/4, 3/4 of each run and at its end (periodic evaluations use the first eval_size test",
        "matrices; the end uses all of them).",
        "",
        "| run | 1/4 | 2/4 | 3/4 | end |",
        "|---|---|---|---|---|",
    ]
    lines += ["| " + " | ".join(r) + " |" for r in curves]
    return "\n".join(lines) + "\n"


def _read_jsonl(path: Path) -> list[dict]:
    rows = []
    if path.is_file():
        for line in path.read_text().splitlines():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return rows
