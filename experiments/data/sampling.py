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
    "Batch",
    "MatrixStream",
    "SamplerConfig",
    "TestSet",
    "default_distribution",
    "draw_matrices",
    "make_test_set",
    "sample",
]

DISTRIBUTION_PARAMS: dict[str, dict[str, float]] = {
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
}
DISTRIBUTIONS: tuple[str, ...] = tuple(DISTRIBUTION_PARAMS)

_EPS = torch.finfo(torch.float64).eps  # 2^-52 = 2u


def default_distribution(function: str) -> str:
    """The distribution on which ``function`` is well defined and well conditioned."""
    name = check_function_name(function)
    if name == "sign":
        return "sign_wellposed"
    if name in ("log", "sqrt"):
        return "logsqrt_wellposed"
    return "uniform"


def _check_params(distribution: str, params: dict[str, Any]) -> dict[str, float]:
    """Merge ``params`` into the distribution's defaults, validating names and values."""
    known = DISTRIBUTION_PARAMS[distribution]
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise ValueError(
            f"unknown parameter(s) {unknown} for distribution {distribution!r}; allowed: {sorted(known)}"
        )
    p = dict(known)
    for key, value in params.items():
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


def draw_matrices(distribution: str, n: int, m: int, params: dict, g: torch.Generator) -> Tensor:
    """``m`` candidate matrices (m, n, n) from ``distribution`` (no rejection applied)."""
    if distribution not in DISTRIBUTION_PARAMS:
        raise ValueError(f"unknown distribution {distribution!r}; known: {', '.join(DISTRIBUTIONS)}")
    p = _check_params(distribution, params)
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
