"""Run a shipped model on a user's matrices: prediction, reference f(A), relative error.

``python -m experiments predict --model NAME --input A.npy [--json] [--out P.npy]``. The
input is one matrix (n, n) or a batch (B, n, n), as ``.npy`` or as a JSON (nested) list. The
reference is ``experiments.data.matfuncs`` in float64; the relative error is the study's metric,
``||P - f(A)||_1 / ||f(A)||_1`` over the entries. A matrix outside the model's training domain
(see :func:`training_domain`) gets a warning: a learned model promises nothing there.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

__all__ = ["InputError", "read_matrices", "training_domain", "Prediction", "predict_matrices"]

ENVELOPE_SAMPLES = 4096
ENVELOPE_SLACK = 1.05  # a matrix 5% beyond the largest training entry / norm seen is outside


class InputError(ValueError):
    """An input file that cannot be used; the message says what is allowed."""


def read_matrices(path: str | Path) -> torch.Tensor:
    """(B, n, n) float64 from a ``.npy`` file or a JSON list of shape (n, n) or (B, n, n).

    Raises:
        InputError: missing or unreadable file, another suffix, wrong shape, non-finite entries.
    """
    path = Path(path)
    allowed = "a .npy array or a .json list of shape (n, n) or (B, n, n) with finite real entries"
    if not path.is_file():
        raise InputError(f"input {str(path)!r} does not exist; allowed: {allowed}")
    try:
        if path.suffix == ".npy":
            arr = np.load(path, allow_pickle=False)
        elif path.suffix == ".json":
            arr = np.asarray(json.loads(path.read_text()), dtype=np.float64)
        else:
            raise InputError(f"input {str(path)!r} has suffix {path.suffix!r}; allowed: {allowed}")
    except InputError:
        raise
    except Exception as e:  # numpy and json raise several types on malformed files
        raise InputError(f"cannot read {str(path)!r} ({type(e).__name__}); allowed: {allowed}") from None
    if arr.dtype.kind not in "iuf":
        raise InputError(f"{str(path)!r} holds {arr.dtype} entries; allowed: {allowed}")
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3 or arr.shape[1] != arr.shape[2] or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise InputError(f"{str(path)!r} has shape {arr.shape}; allowed: {allowed}")
    arr = arr.astype(np.float64)
    if not np.isfinite(arr).all():
        raise InputError(f"{str(path)!r} has non-finite entries; allowed: {allowed}")
    return torch.from_numpy(arr)


def _spectral_norm(A: torch.Tensor) -> torch.Tensor:
    return torch.linalg.matrix_norm(A, ord=2)


def training_domain(data_config, A: torch.Tensor) -> list[str | None]:
    """Per matrix, None when it lies in the model's training domain, else the reason.

    The domain is that of the training distribution: ``uniform`` entries in [-c, c];
    ``ball`` ||A||_2 <= r; ``sign_wellposed`` delta <= |Re lambda| <= radius for every
    eigenvalue; ``logsqrt_wellposed`` rho_min <= |lambda| <= rho_max and |arg lambda| <=
    theta_max; any other distribution: entries and spectral norm within 5% of the largest of
    4096 training draws. Rounding slack is 1e-9 relative. Also f(A) must be defined.
    """
    from experiments.data import matrix_function_masked, sample
    from experiments.data.sampling import _check_params

    dc = data_config
    p = _check_params(dc.distribution, dict(dc.params))
    tol = 1e-9
    reasons: list[str | None] = [None] * A.shape[0]

    def flag(mask: torch.Tensor, why: str) -> None:
        for i in torch.nonzero(mask).flatten().tolist():
            reasons[i] = reasons[i] or why

    entry_max = A.abs().amax(dim=(-2, -1))
    if dc.distribution == "uniform":
        flag(entry_max > p["c"] * (1 + tol), f"an entry exceeds c={p['c']:g} in absolute value (uniform)")
    elif dc.distribution == "ball":
        flag(_spectral_norm(A) > p["r"] * (1 + tol), f"||A||_2 exceeds r={p['r']:g} (ball)")
    elif dc.distribution in ("sign_wellposed", "logsqrt_wellposed"):
        lam = torch.linalg.eigvals(A)  # (B, n)
        if dc.distribution == "sign_wellposed":
            re = lam.real.abs()
            bad = (re.amin(-1) < p["delta"] * (1 - tol)) | (re.amax(-1) > p["radius"] * (1 + tol))
            flag(bad, f"an eigenvalue has |Re| outside [{p['delta']:g}, {p['radius']:g}] (sign_wellposed)")
        else:
            mod, arg = lam.abs(), lam.angle().abs()
            bad = (mod.amin(-1) < p["rho_min"] * (1 - tol)) | (mod.amax(-1) > p["rho_max"] * (1 + tol))
            bad |= arg.amax(-1) > p["theta_max"] * (1 + tol)
            flag(bad, "an eigenvalue lies outside the training annulus sector (logsqrt_wellposed)")
    else:
        g = torch.Generator().manual_seed(0)
        train = sample(dc.sampler_config(), ENVELOPE_SAMPLES, g).A
        e_lim = float(train.abs().amax()) * ENVELOPE_SLACK
        n_lim = float(_spectral_norm(train).amax()) * ENVELOPE_SLACK
        flag(entry_max > e_lim, f"an entry exceeds {e_lim:.3g}, 5% beyond the training draws")
        flag(_spectral_norm(A) > n_lim, f"||A||_2 exceeds {n_lim:.3g}, 5% beyond the training draws")
    defined = matrix_function_masked(dc.function, A).valid
    flag(~defined, f"{dc.function}(A) is not defined or not reliably computable")
    return reasons


@dataclass
class Prediction:
    prediction: torch.Tensor  # (B, n, n), NaN where the decoded output is invalid
    valid: torch.Tensor  # (B,) bool
    reference: torch.Tensor  # (B, n, n), NaN where f(A) is undefined
    relative_error: list[float | None]  # None where either is missing
    outside: list[str | None]  # per matrix: None, or why it is outside the training domain


def predict_matrices(shipped, A: torch.Tensor) -> Prediction:
    """The shipped model's f(A) for each matrix of A (B, n, n), with reference and error.

    Raises:
        InputError: the matrices are not n x n for the model's n.
    """
    from experiments.data import matrix_function_masked
    from experiments.evaluate import predict

    n = shipped.config.data.n
    if A.shape[-1] != n:
        raise InputError(f"model {shipped.name!r} takes {n}x{n} matrices, got {A.shape[-1]}x{A.shape[-1]}")
    pred, valid = predict(shipped.model, A, encoding=shipped.encoding)
    ref = matrix_function_masked(shipped.config.data.function, A)
    errors: list[float | None] = []
    for i in range(A.shape[0]):
        if not (bool(valid[i]) and bool(ref.valid[i])):
            errors.append(None)
            continue
        den = float(ref.value[i].abs().sum())
        err = float((pred[i] - ref.value[i]).abs().sum()) / max(den, 1e-300)
        errors.append(err if math.isfinite(err) else None)
    outside = training_domain(shipped.config.data, A)
    unseen = _unseen_input_tokens(shipped, A)
    return Prediction(pred, valid, ref.value, errors, [o or u for o, u in zip(outside, unseen, strict=True)])


def _unseen_input_tokens(shipped, A: torch.Tensor) -> list[str | None]:
    """Per matrix of a vocabulary-restricted model (``experiments.vocabulary``), the reason when
    one of its entries has a token that never occurred in training, else None."""
    from experiments.vocabulary import RestrictedHead

    head = getattr(shipped.model, "lm_head", None)
    if not isinstance(head, RestrictedHead):
        return [None] * A.shape[0]
    known = torch.zeros(head.vocab_size, dtype=torch.bool)
    known[head.kept] = True
    unseen = ~known[shipped.encoding.encode_batch(A)].all(dim=1)
    why = (
        f"an entry's {shipped.encoding.name} token never occurred in training "
        "(read as the nearest one that did)"
    )
    return [why if u else None for u in unseen.tolist()]


def _nan_to_none(X: torch.Tensor) -> list:
    return [[None if math.isnan(v) else v for v in row] for row in X.tolist()]


def to_json(shipped, result: Prediction) -> dict:
    """The ``--json`` document: one list entry per matrix (null where a value is missing)."""
    return {
        "model": shipped.name,
        "function": shipped.config.data.function,
        "prediction": [_nan_to_none(P) for P in result.prediction],
        "reference": [_nan_to_none(F) for F in result.reference],
        "relative_error": result.relative_error,
        "valid": [bool(v) for v in result.valid],
        "outside_training_domain": result.outside,
    }
