"""Input distributions, rejection rules, determinism, resumable streams and saved test sets."""

import math

import numpy as np
import pytest
import scipy.linalg as sla
import torch

from experiments.data import (
    DISTRIBUTION_PARAMS,
    DISTRIBUTIONS,
    MatrixStream,
    SamplerConfig,
    TestSet,
    default_distribution,
    draw_matrices,
    make_test_set,
    sample,
)

EPS = 2.0**-52


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ---- config ---------------------------------------------------------------------------------


def test_registry_and_defaults():
    assert DISTRIBUTIONS == (
        "uniform",
        "gaussian",
        "ball",
        "sign_wellposed",
        "logsqrt_wellposed",
        "spd",
        # the LAWT matrix classes (tests/test_sampling_classes.py), appended so that the
        # first six keep their positions
        "gaussian_positive",
        "symmetric",
        "wigner",
        "orthogonal",
        "toeplitz",
        "hankel",
        "circulant",
        "band",
        "row_stochastic",
        "positive_definite",
    )
    assert default_distribution("sign") == "sign_wellposed"
    assert default_distribution("log") == "logsqrt_wellposed"
    assert default_distribution("sqrt") == "logsqrt_wellposed"
    for name in ("exp", "sin", "cos", "pow4"):
        assert default_distribution(name) == "uniform"


def test_config_merges_defaults_and_round_trips():
    cfg = SamplerConfig("EXP", "ball", 4, {"r": 2}, max_output_entry=50, max_cond=1e3)
    assert cfg.function == "exp"
    assert cfg.params == {"r": 2.0, "boundary_fraction": 0.1}
    assert SamplerConfig.from_dict(cfg.to_dict()) == cfg
    assert SamplerConfig() == SamplerConfig("exp", "uniform", 3, {"c": 1.0})


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"function": "tan"}, "known"),
        ({"distribution": "cauchy"}, "known: uniform"),
        ({"n": 0}, "n must be"),
        ({"n": 2.0}, "n must be"),
        ({"params": {"sigma": 1.0}}, r"allowed: \['c'\]"),
        ({"params": {"c": -1.0}}, "c > 0"),
        ({"params": {"c": math.inf}}, "finite"),
        ({"distribution": "ball", "params": {"boundary_fraction": 1.5}}, "boundary_fraction"),
        ({"distribution": "logsqrt_wellposed", "params": {"theta_max": 4.0}}, "theta_max < pi"),
        ({"distribution": "sign_wellposed", "params": {"delta": 3.0}}, "delta <= radius"),
        ({"max_output_entry": 0.0}, "max_output_entry"),
        ({"max_cond": 0.5}, "max_cond"),
    ],
)
def test_config_rejects_bad_values(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SamplerConfig(**kwargs)


def test_from_dict_rejects_unknown_keys():
    with pytest.raises(ValueError, match="allowed"):
        SamplerConfig.from_dict({"function": "exp", "size": 3})


# ---- distributions --------------------------------------------------------------------------


def test_uniform_entries_and_moments():
    A = draw_matrices("uniform", 4, 5000, {"c": 2.5}, gen(0)).numpy()
    assert A.min() >= -2.5 and A.max() <= 2.5
    # U[-c, c]: mean 0, variance c^2 / 3; 80,000 entries give standard errors ~0.005 and ~0.008.
    assert abs(A.mean()) < 0.03
    assert abs(A.var() - 2.5**2 / 3) < 0.05


def test_gaussian_moments():
    A = draw_matrices("gaussian", 4, 5000, {"sigma": 0.5}, gen(1)).numpy()
    assert abs(A.mean()) < 0.01
    assert abs(A.std() - 0.5) < 0.01


def test_ball_lies_in_the_closed_ball_and_hits_its_boundary():
    r = 1.7
    A = draw_matrices("ball", 5, 4000, {"r": r, "boundary_fraction": 0.25}, gen(2)).numpy()
    norms = np.linalg.norm(A, 2, axis=(1, 2))  # numpy's SVD, independent of torch's
    assert norms.max() <= r
    on_boundary = norms >= r * (1 - 16 * EPS)
    # Binomial(4000, 0.25): mean 1000, sd ~27.
    assert 880 <= on_boundary.sum() <= 1120
    # Interior radii are r U, U uniform: the median radius is about r / 2.
    assert abs(np.median(norms[~on_boundary]) / r - 0.5) < 0.05


@pytest.mark.parametrize("n", [1, 2, 5, 8])
def test_ball_boundary_samples_pass_every_norm_check(n):
    A = draw_matrices("ball", n, 500, {"r": 1.0, "boundary_fraction": 1.0}, gen(3))
    for norms in (
        torch.linalg.matrix_norm(A, ord=2),
        torch.stack([torch.linalg.matrix_norm(a, ord=2) for a in A]),
        torch.from_numpy(np.linalg.norm(A.numpy(), 2, axis=(1, 2))),
    ):
        assert bool((norms <= 1.0).all())
        assert bool((norms >= 1.0 - 16 * EPS).all())


def test_sign_wellposed_spectrum():
    p = {"delta": 0.4, "radius": 1.5, "kappa": 20.0, "complex_fraction": 0.5}
    A = draw_matrices("sign_wellposed", 5, 300, p, gen(4)).numpy()
    lam = np.linalg.eigvals(A)
    assert np.abs(lam.real).min() >= 0.4 * (1 - 1e-6)
    assert np.abs(lam.real).max() <= 1.5 * (1 + 1e-6)
    assert np.abs(lam.imag).max() > 0.1  # conjugate pairs do occur
    assert (lam.real < 0).any() and (lam.real > 0).any()


def test_logsqrt_wellposed_spectrum():
    p = {"rho_min": 0.3, "rho_max": 4.0, "theta_max": 2.0, "kappa": 10.0, "complex_fraction": 0.5}
    A = draw_matrices("logsqrt_wellposed", 6, 300, p, gen(5)).numpy()
    lam = np.linalg.eigvals(A)
    assert np.abs(lam).min() >= 0.3 * (1 - 1e-6)
    assert np.abs(lam).max() <= 4.0 * (1 + 1e-6)
    assert np.abs(np.angle(lam)).max() <= 2.0 + 1e-6
    assert np.abs(np.angle(lam)).max() > 1.0


def test_similarity_conditioning_is_bounded():
    # A = V D V^{-1} with cond(V) <= kappa, so with kappa = 1 (V orthogonal) and a symmetric D
    # (complex_fraction = 0: real eigenvalues) A must be symmetric.
    p = {"delta": 0.5, "radius": 2.0, "kappa": 1.0, "complex_fraction": 0.0}
    A = draw_matrices("sign_wellposed", 4, 50, p, gen(6)).numpy()
    np.testing.assert_allclose(A, np.swapaxes(A, 1, 2), atol=1e-13)


def test_spd_is_symmetric_with_bounded_spectrum():
    A = draw_matrices("spd", 5, 300, {"lam_min": 0.2, "lam_max": 3.0}, gen(7)).numpy()
    assert np.array_equal(A, np.swapaxes(A, 1, 2))
    lam = np.linalg.eigvalsh(A)
    assert lam.min() >= 0.2 * (1 - 1e-10) and lam.max() <= 3.0 * (1 + 1e-10)


# ---- sampling and rejection -----------------------------------------------------------------


def test_same_seed_same_matrices_other_seed_other_matrices():
    cfg = SamplerConfig("sqrt", "uniform", 4)
    a, b, c = (sample(cfg, 64, gen(s)) for s in (11, 11, 12))
    assert torch.equal(a.A, b.A) and torch.equal(a.F, b.F) and a.drawn == b.drawn
    assert not torch.equal(a.A, c.A)


def test_batch_counts_and_targets():
    cfg = SamplerConfig("log", "gaussian", 3)
    batch = sample(cfg, 100, gen(13))
    assert batch.A.shape == batch.F.shape == (100, 3, 3)
    assert batch.A.dtype == torch.float64
    assert batch.drawn - batch.rejected == 100
    # Gaussian 3x3 matrices have a negative real eigenvalue with probability well above 1/4.
    assert batch.rejected > 25
    for A, F in zip(batch.A[:5].numpy(), batch.F[:5].numpy(), strict=True):
        np.testing.assert_allclose(F, np.real(sla.logm(A)), rtol=1e-10, atol=1e-12)


def test_output_cap_is_applied_and_reported():
    cfg = SamplerConfig("exp", "gaussian", 4, {"sigma": 1.0}, max_output_entry=3.0)
    batch = sample(cfg, 200, gen(14))
    assert batch.F.abs().max() <= 3.0
    assert batch.rejected > 0
    # Targets are still the exponentials of the inputs.
    np.testing.assert_allclose(batch.F[0].numpy(), sla.expm(batch.A[0].numpy()), rtol=1e-12)


def test_condition_cap_is_applied():
    cfg = SamplerConfig("exp", "uniform", 5, max_cond=20.0)
    batch = sample(cfg, 200, gen(15))
    assert np.linalg.cond(batch.A.numpy()).max() <= 20.0 * (1 + 1e-12)
    assert batch.rejected > 0


def test_impossible_rules_raise_instead_of_looping():
    cfg = SamplerConfig("exp", "uniform", 2, max_output_entry=1e-6)  # exp(A)_ii ~ 1
    with pytest.raises(RuntimeError, match="rejection rate too high"):
        sample(cfg, 1, gen(16))


def test_draw_matrices_rejects_unknown_names():
    with pytest.raises(ValueError, match="known: uniform, gaussian, ball"):
        draw_matrices("wishart", 3, 4, {}, gen(0))
    with pytest.raises(ValueError, match="allowed"):
        draw_matrices("spd", 3, 4, {"c": 1.0}, gen(0))


def test_sample_rejects_bad_batch_size():
    with pytest.raises(ValueError, match="batch_size"):
        sample(SamplerConfig(), 0, gen(0))


@pytest.mark.parametrize("distribution", DISTRIBUTIONS)
def test_every_distribution_accepts_its_defaults(distribution):
    assert set(DISTRIBUTION_PARAMS[distribution]) == set(SamplerConfig(distribution=distribution).params)
    batch = sample(SamplerConfig("cos", distribution, 3), 8, gen(17))
    assert torch.isfinite(batch.F).all()


# ---- streams and test sets ------------------------------------------------------------------


def test_stream_resumes_where_it_stopped():
    cfg = SamplerConfig("sign", "sign_wellposed", 3)
    full = MatrixStream(cfg, 16, seed=5)
    batches = [next(full) for _ in range(3)]
    partial = MatrixStream(cfg, 16, seed=5)
    next(partial)
    state = partial.state_dict()
    resumed = MatrixStream(cfg, 16, seed=999)
    resumed.load_state_dict(state)
    assert torch.equal(next(resumed).A, batches[1].A)
    assert torch.equal(next(resumed).F, batches[2].F)
    assert resumed.batches == 3
    assert 0.0 <= resumed.rejection_rate < 1.0


def test_stream_refuses_state_of_another_config():
    state = MatrixStream(SamplerConfig("exp"), 4, seed=0).state_dict()
    with pytest.raises(ValueError, match="config"):
        MatrixStream(SamplerConfig("sin"), 4, seed=0).load_state_dict(state)
    with pytest.raises(ValueError, match="batch_size"):
        MatrixStream(SamplerConfig("exp"), 8, seed=0).load_state_dict(state)


def test_test_set_save_load_round_trip(tmp_path):
    cfg = SamplerConfig("sqrt", "uniform", 3, {"c": 2.0}, max_output_entry=100.0)
    ts = make_test_set(cfg, 50, seed=21)
    assert len(ts) == 50 and ts.drawn > 50
    assert ts.rejection_rate == pytest.approx((ts.drawn - 50) / ts.drawn)
    path = tmp_path / "test.pt"
    ts.save(path)
    raw = torch.load(path, weights_only=True)  # plain tensors and dicts only
    assert raw["config"]["params"] == {"c": 2.0}
    back = TestSet.load(path)
    assert torch.equal(back.A, ts.A) and torch.equal(back.F, ts.F)
    assert back.config == cfg and back.seed == 21
    assert back.rejection_rate == ts.rejection_rate
    # Same seed, same set.
    assert torch.equal(make_test_set(cfg, 50, seed=21).A, ts.A)


def test_loading_a_foreign_file_raises(tmp_path):
    path = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(2)}, path)
    with pytest.raises(ValueError, match="not a TestSet"):
        TestSet.load(path)
