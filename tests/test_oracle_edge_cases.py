"""Issue 12, oracle and API answers: edge cases of certify, dtypes, float32 input, size and radius
limits, and the CLIs' refusals. References are independent: scipy.linalg.expm, float64 norms
computed by numpy, and the documented constants."""

import math
import subprocess
import sys

import numpy as np
import pytest
import scipy.linalg
import torch

import bounds
import constructive
from constructive import DomainError, ExpNetwork, exp_network, sign_network
from constructive.__main__ import main as constructive_main


@pytest.fixture(scope="module")
def net():
    return exp_network(3, 1e-3, 1.0)


def _ball(rng, count, n, radius):
    A = rng.standard_normal((count, n, n))
    return radius * A / np.linalg.norm(A, ord=2, axis=(1, 2))[:, None, None]


# -- certify: complex candidates, NaN candidates, tol ---------------------------------------------


def test_complex_candidate_is_refused_not_truncated(net, rng):
    A = _ball(rng, 4, 3, 0.9)
    exact = np.stack([scipy.linalg.expm(a) for a in A])
    assert list(net.certify(A, exact, 10 * net.eps)) == ["pass"] * 4  # the real part alone passes
    for cand in (
        torch.from_numpy(exact).to(torch.complex128) + 5j,
        exact.astype(np.complex128) + 5j,
        (exact + 0j).tolist(),
        torch.from_numpy(exact).to(torch.complex128),  # zero imaginary part: still a complex dtype
    ):
        with pytest.raises(ValueError, match="candidate must be real"):
            net.certify(A, cand, 10 * net.eps)


def test_nan_candidate_fails(net, rng):
    A = _ball(rng, 3, 3, 0.9)
    exact = np.stack([scipy.linalg.expm(a) for a in A])
    bad = exact.copy()
    bad[1, 0, 2] = np.nan
    assert list(net.certify(A, bad, 10 * net.eps)) == ["pass", "fail", "pass"]
    assert net.certify(A[1], np.full((3, 3), np.nan), 1.0) == "fail"


@pytest.mark.parametrize("tol", [float("nan"), float("inf"), -1.0, 0.0, "0.1", None, True, 1 + 0j])
def test_tol_must_be_finite_positive_real(net, tol):
    A = np.zeros((3, 3))
    with pytest.raises(ValueError, match="tol must be a finite real number > 0"):
        net.certify(A, np.eye(3), tol)


def test_tol_accepts_numpy_and_int(net):
    A = np.zeros((3, 3))  # exp(0) = I exactly
    assert net.certify(A, np.eye(3), np.float32(0.5)) == "pass"
    assert net.certify(A, np.eye(3) + 3.0, 1) == "fail"  # Frobenius distance 9 > 1 + eps


# -- dtypes -----------------------------------------------------------------------------------------

BAD_DTYPES = [torch.int64, "float64", torch.float16, torch.bfloat16, np.float64, torch.complex128]


@pytest.mark.parametrize("dtype", BAD_DTYPES)
def test_exp_network_refuses_dtype_at_build(dtype):
    with pytest.raises(ValueError, match=r"torch\.float64 \(the default\) or torch\.float32"):
        exp_network(2, 1e-2, 1.0, dtype=dtype)
    with pytest.raises(ValueError, match="dtype must be"):
        ExpNetwork(2, 1.0, K=1, dtype=dtype)


@pytest.mark.parametrize("dtype", BAD_DTYPES)
def test_sign_network_refuses_dtype_at_build(dtype):
    with pytest.raises(ValueError, match=r"torch\.float64 \(the default\) or torch\.float32"):
        sign_network(2, 1e-2, 0.5, dtype=dtype)


@pytest.mark.filterwarnings("ignore::constructive.PrecisionWarning")
def test_float32_network_still_builds_and_evaluates(rng):
    net32 = exp_network(2, 1e-2, 1.0, dtype=torch.float32)
    A = _ball(rng, 5, 2, 1.0)
    out = net32(torch.from_numpy(A))
    assert out.dtype == torch.float32
    ref = np.stack([scipy.linalg.expm(a) for a in A])
    assert np.linalg.norm(out.double().numpy() - ref, axis=(1, 2)).max() <= 1e-2


# -- float32 input normalised to the radius ---------------------------------------------------------


@pytest.mark.parametrize("n", [2, 3, 5])
def test_float32_matrices_normalised_to_the_radius_are_accepted(n):
    torch.manual_seed(n)
    A = torch.randn(400, n, n)  # torch's default dtype: float32
    assert A.dtype == torch.float32
    A = A / torch.linalg.matrix_norm(A, ord=2)[..., None, None]
    true_norms = np.linalg.norm(A.double().numpy(), ord=2, axis=(1, 2))
    assert (true_norms > 1.0).mean() > 0.2  # the float32 rounding puts many of them above r = 1
    net = exp_network(n, 1e-3, 1.0)
    out = net(A)
    ref = np.stack([scipy.linalg.expm(a) for a in A.double().numpy()])
    assert np.linalg.norm(out.numpy() - ref, axis=(1, 2)).max() <= 1e-3


def test_float32_excess_beyond_the_slack_is_refused_with_the_excess():
    net = exp_network(2, 1e-2, 1.0)
    A = torch.tensor([[1.0, 0.0], [0.0, 0.0]], dtype=torch.float32) * (1 + 2**-10)
    with pytest.raises(DomainError) as e:
        net(A)
    msg = str(e.value)
    assert "exceeds the radius r=1" in msg and "r (1 + 0.00098)" in msg  # 2^-10 = 0.000977
    assert "torch.float32 input" in msg and "8 (1 + sqrt(n)) 2^-24" in msg
    # float64 keeps the tight slack of 1e-12: 1 + 1e-9 is refused, with its excess shown
    with pytest.raises(DomainError, match=r"r \(1 \+ 1e-09\)"):
        net(torch.eye(2, dtype=torch.float64) * (1 + 1e-9))


def test_float32_slack_is_a_few_ulps():
    # The slack is 8 (1 + sqrt(n)) float32 ulps of the radius: inside it accepted, beyond it refused.
    n = 4
    slack = 8 * (1 + math.sqrt(n)) * 2.0**-24
    net = exp_network(n, 1e-2, 2.0)
    D = torch.zeros(n, n, dtype=torch.float32)
    D[0, 0] = 2.0 * (1 + slack * 0.75)  # exactly representable in float32 (a multiple of 2^-22)
    net(D)
    D[0, 0] = 2.0 * (1 + slack * 1.25)
    with pytest.raises(DomainError):
        net(D)


# -- size of the explicit network -------------------------------------------------------------------


def test_explicit_network_too_large_is_refused_before_building(monkeypatch):
    big = exp_network(50, 1e-2, 1.0)  # the structured network is cheap to construct

    def fail():
        raise AssertionError("_build must not run")

    monkeypatch.setattr(big, "_build", fail)
    with pytest.raises(ValueError, match="parameters .* GiB .* above the limit max_bytes"):
        big.to_relu_network()
    assert constructive.MAX_EXPLICIT_BYTES == 2 * 2**30  # the documented default
    # Width alone (8 n^3 = 10^6 units per hidden layer, each reading n = 50 inputs or more) puts the
    # network far beyond 2 GiB at 160 bytes per parameter; nothing was built.
    assert big._explicit is None
    # The structured forward needs no explicit network and still meets eps.
    A = _ball(np.random.default_rng(0), 2, 50, 1.0)
    ref = np.stack([scipy.linalg.expm(a) for a in A])
    assert np.linalg.norm(big(torch.from_numpy(A)).numpy() - ref, axis=(1, 2)).max() <= 1e-2


def test_max_bytes_keyword_overrides_the_limit():
    small = exp_network(1, 1e-2, 1.0)
    with pytest.raises(ValueError, match="given"):
        small.to_relu_network(max_bytes=10)
    explicit = small.to_relu_network(max_bytes=10**9)
    x = torch.tensor([[0.5]], dtype=torch.float64)
    assert abs(float(explicit(x)[0, 0]) - math.exp(0.5)) <= 1e-2


def test_radius_beyond_the_limit_refused_by_exp_network():
    with pytest.raises(ValueError, match="MAX_RADIUS"):
        exp_network(3, 1e-3, 800.0)


# -- the constructive CLI ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--n", "50", "--eps", "1e-2", "--radius", "1"], "above the limit max_bytes"),
        (["--n", "2", "--eps", "0.1", "--radius", "1000"], "MAX_RADIUS"),
        (["--n", "2", "--eps", "0.1", "--sign", "0.5", "--radius", "1"], "--radius is for the exp"),
        (["--n", "2", "--eps", "0.1", "--radius", "1", "--max-bytes", "1000"], "above the limit max_bytes"),
    ],
)
def test_constructive_cli_refusals_one_line_exit_2(argv, message, capsys):
    assert constructive_main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err


def test_constructive_cli_subprocess_no_traceback():
    proc = subprocess.run(
        [sys.executable, "-m", "constructive", "--n", "50", "--eps", "1e-2", "--radius", "1"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr


# -- bounds: limits instead of hangs ----------------------------------------------------------------


def test_bounds_limits_are_documented_constants():
    assert bounds.MAX_RADIUS == 32.0 and bounds.MAX_SQUARINGS == 64 and bounds.MAX_N == 2**53
    # The reason given for MAX_RADIUS: the float64 rounding floor 100 n u e^r reaches 0.87 n there.
    assert 100 * 2.0**-53 * math.exp(bounds.MAX_RADIUS) == pytest.approx(0.877, abs=1e-3)


@pytest.mark.parametrize("r", [1e6, 1e300, 32.000001, 800.0])
@pytest.mark.parametrize("method", [*bounds.ALL_METHODS, "best"])
def test_radius_above_the_limit_is_refused(r, method):
    with pytest.raises(ValueError, match=r"exceeds MAX_RADIUS = 32, the largest radius"):
        bounds.choose(3, 1e-3, r, method)


def test_radius_limit_applies_to_the_exp_constants():
    for call in (
        lambda: bounds.taylor_tail(5, 1e6),
        lambda: bounds.horner_constants(2, 1e6, 5, 3),
        lambda: bounds.squaring_constants(2, 1e6, 1, 3, 2, [2]),
        lambda: bounds.paterson_stockmeyer_constants(2, 1e6, 5, 2, 3),
        lambda: bounds.choose_grid(3, 1e-3, 1e6),
    ):
        with pytest.raises(ValueError, match="MAX_RADIUS"):
            call()


def test_squarings_above_the_limit_are_refused():
    with pytest.raises(ValueError, match=r"s = 1000000 exceeds MAX_SQUARINGS = 64"):
        bounds.choose(3, 1e-3, 1.0, method="scaling_squaring", s=10**6)
    with pytest.raises(ValueError, match="MAX_SQUARINGS"):
        bounds.squaring_constants(2, 1.0, 65, 3, 2, [2] * 65)
    c = bounds.choose(3, 1e-3, 1.0, method="scaling_squaring", s=64)  # the limit itself is answered
    assert c.s == 64 and c.certified_error <= 1e-3


def test_matrix_size_above_the_limit_is_refused():
    with pytest.raises(ValueError, match="MAX_N"):
        bounds.choose(2**53 + 1, 1e-3, 1.0)
    with pytest.raises(ValueError, match="MAX_N"):
        bounds.choose(10**10000, 1e-3, 1.0)


def _tail(K, r, digits=700):
    """tau_K(r) = e^r - T_K(r) at `digits` digits: independent of bounds' tail summation."""
    import mpmath

    with mpmath.workdps(digits):
        rr = mpmath.mpf(r)
        return mpmath.exp(rr) - mpmath.fsum(rr**j / mpmath.factorial(j) for j in range(K + 1))


@pytest.mark.parametrize(("n", "eps"), [(3, 1e-3), (2, 1e-300), (2**53, 5e-324)])
def test_rule_h_at_the_radius_limit_is_minimal(n, eps):
    # At r = MAX_RADIUS and the smallest eps, Rule H still answers with the least K satisfying
    # sqrt(n) tau_K(r) <= eps / 2 (THEORY.md section 5), checked by e^r - T_K(r) at 700 digits.
    import mpmath

    r = bounds.MAX_RADIUS
    c = bounds.choose(n, eps, r, "horner")
    with mpmath.workdps(700):
        half = mpmath.mpf(eps) / 2
        root_n = mpmath.sqrt(n)
        assert root_n * _tail(c.K, r) <= half < root_n * _tail(c.K - 1, r)
    assert c.certified_error <= eps


def test_paterson_stockmeyer_choice_equals_trying_every_p():
    # Rule PS by brute force from the public Lemma 6 constants: for every p the least m with
    # truncation + delta_0 <= eps, then the least (depth, width, p).
    n, eps, r = 2, 1e-6, 3.0
    c = bounds.choose(n, eps, r, "paterson_stockmeyer")
    K = c.K
    trunc = math.sqrt(n) * _tail(K, r)
    keys = []
    for p in range(1, K):
        m = 1
        while trunc + bounds.paterson_stockmeyer_constants(n, r, K, p, m).delta0 > eps:
            m += 1
        counts = bounds.paterson_stockmeyer_exp(n, K, p, m)
        keys.append((counts.depth, counts.width, p, m))
    depth, width, p, m = min(keys)
    assert (c.depth, c.width, c.p, c.m) == (depth, width, p, (m,))


def test_sign_rule_with_rho_near_one_answers_with_the_least_m():
    from bounds.sign import choose_sign, sign_constants, sign_iteration_error

    n, eps, rho = 2, 1e-200, 1 - 2**-40
    c = choose_sign(n, eps, rho)
    trunc = math.sqrt(n) * sign_iteration_error(rho, None, c.k)
    m = c.m[0]
    assert set(c.m) == {m}
    assert trunc + sign_constants(n, rho, None, c.k, [m] * (2 * c.k)).d[-1] <= eps * (1 + 1e-12)
    assert trunc + sign_constants(n, rho, None, c.k, [m - 1] * (2 * c.k)).d[-1] > eps


@pytest.mark.parametrize("radius", ["1e6", "1e300"])
def test_bounds_cli_refuses_large_radius_one_line_exit_2(radius):
    proc = subprocess.run(
        [sys.executable, "-m", "bounds", "--n", "3", "--eps", "1e-3", "--radius", radius],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "MAX_RADIUS = 32" in lines[0], proc.stderr
