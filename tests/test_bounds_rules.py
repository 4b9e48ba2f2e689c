"""Choice rules of bounds.rules against independent references: the rule outputs of THEORY.md
section 10.3 (computed there by a separate implementation), Lemma 4 in exact rational arithmetic,
Lemma 5 re-derived here in mpmath, the a-priori bounds of the Theorem (section 8(a)), and the
identities s = 0 (SS) == H and p = 1 (PS) == H."""

import json
import math
from fractions import Fraction

import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import bounds
from bounds import (
    ALL_METHODS,
    METHODS,
    NORMS,
    choose,
    horner_b0_closed_form,
    horner_constants,
    max_squarings,
    paterson_stockmeyer_constants,
    squaring_constants,
    taylor_tail,
)

# THEORY.md section 10.3, verbatim: n (W), r, eps | H: K, m, L, P | SS: s, K, m0 / m1..ms, L, P
# | PS: p, m, L, W, P.
TABLE_10_3 = """
| 2 (72) | 1 | 1e-02 | 5, 5, 20, 5530 | 0, 5, 5, 20, 5530 | 2, 4, 12, 80, 3648 |
| 2 (72) | 1 | 1e-04 | 7, 8, 48, 11106 | 0, 7, 8, 48, 11106 | 2, 8, 32, 80, 7424 |
| 2 (72) | 1 | 1e-06 | 9, 12, 96, 19394 | 2, 6, 12 / 13,12, 85, 16970 | 3, 11, 44, 88, 10016 |
| 2 (72) | 4 | 1e-02 | 14, 8, 104, 24994 | 3, 6, 9 / 9,8,8, 70, 16068 | 3, 8, 48, 88, 12496 |
| 2 (72) | 4 | 1e-04 | 17, 11, 176, 37450 | 4, 6, 12 / 13,12,12,11, 108, 21774 | 3, 11, 77, 88, 17912 |
| 2 (72) | 4 | 1e-06 | 20, 14, 266, 52354 | 3, 9, 15 / 15,15,14, 164, 31036 | 4, 14, 98, 96, 22320 |
| 3 (234) | 1 | 1e-02 | 5, 5, 20, 22371 | 0, 5, 5, 20, 22371 | 2, 5, 15, 252, 16356 |
| 3 (234) | 1 | 1e-04 | 7, 9, 54, 46203 | 0, 7, 9, 54, 46203 | 3, 8, 32, 270, 29442 |
| 3 (234) | 1 | 1e-06 | 10, 12, 108, 83355 | 2, 6, 13 / 13,13, 91, 71259 | 2, 11, 55, 252, 47496 |
| 3 (234) | 4 | 1e-02 | 14, 8, 104, 98835 | 3, 6, 9 / 9,9,8, 71, 69084 | 3, 8, 48, 270, 47982 |
| 3 (234) | 4 | 1e-04 | 17, 12, 192, 151269 | 4, 6, 13 / 13,13,12,12, 115, 94557 | 3, 12, 84, 270, 70260 |
| 3 (234) | 4 | 1e-06 | 20, 15, 285, 205971 | 3, 9, 16 / 16,16,15, 175, 127782 | 4, 15, 105, 288, 85866 |
| 5 (1050) | 1 | 1e-02 | 5, 6, 24, 147015 | 0, 5, 6, 24, 147015 | 2, 6, 18, 1100, 105980 |
| 5 (1050) | 1 | 1e-04 | 8, 9, 63, 322365 | 1, 6, 10 / 10, 60, 309670 | 2, 9, 36, 1100, 205530 |
| 5 (1050) | 1 | 1e-06 | 10, 13, 117, 496565 | 2, 6, 13 / 14,13, 92, 430525 | 2, 12, 60, 1100, 289360 |
| 5 (1050) | 4 | 1e-02 | 14, 9, 117, 624165 | 3, 6, 10 / 10,10,9, 79, 460780 | 3, 9, 54, 1150, 291910 |
| 5 (1050) | 4 | 1e-04 | 17, 13, 208, 906065 | 3, 8, 13 / 13,13,12, 129, 626020 | 3, 12, 84, 1150, 391540 |
| 5 (1050) | 4 | 1e-06 | 20, 16, 304, 1198265 | 3, 9, 17 / 17,16,16, 185, 771480 | 4, 16, 112, 1200, 488180 |
| 10 (8200) | 1 | 1e-02 | 6, 7, 35, 2563530 | 1, 4, 8 / 8, 32, 2475200 | 3, 6, 18, 8400, 1802760 |
| 10 (8200) | 1 | 1e-04 | 8, 10, 70, 4118730 | 1, 6, 11 / 11, 66, 4013360 | 2, 10, 40, 8400, 2668880 |
| 10 (8200) | 1 | 1e-06 | 10, 14, 126, 6013930 | 1, 8, 14 / 14, 112, 5745920 | 2, 13, 65, 8400, 3587840 |
| 10 (8200) | 4 | 1e-02 | 14, 10, 130, 8057130 | 3, 6, 11 / 11,11,10, 87, 6240420 | 3, 10, 60, 8600, 3612240 |
| 10 (8200) | 4 | 1e-04 | 17, 14, 224, 11062330 | 3, 8, 14 / 14,14,13, 139, 8068500 | 3, 14, 98, 8600, 4765920 |
| 10 (8200) | 4 | 1e-06 | 20, 17, 323, 14148730 | 4, 8, 18 / 18,18,17,17, 196, 9929350 | 4, 17, 119, 8800, 5644280 |
"""  # noqa: E501


def _ints(text):
    return [int(x) for x in text.replace(",", " ").split()]


def _parse_table():
    rows = []
    for line in TABLE_10_3.strip().splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        n, width = _ints(cells[0].replace("(", " ").replace(")", " "))
        r, eps = float(cells[1]), float(cells[2])
        K, m, L, P = _ints(cells[3])
        if "/" in cells[4]:
            head, tail = cells[4].split("/")
            s, Ks, m0 = _ints(head)
            *msq, Ls, Ps = [int(x) for x in tail.replace(" ", "").split(",") if x]
            # The tail reads "m1,...,ms, L, P"; split it at the known number of squarings.
            assert len(msq) == s
        else:
            s, Ks, m0, Ls, Ps = _ints(cells[4])
            msq = []
        p, mp, Lp, Wp, Pp = _ints(cells[5])
        rows.append(
            dict(
                n=n, r=r, eps=eps, width=width, H=(K, (m,), L, P),
                SS=(s, Ks, (m0, *msq), Ls, Ps), PS=(p, mp, Lp, Wp, Pp),
            )
        )  # fmt: skip
    return rows


ROWS = _parse_table()
ROW_IDS = [f"n{r['n']}-r{r['r']:g}-eps{r['eps']:g}" for r in ROWS]


def test_table_parsed():
    assert len(ROWS) == 24
    assert ROWS[14]["SS"] == (2, 6, (13, 14, 13), 92, 430525)


@pytest.mark.parametrize("row", ROWS, ids=ROW_IDS)
def test_section_10_3_rows(row):
    n, eps, r = row["n"], row["eps"], row["r"]
    h = choose(n, eps, r, "horner")
    assert (h.K, h.m, h.depth, h.params) == row["H"]
    assert h.width == row["width"]
    ss = choose(n, eps, r, "scaling_squaring")
    assert (ss.s, ss.K, ss.m, ss.depth, ss.params) == row["SS"]
    assert ss.width == row["width"]
    ps = choose(n, eps, r, "paterson_stockmeyer")
    assert (ps.p, ps.m[0], ps.depth, ps.width, ps.params) == row["PS"]
    for c in (h, ss, ps):
        assert 0 < c.certified_error <= eps


def test_issue_example_n5():
    h = choose(5, 1e-6, 1, "horner")
    assert (h.K, h.m, h.depth, h.width, h.params) == (10, (13,), 117, 1050, 496565)
    ss = choose(5, 1e-6, 1)  # default method: scaling_squaring
    assert (ss.s, ss.K, ss.m0, ss.m_squarings, ss.depth, ss.params) == (
        2, 6, 13, (14, 13), 92, 430525,
    )  # fmt: skip
    assert METHODS == ("horner", "scaling_squaring") and NORMS == ("fro", "2")
    assert ALL_METHODS == (*METHODS, "paterson_stockmeyer")


# --------------------------------------------------------------- Lemma 4 in exact arithmetic


def _lemma4_exact(n, r: Fraction, K, m):
    """b_0 and mu_k of Lemma 4 by the recursion, in Fractions."""
    th = Fraction(n * n, 4 ** (m + 1))
    b, mu = Fraction(0), {}
    for k in range(K - 1, 0, -1):
        rho = sum(Fraction(math.factorial(k), math.factorial(k + j)) * r**j for j in range(K - k + 1))
        mu[k] = rho + b
        b = (r * b + th * r * mu[k]) / k
    return b, mu


def _lemma4_closed_exact(n, r: Fraction, K, m):
    th = Fraction(n * n, 4 ** (m + 1))
    return th * sum(
        (1 + th) ** (k - 1) * sum(r**i / math.factorial(i) for i in range(k, K + 1)) for k in range(1, K)
    )


def _is_float_ceiling(f: float, exact: Fraction) -> bool:
    return Fraction(f) >= exact and Fraction(math.nextafter(f, -math.inf)) < exact


@pytest.mark.parametrize("n, r, K, m", [(1, 0.5, 4, 3), (3, 1.0, 10, 12), (5, 4.0, 17, 13)])
def test_lemma4_exact_and_closed_form(n, r, K, m):
    b0, mu = _lemma4_exact(n, Fraction(r), K, m)
    assert b0 == _lemma4_closed_exact(n, Fraction(r), K, m)  # THEORY.md's closed form
    hc = horner_constants(n, r, K, m)
    assert _is_float_ceiling(hc.b0, b0)
    assert sorted(hc.mu) == list(range(1, K))
    assert all(_is_float_ceiling(hc.mu[k], mu[k]) for k in mu)
    assert _is_float_ceiling(horner_b0_closed_form(n, r, K, m), b0)


def test_choice_mu_is_lemma4_at_chosen_m():
    c = choose(3, 1e-6, 1.0, "horner")
    b0, mu = _lemma4_exact(3, Fraction(1), c.K, c.m0)
    assert all(_is_float_ceiling(c.mu[k], mu[k]) for k in mu)
    ss = choose(3, 1e-6, 1.0, "scaling_squaring")  # s = 2, r_s = 1/4
    assert ss.r_s == 0.25
    b0, mu = _lemma4_exact(3, Fraction(1, 4), ss.K, ss.m0)
    assert all(_is_float_ceiling(ss.mu[k], mu[k]) for k in mu)


@pytest.mark.parametrize("K, r", [(0, 0.25), (5, 1.0), (17, 4.0), (30, 0.01)])
def test_taylor_tail_against_difference(K, r):
    # Independent route: e^r - T_K(r) at 120 digits (cancellation is harmless there).
    with mpmath.workdps(120):
        rr = mpmath.mpf(r)
        ref = mpmath.exp(rr) - mpmath.fsum(rr**j / mpmath.factorial(j) for j in range(K + 1))
        got = taylor_tail(K, r)
        assert got >= ref and (got - ref) / ref < 1e-14


def _tau_ref(K, r):
    """tau_K(r) as e^r - T_K(r) at 400 digits, an independent route to the tail (plenty of
    digits survive the cancellation for the eps >= 1e-40 used here)."""
    with mpmath.workdps(400):
        rr = mpmath.mpf(r)
        return mpmath.exp(rr) - mpmath.fsum(rr**j / mpmath.factorial(j) for j in range(K + 1))


def _mpf(x: Fraction):
    return mpmath.mpf(x.numerator) / x.denominator


@pytest.mark.parametrize(
    "n, eps, r", [(2, 1e-2, 1.0), (5, 1e-6, 1.0), (3, 1e-4, 4.0), (1, 1e-40, 1.0), (4, 3e-9, 0.3)]
)
def test_rule_h_is_minimal_in_exact_arithmetic(n, eps, r):
    # Rule H (THEORY.md section 5): K is the least K with sqrt(n) tau_K <= eps/2 and m the least
    # m with b_0(K, m) <= eps - sqrt(n) tau_K; b_0 in Fractions, tau at 400 digits.
    c = choose(n, eps, r, "horner")
    with mpmath.workdps(400):
        e, root = mpmath.mpf(eps), mpmath.sqrt(n)
        assert root * _tau_ref(c.K, r) <= e / 2 < root * _tau_ref(c.K - 1, r)
        budget = e - root * _tau_ref(c.K, r)
        b0 = _mpf(_lemma4_exact(n, Fraction(r), c.K, c.m0)[0])
        b0_less = _mpf(_lemma4_exact(n, Fraction(r), c.K, c.m0 - 1)[0]) if c.m0 > 1 else None
        assert b0 <= budget and (b0_less is None or b0_less > budget)
        assert mpmath.mpf(c.certified_error) >= b0 + root * _tau_ref(c.K, r)


def test_rule_ps_m_is_minimal():
    n, eps, r = 3, 1e-8, 4.0
    c = choose(n, eps, r, "paterson_stockmeyer")
    trunc = math.sqrt(n) * taylor_tail(c.K, r)
    at_m = paterson_stockmeyer_constants(n, r, c.K, c.p, c.m0).delta0
    below = paterson_stockmeyer_constants(n, r, c.K, c.p, c.m0 - 1).delta0
    assert trunc + at_m <= eps * (1 + 1e-12) and trunc + below > eps


# ------------------------------------------------------------- Lemma 5 re-derived in mpmath


def _lemma5_ref(n, r, s, K, m0, msq, norm):
    with mpmath.workdps(80):
        rs = mpmath.mpf(r) / 2**s
        T = mpmath.fsum(rs**j / mpmath.factorial(j) for j in range(K + 1))
        tau = mpmath.exp(rs) - T
        b0 = mpmath.mpf(0)
        if K >= 2:
            fb0, _ = _lemma4_exact(n, Fraction(r) / 2**s, K, m0)
            b0 = mpmath.mpf(fb0.numerator) / fb0.denominator
        nu = T + b0
        d = (mpmath.sqrt(n) if norm == "fro" else 1) * tau + b0
        Ms = []
        for j, mj in enumerate(msq, start=1):
            Ms.append(nu)
            e = n * n * nu**2 / mpmath.mpf(4) ** (mj + 1)
            d = (nu + mpmath.exp(rs * 2 ** (j - 1))) * d + e
            nu = min(nu**2 + e, mpmath.exp(rs * 2**j) + d)
        return [float(x) for x in Ms], float(d)


@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("n, eps, r", [(2, 1e-6, 1.0), (3, 1e-4, 4.0), (1, 1e-3, 8.0)])
def test_lemma5_constants(n, eps, r, norm):
    c = choose(n, eps, r, "scaling_squaring", norm)
    assert c.s >= 1
    M_ref, d_ref = _lemma5_ref(n, r, c.s, c.K, c.m0, c.m_squarings, norm)
    assert len(c.M) == c.s
    for got, ref in zip(c.M, M_ref, strict=True):
        assert got >= ref and got <= ref * (1 + 1e-14)
    assert c.certified_error == min(eps, c.d[-1])
    assert d_ref <= c.d[-1] <= d_ref * (1 + 1e-14) and d_ref <= eps
    sc = squaring_constants(n, r, c.s, c.K, c.m0, c.m_squarings, norm)
    assert sc.M == c.M and sc.d == c.d and sc.nu == c.nu
    assert c.M == c.nu[:-1]  # M_j = nu_{j-1}


# ----------------------------------------------------------------------- rule properties


@pytest.mark.parametrize("n, eps, r", [(1, 1e-3, 1.0), (3, 1e-6, 1.0), (2, 1e-4, 4.0)])
def test_ss_with_s0_is_rule_h(n, eps, r):
    h = choose(n, eps, r, "horner")
    s0 = choose(n, eps, r, "scaling_squaring", s=0)
    assert (s0.s, s0.K, s0.m, s0.depth, s0.params) == (0, h.K, h.m, h.depth, h.params)
    assert s0.certified_error == h.certified_error and s0.mu == h.mu


def test_s_star_is_least_depth():
    n, eps, r = 5, 1e-6, 1.0
    best = choose(n, eps, r, "scaling_squaring")
    others = [choose(n, eps, r, "scaling_squaring", s=s) for s in range(max_squarings(r) + 1)]
    key = min((c.depth, c.params, c.s) for c in others)
    assert (best.depth, best.params, best.s) == key
    assert max_squarings(r) == 12 and max_squarings(4.0) == 14 and max_squarings(4.5) == 15


def test_affine_cases():
    # sqrt(n) tau_0(r) = e^r - 1 <= eps / 2 gives K = 0: Phi(A) = I.
    c = choose(1, 0.5, 1e-3, "horner")
    assert (c.K, c.m, c.depth, c.width, c.params) == (0, (), 0, 0, 1)
    assert c.certified_error <= 0.5
    # n = 2, r = 0.01: sqrt(2) tau_0 = 0.0142 > eps/2 = 0.01 >= sqrt(2) tau_1 = 7.1e-5: K = 1.
    c = choose(2, 0.02, 0.01, "horner")
    assert (c.K, c.m, c.depth, c.params) == (1, (), 0, 2 + 4)
    ss = choose(2, 0.02, 0.01, "scaling_squaring")
    assert ss.s == 0 and ss.m == (0,) and ss.depth == 0


@pytest.mark.parametrize("n", [1, 2, 5, 10])
@pytest.mark.parametrize("eps", [1e-1, 1e-3, 1e-6, 1e-10])
@pytest.mark.parametrize("r", [0.1, 1.0, 3.0, 8.0])
def test_theorem_8a_upper_bounds(n, eps, r):
    c = choose(n, eps, r, "horner")
    K_bar = math.ceil(max(math.e**2 * r, math.log(4 * math.sqrt(n) / eps))) - 1
    assert c.K <= K_bar
    if c.K >= 2:
        arg = n * n * max(1.0, 2 * r * math.exp(2 * r) / eps)
        m_bar = max(1, math.ceil(math.log(arg, 4)) - 1)
        assert c.m0 <= m_bar


def test_spectral_norm_drops_sqrt_n():
    f = choose(1, 1e-5, 2.0, "scaling_squaring", "fro")
    s = choose(1, 1e-5, 2.0, "scaling_squaring", "2")
    assert f == bounds.choose(1, 1e-5, 2.0, "scaling_squaring", "fro")
    assert (f.K, f.s, f.m, f.certified_error) == (s.K, s.s, s.m, s.certified_error)
    h2 = choose(16, 1e-6, 1.0, "horner", "2")
    hf = choose(16, 1e-6, 1.0, "horner", "fro")
    assert h2.K <= hf.K
    tail = taylor_tail(h2.K, 1.0)
    assert math.isclose(h2.truncation_error, tail, rel_tol=1e-15)
    assert math.isclose(hf.truncation_error, 4 * taylor_tail(hf.K, 1.0), rel_tol=1e-15)


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(1, 6),
    log_eps=st.floats(-12, -0.5),
    log_r=st.floats(-2, 1.2),
    method=st.sampled_from(ALL_METHODS),
    norm=st.sampled_from(NORMS),
)
def test_certified_error_at_most_eps(n, log_eps, log_r, method, norm):
    eps, r = 10.0**log_eps, 10.0**log_r
    c = choose(n, eps, r, method, norm)
    assert 0 <= c.certified_error <= eps
    assert c.truncation_error <= c.certified_error
    assert c.depth >= 0 and c.width >= 0 and c.params >= n


# ------------------------------------------------------------------ Paterson-Stockmeyer


@pytest.mark.parametrize("n, r, K, m", [(1, 0.5, 4, 3), (3, 1.0, 10, 12), (2, 4.0, 17, 11)])
def test_ps_p1_is_lemma4(n, r, K, m):
    # p = 1: R_b = Q_b / b!, so delta_0 = b_0 and M^(h) = mu_k / k! with k = K - h.
    b0, mu = _lemma4_exact(n, Fraction(r), K, m)
    c = paterson_stockmeyer_constants(n, r, K, 1, m)
    assert abs(Fraction(c.delta0) - b0) <= b0 * Fraction(1, 10**14)
    for h, Mh in enumerate(c.M, start=1):
        k = K - h
        ref = mu[k] / math.factorial(k)
        assert abs(Fraction(Mh) - ref) <= ref * Fraction(1, 10**14)


def test_ps_nu_hand_worked():
    # Lemma 6: pi_2 = theta r nu_1 = theta r^2, nu_2 = r^2 + pi_2; theta = n^2 4^(-m-1).
    n, r, m = 2, 0.75, 3
    th = Fraction(n * n, 4 ** (m + 1))
    c = paterson_stockmeyer_constants(n, r, 9, 3, m)
    R = Fraction(r)
    pi2 = th * R * R
    nu2 = R**2 + pi2
    pi3 = R * pi2 + th * R * nu2
    assert c.nu[0] == r
    assert _is_float_ceiling(c.nu[1], nu2)
    assert _is_float_ceiling(c.nu[2], R**3 + pi3)
    assert len(c.M) == 2  # q - 1 = ceil(9/3) - 1


def test_ps_choice_fields():
    c = choose(5, 1e-6, 1.0, "paterson_stockmeyer")
    assert c.p == 2 and len(c.ps_nu) == 2 and len(c.ps_M) == 4  # q = 5
    ref = paterson_stockmeyer_constants(5, 1.0, c.K, c.p, c.m0)
    assert ref.nu == c.ps_nu and ref.M == c.ps_M
    assert c.certified_error <= 1e-6


@pytest.mark.parametrize("objective", ["depth", "params"])
def test_best_is_minimum_over_methods(objective):
    for n, eps, r in [(3, 1e-4, 1.0), (2, 1e-2, 4.0)]:
        best = choose(n, eps, r, "best", objective=objective)
        each = [choose(n, eps, r, meth) for meth in ALL_METHODS]
        assert getattr(best, objective) == min(getattr(c, objective) for c in each)
        assert best.method in ALL_METHODS


# ---------------------------------------------------------------------------- output forms


def test_to_dict_and_latex():
    c = choose(5, 1e-6, 1.0, "scaling_squaring")
    d = json.loads(json.dumps(c.to_dict()))
    for key in ("method", "n", "eps", "radius", "K", "s", "m", "depth", "width", "params"):
        assert key in d
    assert d["m"] == [13, 14, 13] and d["certified_error"] == c.certified_error
    tex = c._repr_latex_()
    assert tex.startswith("$") and tex.endswith("$") and "L=92" in tex and "P=430525" in tex


# ------------------------------------------------------------------------------ validation


@settings(max_examples=30, deadline=None)
@given(
    bad=st.one_of(
        st.integers(max_value=0).map(lambda v: {"n": v}),
        st.sampled_from([True, 2.0, "3", None]).map(lambda v: {"n": v}),
        st.floats(allow_nan=True).filter(lambda e: not 0 < e < 1).map(lambda v: {"eps": v}),
        st.floats(allow_nan=True).filter(lambda r: not 0 < r < math.inf).map(lambda v: {"r": v}),
        st.sampled_from([math.inf, "1", True]).map(lambda v: {"r": v}),
        st.text(max_size=8).filter(lambda t: t not in (*ALL_METHODS, "best")).map(lambda v: {"method": v}),
        st.text(max_size=4).filter(lambda t: t not in NORMS).map(lambda v: {"norm": v}),
    )
)
def test_validation_errors(bad):
    args = {"n": 2, "eps": 1e-3, "r": 1.0, "method": "horner", "norm": "fro", **bad}
    with pytest.raises(ValueError, match=r"must|unknown"):
        choose(**args)


def test_validation_messages_name_what_is_allowed():
    with pytest.raises(ValueError, match=r"\(0, 1\)"):
        choose(2, 1.0, 1.0)
    with pytest.raises(ValueError, match="'horner', 'scaling_squaring'"):
        choose(2, 0.1, 1.0, "taylor")
    with pytest.raises(ValueError, match="integer >= 1"):
        choose(0, 0.1, 1.0)
    with pytest.raises(ValueError, match="s can only"):
        choose(2, 0.1, 1.0, "horner", s=1)


# ----------------------------------------------------------------- vectorised rules (grid)


def _assert_grid_matches_choose(g, n, eps, r, method, norm):
    for i in range(n.size):
        c = choose(int(n[i]), float(eps[i]), float(r[i]), method, norm)
        got = (g.K[i], g.s[i], g.depth[i], g.width[i], g.params[i])
        assert got == (c.K, c.s, c.depth, c.width, c.params), (n[i], eps[i], r[i])
        assert tuple(g.m[i, : len(c.m)]) == c.m and not g.m[i, len(c.m) :].any()
        assert c.certified_error * (1 - 1e-11) <= g.certified_error[i] <= eps[i]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("norm", NORMS)
def test_rule_grid_equals_choose(method, norm, rng):
    P = 30
    n = np.concatenate([rng.integers(1, 12, P), [3, 2]])
    eps = np.concatenate([10 ** rng.uniform(-13, -0.5, P), [0.9, 1e-8]])
    r = np.concatenate([10 ** rng.uniform(-2, 1.2, P), [1e-300, 32.0]])
    g = bounds.rule_grid(n, eps, r, method, norm)
    _assert_grid_matches_choose(g, n, eps, r, method, norm)


def test_rule_grid_fallback_path(monkeypatch):
    # With a margin of 10 every float64 decision counts as too close: every point must then be
    # decided by choose (mpmath), and the assembled arrays must still be right.
    import bounds.grid_rules as grid_rules

    monkeypatch.setattr(grid_rules, "MARGIN", 10.0)
    n, eps, r = np.array([1, 3, 5]), np.array([1e-3, 1e-6, 0.5]), np.array([4.0, 1.0, 1e-3])
    g = bounds.rule_grid(n, eps, r, "scaling_squaring")
    assert g.n_fallback == 3
    _assert_grid_matches_choose(g, n, eps, r, "scaling_squaring", "fro")


def test_rule_grid_shape_and_validation():
    g = bounds.rule_grid(np.array([2, 3])[:, None], np.array([1e-2, 1e-6])[None, :], 1.0)
    assert g.depth.shape == (2, 2) and g.m.shape[:2] == (2, 2)
    assert g.depth.tolist() == [[20, 85], [20, 91]]  # THEORY.md 10.3, SS
    with pytest.raises(ValueError, match=r"\(0, 1\)"):
        bounds.rule_grid(2, np.array([0.1, 1.5]), 1.0)
    with pytest.raises(ValueError, match="known"):
        bounds.rule_grid(2, 0.1, 1.0, "paterson_stockmeyer")
