"""Oracle API: input checks raise DomainError naming the condition; certify decides with the
triangle inequality against an independent exp (scipy.linalg.expm); precision warnings."""

import numpy as np
import pytest
import scipy.linalg
import torch

from constructive import DomainError, PrecisionWarning, exp_network


@pytest.fixture(scope="module")
def net():
    return exp_network(2, 1e-3, 1.0)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ([[0.1, 0.0], [0.0, 0.1]], "torch.Tensor or numpy.ndarray"),
        (torch.zeros(2), "shape"),
        (torch.zeros(2, 3), "square"),
        (torch.zeros(3, 3), "2 x 2"),
        (torch.tensor([[float("nan"), 0.0], [0.0, 0.0]]), "non-finite"),
        (torch.tensor([[float("inf"), 0.0], [0.0, 0.0]]), "non-finite"),
        (torch.tensor([[1.01, 0.0], [0.0, 0.0]]), "spectral norm"),
        (torch.zeros(2, 2, dtype=torch.complex128), "real"),
    ],
)
def test_domain_errors_name_the_condition(net, bad, message):
    with pytest.raises(DomainError, match=message):
        net(bad)
    assert issubclass(DomainError, ValueError)


def test_radius_slack_is_relative_1e_12(net):
    Q, _ = np.linalg.qr(np.random.default_rng(0).standard_normal((2, 2)))
    on_sphere = torch.from_numpy(Q)  # orthogonal: ||Q||_2 = 1 = r
    net(on_sphere)
    net(on_sphere.numpy())  # numpy accepted
    with pytest.raises(DomainError):
        net(on_sphere * (1 + 1e-9))


def test_certify_pass_fail_undecided(net):
    eps = net.eps
    rng = np.random.default_rng(1)
    A = rng.standard_normal((5, 2, 2))
    A = A / np.linalg.norm(A, ord=2, axis=(1, 2))[:, None, None] * 0.9
    exact = np.stack([scipy.linalg.expm(a) for a in A])
    tol = 10 * eps
    assert list(net.certify(A, exact, tol)) == ["pass"] * 5
    far = exact + 20 * eps  # Frobenius distance 40 eps > tol + eps
    assert list(net.certify(A, far, tol)) == ["fail"] * 5
    # distance from Phi(A) within (tol - eps, tol + eps]: neither provable
    phi = net(torch.from_numpy(A)).numpy()
    direction = np.ones((2, 2)) / 2.0  # unit Frobenius norm
    between = phi + tol * direction
    assert list(net.certify(A, between, tol)) == ["undecided"] * 5
    assert net.certify(A[0], exact[0], tol) == "pass"


def test_certify_rejects_bad_arguments(net):
    A = torch.zeros(2, 2, dtype=torch.float64)
    with pytest.raises(ValueError, match="tol"):
        net.certify(A, A, 0.0)
    with pytest.raises(ValueError, match="shape"):
        net.certify(A, torch.zeros(3, 3), 1.0)


def test_precision_warning_below_dtype_resolution():
    with pytest.warns(PrecisionWarning, match="below"):
        exp_network(2, 1e-5, 1.0, method="horner", dtype=torch.float32)
    with pytest.warns(PrecisionWarning):
        exp_network(1, 1e-14, 0.5, method="horner")


def test_unknown_method_lists_known():
    with pytest.raises(ValueError, match="horner"):
        exp_network(2, 1e-2, 1.0, method="pade")
