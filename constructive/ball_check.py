"""Worst-case error search for a network on the ball ``||A||_2 <= r`` against any reference f.

The same search as :func:`constructive.check.check_network` (random matrices in the ball, a quarter
on the sphere; the structured extremes ``+-rI``, ``r uu^T``, rotations, ...; an adversarial
projected gradient ascent) with two more structured kinds: Jordan blocks ``lambda I + J`` and a
non-normal upper-triangular matrix, both scaled to norm r. ``reference(A, digits)`` is an
independent f(A) (scipy.linalg, or mpmath at ``digits`` digits); ``surrogate`` a differentiable
torch f that only steers the ascent (its points are then judged against ``reference``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from .check import (
    CheckResult,
    _scale_to_norm,
    ball_samples,
    mp_reference,
    result_from_errors,
    structured_inputs,
)
from .exact import REFERENCES

__all__ = ["nonnormal_inputs", "mp_reference", "scipy_reference", "ascent", "check_ball_network"]


def nonnormal_inputs(n: int, r: float, generator: torch.Generator) -> torch.Tensor:
    """Jordan blocks ``+-(0.5 I + J)`` and ``+-(I + 3J)`` (J the nilpotent shift), and a random
    strictly-dominant upper-triangular matrix, each scaled to spectral norm r. (k, n, n) float64."""
    eye = torch.eye(n, dtype=torch.float64)
    J = (
        torch.diag(torch.ones(n - 1, dtype=torch.float64), 1)
        if n > 1
        else torch.zeros(1, 1, dtype=torch.float64)
    )
    U = torch.triu(torch.randn(n, n, generator=generator, dtype=torch.float64), 1) * 3 + eye
    mats = torch.stack([0.5 * eye + J, -(0.5 * eye + J), eye + 3 * J, -(eye + 3 * J), U])
    return _scale_to_norm(mats, r)


def scipy_reference(function: str, scipy_f: Callable) -> Callable[[np.ndarray, int | None], np.ndarray]:
    """``(A, digits) -> f(A)`` per matrix of (k, n, n): ``scipy_f`` (a scipy.linalg function) when
    ``digits`` is None, else mpmath's ``exact.REFERENCES[function]`` at ``digits`` digits."""

    def ref(A: np.ndarray, digits: int | None) -> np.ndarray:
        if digits is None:
            return np.stack([scipy_f(a) for a in A])
        return mp_reference(REFERENCES[function], A, digits)

    return ref


def ascent(net, surrogate, starts: torch.Tensor, steps: int = 30, lr: float = 0.05) -> torch.Tensor:
    """Projected gradient ascent (Adam) of ``||Phi(A) - surrogate(A)||_F`` over ``||A||_2 <= r``
    from ``starts`` (k, n, n); returns the final iterates (as ``check.adversarial_search`` for exp)."""
    A = starts.clone().requires_grad_(True)
    opt = torch.optim.Adam([A], lr=lr * net.r)
    for _ in range(steps):
        loss = -torch.linalg.matrix_norm(net.structured(A) - surrogate(A)).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        with torch.no_grad():
            norms = torch.linalg.matrix_norm(A, ord=2)
            A.mul_(torch.clamp(net.r / norms, max=1.0)[..., None, None])
    return A.detach()


def _errors(net, A: torch.Tensor, reference, digits, ord_) -> torch.Tensor:
    with torch.no_grad():
        phi = net.structured(A).numpy()
    ref = reference(A.detach().numpy(), digits)
    return torch.from_numpy(np.linalg.norm(phi - ref, ord=ord_, axis=(-2, -1)))


def check_ball_network(
    net,
    reference: Callable[[np.ndarray, int | None], np.ndarray],
    surrogate: Callable[[torch.Tensor], torch.Tensor],
    count: int = 200,
    seed: int = 0,
    adversarial_starts: int = 6,
    adversarial_steps: int = 30,
    reference_name: str = "scipy.linalg",
) -> CheckResult:
    """Worst error of ``net`` (with ``n, r, eps, norm, structured``) over random, sphere, structured,
    non-normal and adversarial inputs of ``||A||_2 <= r``. Below eps = 1e-9 the reference is called
    with ``digits=40`` (mpmath), else with ``digits=None``."""
    if net.eps is None:
        raise ValueError("the worst-case search needs a network with a guaranteed eps")
    g = torch.Generator().manual_seed(seed)
    ord_ = "fro" if net.norm == "fro" else 2
    digits = 40 if net.eps < 1e-9 else None
    kinds = {
        "random": ball_samples(net.n, net.r, count, g),
        "structured": structured_inputs(net.n, net.r, g),
        "nonnormal": nonnormal_inputs(net.n, net.r, g),
    }
    errs = {k: _errors(net, A, reference, digits, ord_) for k, A in kinds.items()}
    if adversarial_starts > 0:
        pool = torch.cat(list(kinds.values()))
        pool_err = torch.cat(list(errs.values()))
        worst = torch.topk(pool_err, min(adversarial_starts, len(pool))).indices
        kinds["adversarial"] = ascent(net, surrogate, pool[worst], adversarial_steps)
        errs["adversarial"] = _errors(net, kinds["adversarial"], reference, digits, ord_)
    return result_from_errors(net.eps, kinds, errs, "mpmath (40 digits)" if digits else reference_name)
