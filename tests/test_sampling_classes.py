"""The LAWT matrix classes of ``experiments.data.sampling``: registry, shapes, seeds, the defining
property of each class, the scale parameters, and the per-function well-posedness filter.

Definitions: Charton, "Linear algebra with transformers", TMLR 2022, generator
facebookresearch/LAWT and its fork rahul3/LAWT (src/envs/generators.py,
src/neuralnet/datagenerator.py); see the docstrings of ``sampling._draw_<name>``.
"""

import math

import numpy as np
import pytest
import torch

from experiments.config import ConfigError, DataConfig, load_config
from experiments.data import (
    DISTRIBUTION_PARAMS,
    DISTRIBUTIONS,
    MatrixStream,
    SamplerConfig,
    TestSet,
    draw_matrices,
    make_test_set,
    matrix_function_masked,
    sample,
)
from experiments.data.sampling import ENTRY_FAMILIES

CLASSES = (
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
EPS = 2.0**-52


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def draw(name: str, n: int, m: int, seed: int, **params) -> np.ndarray:
    return draw_matrices(name, n, m, params, gen(seed)).numpy()


# ---- registry and configuration -------------------------------------------------------------


def test_classes_are_in_the_shared_registry_after_the_old_distributions():
    assert DISTRIBUTIONS[-len(CLASSES) :] == CLASSES
    assert DISTRIBUTIONS[0] == "uniform" and len(DISTRIBUTIONS) == 6 + len(CLASSES)
    for name in CLASSES:
        assert SamplerConfig(distribution=name).params == DISTRIBUTION_PARAMS[name]


def test_data_config_and_cli_overrides_accept_the_classes():
    cfg = DataConfig(
        function="sqrt", distribution="positive_definite", params={"entries": "gaussian", "c": 2}
    )
    assert cfg.sampler_config().params == {"entries": "gaussian", "c": 2.0}
    cfg = load_config("cpu-mlp", ["distribution=band", 'params={"bandwidth": 2}']).data
    assert cfg.distribution == "band" and cfg.params == {"bandwidth": 2}
    assert cfg.sampler_config().params == {"entries": "uniform", "c": 1.0, "bandwidth": 2.0}
    assert load_config("cpu-mlp", ["distribution=wigner"]).data.distribution == "wigner"


@pytest.mark.parametrize(
    "distribution, params, match",
    [
        (
            "toeplitz",
            {"entries": "cauchy"},
            r"entries.*one of \['uniform', 'gaussian', 'gaussian_pos",
        ),
        ("toeplitz", {"entries": 1.0}, "one of"),
        ("toeplitz", {"c": "2"}, "must be a number"),
        ("toeplitz", {"symmetric": 2.0}, "symmetric = 0 or 1"),
        ("circulant", {"c": 0.0}, "c > 0"),
        ("wigner", {"sigma": -1.0}, "sigma > 0"),
        ("wigner", {"c": 1.0}, r"allowed: \['sigma'\]"),
        ("orthogonal", {"c": 1.0}, r"allowed: \[\]"),
        ("band", {"bandwidth": 0.0}, "bandwidth = -1"),
        ("band", {"bandwidth": 1.5}, "bandwidth = -1"),
        ("band", {"bandwidth": -2.0}, "bandwidth = -1"),
        ("row_stochastic", {"c": 2.0}, r"allowed: \['entries'\]"),
        ("gaussian_positive", {"sigma": 1.0}, r"allowed: \['c'\]"),
    ],
)
def test_bad_parameters_are_refused(distribution, params, match):
    with pytest.raises(ValueError, match=match):
        SamplerConfig(distribution=distribution, params=params)
    with pytest.raises(ConfigError, match=match):
        DataConfig(distribution=distribution, params=params)


# ---- shape, dtype, seeds --------------------------------------------------------------------


@pytest.mark.parametrize("name", CLASSES)
def test_shape_dtype_and_seed_determinism(name):
    for n in (1, 2, 5):
        A = draw_matrices(name, n, 7, {}, gen(0))
        assert A.shape == (7, n, n) and A.dtype == torch.float64
        assert torch.isfinite(A).all()
    a, b, c = (draw_matrices(name, 4, 16, {}, gen(s)) for s in (3, 3, 4))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    # The batch is drawn as a whole: a batch of 16 is not 16 copies of one matrix.
    assert not torch.equal(a[0], a[1])


@pytest.mark.parametrize("name", ["toeplitz", "row_stochastic", "wigner"])
def test_sample_and_streams_are_seeded_on_the_classes(name):
    cfg = SamplerConfig("exp", name, 3)
    assert torch.equal(sample(cfg, 20, gen(9)).A, sample(cfg, 20, gen(9)).A)
    full = MatrixStream(cfg, 8, seed=1)
    first, second = next(full), next(full)
    resumed = MatrixStream(cfg, 8, seed=2)
    partial = MatrixStream(cfg, 8, seed=1)
    next(partial)
    resumed.load_state_dict(partial.state_dict())
    assert not torch.equal(first.A, second.A)
    assert torch.equal(next(resumed).A, second.A)


def test_test_set_with_a_named_entry_family_round_trips(tmp_path):
    cfg = SamplerConfig("exp", "circulant", 3, {"entries": "gaussian_positive", "c": 2.0})
    ts = make_test_set(cfg, 10, seed=5)
    ts.save(tmp_path / "t.pt")
    back = TestSet.load(tmp_path / "t.pt")  # torch.load(weights_only=True) takes the string
    assert back.config == cfg and torch.equal(back.A, ts.A)


# ---- defining properties --------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, params",
    [
        ("symmetric", {}),
        ("symmetric", {"entries": "gaussian"}),
        ("wigner", {"sigma": 3.0}),
        ("hankel", {}),
        ("toeplitz", {"symmetric": 1.0}),
        ("positive_definite", {"entries": "gaussian_positive"}),
    ],
)
def test_symmetric_classes_are_exactly_symmetric(name, params):
    for n in (1, 2, 3, 6):
        A = draw(name, n, 200, 10 + n, **params)
        assert np.array_equal(A, np.swapaxes(A, 1, 2))
    # ... and not trivially so: the entries below the diagonal vary.
    assert np.unique(A[:, 3, 1]).size > 100


def test_symmetric_reflects_the_lower_triangle():
    # A = tril(X) + tril(X, -1)^T: the n(n+1)/2 entries on and below the diagonal are
    # independent draws (all distinct), from the uniform family on [-c, c].
    A = draw("symmetric", 5, 500, 1, c=2.0)
    assert np.abs(A).max() <= 2.0
    assert np.unique(A[:, np.tril_indices(5)[0], np.tril_indices(5)[1]]).size == 500 * 15


@pytest.mark.parametrize("n", [1, 2, 3, 5, 8])
def test_orthogonal_has_orthonormal_columns_and_rows(n):
    Q = draw("orthogonal", n, 300, n)
    eye = np.eye(n)
    assert np.abs(np.swapaxes(Q, 1, 2) @ Q - eye).max() <= 1e-12
    assert np.abs(Q @ np.swapaxes(Q, 1, 2) - eye).max() <= 1e-12
    det = np.linalg.det(Q)
    assert np.abs(np.abs(det) - 1).max() <= 1e-12
    assert (det > 0).any() and (det < 0).any()  # both components of O(n)


def test_orthogonal_is_haar_distributed():
    # Under Haar measure on O(n), E[tr Q] = 0 and E[tr(Q)^2] = 1 (n >= 2), and E[Q_11] = 0. The
    # Q factor of a plain Householder QR (no sign fix) has Q_11 < 0 always and fails all three.
    m = 4000
    Q = draw("orthogonal", 4, m, 2)
    tr = np.trace(Q, axis1=1, axis2=2)
    assert abs(tr.mean()) < 5 / math.sqrt(m)  # Var(tr Q) = 1
    assert abs((tr**2).mean() - 1) < 5 * (tr**2).std() / math.sqrt(m)
    assert abs(Q[:, 0, 0].mean()) < 5 * math.sqrt(0.25 / m)  # Var(Q_11) = 1/n


@pytest.mark.parametrize("n", [1, 2, 4, 7])
@pytest.mark.parametrize("symmetric", [0.0, 1.0])
def test_toeplitz_is_constant_along_diagonals(n, symmetric):
    A = draw("toeplitz", n, 100, n, symmetric=symmetric)
    assert np.array_equal(A[:, 1:, 1:], A[:, :-1, :-1])
    distinct = n if symmetric else 2 * n - 1
    # Different diagonals carry different (independent, continuous) values.
    values = np.concatenate([A[:, 0, :], A[:, 1:, 0]], axis=1)  # first row and first column
    assert all(np.unique(row).size == distinct for row in values)


@pytest.mark.parametrize("n", [1, 2, 4, 7])
def test_hankel_is_constant_along_anti_diagonals(n):
    A = draw("hankel", n, 100, n)
    assert np.array_equal(A[:, 1:, :-1], A[:, :-1, 1:])
    values = np.concatenate([A[:, 0, :], A[:, 1:, -1]], axis=1)  # first row and last column
    assert all(np.unique(row).size == 2 * n - 1 for row in values)


@pytest.mark.parametrize("n", [1, 2, 4, 7])
def test_circulant_rows_are_cyclic_shifts(n):
    A = draw("circulant", n, 100, n, entries="gaussian")
    for i in range(n - 1):
        assert np.array_equal(A[:, i + 1], np.roll(A[:, i], 1, axis=1))
    assert np.array_equal(A[:, 0], np.roll(A[:, n - 1], 1, axis=1))
    assert all(np.unique(row).size == n for row in A[:, 0, :])


@pytest.mark.parametrize(
    "n, bandwidth, width",
    [(5, -1, 3), (4, -1, 3), (3, -1, 2), (2, -1, 1), (1, -1, 1), (6, 1, 1), (6, 2, 2), (4, 9, 9)],
)
def test_band_keeps_exactly_the_band(n, bandwidth, width):
    A = draw("band", n, 200, n, bandwidth=bandwidth)
    i, j = np.indices((n, n))
    inside = np.abs(i - j) < width  # the authors' convention: bandwidth 1 = diagonal
    assert (A[:, ~inside] == 0).all()
    assert (A[:, inside] != 0).all()  # continuous entries: nonzero with probability 1


@pytest.mark.parametrize("entries", ENTRY_FAMILIES)
@pytest.mark.parametrize("n", [1, 3, 6])
def test_row_stochastic_rows_are_probability_vectors(entries, n):
    A = draw("row_stochastic", n, 500, n, entries=entries)
    assert (A >= 0).all()
    assert np.abs(A.sum(axis=2) - 1).max() <= 4 * n * EPS
    if n > 1:
        assert (A > 0).all() and A.max() < 1  # generic: no degenerate rows


@pytest.mark.parametrize("entries", ENTRY_FAMILIES)
@pytest.mark.parametrize("n", [1, 2, 5, 8])
def test_positive_definite_spectrum(entries, n):
    A = draw("positive_definite", n, 300, n, entries=entries, c=3.0)
    assert np.array_equal(A, np.swapaxes(A, 1, 2))
    lam = torch.linalg.eigvalsh(torch.from_numpy(A)).numpy()
    # X X^T + n I: every eigenvalue is at least n (to rounding), so the matrix is PD.
    assert lam.min() > 0
    assert lam.min() >= n * (1 - 1e-12)
    assert np.linalg.eigvalsh(A).min() >= n * (1 - 1e-12)


# ---- scale parameters -----------------------------------------------------------------------

# For each class, the iid values it is built from (so the statistics use independent samples).
GENERATORS = {
    "symmetric": lambda A: A[:, np.tril_indices(A.shape[1])[0], np.tril_indices(A.shape[1])[1]],
    "toeplitz": lambda A: np.concatenate([A[:, 0, :], A[:, 1:, 0]], axis=1),
    "hankel": lambda A: np.concatenate([A[:, 0, :], A[:, 1:, -1]], axis=1),
    "circulant": lambda A: A[:, 0, :],
    "band": lambda A: A.reshape(A.shape[0], -1),  # bandwidth >= n below: the full matrix
}


def moments_agree(x: np.ndarray, mean: float, second: float) -> None:
    """Sample mean and mean square within 5 standard errors (computed from the sample)."""
    x = x.ravel()
    N = x.size
    assert abs(x.mean() - mean) <= 5 * x.std() / math.sqrt(N), (x.mean(), mean)
    assert abs((x**2).mean() - second) <= 5 * (x**2).std() / math.sqrt(N), ((x**2).mean(), second)


@pytest.mark.parametrize("name", sorted(GENERATORS))
@pytest.mark.parametrize("entries", ENTRY_FAMILIES)
def test_entry_family_and_scale_are_honoured(name, entries):
    c = 2.5
    params = {"entries": entries, "c": c}
    if name == "band":
        params["bandwidth"] = 4.0
    x = GENERATORS[name](draw(name, 4, 3000, 30, **params))
    # uniform: c U[-1, 1] (mean 0, E x^2 = c^2/3); gaussian: (c/sqrt 3) N(0, 1) (same second
    # moment); gaussian_positive: (c/sqrt 3)|N(0, 1)| (mean (c/sqrt 3) sqrt(2/pi)).
    sigma = c / math.sqrt(3)
    mean = sigma * math.sqrt(2 / math.pi) if entries == "gaussian_positive" else 0.0
    moments_agree(x, mean, c**2 / 3)
    if entries == "uniform":
        assert np.abs(x).max() <= c and np.abs(x).max() > 0.99 * c
    elif entries == "gaussian_positive":
        assert x.min() >= 0
    else:
        assert np.abs(x).max() > 3 * sigma  # unbounded tails, unlike the uniform family
        assert abs(np.mean(np.abs(x) <= sigma) - 0.6827) < 5 * math.sqrt(0.22 / x.size)


def test_plain_gaussian_positive_family_and_the_authors_gaussian():
    for c in (1.0, 10.0):
        x = draw("gaussian_positive", 3, 4000, 31, c=c)
        assert x.min() >= 0
        moments_agree(x, c / math.sqrt(3) * math.sqrt(2 / math.pi), c**2 / 3)
    # The authors' Gaussian family with coefficient c is our "gaussian" with sigma = c / sqrt 3.
    c = 10.0
    ours = draw("circulant", 3, 50, 32, entries="gaussian", c=c)[:, 0, :]
    plain = draw("gaussian", 1, 150, 32, sigma=c / math.sqrt(3)).reshape(50, 3)
    np.testing.assert_allclose(ours, plain, rtol=1e-15)


def test_row_stochastic_family_changes_the_distribution():
    # Uniform |U[-1, 1]| entries vs half-normal ones: same support, different spread.
    a = draw("row_stochastic", 3, 4000, 33, entries="uniform")
    b = draw("row_stochastic", 3, 4000, 33, entries="gaussian_positive")
    assert abs(a.std() - b.std()) > 10 * math.sqrt(a.var() / a.size)


def test_wigner_mixes_laws_per_matrix_and_scales_with_sigma():
    m, n, sigma = 4000, 4, 2.0
    A = draw("wigner", n, m, 34, sigma=sigma)
    iu = np.triu_indices(n, 1)
    off = A[:, iu[0], iu[1]] / sigma  # (m, 6)
    diag = np.diagonal(A, axis1=1, axis2=2) / sigma  # (m, 4)
    for part in (off, diag):
        rademacher = (np.abs(part) == 1).all(axis=1)
        shifted_exp = (part >= -1).all(axis=1) & (part.max(axis=1) > math.sqrt(3)) & ~rademacher
        # Each law is picked with probability 1/4, per matrix: Binomial(4000, 1/4), sd 27.
        assert abs(rademacher.sum() - m / 4) < 5 * math.sqrt(m * 3 / 16)
        assert shifted_exp.sum() > m / 20  # the one law bounded below by -1 but not above
        # Second moment of the mixture: (E[s^2] + 3) / 4 with E[s^2] = 1 + 1/12 for
        # s ~ U[0.5, 1.5], all means 0. Matrices are independent, entries within one are not:
        # the standard error is taken over per-matrix averages.
        per_matrix = (part**2).mean(axis=1)
        se = per_matrix.std() / math.sqrt(m)
        assert abs(per_matrix.mean() - (13 / 12 + 3) / 4) < 5 * se
        assert abs(part.mean()) < 5 * part.mean(axis=1).std() / math.sqrt(m)
    # The off-diagonal and diagonal laws are picked independently.
    both = ((np.abs(off) == 1).all(axis=1) & (np.abs(diag) == 1).all(axis=1)).sum()
    assert abs(both - m / 16) < 5 * math.sqrt(m * (1 / 16) * (15 / 16))


# ---- the per-function well-posedness filter -------------------------------------------------


def axis_distance(lam: np.ndarray, function: str) -> np.ndarray:
    """Distance of each eigenvalue to the set a function must avoid: the imaginary axis (sign)
    or the closed negative real axis (log, sqrt)."""
    if function == "sign":
        return np.abs(lam.real)
    return np.where(lam.real <= 0, np.abs(lam.imag), np.abs(lam))


def relative_margin(A: np.ndarray, function: str) -> np.ndarray:
    lam = np.linalg.eigvals(A)
    scale = np.maximum(1.0, np.linalg.norm(A, axis=(1, 2)))
    return axis_distance(lam, function).min(axis=1) / scale


FILTER_CASES = [("sign", name) for name in CLASSES] + [
    (f, name)
    for f in ("log", "sqrt")
    for name in (
        "gaussian_positive",
        "orthogonal",
        "toeplitz",
        "circulant",
        "band",
        "row_stochastic",
        "positive_definite",
    )
]


@pytest.mark.parametrize("function, name", FILTER_CASES)
def test_accepted_matrices_are_well_posed(function, name):
    batch = sample(SamplerConfig(function, name, 4), 60, gen(40))
    margin = relative_margin(batch.A.numpy(), function)
    # matfuncs rejects eigenvalues within 1e-10 max(1, ||A||_F) of the excluded set.
    assert margin.min() > 0.5e-10, margin.min()
    assert torch.isfinite(batch.F).all()


@pytest.mark.parametrize("function", ["sign", "log", "sqrt"])
@pytest.mark.parametrize("name", CLASSES)
def test_filter_agrees_with_numpy_eigenvalues(function, name):
    # On raw candidates, the data layer's mask must reject every matrix that numpy finds on the
    # excluded set and accept every one that is clearly away from it.
    A = draw_matrices(name, 4, 400, {}, gen(41))
    valid = matrix_function_masked(function, A).valid.numpy()
    margin = relative_margin(A.numpy(), function)
    on_axis = margin <= 1e-13
    clear = margin >= 1e-6
    assert not valid[on_axis].any()
    assert valid[clear].all()
    if function != "sign" and name in ("symmetric", "wigner", "hankel", "toeplitz", "band"):
        assert on_axis.sum() > 50  # real negative eigenvalues are common: the check has teeth


def test_filter_rejects_negative_spectra_in_sampling():
    # Symmetric uniform 3x3 matrices are rarely positive definite: log keeps only those.
    batch = sample(SamplerConfig("log", "symmetric", 3), 20, gen(42))
    assert batch.rejected > 3 * batch.A.shape[0]
    assert np.linalg.eigvalsh(batch.A.numpy()).min() > 0
