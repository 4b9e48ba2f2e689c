"""Choice rules H, SS and PS (THEORY.md sections 5-7) decided in high-precision arithmetic.

Every inequality of a rule is decided in mpmath at ``DPS`` = 60 significant digits, starting from
the exact binary values of ``eps`` and ``r`` (``mpmath.mpf(float)`` is exact), so no decision is
flipped by float64 rounding (THEORY.md section 9 asks for exact or high-precision evaluation).
Tails tau_K(r) = sum_{j>K} r^j/j! are summed as tails with an explicit bound on the neglected
remainder, so the value used is an upper bound (up to 10^-60 relative rounding).

The constants that a network needs as weights (mu_k, M_j = nu_{j-1}, nu_t, M^(h)) are returned
as floats rounded *up* (the smallest float >= the high-precision value), because they are used
as a-priori upper bounds on entries (THEORY.md section 11, item 6).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import mpmath
import numpy as np

from .choice import Choice
from .counts import horner_exp, paterson_stockmeyer_exp, scaling_squaring_exp

__all__ = [
    "DPS",
    "MAX_N",
    "MAX_RADIUS",
    "MAX_SQUARINGS",
    "METHODS",
    "ALL_METHODS",
    "NORMS",
    "OBJECTIVES",
    "HornerConstants",
    "SquaringConstants",
    "PatersonStockmeyerConstants",
    "choose",
    "horner_constants",
    "squaring_constants",
    "paterson_stockmeyer_constants",
    "horner_b0_closed_form",
    "max_squarings",
    "taylor_tail",
]

DPS = 60
METHODS = ("horner", "scaling_squaring")
ALL_METHODS = ("horner", "scaling_squaring", "paterson_stockmeyer")
NORMS = ("fro", "2")
OBJECTIVES = ("depth", "params")
# Safety caps on the searches; reaching one means r is far beyond any practical use.
_K_MAX = 5000
_M_MAX = 5000

#: Largest radius r for which the exp rules (H, SS, PS) and their constants are evaluated.
#: Why a limit: the rules' work grows with the Taylor degree K ~ e r (Rule H's K is about 90 at
#: r = 32, eps = 1e-3, and 480 at eps = 1e-323), so an unbounded r has no bounded answer time (r = 1e6
#: ran for minutes). Why 32: beyond it no float64 network can resolve any eps < 1 -- exp(A) has
#: entries up to e^r and the rounding floor 100 n u e^r (THEORY.md section 11 item 9,
#: ``constructive.eps_floor``) is 0.87 n at r = 32 -- and within it every rule answers in well
#: under a second for every n and eps. Larger r is a ValueError naming this limit.
MAX_RADIUS = 32.0

#: Largest matrix size n the exp rules are evaluated for: 2^53, the largest n that float64 (used for
#: n by the grid evaluations, ``bounds.rule_grid``) holds exactly. The rules' work grows with log n
#: (sqrt(n) enters the truncation term, n^2 theta_m the product errors); n = 10^10000 ran for seconds.
MAX_N = 2**53

#: Largest number of squarings ``choose(..., method="scaling_squaring", s=...)`` evaluates. Rule SS's
#: own search stops at ``max_squarings(r)`` (17 at r = MAX_RADIUS); each squaring adds its m_j layers
#: and a factor ``2 e^(r_s 2^j)`` to the error budget, so a fixed s beyond 64 only deepens the network,
#: while the rule's work grows linearly in s (s = 10^6 ran for minutes).
MAX_SQUARINGS = 64


@dataclass(frozen=True)
class HornerConstants:
    """Lemma 4 constants of the Method-H network: ``b0`` (network error bound, Frobenius) and
    ``mu[k]`` (entry bound of Q~_k, the M_y of the product forming Q~_{k-1}), k = 1..K-1."""

    b0: float
    mu: dict[int, float]


@dataclass(frozen=True)
class SquaringConstants:
    """Lemma 5 constants: ``M`` = (M_1..M_s), M_j = nu_{j-1} (entry bound of squaring j's
    input); ``nu`` = (nu_0..nu_s); ``d`` = (d_0..d_s), d_s the certified error."""

    M: tuple[float, ...]
    nu: tuple[float, ...]
    d: tuple[float, ...]


@dataclass(frozen=True)
class PatersonStockmeyerConstants:
    """Lemma 6 constants: ``nu`` = (nu_1..nu_p) (bounds on ||P~_t||_2), ``M`` = (M^(1)..M^(q-1))
    (entry bound of R~_{b+1} in Horner stage h), ``delta0`` the network error bound."""

    nu: tuple[float, ...]
    M: tuple[float, ...]
    delta0: float


# ----------------------------------------------------------------------------- validation


def _check_n(n) -> int:
    if isinstance(n, bool) or not isinstance(n, numbers.Integral):
        raise ValueError(f"n (the matrix size) must be an integer >= 1, got {n!r}")
    if n < 1:
        raise ValueError(f"n (the matrix size) must be an integer >= 1, got {n}")
    return int(n)


def _check_real(name: str, x) -> float:
    if isinstance(x, bool) or not isinstance(x, numbers.Real):
        raise ValueError(f"{name} must be a real number, got {x!r}")
    x = float(x)
    if not math.isfinite(x):
        raise ValueError(f"{name} must be finite, got {x!r}")
    return x


def _check_eps(eps) -> float:
    eps = _check_real("eps", eps)
    if not 0.0 < eps < 1.0:
        raise ValueError(f"eps (the error tolerance) must lie in the open interval (0, 1), got {eps!r}")
    return eps


def _check_r(r) -> float:
    r = _check_real("r", r)
    if not r > 0.0:
        raise ValueError(f"r (the radius of the domain ||A||_2 <= r) must be > 0, got {r!r}")
    return r


def _check_exp_radius(r) -> float:
    """r as a float if 0 < r <= MAX_RADIUS (the exp rules' limit), else ValueError saying why."""
    r = _check_r(r)
    if r > MAX_RADIUS:
        raise ValueError(
            f"r = {r!r} exceeds MAX_RADIUS = {MAX_RADIUS:g}, the largest radius for which the exp rules "
            f"are evaluated: their work grows with the Taylor degree K ~ e r, and beyond r = "
            f"{MAX_RADIUS:g} no float64 network resolves any eps < 1 (rounding floor 100 n u e^r >= 0.87 n)"
        )
    return r


def _check_s(s) -> int:
    """s as an int if 0 <= s <= MAX_SQUARINGS, else ValueError saying why."""
    if isinstance(s, bool) or not isinstance(s, numbers.Integral) or s < 0:
        raise ValueError(f"s (the number of squarings) must be an integer >= 0, got {s!r}")
    if s > MAX_SQUARINGS:
        raise ValueError(
            f"s = {s} exceeds MAX_SQUARINGS = {MAX_SQUARINGS}, the largest number of squarings evaluated: "
            f"Rule SS itself searches s <= max_squarings(r) <= {max_squarings(MAX_RADIUS)}, and more "
            "squarings only deepen the network while the rule's work grows linearly in s"
        )
    return int(s)


def _check_choice(name: str, value, allowed) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise ValueError(f"unknown {name} {value!r}; known: {', '.join(map(repr, allowed))}")
    return value


# ------------------------------------------------------------------------- mpmath helpers


def _ceil_float(x) -> float:
    """Smallest float64 >= x (x an mpf)."""
    f = float(x)
    if mpmath.mpf(f) < x:
        f = math.nextafter(f, math.inf)
    return f


def _norm_factor(n: int, norm: str):
    """t of the truncation term (an mpf): sqrt(n) for the Frobenius norm, 1 for the spectral norm
    (||X||_F <= sqrt(n) ||X||_2 for an n x n matrix)."""
    return mpmath.sqrt(n) if norm == "fro" else mpmath.mpf(1)


class _Taylor:
    """Terms t_j = r^j / j! of e^r, with Taylor sums and rigorous tail upper bounds."""

    def __init__(self, r):
        self.r = r
        self.t = [mpmath.mpf(1)]

    def term(self, j: int):
        while len(self.t) <= j:
            self.t.append(self.t[-1] * self.r / len(self.t))
        return self.t[j]

    def T(self, K: int):
        """T_K(r) = sum_{j<=K} r^j/j!."""
        return mpmath.fsum(self.term(j) for j in range(K + 1))

    def tau(self, K: int):
        """Upper bound on tau_K(r) = sum_{j>K} r^j/j!, summed as a tail (THEORY.md section 1).

        Stops once the ratio r/(j+1) of consecutive terms is <= 1/2 and the term is below
        2^-(prec+20) of the sum, and adds the geometric bound t_j / (1 - r/(j+1)) of the rest.
        """
        j = K + 1
        term = self.term(j)
        total = mpmath.mpf(0)
        tiny = mpmath.ldexp(1, -(mpmath.mp.prec + 20))
        while True:
            total += term
            j += 1
            term = term * self.r / j
            ratio = self.r / (j + 1)
            if ratio <= 0.5 and term <= total * tiny:
                return total + term / (1 - ratio)

    def partial(self, k: int, K: int):
        """sum_{i=k}^{K} r^i / i!."""
        return mpmath.fsum(self.term(i) for i in range(k, K + 1))

    def partials(self, K: int) -> list:
        """``[None, S_1, ..., S_{K-1}]`` with S_k = sum_{i=k}^{K} r^i / i!, as suffix sums (O(K))."""
        S = [None] * K
        acc = self.term(K)
        for k in range(K - 1, 0, -1):
            acc = acc + self.term(k)
            S[k] = acc
        return S


def _theta(n: int, m: int):
    """theta_m = n^2 4^(-m-1), exact in binary."""
    return mpmath.ldexp(n * n, -2 * m - 2)


def _least_m(ok, hint: int = 1) -> int | None:
    """Least integer m >= 1 with ok(m), for a predicate that is monotone (false, then true).

    Every rule bound below is an increasing function of theta_m = n^2 4^(-m-1), hence
    decreasing in m, so its predicate "bound <= budget" is monotone. Galloping from ``hint`` (a
    guess; any value gives the same answer) then bisection needs O(log |m - hint|) evaluations:
    two when the hint is right. Returns None when ok is false at every m <= 2 _M_MAX."""
    hi = max(1, min(int(hint), _M_MAX))
    if ok(hi):  # gallop down to a false lo (0 stands for "none below")
        step = 1
        while True:
            lo = hi - step
            if lo < 1:
                lo = 0
                break
            if not ok(lo):
                break
            hi, step = lo, 2 * step
    else:
        lo, step = hi, 1
        while True:
            hi = min(lo + step, 2 * _M_MAX)
            if ok(hi):
                break
            if hi == 2 * _M_MAX:
                return None
            lo, step = hi, 2 * step
    while hi - lo > 1:  # invariant: ok(hi), not ok(lo) (or lo = 0)
        mid = (lo + hi) // 2
        if ok(mid):
            hi = mid
        else:
            lo = mid
    return hi


def _m_hint(scale, budget) -> int:
    """The least m with 4^(-m-1) scale <= budget (the bound if it were linear in theta_m, with
    ``scale`` including n^2): a starting point for :func:`_least_m`."""
    if not budget > 0 or not scale > 0:
        return 1
    return max(1, int(mpmath.ceil(mpmath.log(scale / budget, 4))) - 1)


def _b0_closed(n: int, K: int, m: int, S: list):
    """b_0(K, m) = theta sum_{k=1}^{K-1} (1+theta)^{k-1} S_k, S_k = sum_{i=k}^K r^i/i!
    (THEORY.md Lemma 4, closed form). ``S[k]`` holds S_k."""
    th = _theta(n, m)
    total, power = mpmath.mpf(0), mpmath.mpf(1)
    for k in range(1, K):
        total += power * S[k]
        power *= 1 + th
    return th * total


def _horner_recursion(n: int, r, K: int, m: int):
    """Lemma 4 by its recursion: b_{K-1} = 0, mu_k = rho_k + b_k, b_{k-1} = (r b_k + theta r
    mu_k)/k. Returns (b_0, {k: mu_k}) as mpf."""
    th = _theta(n, m)
    b = mpmath.mpf(0)
    mu = {}
    rho = mpmath.mpf(1)  # rho_K = 1
    for k in range(K - 1, 0, -1):
        # rho_k = sum_{j=0}^{K-k} k! r^j / (k+j)! = 1 + r rho_{k+1} / (k+1): a sum of positive terms.
        rho = 1 + r * rho / (k + 1)
        mu[k] = rho + b
        b = (r * b + th * r * mu[k]) / k
    return b, mu


def horner_constants(n: int, r: float, K: int, m: int) -> HornerConstants:
    """Lemma 4 (THEORY.md section 5) for the Method-H network of degree K on ||A||_2 <= r with m
    layers per product: b0 = b_0 and mu_k (k = 1..K-1), floats rounded up. K <= 1 gives
    b0 = 0 and no mu (the network is affine and exact). r <= MAX_RADIUS."""
    n = _check_n(n)
    r = _check_exp_radius(r)
    if isinstance(K, bool) or not isinstance(K, numbers.Integral) or K < 0:
        raise ValueError(f"K must be an integer >= 0, got {K!r}")
    if K <= 1:
        return HornerConstants(0.0, {})
    if isinstance(m, bool) or not isinstance(m, numbers.Integral) or m < 1:
        raise ValueError(f"m must be an integer >= 1, got {m!r}")
    with mpmath.workdps(DPS):
        b0, mu = _horner_recursion(n, mpmath.mpf(r), int(K), int(m))
        return HornerConstants(_ceil_float(b0), {k: _ceil_float(v) for k, v in sorted(mu.items())})


def horner_b0_closed_form(n: int, r: float, K: int, m: int) -> float:
    """b_0(K, m) of Lemma 4 from its closed form, rounded up (compare with horner_constants)."""
    n, r = _check_n(n), _check_exp_radius(r)
    with mpmath.workdps(DPS):
        tay = _Taylor(mpmath.mpf(r))
        return _ceil_float(_b0_closed(n, int(K), int(m), tay.partials(int(K))))


def taylor_tail(K: int, r: float) -> float:
    """tau_K(r) = sum_{j>K} r^j/j! (THEORY.md section 1), rounded up; r <= MAX_RADIUS."""
    r = _check_exp_radius(r)
    with mpmath.workdps(DPS):
        return _ceil_float(_Taylor(mpmath.mpf(r)).tau(int(K)))


def _squarings(n: int, rs, K: int, b0, trunc, msq):
    """Lemma 5: returns (M, nu, d) lists of mpf for given m_1..m_s."""
    tay = _Taylor(rs)
    nu = [tay.T(K) + b0]
    d = [trunc + b0]
    M = []
    for j, mj in enumerate(msq, start=1):
        c_prev, c_j = mpmath.exp(rs * 2 ** (j - 1)), mpmath.exp(rs * 2**j)
        M.append(nu[-1])
        e = n * n * nu[-1] ** 2 * mpmath.ldexp(1, -2 * mj - 2)
        d.append((nu[-1] + c_prev) * d[-1] + e)
        nu.append(min(nu[-1] ** 2 + e, c_j + d[-1]))
    return M, nu, d


def squaring_constants(
    n: int, r: float, s: int, K: int, m0: int, msq, norm: str = "fro"
) -> SquaringConstants:
    """Lemma 5 (THEORY.md section 6) for the Method-SS network on ||A||_2 <= r with s squarings,
    Taylor degree K >= 1 with m0 layers per product, and m_j = msq[j-1] layers per squaring.
    Returns M_j = nu_{j-1}, nu_j and d_j (floats rounded up); d_s bounds the error in ``norm``.
    Limits: r <= MAX_RADIUS, s <= MAX_SQUARINGS."""
    n, r, s = _check_n(n), _check_exp_radius(r), _check_s(s)
    _check_choice("norm", norm, NORMS)
    if len(msq) != s:
        raise ValueError(f"msq must hold s = {s} layer counts, got {len(msq)}")
    with mpmath.workdps(DPS):
        rs = mpmath.ldexp(mpmath.mpf(r), -s)
        tay = _Taylor(rs)
        b0 = _horner_recursion(n, rs, K, m0)[0] if K >= 2 else mpmath.mpf(0)
        trunc = tay.tau(K) * (mpmath.sqrt(n) if norm == "fro" else 1)
        M, nu, d = _squarings(n, rs, K, b0, trunc, msq)
        up = lambda xs: tuple(_ceil_float(x) for x in xs)  # noqa: E731
        return SquaringConstants(up(M), up(nu), up(d))


# ------------------------------------------------------------------------------ rules


def _tail_lower_start(tay: _Taylor, start: int, budget) -> int:
    """A K0 >= start such that tau_K(r) > budget for every start <= K < K0, from single terms:
    tau_K >= t_j for every j > K, and t_j = r^j / j! decreases for j >= r. So the least K at which
    tau_K <= budget is >= K0, and the search for it may start there (a relative margin of 1e-40
    keeps the term test on the safe side of the rounding of the decision itself)."""
    limit = budget * (1 + mpmath.mpf(10) ** -40)
    j = max(start + 1, int(mpmath.ceil(tay.r)))
    if j > _K_MAX or not tay.term(j) > limit:
        return start
    while j <= _K_MAX and tay.term(j + 1) > limit:  # t_{K+1} > budget for K = j
        j += 1
    return min(j, _K_MAX)


def _least_K(ok, start: int) -> int | None:
    """Least K >= start with ok(K), for a monotone predicate (false, then true): galloping then
    bisection, O(log K) evaluations. None when ok(_K_MAX) is false."""
    if ok(start):
        return start
    lo, step = start, 1  # invariant: not ok(lo)
    while True:
        hi = min(lo + step, _K_MAX)
        if ok(hi):
            break
        if hi == _K_MAX:
            return None
        lo, step = hi, 2 * step
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if ok(mid):
            hi = mid
        else:
            lo = mid
    return hi


@dataclass
class _RuleSS:
    """Raw (mpf) outcome of Rule SS(s); s = 0 is Rule H."""

    s: int
    K: int
    m0: int
    msq: list
    rs: object
    trunc: object
    b0: object
    mu: dict
    M: list
    nu: list
    d: list


def _rule_ss(n: int, eps, r, s: int, norm: str) -> _RuleSS | None:
    """Rule SS(s) of THEORY.md section 6 (s = 0: Rule H of section 5), all in mpmath.

    Returns None when K would exceed the safety cap (only for huge r_s)."""
    rs = mpmath.ldexp(r, -s)
    tay = _Taylor(rs)
    c = [mpmath.exp(rs * 2**j) for j in range(s + 1)]
    G = [mpmath.mpf(1)] * (s + 1)
    for j in range(s - 1, -1, -1):
        G[j] = G[j + 1] * (2 * c[j] + eps)
    root_n = _norm_factor(n, norm)
    start = _tail_lower_start(tay, 1 if s >= 1 else 0, eps / (s + 2) / (G[0] * root_n))
    K = _least_K(lambda k: G[0] * root_n * tay.tau(k) <= eps / (s + 2), start)
    if K is None:
        return None
    trunc = root_n * tay.tau(K)
    beta = (eps - G[0] * trunc) / (s + 1)
    m0, b0, mu = 0, mpmath.mpf(0), {}
    if K >= 2:
        S = tay.partials(K)
        hint = _m_hint(G[0] * n * n * mpmath.fsum(S[1:]), beta)  # b_0 ~ theta sum_k S_k
        m0 = _least_m(lambda mv: G[0] * _b0_closed(n, K, mv, S) <= beta, hint)
        if m0 is None:
            return None
        b0, mu = _horner_recursion(n, rs, K, m0)
    # Squarings in order, since M_j = nu_{j-1} depends on the earlier m_i.
    nu, d, M, msq = [tay.T(K) + b0], [trunc + b0], [], []
    for j in range(1, s + 1):
        M.append(nu[-1])
        base = G[j] * n * n * nu[-1] ** 2
        mj = _least_m(lambda mv, base=base: base * mpmath.ldexp(1, -2 * mv - 2) <= beta, _m_hint(base, beta))
        e = n * n * nu[-1] ** 2 * mpmath.ldexp(1, -2 * mj - 2)
        d.append((nu[-1] + c[j - 1]) * d[-1] + e)
        nu.append(min(nu[-1] ** 2 + e, c[j] + d[-1]))
        msq.append(mj)
    if not d[-1] <= eps:
        raise AssertionError(f"Rule SS({s}) self-check failed: d_s = {d[-1]} > eps = {eps}")
    return _RuleSS(s, K, m0, msq, rs, trunc, b0, mu, M, nu, d)


def max_squarings(r: float) -> int:
    """Upper end of the search for s*: max(0, ceil(log2 r)) + 12 (THEORY.md section 6).

    ceil(log2 r) is read exactly from the binary exponent of r."""
    r = _check_r(r)
    frac, exp = math.frexp(r)  # r = frac * 2^exp, frac in [0.5, 1)
    ceil_log2 = exp - 1 if frac == 0.5 else exp
    return max(0, ceil_log2) + 12


def _choice_from_ss(method: str, n, eps, r, norm, raw: _RuleSS) -> Choice:
    """Wrap a raw Rule-SS outcome (method 'horner' when raw.s == 0 and it is Rule H)."""
    up = _ceil_float
    if method == "horner":
        m = (raw.m0,) if raw.K >= 2 else ()
        counts = horner_exp(n, raw.K, raw.m0 if raw.K >= 2 else None)
    else:
        m = (raw.m0, *raw.msq)
        counts = scaling_squaring_exp(n, raw.K, raw.m0 if raw.K >= 2 else None, raw.msq)
    return Choice(
        method=method,
        n=n,
        eps=eps,
        r=r,
        norm=norm,
        K=raw.K,
        s=raw.s,
        m=m,
        depth=counts.depth,
        width=counts.width,
        params=counts.params,
        certified_error=min(eps, up(raw.d[-1])),
        r_s=up(raw.rs),
        mu={k: up(v) for k, v in sorted(raw.mu.items())},
        M=tuple(up(x) for x in raw.M),
        truncation_error=up(raw.trunc),
        b0=up(raw.b0),
        nu=tuple(up(x) for x in raw.nu),
        d=tuple(up(x) for x in raw.d),
    )


def _choose_horner(n, eps, r, norm) -> Choice:
    with mpmath.workdps(DPS):
        raw = _rule_ss(n, mpmath.mpf(eps), mpmath.mpf(r), 0, norm)
        if raw is None:
            raise ValueError(f"r = {r!r} is too large for Method H (K would exceed {_K_MAX})")
        return _choice_from_ss("horner", n, eps, r, norm, raw)


def _choose_ss(n, eps, r, norm, s) -> Choice:
    s_values = range(max_squarings(r) + 1) if s is None else [s]
    best, best_key = None, None
    with mpmath.workdps(DPS):
        for sv in s_values:
            raw = _rule_ss(n, mpmath.mpf(eps), mpmath.mpf(r), sv, norm)
            if raw is None:
                continue
            ch = _choice_from_ss("scaling_squaring", n, eps, r, norm, raw)
            key = (ch.depth, ch.params, sv)
            if best_key is None or key < best_key:
                best, best_key = ch, key
    if best is None:
        raise ValueError(f"r = {r!r} is too large: no s in {list(s_values)} keeps K <= {_K_MAX}")
    return best


# ------------------------------------------------------------------ Paterson-Stockmeyer


class _Lemma6:
    """Lemma 6 (THEORY.md section 7) for fixed (n, r, K, p), 1 <= p <= K - 1; the parts that do
    not depend on m (c_i = 1/i!, psi_b, r^p) are computed once."""

    def __init__(self, n: int, r, K: int, p: int, c: list, tails: list | None = None):
        self.n, self.r, self.K, self.p = n, r, K, p
        self.q = -(-K // p)
        self.kappa = K - (self.q - 1) * p
        self.c = c
        # psi_b = sum_{i=bp}^{K} c_i r^(i - bp), b = 0..q-1; with tails[i] = sum_{j=i}^{K} r^j / j!
        # (shared by every p) psi_b = tails[bp] / r^(bp), O(q) instead of O(K q).
        if tails is None:
            self.psi = [
                mpmath.fsum(c[i] * r ** (i - b * p) for i in range(b * p, K + 1)) for b in range(self.q)
            ]
        else:
            self.psi = [tails[b * p] / r ** (b * p) for b in range(self.q)]
        self.r_p = r**p

    def __call__(self, m: int):
        """(nu[1..p], M^(1..q-1), delta_0) as mpf for m layers per product; nu[0] unused."""
        n, r, p, q, c = self.n, self.r, self.p, self.q, self.c
        th = _theta(n, m)
        pi, nu = [None, mpmath.mpf(0)], [None, r]
        for t in range(1, p):
            pi.append(r * pi[t] + th * r * nu[t])
            nu.append(r ** (t + 1) + pi[t + 1])

        def gamma(b):
            deg = self.kappa if b == q - 1 else p - 1
            return mpmath.fsum(c[b * p + l] * pi[l] for l in range(1, deg + 1))

        delta = gamma(q - 1)
        M = []
        for h in range(1, q):
            b = q - 1 - h
            Mh = self.psi[b + 1] + delta
            M.append(Mh)
            delta = gamma(b) + pi[p] * Mh + self.r_p * delta + th * nu[p] * Mh
        return nu, M, delta


def _inverse_factorials(K: int) -> list:
    c = [mpmath.mpf(1)]
    for i in range(1, K + 1):
        c.append(c[-1] / i)
    return c


def paterson_stockmeyer_constants(n: int, r: float, K: int, p: int, m: int) -> PatersonStockmeyerConstants:
    """Lemma 6 (THEORY.md section 7) for the PS network of degree K >= 2, block size
    1 <= p <= K - 1 and m layers per product: nu_1..nu_p (the M_y of power stage t is nu_t),
    M^(1)..M^(q-1) (Horner stage h uses (M_x, M_y) = (nu_p, M^(h))) and delta_0, rounded up."""
    n, r = _check_n(n), _check_exp_radius(r)
    if not (isinstance(K, numbers.Integral) and isinstance(p, numbers.Integral)) or not (1 <= p <= K - 1):
        raise ValueError(f"need integers K >= 2 and 1 <= p <= K - 1, got K = {K!r}, p = {p!r}")
    with mpmath.workdps(DPS):
        K, p = int(K), int(p)
        nu, M, delta = _Lemma6(n, mpmath.mpf(r), K, p, _inverse_factorials(K))(int(m))
        return PatersonStockmeyerConstants(
            tuple(_ceil_float(x) for x in nu[1:]),
            tuple(_ceil_float(x) for x in M),
            _ceil_float(delta),
        )


def _ps_shape(n: int, K: int, p: int) -> tuple[int, int]:
    """(S, W) of the PS network: depth S m with S = p + q - 2 product stages, width
    W = 8n^3 + 2n^2 (p - 1 + [q >= 3]) (``counts.paterson_stockmeyer_exp``; p = 1 is Method H)."""
    q = -(-K // p)
    return p + q - 2, 8 * n**3 + 2 * n**2 * (p - 1 + int(q >= 3))


def _ps_m_lower_bounds(n: int, K: int, r: float, budget, p_values) -> dict[int, int]:
    """For each p, an integer m_lb(p) <= the least m with delta_0(m) <= budget (Lemma 6).

    delta_0 is a polynomial in theta_m with coefficients >= 0 and value 0 at theta = 0 (every
    recursion of Lemma 6 adds and multiplies such polynomials; pi_l = r^l ((1 + theta)^(l-1) - 1)), so
    delta_0 >= a_1 theta_m with a_1 its linear coefficient. Unrolling the recursion at first order,
    with t_i = r^i / i! and T_i = sum_{j >= i} t_j:
    ``a_1 = sum_{i=1}^{K} w_i t_i + p sum_{b=1}^{q-1} T_{bp}``, w_i = (i mod p) - 1 (0 for i = 0 mod p,
    except w_K = p - 1 when p divides K). Evaluated in float64 (t_i <= e^r <= e^32; underflow only
    lowers it), shrunk by 1e-8 and one m subtracted for the rounding of the logarithms, it stays a
    lower bound; it steers the search, the decisions stay in mpmath."""
    i = np.arange(K + 1)
    t = np.exp(i * math.log(r) - np.array([math.lgamma(k + 1.0) for k in range(K + 1)]))
    T = np.cumsum(t[::-1])[::-1]
    log_rest = 2.0 * math.log(n) - float(mpmath.log(budget))
    out = {}
    for p in p_values:
        q = -(-K // p)
        w = (i % p - 1).astype(float)
        w[i % p == 0] = 0.0
        if K % p == 0:
            w[K] = p - 1
        a1 = float(w[1:] @ t[1:]) + p * float(T[p : (q - 1) * p + 1 : p].sum())
        if not a1 > 0:
            out[p] = 1
            continue
        m_star = math.ceil((math.log(a1 * (1 - 1e-8)) + log_rest) / math.log(4.0)) - 1
        out[p] = max(1, m_star - 1)
    return out


def _choose_ps(n, eps, r, norm, p_fixed) -> Choice:
    """Rule PS (THEORY.md section 7): K from Rule H; for each p in 1..K-1 the least m with
    truncation + delta_0 <= eps; p minimising (depth, width), then p.

    Best-first over p: m(p) >= m_lb(p) (:func:`_ps_m_lower_bounds`, from delta_0 >= a_1 theta_m), and
    depth = S m, S = p + q - 2, with a width W that does not depend on m (:func:`_ps_shape`). The p
    are visited in increasing order of the key lower bound (S m_lb, W, p) and the search stops once
    it exceeds the best key found: the same p and m as trying every p, with Lemma 6 evaluated for a
    few p (those whose lower bound ties the best depth) instead of all K - 1."""
    h = _choose_horner(n, eps, r, norm)
    K = h.K
    if K <= 1:
        if p_fixed is not None:
            raise ValueError(f"Rule H gives K = {K} (an affine network); p cannot be chosen")
        return _replace_method(h, "paterson_stockmeyer", p=1)
    p_values = range(1, K) if p_fixed is None else [p_fixed]
    if p_fixed is not None and not 1 <= p_fixed <= K - 1:
        raise ValueError(f"p must satisfy 1 <= p <= K - 1 = {K - 1}, got {p_fixed}")
    best, best_key = None, None
    with mpmath.workdps(DPS):
        epsm, rm = mpmath.mpf(eps), mpmath.mpf(r)
        tay = _Taylor(rm)
        trunc = tay.tau(K) * (mpmath.sqrt(n) if norm == "fro" else 1)
        c = _inverse_factorials(K)
        tails = [None] * (K + 1)  # tails[i] = sum_{j=i}^{K} r^j / j!
        acc = mpmath.mpf(0)
        for i in range(K, -1, -1):
            acc = acc + tay.term(i)
            tails[i] = acc
        m_lbs = _ps_m_lower_bounds(n, K, r, epsm - trunc, p_values)
        queue = []
        for p in p_values:
            S, W = _ps_shape(n, K, p)
            queue.append(((S * m_lbs[p], W, p), m_lbs[p]))
        queue.sort()
        for key_lb, m_lb in queue:
            if best_key is not None and key_lb > best_key:
                break  # every later p has an even larger key lower bound
            p = key_lb[2]
            lemma6 = _Lemma6(n, rm, K, p, c, tails)
            m = _least_m(lambda mv, lemma6=lemma6: trunc + lemma6(mv)[2] <= epsm, m_lb)
            if m is None:
                raise ValueError(f"no m <= {2 * _M_MAX} satisfies Rule PS at p = {p}")
            counts = paterson_stockmeyer_exp(n, K, p, m)
            S, W = _ps_shape(n, K, p)
            if (counts.depth, counts.width) != (S * m, W) or m < m_lb:
                raise AssertionError(f"Rule PS bookkeeping: {counts} at p = {p}, m = {m} (m_lb = {m_lb})")
            key = (counts.depth, counts.width, p)
            if best_key is None or key < best_key:
                best_key = key
                best = (p, m, counts, *lemma6(m))
        p, m, counts, nu, M, delta = best
        up = _ceil_float
        return Choice(
            method="paterson_stockmeyer",
            n=n,
            eps=eps,
            r=r,
            norm=norm,
            K=K,
            s=0,
            m=(m,),
            depth=counts.depth,
            width=counts.width,
            params=counts.params,
            certified_error=min(eps, up(trunc + delta)),
            r_s=r,
            mu={},
            M=(),
            truncation_error=up(trunc),
            b0=up(delta),
            p=p,
            ps_nu=tuple(up(x) for x in nu[1:]),
            ps_M=tuple(up(x) for x in M),
        )


def _replace_method(ch: Choice, method: str, **extra) -> Choice:
    from dataclasses import replace

    return replace(ch, method=method, **extra)


# ------------------------------------------------------------------------------ choose


def choose(
    n: int,
    eps: float,
    r: float,
    method: str = "scaling_squaring",
    norm: str = "fro",
    *,
    s: int | None = None,
    p: int | None = None,
    objective: str = "depth",
) -> Choice:
    """The network that a rule of THEORY.md picks for exp on {A in R^{n x n}: ||A||_2 <= r}.

    Methods: ``"horner"`` (Rule H, section 5), ``"scaling_squaring"`` (Rule SS with s* the
    least-depth s in 0..max(0, ceil(log2 r)) + 12, ties by params then s, section 6),
    ``"paterson_stockmeyer"`` (Rule PS, section 7) and ``"best"`` (the method of ALL_METHODS
    with least ``objective`` = "depth" or "params", ties by the other count, then the order of
    ALL_METHODS). ``s`` fixes the number of squarings (SS only) and ``p`` the block size (PS
    only). ``norm="2"`` certifies the spectral norm: the truncation terms lose the factor
    sqrt(n) (Rule H of section 5, and likewise in Rules SS and PS).

    Guarantee (the paper's main theorem as made explicit in THEORY.md section 8):
    sup_{||A||_2 <= r} ||Phi(A) - exp(A)|| <= certified_error <= eps for the network described.

    Every input within the limits is answered (in well under a second on one core); beyond them:

    Raises:
        ValueError: n not an integer in [1, MAX_N] (bool rejected), eps not a finite real in (0, 1),
            r not a finite real in (0, MAX_RADIUS], an unknown method, norm or objective, s not in
            0..MAX_SQUARINGS, p out of range.
    """
    n = _check_n(n)
    if n > MAX_N:
        shown = n if n < 2**64 else f"a {n.bit_length()}-bit integer"
        raise ValueError(
            f"n = {shown} exceeds MAX_N = 2^53, the largest matrix size the exp rules are evaluated for "
            "(float64 holds every integer up to it; the rules' work grows with log n)"
        )
    eps = _check_eps(eps)
    r = _check_exp_radius(r)
    method = _check_choice("method", method, (*ALL_METHODS, "best"))
    norm = _check_choice("norm", norm, NORMS)
    objective = _check_choice("objective", objective, OBJECTIVES)
    if s is not None:
        if method != "scaling_squaring":
            raise ValueError("s can only be fixed for method 'scaling_squaring'")
        s = _check_s(s)
    if p is not None:
        if method != "paterson_stockmeyer":
            raise ValueError("p can only be fixed for method 'paterson_stockmeyer'")
        if isinstance(p, bool) or not isinstance(p, numbers.Integral) or p < 1:
            raise ValueError(f"p (the block size) must be an integer >= 1, got {p!r}")
        p = int(p)
    if method == "horner":
        return _choose_horner(n, eps, r, norm)
    if method == "scaling_squaring":
        return _choose_ss(n, eps, r, norm, s)
    if method == "paterson_stockmeyer":
        return _choose_ps(n, eps, r, norm, p)
    candidates = [choose(n, eps, r, meth, norm) for meth in ALL_METHODS]
    other = "params" if objective == "depth" else "depth"
    order = {meth: i for i, meth in enumerate(ALL_METHODS)}
    return min(
        candidates,
        key=lambda c: (getattr(c, objective), getattr(c, other), order[c.method]),
    )
