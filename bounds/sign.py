"""Certified ReLU networks for the matrix sign function by the Newton-Schulz iteration.

Domain ``D(rho, alpha) = {A in R^{n x n}: ||I - A^2||_2 <= rho, ||A||_2 <= alpha}`` with
``0 <= rho < 1``. On it sign(A) is defined (A^2 has its spectrum in the disk |z - 1| <= rho, so A
has no eigenvalue on the imaginary axis) and the Newton-Schulz iteration

    X_0 = A,   X_{j+1} = X_j (3I - X_j^2) / 2

(Higham 2008, *Functions of Matrices*, SIAM, section 5.3, eq. (5.22); Kenney & Laub 1991) converges
quadratically. docs/sign_network.md derives, with explicit constants:

* Lemma S1 (exact iteration): ``R_j = I - X_j^2`` satisfies ``R_{j+1} = R_j^2 (3I + R_j) / 4``, so
  ``||R_j||_2 <= rho_j`` with ``rho_0 = rho``, ``rho_{j+1} = rho_j^2 (3 + rho_j) / 4``, and
  ``||X_j - sign(A)||_2 <= g_j := sigma (1 - sqrt(1 - rho_j))``, ``sigma = alpha / sqrt(1 - rho)``.
* Lemma S2 (the network): each iteration is a squaring ``Y~ = Pi_sq(X~)`` and a product
  ``X~' = Pi(X~, (3I - Y~)/2)`` (Lemma 3 of THEORY.md), and the network error ``d_j`` obeys
  ``d_{j+1} = z_j + p (z_0 + ... + z_{j-1})``, ``z_j = kappa_j d_j + M_j e1_j / 2 + e2_j``,
  ``p = (1 + sigma^2) / 2`` (the norm of the projection that Newton-Schulz's derivative is at sign(A)).

Every constant is decided in mpmath at ``DPS`` digits and returned rounded up to a float.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from dataclasses import dataclass

import mpmath

from ._iterative import check_rho, least_steps
from ._symbols import as_int, iota1, iota2, omega1, omega2
from .counts import Counts, _counts
from .rules import (
    DPS,
    NORMS,
    _ceil_float,
    _check_choice,
    _check_eps,
    _check_n,
    _check_real,
    _least_m,
    _norm_factor,
)

__all__ = [
    "SignChoice",
    "SignConstants",
    "choose_sign",
    "sign_constants",
    "sign_counts",
    "sign_iteration_error",
]

_K_MAX = 200
_M_MAX = 2000


@dataclass(frozen=True)
class SignConstants:
    """Lemmas S1-S2 for k Newton-Schulz iterations with layers ``m = (a_0, b_0, ..., a_{k-1}, b_{k-1})``
    (a_j: squaring of iteration j, b_j: its product). All tuples are indexed by the iteration j.

    ``sigma``: bound on ||sign(A)||_2; ``rho``: (rho_0..rho_k), bounds on ||I - X_j^2||_2;
    ``g``: (g_0..g_k), bounds on ||X_j - sign(A)||_2; ``xi``: bounds on ||X_j||_2; ``M``: entry
    ranges of X~_j (both factors of the squaring, M_x of the product); ``N``: entry ranges of
    W~_j = (3I - Y~_j)/2 (M_y of the product); ``kappa``: the non-projection Lipschitz factors
    kappa_j of Lemma S2; ``d``: (d_0..d_k),
    bounds on ||X~_j - X_j||_F.
    """

    sigma: float
    rho: tuple[float, ...]
    g: tuple[float, ...]
    xi: tuple[float, ...]
    M: tuple[float, ...]
    N: tuple[float, ...]
    kappa: tuple[float, ...]
    d: tuple[float, ...]


@dataclass(frozen=True)
class SignChoice:
    """A sign network chosen by Rule S (docs/sign_network.md).

    Guarantees ``sup_{A in D(rho, alpha)} ||Phi(A) - sign(A)|| <= certified_error <= eps`` in the
    Frobenius (``norm="fro"``) or spectral norm, in exact arithmetic.

    Fields: ``k`` Newton-Schulz iterations; ``m`` layers per product, ``(a_0, b_0, ..., a_{k-1},
    b_{k-1})`` (Rule S uses one m for all); ``depth, width, params`` exact counts;
    ``iteration_error`` = sqrt(n) g_k (g_k for the spectral norm), ``network_error`` = d_k;
    ``constants`` the :class:`SignConstants` whose ``M`` and ``N`` are the network's weights.
    """

    n: int
    eps: float
    rho: float
    alpha: float
    norm: str
    k: int
    m: tuple[int, ...]
    depth: int
    width: int
    params: int
    certified_error: float
    iteration_error: float
    network_error: float
    constants: SignConstants

    @property
    def M(self) -> tuple[float, ...]:
        return self.constants.M

    @property
    def N(self) -> tuple[float, ...]:
        return self.constants.N

    def to_dict(self) -> dict:
        """JSON-ready dict of every field (constants flattened into lists)."""
        c = self.constants
        return {
            "n": self.n,
            "eps": self.eps,
            "rho": self.rho,
            "alpha": self.alpha,
            "norm": self.norm,
            "k": self.k,
            "m": list(self.m),
            "depth": self.depth,
            "width": self.width,
            "params": self.params,
            "certified_error": self.certified_error,
            "iteration_error": self.iteration_error,
            "network_error": self.network_error,
            "sigma": c.sigma,
            "M": list(c.M),
            "N": list(c.N),
            "d": list(c.d),
            "g": list(c.g),
            "rho_j": list(c.rho),
        }


# ------------------------------------------------------------------------------ counts


def sign_counts(n, k: int, m: Sequence[int]) -> Counts:
    """Exact depth, width and params of the Newton-Schulz sign network (docs/sign_network.md,
    "Counts"), ``m = (a_0, b_0, ..., a_{k-1}, b_{k-1})``; k = 0 is the identity map ``A -> A``.

    Iteration j: a squaring stage (n^3 - n two-branch and n one-branch blocks, a_j layers) with
    X~_j carried (2n^2 units per layer), then a product stage (n^3 two-branch blocks, b_j
    layers) whose second factor W~_j = (3I - Y~_j)/2 is read directly from the squaring's last
    layer. With phi_0 = 1 and phi_j = n omega_2(b_{j-1}) (units read per entry of X~_j):
    squaring stage ``(n^3 - n)(16 phi_j + 4) + n(4 phi_j + 2) + 2n^2 phi_j + 2n^2 (a_j - 1)
    + (n^3 - n) iota_2(a_j) + n iota_1(a_j)``; product stage ``20n^3 + 8(n^4 omega_2(a_j)
    - n^2 Delta(a_j)) + 4n^2 + n^3 iota_2(b_j)``; output ``n^3 omega_2(b_{k-1})``.
    Depth ``sum(m)``, width ``8n^3 + max(0, 2n^2 - 4n)``.
    """
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 0:
        raise ValueError(f"k (Newton-Schulz iterations) must be an integer >= 0, got {k!r}")
    ms = [as_int(v) for v in m]
    if len(ms) != 2 * k or any(v is None or v < 1 for v in ms):
        raise ValueError(f"m must hold 2k = {2 * k} integers >= 1 (a_0, b_0, ...), got {tuple(m)!r}")
    ni = as_int(n)
    if ni is not None and ni < 1:
        raise ValueError(f"n must be an integer >= 1, got {ni}")
    if k == 0:
        return _counts(0, 0, n**2)
    P = 0
    phi = 1
    for j in range(k):
        a, b = ms[2 * j], ms[2 * j + 1]
        delta = omega2(a) - omega1(a)
        P += (n**3 - n) * (16 * phi + 4) + n * (4 * phi + 2) + 2 * n**2 * phi + 2 * n**2 * (a - 1)
        P += (n**3 - n) * iota2(a) + n * iota1(a)
        P += 20 * n**3 + 8 * (n**4 * omega2(a) - n**2 * delta) + 4 * n**2 + n**3 * iota2(b)
        phi = n * omega2(b)
    P += n**3 * omega2(ms[-1])
    width = 8 * n**3 + 2 * n**2 - 4 * n if ni is None or ni >= 2 else 8 * n**3
    return _counts(sum(ms), width, P)


# ---------------------------------------------------------------------------- constants


def _check_domain(rho, alpha):
    rho = check_rho(rho, "||I - A^2||_2")
    if alpha is None:
        with mpmath.workdps(DPS):
            alpha = _ceil_float(mpmath.sqrt(1 + mpmath.mpf(rho)))
    alpha = _check_real("alpha", alpha)
    if alpha * alpha < 1.0 - rho:
        raise ValueError(
            f"the domain is empty: ||A||_2^2 >= ||A^2||_2 >= 1 - rho = {1 - rho:g} > alpha^2 = {alpha**2:g}"
        )
    return rho, alpha


def _iteration(rho, alpha, k: int):
    """Lemma S1 in mpmath: sigma, rho_j, g_j, xi_j for j = 0..k."""
    sigma = alpha / mpmath.sqrt(1 - rho)
    rhos = [rho]
    for _ in range(k):
        rhos.append(rhos[-1] ** 2 * (3 + rhos[-1]) / 4)
    g = [sigma * (1 - mpmath.sqrt(1 - t)) for t in rhos]
    xi = [min(alpha, sigma * (2 - mpmath.sqrt(1 - rhos[0])))]
    xi += [sigma * (2 - mpmath.sqrt(1 - t)) for t in rhos[1:]]
    return sigma, rhos, g, xi


def _network(n: int, sigma, rhos, g, xi, ms):
    """Lemma S2 in mpmath: M_j, N_j, kappa_j and d_0..d_k for layers ms.

    D_{j+1} = P(D_j) + Z_j with the projection P(D) = (D - S D S)/2 (P^2 = P, ||P|| <= p) and
    ||Z_j||_F <= z_j = kappa_j d_j + M_j e1_j / 2 + e2_j; unrolled from D_0 = 0,
    D_{j+1} = Z_j + P(Z_0 + ... + Z_{j-1}), so d_{j+1} = z_j + p (z_0 + ... + z_{j-1})."""
    p = (1 + sigma**2) / 2
    d, M, N, kappa, z = [mpmath.mpf(0)], [], [], [], []
    for j in range(len(ms) // 2):
        a, b = ms[2 * j], ms[2 * j + 1]
        dj = d[-1]
        Mj = xi[j] + dj
        e1 = n * n * Mj**2 * mpmath.ldexp(1, -2 * a - 2)
        Nj = 1 + rhos[j] / 2 + xi[j] * dj + dj**2 / 2 + e1 / 2
        e2 = n * n * Mj * Nj * mpmath.ldexp(1, -2 * b - 2)
        kj = (6 * sigma * g[j] + 3 * g[j] ** 2) / 2 + 3 * xi[j] * dj / 2 + dj**2 / 2
        M.append(Mj)
        N.append(Nj)
        kappa.append(kj)
        d.append(kj * dj + Mj * e1 / 2 + e2 + p * mpmath.fsum(z))
        z.append(kj * dj + Mj * e1 / 2 + e2)
    return M, N, kappa, d


def _constants(n, sigma, rhos, g, xi, M, N, kappa, d) -> SignConstants:
    up = lambda xs: tuple(_ceil_float(x) for x in xs)  # noqa: E731
    return SignConstants(_ceil_float(sigma), up(rhos), up(g), up(xi), up(M), up(N), up(kappa), up(d))


def sign_constants(n: int, rho: float, alpha: float | None, k: int, m: Sequence[int]) -> SignConstants:
    """Lemmas S1-S2 (docs/sign_network.md) for k iterations with layers m = (a_0, b_0, ...),
    on D(rho, alpha) (alpha=None: sqrt(1 + rho)); floats rounded up."""
    n = _check_n(n)
    rho, alpha = _check_domain(rho, alpha)
    sign_counts(1, k, m)  # validates k and m
    with mpmath.workdps(DPS):
        sigma, rhos, g, xi = _iteration(mpmath.mpf(rho), mpmath.mpf(alpha), k)
        M, N, kappa, d = _network(n, sigma, rhos, g, xi, list(m))
        return _constants(n, sigma, rhos, g, xi, M, N, kappa, d)


def sign_iteration_error(rho: float, alpha: float | None, k: int) -> float:
    """g_k = sigma (1 - sqrt(1 - rho_k)) >= sup_{A in D(rho, alpha)} ||X_k - sign(A)||_2 (Lemma S1)."""
    rho, alpha = _check_domain(rho, alpha)
    with mpmath.workdps(DPS):
        return _ceil_float(_iteration(mpmath.mpf(rho), mpmath.mpf(alpha), int(k))[2][-1])


# -------------------------------------------------------------------------------- rule


def choose_sign(n: int, eps: float, rho: float, alpha: float | None = None, norm: str = "fro") -> SignChoice:
    """Rule S (docs/sign_network.md): the Newton-Schulz sign network for D(rho, alpha).

    1. k = min{k >= 0: t g_k <= eps/2}, t = sqrt(n) (Frobenius) or 1 (spectral).
    2. One m for all 2k products: the least m with d_k(m) <= eps - t g_k.

    Guarantee: ``sup_{||I - A^2||_2 <= rho, ||A||_2 <= alpha} ||Phi(A) - sign(A)|| <= certified_error
    <= eps``. ``alpha`` defaults to sqrt(1 + rho), the largest ||A||_2 of a normal A in the domain.

    Raises:
        ValueError: n not an integer >= 1, eps not in (0, 1), rho not in [0, 1), alpha not a
            finite real with alpha^2 >= 1 - rho (else the domain is empty), unknown norm.
    """
    n = _check_n(n)
    eps = _check_eps(eps)
    rho, alpha = _check_domain(rho, alpha)
    norm = _check_choice("norm", norm, NORMS)
    with mpmath.workdps(DPS):
        epsm, t = mpmath.mpf(eps), _norm_factor(n, norm)
        rm, am = mpmath.mpf(rho), mpmath.mpf(alpha)
        k = least_steps(lambda k: t * _iteration(rm, am, k)[2][-1], 0, eps, _K_MAX)
        sigma, rhos, g, xi = _iteration(rm, am, k)
        trunc = t * g[-1]
        m = 0
        if k:
            # d_k grows with every theta_m (all of Lemma S2's recursions have coefficients >= 0), so
            # "trunc + d_k(m) <= eps" is monotone in m: doubling and bisection, O(log m) evaluations.
            m = _least_m(lambda mv: trunc + _network(n, sigma, rhos, g, xi, [mv] * (2 * k))[3][-1] <= epsm)
            if m is None or m > _M_MAX:
                raise ValueError(f"no m <= {_M_MAX} meets eps = {eps}")
        ms = [m] * (2 * k)
        M, N, kappa, d = _network(n, sigma, rhos, g, xi, ms)
        counts = sign_counts(n, k, ms)
        return SignChoice(
            n=n,
            eps=eps,
            rho=rho,
            alpha=alpha,
            norm=norm,
            k=k,
            m=tuple(ms),
            depth=counts.depth,
            width=counts.width,
            params=counts.params,
            certified_error=min(eps, _ceil_float(trunc + d[-1])),
            iteration_error=_ceil_float(trunc),
            network_error=_ceil_float(d[-1]),
            constants=_constants(n, sigma, rhos, g, xi, M, N, kappa, d),
        )
