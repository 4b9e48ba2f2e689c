"""Named, seeded input distributions and (A, f(A)) batches with explicit rejection rules.

Distributions (registry ``DISTRIBUTIONS``; parameters and defaults in ``DISTRIBUTION_PARAMS``):

- ``"uniform"``: entries iid U[-c, c] (Charton, "Linear algebra with transformers", TMLR 2022).
- ``"gaussian"``: entries iid N(0, sigma^2).
- ``"ball"``: ``A = rho D`` with ``D = G / ||G||_2`` for a Gaussian ``G`` (uniform direction on the
  Frobenius sphere, rescaled to spectral norm 1) and ``rho = r U``, ``U ~ U[0, 1]``; a fraction
  ``boundary_fraction`` of the samples gets ``rho = r``, i.e. lies on the boundary of
  ``{||A||_2 <= r}``, the domain of the ReLU approximation theorem. In floating point,
  boundary samples satisfy ``r (1 - 16 eps) <= ||A||_2 <= r (1 - 8 eps)`` (eps = 2^-52) as computed by batched
  ``torch.linalg.matrix_norm(A, 2)``, so any norm computation accurate to 8 eps (single or
  batched torch, numpy) finds them inside the closed ball.
- ``"sign_wellposed"``: ``A = V Lambda V^{-1}`` with ``Lambda`` real block diagonal (real
  eigenvalues, or 2x2 blocks for conjugate pairs ``a +- ib``) with ``delta <= |Re lambda| <=
  radius`` and ``cond_2(V) <= kappa``: sign(A) is then well defined and well conditioned.
- ``"logsqrt_wellposed"``: ``A = V Lambda V^{-1}``, eigenvalues ``rho e^{+-i theta}`` with
  ``rho`` log-uniform in ``[rho_min, rho_max]``, ``|theta| <= theta_max < pi`` (real ones
  positive), ``cond_2(V) <= kappa``: spectrum away from the closed negative real axis.
- ``"spd"``: ``Q diag(lambda) Q^T``, ``Q`` Haar orthogonal, ``lambda`` log-uniform in
  ``[lam_min, lam_max]``; exactly symmetric.

The matrix classes of the authors' generator (Charton, TMLR 2022, generator
facebookresearch/LAWT, with the classes of the fork rahul3/LAWT: ``src/envs/generators.py``,
``src/neuralnet/datagenerator.py``). ``X`` below has iid entries from the family ``entries``
with scale ``c``: ``"uniform"`` ``c U[-1, 1]``, ``"gaussian"`` ``(c / sqrt 3) N(0, 1)``,
``"gaussian_positive"`` ``(c / sqrt 3) |N(0, 1)|`` (the authors' ``gaussian`` flag and
``max_input_coeff``; LAWT's default c is 10, ours 1). The authors' Gaussian family is our
``"gaussian"`` with ``sigma = c / sqrt 3``.

- ``"gaussian_positive"``: entries iid ``(c / sqrt 3) |N(0, 1)|``.
- ``"symmetric"``: ``tril(X) + tril(X, -1)^T``.
- ``"wigner"``: symmetric; per matrix the off-diagonal and the diagonal entries each follow a
  law picked uniformly from {``N(0, s^2)``, ``s ~ U[0.5, 1.5]``; ``U[-sqrt 3, sqrt 3]``;
  Rademacher; ``Exp(1) - 1``}; times ``sigma``.
- ``"orthogonal"``: Haar orthogonal (sign-fixed QR of a Gaussian; the authors skip the sign fix).
- ``"toeplitz"``: ``A_ij = t_{j-i}``, 2n - 1 iid values (``symmetric = 1``: ``t_|i-j|``).
- ``"hankel"``: ``A_ij = h_{i+j}``, 2n - 1 iid values.
- ``"circulant"``: ``A_ij = r_{(j-i) mod n}``, n iid values.
- ``"band"``: ``X`` with entries ``|i - j| >= bandwidth`` set to 0 (default ``min(3, n - 1)``).
- ``"row_stochastic"``: ``|X_ij| / sum_k |X_ik|``.
- ``"positive_definite"``: ``X X^T + n I`` (symmetrised).

Each drawer's docstring (``_draw_<name>``) gives the exact definition and where it differs from
the authors'. None of these is conditioned on a function: the rejection rules below apply.

Rejection rules are parameters of ``SamplerConfig``: a matrix is rejected when f(A) is invalid
(outside the domain, no convergence; see ``matfuncs.matrix_function_masked``), when
``max|f(A)_ij| > max_output_entry``, or when ``cond_2(A) > max_cond``. Every batch reports how
many candidates were drawn and rejected. All randomness comes from one CPU ``torch.Generator``:
the same seed gives the same matrices.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import torch
from torch import Tensor

from experiments.data.matfuncs import check_function_name, matrix_function_masked

__all__ = [
    "DISTRIBUTIONS",
    "DISTRIBUTION_PARAMS",
    "ENTRY_FAMILIES",
    "Batch",
    "MatrixStream",
    "SamplerConfig",
    "TestSet",
    "default_distribution",
    "draw_matrices",
    "make_test_set",
    "sample",
]

DISTRIBUTION_PARAMS: dict[str, dict[str, float | str]] = {
    "uniform": {"c": 1.0},
    "gaussian": {"sigma": 1.0},
    "ball": {"r": 1.0, "boundary_fraction": 0.1},
    "sign_wellposed": {"delta": 0.5, "radius": 2.0, "kappa": 10.0, "complex_fraction": 0.5},
    "logsqrt_wellposed": {
        "rho_min": 0.2,
        "rho_max": 5.0,
        "theta_max": 2.5,
        "kappa": 10.0,
        "complex_fraction": 0.5,
    },
    "spd": {"lam_min": 0.1, "lam_max": 10.0},
    # The matrix classes of the LAWT generator (see the module docstring and _draw_class).
    "gaussian_positive": {"c": 1.0},
    "symmetric": {"entries": "uniform", "c": 1.0},
    "wigner": {"sigma": 1.0},
    "orthogonal": {},
    "toeplitz": {"entries": "uniform", "c": 1.0, "symmetric": 0.0},
    "hankel": {"entries": "uniform", "c": 1.0},
    "circulant": {"entries": "uniform", "c": 1.0},
    "band": {"entries": "uniform", "c": 1.0, "bandwidth": -1.0},
    "row_stochastic": {"entries": "uniform"},
    "positive_definite": {"entries": "uniform", "c": 1.0},
}
DISTRIBUTIONS: tuple[str, ...] = tuple(DISTRIBUTION_PARAMS)

# Parameters that take a name instead of a number, with their allowed values.
ENTRY_FAMILIES: tuple[str, ...] = ("uniform", "gaussian", "gaussian_positive")
_CHOICE_PARAMS: dict[str, tuple[str, ...]] = {"entries": ENTRY_FAMILIES}

_EPS = torch.finfo(torch.float64).eps  # 2^-52 = 2u


def default_distribution(function: str) -> str:
    """The distribution on which ``function`` is well defined and well conditioned."""
    name = check_function_name(function)
    if name == "sign":
        return "sign_wellposed"
    if name in ("log", "sqrt"):
        return "logsqrt_wellposed"
    return "uniform"


def _check_params(distribution: str, params: dict[str, Any]) -> dict[str, float | str]:
    """Merge ``params`` into the distribution's defaults, validating names and values."""
    known = DISTRIBUTION_PARAMS[distribution]
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise ValueError(
            f"unknown parameter(s) {unknown} for distribution {distribution!r}; allowed: {sorted(known)}"
        )
    p = dict(known)
    for key, value in params.items():
        if key in _CHOICE_PARAMS:
            if value not in _CHOICE_PARAMS[key]:
                raise ValueError(
                    f"parameter {key!r} must be one of {list(_CHOICE_PARAMS[key])}, got {value!r}"
                )
            p[key] = value
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"parameter {key!r} must be a number, got {value!r}")
        if not math.isfinite(value):
            raise ValueError(f"parameter {key!r} must be finite, got {value!r}")
        p[key] = float(value)

    def need(cond: bool, what: str) -> None:
        if not cond:
            raise ValueError(f"distribution {distribution!r} needs {what}; got {p}")

    if distribution == "uniform":
        need(p["c"] > 0, "c > 0")
    elif distribution == "gaussian":
        need(p["sigma"] > 0, "sigma > 0")
    elif distribution == "ball":
        need(p["r"] > 0, "r > 0")
        need(0 <= p["boundary_fraction"] <= 1, "0 <= boundary_fraction <= 1")
    elif distribution == "sign_wellposed":
        need(0 < p["delta"] <= p["radius"], "0 < delta <= radius")
        need(p["kappa"] >= 1, "kappa >= 1")
        need(0 <= p["complex_fraction"] <= 1, "0 <= complex_fraction <= 1")
    elif distribution == "logsqrt_wellposed":
        need(0 < p["rho_min"] <= p["rho_max"], "0 < rho_min <= rho_max")
        need(0 <= p["theta_max"] < math.pi, "0 <= theta_max < pi")
        need(p["kappa"] >= 1, "kappa >= 1")
        need(0 <= p["complex_fraction"] <= 1, "0 <= complex_fraction <= 1")
    elif distribution == "spd":
        need(0 < p["lam_min"] <= p["lam_max"], "0 < lam_min <= lam_max")
    else:  # the LAWT matrix classes
        for key in ("c", "sigma"):
            if key in p:
                need(p[key] > 0, f"{key} > 0")
        if "symmetric" in p:
            need(p["symmetric"] in (0.0, 1.0), "symmetric = 0 or 1")
        if "bandwidth" in p:
            w = p["bandwidth"]
            need(w == -1 or (w >= 1 and float(w).is_integer()), "bandwidth = -1 (auto) or an integer >= 1")
    return p


@dataclass(frozen=True)
class SamplerConfig:
    """What to sample: function, distribution, size, distribution parameters, rejection caps.

    ``params`` is stored merged with the distribution's defaults, so the record is complete.
    ``max_output_entry``: reject when ``max_ij |f(A)_ij|`` exceeds it. ``max_cond``: reject when
    the 2-norm condition number of ``A`` exceeds it. Raises ValueError on unknown names or
    out-of-range values, naming what is allowed.
    """

    function: str = "exp"
    distribution: str = "uniform"
    n: int = 3
    params: dict = field(default_factory=dict)
    max_output_entry: float | None = None
    max_cond: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "function", check_function_name(self.function))
        if self.distribution not in DISTRIBUTION_PARAMS:
            raise ValueError(f"unknown distribution {self.distribution!r}; known: {', '.join(DISTRIBUTIONS)}")
        if isinstance(self.n, bool) or not isinstance(self.n, int) or self.n < 1:
            raise ValueError(f"n must be an integer >= 1, got {self.n!r}")
        if not isinstance(self.params, dict):
            raise ValueError(f"params must be a dict, got {type(self.params).__name__}")
        object.__setattr__(self, "params", _check_params(self.distribution, self.params))
        for name, low in (("max_output_entry", 0.0), ("max_cond", 1.0)):
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"{name} must be a number or None, got {value!r}")
            if not (value > low) or math.isnan(value):
                raise ValueError(f"{name} must be > {low} or None, got {value!r}")
            object.__setattr__(self, name, float(value))

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python record (JSON- and ``torch.load(weights_only=True)``-safe)."""
        return {
            "function": self.function,
            "distribution": self.distribution,
            "n": self.n,
            "params": dict(self.params),
            "max_output_entry": self.max_output_entry,
            "max_cond": self.max_cond,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SamplerConfig:
        """Inverse of ``to_dict``; unknown keys raise ValueError listing the allowed ones."""
        allowed = {"function", "distribution", "n", "params", "max_output_entry", "max_cond"}
        unknown = sorted(set(d) - allowed)
        if unknown:
            raise ValueError(f"unknown SamplerConfig key(s) {unknown}; allowed: {sorted(allowed)}")
        return cls(**{k: (dict(v) if k == "params" else v) for k, v in d.items()})


class Batch(NamedTuple):
    """``A`` (B, n, n) inputs, ``F`` (B, n, n) = f(A); ``drawn`` candidates examined up to the
    last accepted one, of which ``rejected`` failed a rule (``drawn - rejected == B``)."""

    A: Tensor
    F: Tensor
    drawn: int
    rejected: int


def _haar_orthogonal(m: int, n: int, g: torch.Generator) -> Tensor:
    """(m, n, n) Haar-distributed orthogonal matrices (QR of a Gaussian, signs fixed)."""
    Z = torch.randn(m, n, n, generator=g, dtype=torch.float64)
    Q, R = torch.linalg.qr(Z)
    d = torch.sign(torch.diagonal(R, dim1=-2, dim2=-1))
    d = torch.where(d == 0, torch.ones_like(d), d)
    return Q * d[:, None, :]


def _log_uniform(shape, low: float, high: float, g: torch.Generator) -> Tensor:
    u = torch.rand(shape, generator=g, dtype=torch.float64)
    return torch.exp(math.log(low) + u * (math.log(high) - math.log(low)))


def _similarity(m: int, n: int, D: Tensor, kappa: float, g: torch.Generator) -> Tensor:
    """``V D V^{-1}`` with ``V = U diag(s) W^T``, ``s`` in ``[1, kappa]`` so cond_2(V) <= kappa."""
    U = _haar_orthogonal(m, n, g)
    W = _haar_orthogonal(m, n, g)
    s = _log_uniform((m, n), 1.0, kappa, g) if kappa > 1 else torch.ones(m, n, dtype=D.dtype)
    V = (U * s[:, None, :]) @ W.transpose(-2, -1)  # (m, n, n)
    return torch.linalg.solve(V, V @ D, left=False)  # (V D) V^{-1}


def _block_spectrum(m, n, real_part, pair_parts, complex_fraction, g) -> Tensor:
    """Real block-diagonal (m, n, n): 2x2 blocks [[a, b], [-b, a]] (eigenvalues a +- ib) with
    probability ``complex_fraction`` per pair slot, otherwise two real eigenvalues."""
    D = torch.zeros(m, n, n, dtype=torch.float64)
    lam = real_part((m, n))  # (m, n) real eigenvalues
    idx = torch.arange(n)
    D[:, idx, idx] = lam
    slots = n // 2
    if slots:
        is_pair = torch.rand(m, slots, generator=g, dtype=torch.float64) < complex_fraction
        a, b = pair_parts((m, slots))  # (m, slots) each
        i = 2 * torch.arange(slots)
        j = i + 1
        for (r, c), val in (((i, i), a), ((j, j), a), ((i, j), b), ((j, i), -b)):
            D[:, r, c] = torch.where(is_pair, val, D[:, r, c])
    return D


# ---- the matrix classes of the LAWT generator ----------------------------------------------
#
# Sources of the definitions (facts read from the authors' public code, re-implemented here):
# Charton, "Linear algebra with transformers", TMLR 2022, generator facebookresearch/LAWT, and
# the fork rahul3/LAWT that adds matrix classes for matrix functions: src/envs/generators.py
# (``rand_matrix`` and the ``matrix_type`` branches, cited "LAWT env") and
# src/neuralnet/datagenerator.py (``ExperimentData``, cited "LAWT nn").

_SQRT3 = math.sqrt(3.0)


def _entries(shape, p: dict, g: torch.Generator) -> Tensor:
    """iid entries of the family ``p["entries"]`` with scale ``c = p.get("c", 1)``:
    ``"uniform"``: ``c U[-1, 1]``; ``"gaussian"``: ``(c / sqrt 3) N(0, 1)`` (same variance
    ``c^2 / 3`` as the uniform family); ``"gaussian_positive"``: ``(c / sqrt 3) |N(0, 1)|``.
    These are LAWT env ``rand_matrix`` (uniform, gaussian) and LAWT nn ``gaussian_positive``."""
    c = p.get("c", 1.0)
    kind = p["entries"]
    if kind == "uniform":
        return (2 * torch.rand(shape, generator=g, dtype=torch.float64) - 1) * c
    X = torch.randn(shape, generator=g, dtype=torch.float64) * (c / _SQRT3)
    return X.abs() if kind == "gaussian_positive" else X


def _draw_gaussian_positive(n: int, m: int, p: dict, g: torch.Generator) -> Tensor:
    """Entries iid ``(c / sqrt 3) |N(0, 1)|`` (half-normal, mean ``c sqrt(2 / (3 pi))``,
    second moment ``c^2 / 3``); LAWT nn ``distribution="gaussian_positive"``."""
    return _entries((m, n, n), {"entries": "gaussian_positive", "c": p["c"]}, g)


def _draw_symmetric(n: int, m: int, p: dict, g: torch.Generator) -> Tensor:
    """``A = tril(X) + tril(X, -1)^T`` for ``X`` with iid entries (``_entries``): the lower
    triangle of X reflected, so ``A_ij = X_max(i,j),min(i,j)``; exactly symmetric. LAWT env
    ``matrix_type="symmetric"`` (its default class)."""
    X = _entries((m, n, n), p, g)
    return torch.tril(X) + torch.tril(X, -1).transpose(-2, -1)


def _wigner_law(k: Tensor, s: Tensor, shape, g: torch.Generator) -> Tensor:
    """Samples of shape ``(m, *shape)`` where matrix ``b`` draws from law ``k[b]`` of:
    0: ``N(0, s[b]^2)``, 1: ``U[-sqrt 3, sqrt 3]``, 2: Rademacher ``+-1``, 3: ``Exp(1) - 1``."""
    m = k.shape[0]
    full = (m, *shape)
    f64 = torch.float64
    laws = torch.stack(
        [
            torch.randn(full, generator=g, dtype=f64) * s.view(m, *([1] * len(shape))),
            (2 * torch.rand(full, generator=g, dtype=f64) - 1) * _SQRT3,
            torch.randint(0, 2, full, generator=g).to(f64) * 2 - 1,
            -torch.log1p(-torch.rand(full, generator=g, dtype=f64)) - 1,
        ]
    )  # (4, m, *shape)
    index = k.view(1, m, *([1] * len(shape))).expand(1, *full)
    return laws.gather(0, index)[0]


def _draw_wigner(n: int, m: int, p: dict, g: torch.Generator) -> Tensor:
    """Symmetric with mixed entry laws: per matrix, an off-diagonal law and a diagonal law are
    picked independently and uniformly from {``N(0, s^2)`` with ``s ~ U[0.5, 1.5]`` drawn per
    matrix and law, ``U[-sqrt 3, sqrt 3]``, Rademacher ``+-1``, ``Exp(1) - 1``} (all mean 0, the
    last three variance 1); ``A_ij = A_ji`` (i < j) iid from the first, ``A_ii`` iid from the
    second, and ``A`` is multiplied by ``sigma``. Exactly symmetric. LAWT env/nn
    ``generate_wigner_matrices`` with ``sigma = 1``; ``sigma`` is our addition."""
    f64 = torch.float64
    k_off = torch.randint(0, 4, (m,), generator=g)
    k_diag = torch.randint(0, 4, (m,), generator=g)
    s_off = 0.5 + torch.rand(m, generator=g, dtype=f64)
    s_diag = 0.5 + torch.rand(m, generator=g, dtype=f64)
    upper = torch.triu(_wigner_law(k_off, s_off, (n, n), g), 1)
    diag = _wigner_law(k_diag, s_diag, (n,), g)
    return (upper + upper.transpose(-2, -1) + torch.diag_embed(diag)) * p["sigma"]


def _draw_orthogonal(n: int, m: int, p: dict, g: torch.Generator) -> Tensor:
    """Haar-distributed orthogonal ``Q``: Householder QR ``Z = QR`` of a standard Gaussian
    ``Z`` with the columns of Q multiplied by ``sign(R_ii)`` (Mezzadri, Notices AMS 54 (2007)
    592-604). ``Q^T Q = I`` to rounding (~1e-15). LAWT env takes the Q factor of its entry
    matrix (uniform or Gaussian) without the sign fix, which is not Haar-distributed."""
    return _haar_orthogonal(m, n, g)


def _draw_toeplitz(n: int, m: int, p: dict, g: torch.Generator) -> Tensor:
    """``A_ij = t_{j-i}`` with ``t_{-(n-1)}, ..., t_{n-1}`` iid (``_entries``): constant
    along each diagonal (2n - 1 free values). With ``symmetric = 1``: ``A_ij = t_|i-j|``,
    ``t_0..t_{n-1}`` iid. LAWT nn builds the general form from a first row and a first column,
    LAWT env the symmetric form from a first row; both draw N(0, 1) whatever the family and
    scale (here: ``entries="gaussian", c=sqrt 3``)."""
    i = torch.arange(n)
    if p["symmetric"]:
        t = _entries((m, n), p, g)
        return t[:, (i[:, None] - i[None, :]).abs()]
    t = _entries((m, 2 * n - 1), p, g)
    return t[:, i[None, :] - i[:, None] + n - 1]


def _draw_hankel(n: int, m: int, p: dict, g: torch.Generator) -> Tensor:
    """``A_ij = h_{i+j}`` with ``h_0, ..., h_{2n-2}`` iid (``_entries``): constant along each
    anti-diagonal. LAWT nn (first row and last column, N(0, 1) whatever the family and scale);
    the LAWT env branch stacks arrays of incompatible shapes and yields no square matrix."""
    i = torch.arange(n)
    h = _entries((m, 2 * n - 1), p, g)
    return h[:, i[:, None] + i[None, :]]


def _draw_circulant(n: int, m: int, p: dict, g: torch.Generator) -> Tensor:
    """``A_ij = r_{(j-i) mod n}`` with ``r_0, ..., r_{n-1}`` iid (``_entries``): each row is
    the previous one shifted cyclically right by one. LAWT env (LAWT nn: N(0, 1) entries)."""
    i = torch.arange(n)
    r = _entries((m, n), p, g)
    return r[:, (i[None, :] - i[:, None]) % n]


def _band_width(n: int, bandwidth: float) -> int:
    """The authors' ``bandwidth`` w (entries kept where ``|i - j| < w``); -1 means
    ``min(3, n - 1)`` as in LAWT, raised to 1 so that n = 1 keeps its diagonal."""
    return max(1, min(3, n - 1)) if bandwidth == -1 else int(bandwidth)


def _draw_band(n: int, m: int, p: dict, g: torch.Generator) -> Tensor:
    """``A_ij = X_ij`` where ``|i - j| < w`` and 0 elsewhere, ``X`` iid (``_entries``), ``w`` =
    ``bandwidth`` (``w = 1``: diagonal, ``w = 2``: tridiagonal; lower and upper bandwidth
    ``w - 1`` in Golub-Van Loan terms); the default ``-1`` means ``w = min(3, n - 1)``.
    LAWT env/nn ``matrix_type="band"``, except n = 1, where their default w = 0 gives the zero
    matrix and ours keeps the diagonal."""
    w = _band_width(n, p["bandwidth"])
    i = torch.arange(n)
    inside = (i[:, None] - i[None, :]).abs() < w
    return torch.where(inside, _entries((m, n, n), p, g), 0.0)


def _draw_row_stochastic(n: int, m: int, p: dict, g: torch.Generator) -> Tensor:
    """``A_ij = |X_ij| / sum_k |X_ik|``, ``X`` iid (``_entries``; the scale cancels): entries
    >= 0, row sums 1 to rounding. LAWT nn ``matrix_type="stochastic"``; the LAWT env branch
    divides by the row sums without taking absolute values, which gives negative entries (and
    rows summing to nearly 0) for its signed families."""
    W = _entries((m, n, n), {"entries": p["entries"], "c": 1.0}, g).abs()
    return W / W.sum(dim=-1, keepdim=True)


def _draw_positive_definite(n: int, m: int, p: dict, g: torch.Generator) -> Tensor:
    """``A = X X^T + n I``, ``X`` iid (``_entries``), symmetrised as ``(A + A^T) / 2`` so that
    it is exactly symmetric; every eigenvalue is >= n. LAWT env (LAWT nn: ``X`` N(0, 1))."""
    X = _entries((m, n, n), p, g)
    A = X @ X.transpose(-2, -1) + n * torch.eye(n, dtype=torch.float64)
    return 0.5 * (A + A.transpose(-2, -1))


_CLASS_DRAWERS = {
    "gaussian_positive": _draw_gaussian_positive,
    "symmetric": _draw_symmetric,
    "wigner": _draw_wigner,
    "orthogonal": _draw_orthogonal,
    "toeplitz": _draw_toeplitz,
    "hankel": _draw_hankel,
    "circulant": _draw_circulant,
    "band": _draw_band,
    "row_stochastic": _draw_row_stochastic,
    "positive_definite": _draw_positive_definite,
}


def draw_matrices(distribution: str, n: int, m: int, params: dict, g: torch.Generator) -> Tensor:
    """``m`` candidate matrices (m, n, n), float64, from ``distribution`` (no rejection applied).

    ``params`` is validated and merged with the distribution's defaults (ValueError naming what
    is allowed otherwise). Every random number comes from ``g``: same generator state, same
    matrices.
    """
    if distribution not in DISTRIBUTION_PARAMS:
        raise ValueError(f"unknown distribution {distribution!r}; known: {', '.join(DISTRIBUTIONS)}")
    p = _check_params(distribution, params)
    if distribution in _CLASS_DRAWERS:
        return _CLASS_DRAWERS[distribution](n, m, p, g)
    f64 = torch.float64
    if distribution == "uniform":
        return (2 * torch.rand(m, n, n, generator=g, dtype=f64) - 1) * p["c"]
    if distribution == "gaussian":
        return torch.randn(m, n, n, generator=g, dtype=f64) * p["sigma"]
    if distribution == "ball":
        r = p["r"]
        G = torch.randn(m, n, n, generator=g, dtype=f64)
        D = G / torch.linalg.matrix_norm(G, ord=2)[:, None, None]
        rho = r * torch.rand(m, generator=g, dtype=f64)
        on_boundary = torch.rand(m, generator=g, dtype=f64) < p["boundary_fraction"]
        rho = torch.where(on_boundary, torch.full_like(rho, r), rho)
        A = rho[:, None, None] * D
        # Different SVD code paths (batched, single, numpy) disagree by up to ~3 ulps on
        # ||A||_2; keeping the batched value <= r (1 - 8 eps) makes every one of them accept
        # the boundary samples, which stay within 16 eps relative of the sphere.
        cap = r * (1 - 8 * _EPS)
        for _ in range(64):
            norm = torch.linalg.matrix_norm(A, ord=2)
            over = norm > cap
            if not bool(over.any()):
                break
            A[over] = A[over] * (cap / norm[over] * (1 - 2 * _EPS))[:, None, None]
        return A
    if distribution == "spd":
        Q = _haar_orthogonal(m, n, g)
        lam = _log_uniform((m, n), p["lam_min"], p["lam_max"], g)
        A = (Q * lam[:, None, :]) @ Q.transpose(-2, -1)
        return 0.5 * (A + A.transpose(-2, -1))
    if distribution == "sign_wellposed":
        lo, hi = p["delta"], p["radius"]

        def signed(shape):
            mag = lo + (hi - lo) * torch.rand(shape, generator=g, dtype=f64)
            sgn = torch.where(torch.rand(shape, generator=g, dtype=f64) < 0.5, -1.0, 1.0)
            return sgn * mag

        def pair(shape):
            return signed(shape), hi * torch.rand(shape, generator=g, dtype=f64)

        D = _block_spectrum(m, n, signed, pair, p["complex_fraction"], g)
        return _similarity(m, n, D, p["kappa"], g)
    # logsqrt_wellposed
    lo, hi = p["rho_min"], p["rho_max"]

    def positive(shape):
        return _log_uniform(shape, lo, hi, g)

    def polar(shape):
        rho = _log_uniform(shape, lo, hi, g)
        theta = p["theta_max"] * torch.rand(shape, generator=g, dtype=f64)
        return rho * torch.cos(theta), rho * torch.sin(theta)

    D = _block_spectrum(m, n, positive, polar, p["complex_fraction"], g)
    return _similarity(m, n, D, p["kappa"], g)


def _accept(cfg: SamplerConfig, A: Tensor) -> tuple[Tensor, Tensor]:
    """(f(A), accepted mask) for candidates A (m, n, n) under cfg's rejection rules."""
    F, ok = matrix_function_masked(cfg.function, A)
    if cfg.max_output_entry is not None:
        ok = ok & (F.abs().flatten(1).amax(dim=1) <= cfg.max_output_entry)
    if cfg.max_cond is not None:
        ok = ok & (torch.linalg.cond(A) <= cfg.max_cond)
    return F, ok


def sample(cfg: SamplerConfig, batch_size: int, generator: torch.Generator) -> Batch:
    """Exactly ``batch_size`` accepted pairs (A, f(A)), drawn with ``generator`` (CPU).

    Candidates are drawn in chunks and examined in order; the first ``batch_size`` accepted are
    returned. ``drawn`` counts candidates up to and including the last accepted one. Same
    generator state, same batch. Raises RuntimeError when fewer than 1 in 1000 candidates are
    accepted (the rules exclude almost everything), ValueError on a bad batch size.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
    n = cfg.n
    A_parts: list[Tensor] = []
    F_parts: list[Tensor] = []
    accepted = 0
    drawn = 0
    rate = 1.0
    while accepted < batch_size:
        need = batch_size - accepted
        chunk = min(int(math.ceil(need / rate * 1.1)) + 8, 8 * batch_size + 64)
        A = draw_matrices(cfg.distribution, n, chunk, cfg.params, generator)
        F, ok = _accept(cfg, A)
        idx = torch.nonzero(ok).flatten()[:need]
        if idx.numel() == need:
            drawn += int(idx[-1]) + 1
        else:
            drawn += chunk
        A_parts.append(A[idx])
        F_parts.append(F[idx])
        accepted += idx.numel()
        rate = max(float(ok.double().mean()), 1e-3)
        if drawn >= 1000 * batch_size + 10_000 and accepted < drawn / 1000:
            raise RuntimeError(
                f"rejection rate too high: {accepted} of {drawn} candidates accepted for "
                f"{cfg.function} on {cfg.distribution} (n={n}, caps: max_output_entry="
                f"{cfg.max_output_entry}, max_cond={cfg.max_cond}); relax the caps or pick "
                f"default_distribution({cfg.function!r}) = {default_distribution(cfg.function)!r}"
            )
    return Batch(torch.cat(A_parts), torch.cat(F_parts), drawn, drawn - batch_size)


class MatrixStream:
    """Endless iterator of ``Batch`` es from one seeded generator; resumable.

    ``state_dict()`` records the generator state and counters; ``load_state_dict`` restores
    them, so a resumed run continues with exactly the batches it would have seen.
    """

    def __init__(self, cfg: SamplerConfig, batch_size: int, seed: int) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
        self.cfg = cfg
        self.batch_size = batch_size
        self.seed = int(seed)
        self.generator = torch.Generator(device="cpu").manual_seed(self.seed)
        self.batches = 0
        self.drawn = 0
        self.rejected = 0

    def __iter__(self) -> Iterator[Batch]:
        return self

    def __next__(self) -> Batch:
        batch = sample(self.cfg, self.batch_size, self.generator)
        self.batches += 1
        self.drawn += batch.drawn
        self.rejected += batch.rejected
        return batch

    @property
    def rejection_rate(self) -> float:
        """Fraction of examined candidates rejected so far (0.0 before the first batch)."""
        return self.rejected / self.drawn if self.drawn else 0.0

    def state_dict(self) -> dict[str, Any]:
        return {
            "config": self.cfg.to_dict(),
            "batch_size": self.batch_size,
            "seed": self.seed,
            "generator_state": self.generator.get_state(),
            "batches": self.batches,
            "drawn": self.drawn,
            "rejected": self.rejected,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a ``state_dict``; raises ValueError if it was made for another config."""
        if SamplerConfig.from_dict(state["config"]) != self.cfg:
            raise ValueError(
                f"state was saved for config {state['config']}, this stream has {self.cfg.to_dict()}"
            )
        if state["batch_size"] != self.batch_size:
            raise ValueError(
                f"state was saved for batch_size {state['batch_size']}, this stream has {self.batch_size}"
            )
        self.seed = int(state["seed"])
        self.generator.set_state(state["generator_state"])
        self.batches = int(state["batches"])
        self.drawn = int(state["drawn"])
        self.rejected = int(state["rejected"])


@dataclass
class TestSet:
    """A fixed test set: ``A``, ``F`` (N, n, n), the config and seed that made it, and the
    candidate counts behind it (for ``rejection_rate``)."""

    __test__ = False  # not a pytest test class

    A: Tensor
    F: Tensor
    config: SamplerConfig
    seed: int
    drawn: int = 0
    rejected: int = 0

    def __len__(self) -> int:
        return self.A.shape[0]

    @property
    def rejection_rate(self) -> float:
        """Fraction of examined candidates that a rule rejected."""
        return self.rejected / self.drawn if self.drawn else 0.0

    def save(self, path: str | os.PathLike) -> None:
        """Write tensors and plain dicts with ``torch.save`` (atomically: temp file + rename)."""
        path = os.fspath(path)
        record = {
            "format": "relu-matfun TestSet v1",
            "A": self.A.contiguous(),
            "F": self.F.contiguous(),
            "config": self.config.to_dict(),
            "seed": int(self.seed),
            "drawn": int(self.drawn),
            "rejected": int(self.rejected),
        }
        folder = os.path.dirname(os.path.abspath(path))
        fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
        os.close(fd)
        try:
            torch.save(record, tmp)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)

    @classmethod
    def load(cls, path: str | os.PathLike) -> TestSet:
        """Read a file written by ``save`` (``torch.load(weights_only=True)``)."""
        record = torch.load(os.fspath(path), map_location="cpu", weights_only=True)
        if not isinstance(record, dict) or record.get("format") != "relu-matfun TestSet v1":
            raise ValueError(f"{path} is not a TestSet file written by TestSet.save")
        return cls(
            A=record["A"],
            F=record["F"],
            config=SamplerConfig.from_dict(record["config"]),
            seed=record["seed"],
            drawn=record["drawn"],
            rejected=record["rejected"],
        )


def make_test_set(cfg: SamplerConfig, size: int, seed: int) -> TestSet:
    """``size`` accepted pairs from a fresh generator seeded with ``seed``."""
    g = torch.Generator(device="cpu").manual_seed(int(seed))
    batch = sample(cfg, size, g)
    return TestSet(batch.A, batch.F, cfg, int(seed), batch.drawn, batch.rejected)
