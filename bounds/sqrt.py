"""Certified ReLU networks for the principal matrix square root by the coupled Newton-Schulz iteration.

Domain ``D(rho) = {A in R^{n x n}: ||I - A||_2 <= rho}``, ``0 <= rho < 1``. The iteration (Higham 2008,
*Functions of Matrices*, SIAM, eq. (6.35); products only)

    Y_0 = A, Z_0 = I,  W_j = (3I - Z_j Y_j)/2,  Y_{j+1} = Y_j W_j,  Z_{j+1} = W_j Z_j

has ``Y_j -> A^(1/2)``, ``Z_j -> A^(-1/2)``. docs/sqrt_network.md derives, with explicit constants:

* Lemma Q1 (exact iteration): ``R_j = I - Z_j Y_j`` obeys ``R_{j+1} = R_j^2 (3I + R_j)/4`` (the sign
  network's recursion), ``Y_j = A^(1/2) (I - R_j)^(1/2)``, so ``||Y_j - A^(1/2)||_2 <= g_j :=
  a_+ (1 - sqrt(1 - rho_j))`` with ``a_+ = 2 - sqrt(1 - rho) >= ||A^(1/2)||_2``.
* Lemma Q2 (the network): step 0 is one product ``Y~_1 = Pi(A, (3I - A)/2)`` (Z_1 = (3I - A)/2 is affine);
  step j >= 1 is ``T~_j = Pi(Z~_j, Y~_j)`` then, side by side, ``Y~_{j+1} = Pi(Y~_j, W~_j)`` and
  ``Z~_{j+1} = Pi(W~_j, Z~_j)`` (the last step skips Z). Errors y_j, z_j obey the recursions of
  :func:`_network`.

Every constant is decided in mpmath at ``DPS`` digits and returned rounded up to a float.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from dataclasses import dataclass

import mpmath

from ._iterative import IterationChoice, check_rho, least_steps, least_uniform_m
from ._symbols import as_int, iota2, omega2
from .counts import Counts, _counts
from .rules import DPS, NORMS, _ceil_float, _check_choice, _check_eps, _check_n, _norm_factor

__all__ = [
    "SqrtChoice",
    "SqrtConstants",
    "choose_sqrt",
    "sqrt_constants",
    "sqrt_counts",
    "sqrt_iteration_error",
]

_K_MAX = 60
_M_MAX = 2000


@dataclass(frozen=True)
class SqrtConstants:
    """Lemmas Q1-Q2 for k coupled Newton-Schulz steps with layers ``m = (m_0, a_1, b_1, ..., a_{k-1},
    b_{k-1})`` (m_0: step 0's product; a_j: T~_j; b_j: Y~_{j+1} and Z~_{j+1}).

    Indexed by the step j = 0..k: ``rho`` bounds on ||I - Z_j Y_j||_2; ``g`` bounds on ||Y_j - A^(1/2)||_2;
    ``eta``, ``zeta`` bounds on ||Y_j||_2, ||Z_j||_2; ``y``, ``z`` bounds on ||Y~_j - Y_j||_F,
    ||Z~_j - Z_j||_F. Indexed by j = 1..k-1 (index 0: step 0's ranges ``(1 + rho, 1 + rho/2)``):
    ``MY``, ``MZ`` entry ranges of Y~_j and Z~_j, ``N`` entry ranges of W~_j.
    """

    rho: tuple[float, ...]
    g: tuple[float, ...]
    eta: tuple[float, ...]
    zeta: tuple[float, ...]
    y: tuple[float, ...]
    z: tuple[float, ...]
    MY: tuple[float, ...]
    MZ: tuple[float, ...]
    N: tuple[float, ...]


@dataclass(frozen=True)
class SqrtChoice(IterationChoice):
    """A square-root network chosen by Rule Q (docs/sqrt_network.md).

    Guarantees ``sup_{||I - A||_2 <= rho} ||Phi(A) - A^(1/2)|| <= certified_error <= eps`` (principal
    square root) in the Frobenius (``norm="fro"``) or spectral norm, in exact arithmetic.

    Fields: ``k`` Newton-Schulz steps; ``m`` layers ``(m_0, a_1, b_1, ...)`` (Rule Q: one m; empty
    for k = 0, the identity map A -> A); ``depth, width, params`` exact counts; ``iteration_error`` =
    t g_k, ``network_error`` = y_k.
    """

    constants: SqrtConstants

    def to_dict(self) -> dict:
        """JSON-ready dict of every field (constants flattened into lists)."""
        c = self.constants
        return {
            "function": "sqrt",
            **{f: getattr(self, f) for f in ("n", "eps", "rho", "norm", "k", "depth", "width", "params")},
            "m": list(self.m),
            "certified_error": self.certified_error,
            "iteration_error": self.iteration_error,
            "network_error": self.network_error,
            "MY": list(c.MY),
            "MZ": list(c.MZ),
            "N": list(c.N),
            "y": list(c.y),
            "z": list(c.z),
        }


# ------------------------------------------------------------------------------ counts


def sqrt_counts(n, k: int, m: Sequence[int]) -> Counts:
    """Exact depth, width and params of the coupled Newton-Schulz square-root network
    (docs/sqrt_network.md, "Counts"), ``m = (m_0, a_1, b_1, ..., a_{k-1}, b_{k-1})``; k = 0 is A -> A.

    Step 0: ``20n^3 + 4n^2 - 8n + n^3 iota_2(m_0)`` and, for k >= 2, the carry of A through step 0
    and T-stage 1 (``2n^2 (m_0 + a_1)``). T-stage j: ``8n^3 (2 + n w) + 4n^3 + 4n^2`` plus the carry of
    Y~_1 (``2n^3 w + 2n^2 (a_1 - 1)``) for j = 1 (w = omega_2(m_0)); ``16 n^4 w + 4n^3`` plus the carries of
    Y~_j, Z~_j (``4n^3 w + 4n^2 (a_j - 1)``) for j >= 2 (w = omega_2(b_{j-1})); ``n^3 iota_2(a_j)``.
    Product stage j (w = omega_2(a_j)): Y~_{j+1} ``8n^3 (2 + n w) + 4n^3 + 4n^2 + n^3 iota_2(b_j)``, and for
    j <= k - 2 Z~_{j+1}, the same plus ``4(n^2 - n)`` more biases when j = 1. Output ``n^3 omega_2``.
    Depth ``sum(m)``; width 8n^3 (k = 1), 8n^3 + 4n^2 (k = 2), 16n^3 (k >= 3).
    """
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 0:
        raise ValueError(f"k (Newton-Schulz steps) must be an integer >= 0, got {k!r}")
    ms = [as_int(v) for v in m]
    if len(ms) != max(2 * k - 1, 0) or any(v is None or v < 1 for v in ms):
        raise ValueError(
            f"m must hold 2k - 1 = {max(2 * k - 1, 0)} integers >= 1 (m_0, a_1, b_1, ...), got {tuple(m)!r}"
        )
    ni = as_int(n)
    if ni is not None and ni < 1:
        raise ValueError(f"n must be an integer >= 1, got {ni}")
    if k == 0:
        return _counts(0, 0, n**2)
    P = 20 * n**3 + 4 * n**2 - 8 * n + n**3 * iota2(ms[0])
    if k >= 2:
        P += 2 * n**2 * (ms[0] + ms[1])  # carry of A through step 0 and T-stage 1
    last = ms[0]
    for j in range(1, k):
        a, b = ms[2 * j - 1], ms[2 * j]
        w = omega2(last)
        if j == 1:
            P += 8 * n**3 * (2 + n * w) + 4 * n**3 + 4 * n**2 + 2 * n**3 * w + 2 * n**2 * (a - 1)
        else:
            P += 16 * n**4 * w + 4 * n**3 + 4 * n**3 * w + 4 * n**2 * (a - 1)
        P += n**3 * iota2(a)
        w = omega2(a)
        product = 8 * n**3 * (2 + n * w) + 4 * n**3 + 4 * n**2 + n**3 * iota2(b)
        P += product
        if j <= k - 2:
            P += product + (4 * (n**2 - n) if j == 1 else 0)
        last = b
    P += n**3 * omega2(last)
    width = {1: 8 * n**3, 2: 8 * n**3 + 4 * n**2}.get(k, 16 * n**3)
    return _counts(sum(ms), width, P)


# ---------------------------------------------------------------------------- constants


def _iteration(rho, k: int):
    """Lemma Q1 in mpmath: rho_j, g_j, eta_j, zeta_j for j = 0..k."""
    ap, am = 2 - mpmath.sqrt(1 - rho), 1 / mpmath.sqrt(1 - rho)
    rhos = [rho]
    for _ in range(k):
        rhos.append(rhos[-1] ** 2 * (3 + rhos[-1]) / 4)
    g = [ap * (1 - mpmath.sqrt(1 - t)) for t in rhos]
    eta = [ap * (2 - mpmath.sqrt(1 - t)) for t in rhos]
    zeta = [am * (2 - mpmath.sqrt(1 - t)) for t in rhos]
    eta[0], zeta[0] = 1 + rho, mpmath.mpf(1)  # Y_0 = A, Z_0 = I
    if k >= 1:  # Y_1 = A (3I - A)/2, Z_1 = (3I - A)/2
        eta[1] = min(eta[1], (1 + rho) * (1 + rho / 2))
        zeta[1] = min(zeta[1], 1 + rho / 2)
    return rhos, g, eta, zeta


def _network(n: int, rho, rhos, eta, zeta, ms):
    """Lemma Q2 in mpmath for k = (len(ms) + 1) / 2 >= 1 steps: y, z (j = 0..k), MY, MZ, N (j = 0..k-1).

    Step 0: y_1 = theta(m_0) (1 + rho)(1 + rho/2), z_1 = 0. Step j >= 1, with MY = eta + y, MZ = zeta + z,
    e_a = theta(a_j) MY MZ, tau = z MY + zeta y + e_a, N = 1 + rho_j/2 + tau/2:
    y' = y (1/2 + rho_j + tau/2) + eta MY z/2 + eta e_a/2 + theta(b_j) MY N,
    z' = z (1/2 + rho_j + tau/2 + y zeta/2) + zeta^2 y/2 + zeta e_a/2 + theta(b_j) N MZ."""
    k = (len(ms) + 1) // 2

    def theta(m):
        return mpmath.ldexp(n * n, -2 * m - 2)

    y = [mpmath.mpf(0), theta(ms[0]) * (1 + rho) * (1 + rho / 2)]
    z = [mpmath.mpf(0), mpmath.mpf(0)]
    MY, MZ, N = [1 + rho], [mpmath.mpf(1)], [1 + rho / 2]
    for j in range(1, k):
        a, b = ms[2 * j - 1], ms[2 * j]
        my, mz = eta[j] + y[j], zeta[j] + z[j]
        ea = theta(a) * my * mz
        tau = z[j] * my + zeta[j] * y[j] + ea
        nj = 1 + rhos[j] / 2 + tau / 2
        y.append(y[j] * (mpmath.mpf(1) / 2 + rhos[j] + tau / 2) + eta[j] * my * z[j] / 2 + eta[j] * ea / 2)
        y[-1] += theta(b) * my * nj
        z.append(
            z[j] * (mpmath.mpf(1) / 2 + rhos[j] + tau / 2 + y[j] * zeta[j] / 2) + zeta[j] ** 2 * y[j] / 2
        )
        z[-1] += zeta[j] * ea / 2 + theta(b) * nj * mz
        MY.append(my)
        MZ.append(mz)
        N.append(nj)
    return y, z, MY, MZ, N


def _constants(rhos, g, eta, zeta, y, z, MY, MZ, N) -> SqrtConstants:
    up = lambda xs: tuple(_ceil_float(x) for x in xs)  # noqa: E731
    return SqrtConstants(up(rhos), up(g), up(eta), up(zeta), up(y), up(z), up(MY), up(MZ), up(N))


def sqrt_constants(n: int, rho: float, k: int, m: Sequence[int]) -> SqrtConstants:
    """Lemmas Q1-Q2 (docs/sqrt_network.md) for k >= 1 steps with layers m = (m_0, a_1, b_1, ...) on
    ``||I - A||_2 <= rho``; floats rounded up."""
    n = _check_n(n)
    rho = check_rho(rho)
    sqrt_counts(1, k, m)  # validates k and m
    if k < 1:
        raise ValueError("k = 0 is the identity map A -> A; it has no network constants")
    with mpmath.workdps(DPS):
        rhos, g, eta, zeta = _iteration(mpmath.mpf(rho), k)
        return _constants(rhos, g, eta, zeta, *_network(n, mpmath.mpf(rho), rhos, eta, zeta, list(m)))


def sqrt_iteration_error(rho: float, k: int) -> float:
    """g_k = (2 - sqrt(1 - rho)) (1 - sqrt(1 - rho_k)) >= sup ||Y_k - A^(1/2)||_2 (Lemma Q1)."""
    rho = check_rho(rho)
    with mpmath.workdps(DPS):
        return _ceil_float(_iteration(mpmath.mpf(rho), int(k))[1][-1])


# -------------------------------------------------------------------------------- rule


def choose_sqrt(n: int, eps: float, rho: float, norm: str = "fro") -> SqrtChoice:
    """Rule Q (docs/sqrt_network.md): the coupled Newton-Schulz network for A^(1/2) on ||I - A||_2 <= rho.

    1. k = min{k >= 0: t g_k <= eps/2}, t = sqrt(n) (Frobenius) or 1 (spectral).
    2. One m for all 2k - 1 product stages: the least m with y_k(m) <= eps - t g_k.

    Guarantee (Theorem Q): ``sup_{||I - A||_2 <= rho} ||Phi(A) - A^(1/2)|| <= certified_error <= eps``.

    Raises:
        ValueError: n not an integer >= 1, eps not in (0, 1), rho not in [0, 1), unknown norm.
    """
    n = _check_n(n)
    eps = _check_eps(eps)
    rho = check_rho(rho)
    norm = _check_choice("norm", norm, NORMS)
    with mpmath.workdps(DPS):
        t, rm = _norm_factor(n, norm), mpmath.mpf(rho)
        k = least_steps(lambda k: t * _iteration(rm, k)[1][-1], 0, eps, _K_MAX)
        rhos, g, eta, zeta = _iteration(rm, k)
        trunc = t * g[-1]
        if k == 0:
            ms, net_err = [], mpmath.mpf(0)
            consts = _constants(rhos, g, eta, zeta, [0], [0], [], [], [])
        else:
            m, raw = least_uniform_m(
                lambda m: _network(n, rm, rhos, eta, zeta, [m] * (2 * k - 1)),
                lambda raw: trunc + raw[0][-1],
                eps,
                _M_MAX,
            )
            ms = [m] * (2 * k - 1)
            net_err, consts = raw[0][-1], _constants(rhos, g, eta, zeta, *raw)
        counts = sqrt_counts(n, k, ms)
        return SqrtChoice(
            n=n,
            eps=eps,
            rho=rho,
            norm=norm,
            k=k,
            m=tuple(ms),
            depth=counts.depth,
            width=counts.width,
            params=counts.params,
            certified_error=min(eps, _ceil_float(trunc + net_err)),
            iteration_error=_ceil_float(trunc),
            network_error=_ceil_float(net_err),
            constants=consts,
        )
