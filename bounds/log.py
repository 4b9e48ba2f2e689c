"""Certified ReLU networks for the principal matrix logarithm by its Taylor series (Horner's scheme).

Domain ``D(rho) = {A in R^{n x n}: ||A - I||_2 <= rho}``, ``0 <= rho < 1``. With ``X = A - I`` the
spectrum of A lies in ``|z - 1| <= rho``, so the principal logarithm is the convergent series
``log A = log(I + X) = sum_{j >= 1} c_j X^j``, ``c_j = (-1)^(j+1) / j`` (Higham 2008, *Functions of
Matrices*, SIAM, section 11.3). docs/log_network.md derives, with explicit constants:

* Lemma L1 (truncation; sharp): ``||log A - T_K(X)||_2 <= tau_K(rho) := sum_{j > K} rho^j / j
  <= rho^(K+1) / ((K+1)(1 - rho))``, attained at ``A = (1 - rho) I``.
* Lemma L2 (the network): Horner's scheme in the product form ``S_K = c_K X``,
  ``S_k = X (c_k I + S_{k+1})`` (k = K-1..1, ``S_1 = T_K(X)``) with Lemma 3 products of ranges
  ``(rho, mu_k)``; ``mu_k = sigma_k + b_{k+1}`` (rounded up to a float),
  ``b_k = rho b_{k+1} + theta rho mu_k``, ``b_K = 0``, ``sigma_k = sum_{j=k}^K rho^(j-k) / j``,
  ``theta = n^2 4^(-m-1)``; ``||S~_1 - T_K(X)||_F <= b_1``. This is Lemma 4 of THEORY.md without the
  division by k and with a contraction factor rho < 1.

Every constant is decided in mpmath at ``DPS`` digits and returned rounded up to a float.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import mpmath

from ._iterative import check_rho, least_uniform_m
from ._symbols import as_int, iota2, iverson_ge, omega2
from .counts import Counts, _counts
from .rules import DPS, NORMS, _ceil_float, _check_choice, _check_eps, _check_n

__all__ = [
    "LogChoice",
    "LogConstants",
    "choose_log",
    "log_coefficient",
    "log_constants",
    "log_counts",
    "log_truncation_error",
]

_K_MAX = 20000
_M_MAX = 2000


@dataclass(frozen=True)
class LogConstants:
    """Lemma L2 for Taylor degree K >= 2 and m layers per product, indexed by k = 1..K-1 (the stage
    that forms S~_k = Pi(X, c_k I + S~_{k+1})): ``sigma`` bounds on ||c_k I + S_{k+1}||_2; ``mu`` the
    product ranges (>= ||c_k I + S~_{k+1}||_2, the floats the network uses); ``b`` bounds on
    ||S~_k - S_k||_F (b_1 is the network error)."""

    sigma: tuple[float, ...]
    mu: tuple[float, ...]
    b: tuple[float, ...]


@dataclass(frozen=True)
class LogChoice:
    """A logarithm network chosen by Rule L (docs/log_network.md).

    Guarantees ``sup_{||A - I||_2 <= rho} ||Phi(A) - log A|| <= certified_error <= eps`` (principal
    logarithm) in the Frobenius (``norm="fro"``) or spectral norm, in exact arithmetic.

    Fields: ``K`` Taylor degree; ``m`` layers per Lemma 3 product (Rule L: one m for all K - 1
    products; empty for K <= 1, the affine maps 0 and A - I); ``depth, width, params`` exact counts;
    ``truncation_error`` = t tau_K(rho) (t = sqrt(n) or 1), ``network_error`` = b_1.
    """

    n: int
    eps: float
    rho: float
    norm: str
    K: int
    m: tuple[int, ...]
    depth: int
    width: int
    params: int
    certified_error: float
    truncation_error: float
    network_error: float
    constants: LogConstants

    def to_dict(self) -> dict:
        """JSON-ready dict of every field (constants flattened into lists)."""
        c = self.constants
        return {
            "function": "log",
            **{f: getattr(self, f) for f in ("n", "eps", "rho", "norm", "K", "depth", "width", "params")},
            "m": list(self.m),
            "certified_error": self.certified_error,
            "truncation_error": self.truncation_error,
            "network_error": self.network_error,
            "mu": list(c.mu),
            "b": list(c.b),
        }


# ------------------------------------------------------------------------------ counts


def log_counts(n, K, m=None) -> Counts:
    """Exact depth, width and params of the Horner logarithm network (docs/log_network.md, "Counts").

    K = 0: the zero map (params 0); K = 1: the affine map A - I (params n^2 + n); ``m`` is ignored.
    For K >= 2 (K may be a symbol, then assumed >= 2), with omega_2, iota_2 at m:
    depth ``(K - 1) m``, width ``8n^3 + 2n^2 [K >= 3]``, params

        (20n^3 + 8n^2 - 12n) + (K - 2)(8 omega_2 n^4 + 20n^3 + 4n^2) + (K - 1) n^3 iota_2
        + 2n^2 (K - 2) m + 2n [K >= 3] + n^3 omega_2

    (stage 1's first layer reads X = A - I and c_{K-1} I + c_K X from the input; the first layers of
    stages 2..K-1 read the carried X and c_k I + S~_{k+1}; layers 2..m; the carry of X with its 2n
    diagonal biases; the output map S~_1, which has no constant).
    """
    iK = as_int(K)
    if iK is not None and iK < 0:
        raise ValueError(f"K (the Taylor degree) must be an integer >= 0, got {iK}")
    ni = as_int(n)
    if ni is not None and ni < 1:
        raise ValueError(f"n must be an integer >= 1, got {ni}")
    if iK is not None and iK <= 1:
        return _counts(0, 0, iK * (n**2 + n))
    im = None if m is None else as_int(m)
    if m is None or (im is not None and im < 1):
        raise ValueError(f"m (layers per product) must be an integer >= 1 for K >= 2, got {m!r}")
    w2, i2 = omega2(m), iota2(m)
    P = (
        (20 * n**3 + 8 * n**2 - 12 * n)
        + (K - 2) * (8 * w2 * n**4 + 20 * n**3 + 4 * n**2)
        + (K - 1) * n**3 * i2
        + 2 * n**2 * (K - 2) * m
        + 2 * n * iverson_ge(K, 3)
        + n**3 * w2
    )
    return _counts((K - 1) * m, 8 * n**3 + 2 * n**2 * iverson_ge(K, 3), P)


# ---------------------------------------------------------------------------- constants


def log_coefficient(j: int) -> float:
    """c_j = (-1)^(j+1) / j as the float the network's weights use (j >= 1)."""
    return (-1.0) ** (j + 1) / j


def _tau(rho, K: int):
    """Lemma L1: tau_K(rho) = sum_{j > K} rho^j / j = -log(1 - rho) - sum_{j <= K} rho^j / j (mpmath)."""
    if rho == 0:
        return mpmath.mpf(0)
    return -mpmath.log1p(-rho) - mpmath.fsum(rho**j / j for j in range(1, K + 1))


def _sigma(rho, K: int):
    """sigma_k = sum_{j=k}^K rho^(j-k) / j >= ||c_k I + S_{k+1}||_2 for k = 1..K-1, by
    sigma_K = 1/K, sigma_k = 1/k + rho sigma_{k+1}."""
    sig = {K: mpmath.mpf(1) / K}
    for k in range(K - 1, 0, -1):
        sig[k] = mpmath.mpf(1) / k + rho * sig[k + 1]
    return [sig[k] for k in range(1, K)]


def _network(n: int, rho, sigma, m: int):
    """Lemma L2 in mpmath for K = len(sigma) + 1 >= 2: (sigma, mu, b), each indexed by k = 1..K-1.

    mu_k = ceil_float(sigma_k + b_{k+1}) (the network's range); b_k = rho b_{k+1} + theta rho mu_k
    (b_K = 0), theta = n^2 4^(-m-1)."""
    K = len(sigma) + 1
    theta = mpmath.ldexp(n * n, -2 * m - 2)
    mu, b = [mpmath.mpf(0)] * (K - 1), [mpmath.mpf(0)] * (K - 1)
    b_next = mpmath.mpf(0)
    for k in range(K - 1, 0, -1):
        mu[k - 1] = mpmath.mpf(_ceil_float(sigma[k - 1] + b_next))
        b[k - 1] = b_next = rho * b_next + theta * rho * mu[k - 1]
    return sigma, mu, b


def _constants(sigma, mu, b) -> LogConstants:
    up = lambda xs: tuple(_ceil_float(x) for x in xs)  # noqa: E731
    return LogConstants(up(sigma), up(mu), up(b))


def log_constants(n: int, rho: float, K: int, m: int) -> LogConstants:
    """Lemma L2 (docs/log_network.md) for Taylor degree K >= 2 and m layers per product on
    ``||A - I||_2 <= rho``; floats rounded up (``mu`` exactly the ranges the network uses)."""
    n = _check_n(n)
    rho = check_rho(rho, "||A - I||_2")
    if isinstance(K, bool) or not isinstance(K, numbers.Integral) or K < 2:
        raise ValueError(f"K must be an integer >= 2 (K <= 1 is affine, without constants), got {K!r}")
    if isinstance(m, bool) or not isinstance(m, numbers.Integral) or m < 1:
        raise ValueError(f"m (layers per product) must be an integer >= 1, got {m!r}")
    if rho == 0:
        raise ValueError("rho = 0: the domain is {I}, where K = 0 (the zero map) is exact")
    with mpmath.workdps(DPS):
        rm = mpmath.mpf(rho)
        return _constants(*_network(n, rm, _sigma(rm, int(K)), int(m)))


def log_truncation_error(rho: float, K: int) -> float:
    """tau_K(rho) = sum_{j > K} rho^j / j >= sup_{||A - I||_2 <= rho} ||log A - T_K(A - I)||_2
    (Lemma L1; attained at A = (1 - rho) I), rounded up."""
    rho = check_rho(rho, "||A - I||_2")
    with mpmath.workdps(DPS):
        return _ceil_float(_tau(mpmath.mpf(rho), int(K)))


# -------------------------------------------------------------------------------- rule


def choose_log(n: int, eps: float, rho: float, norm: str = "fro") -> LogChoice:
    """Rule L (docs/log_network.md): the Horner network for log A on ``||A - I||_2 <= rho``.

    1. K = min{K >= 0: t tau_K(rho) <= eps/2}, t = sqrt(n) (Frobenius) or 1 (spectral).
    2. If K >= 2, one m for all K - 1 products: the least m with b_1(K, m) <= eps - t tau_K(rho).

    Guarantee (Theorem L, by Lemmas L1-L2): ``sup_{||A - I||_2 <= rho} ||Phi(A) - log A||
    <= certified_error = t tau_K + b_1 <= eps``.

    Raises:
        ValueError: n not an integer >= 1, eps not in (0, 1), rho not in [0, 1), unknown norm.
    """
    n = _check_n(n)
    eps = _check_eps(eps)
    rho = check_rho(rho, "||A - I||_2")
    norm = _check_choice("norm", norm, NORMS)
    with mpmath.workdps(DPS):
        epsm, t = mpmath.mpf(eps), (mpmath.sqrt(n) if norm == "fro" else mpmath.mpf(1))
        rm = mpmath.mpf(rho)
        K, tail = 0, (-mpmath.log1p(-rm) if rho > 0 else mpmath.mpf(0))  # tail = tau_K(rho)
        while t * tail > epsm / 2:
            K += 1
            tail -= rm**K / K
            if K > _K_MAX:
                raise ValueError(f"no K <= {_K_MAX} reaches eps = {eps} (rho too close to 1)")
        trunc = t * tail
        if K <= 1:
            ms, net_err, consts = (), mpmath.mpf(0), LogConstants((), (), ())
        else:
            sigma = _sigma(rm, K)
            m, raw = least_uniform_m(
                lambda m: _network(n, rm, sigma, m), lambda raw: trunc + raw[2][0], eps, _M_MAX
            )
            ms, net_err, consts = (m,), raw[2][0], _constants(*raw)
        counts = log_counts(n, K, ms[0] if ms else None)
        return LogChoice(
            n=n,
            eps=eps,
            rho=rho,
            norm=norm,
            K=K,
            m=ms,
            depth=counts.depth,
            width=counts.width,
            params=counts.params,
            certified_error=min(eps, _ceil_float(trunc + net_err)),
            truncation_error=_ceil_float(trunc),
            network_error=_ceil_float(net_err),
            constants=consts,
        )
