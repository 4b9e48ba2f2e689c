"""The near-identity domain ``{A : ||I - A||_2 <= rho}``, ``0 <= rho < 1``, shared by the inverse, square
root and logarithm networks: the input check, parallel product stages, inputs of the domain and the
worst-case error search (random, boundary, structured, adversarial), judged against an independent
reference (numpy / mpmath), never against the networks' own arithmetic.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch

from .check import CheckResult, result_from_errors
from .matmul import parallel_product_stage
from .oracle import NORM_SLACK, DomainError, check_input

__all__ = [
    "check_near_identity",
    "in_near_identity",
    "near_identity_samples",
    "parallel_product_stage",
    "check_near_identity_network",
]


def check_near_identity(A, n: int, rho: float, dtype: torch.dtype) -> torch.Tensor:
    """A as a tensor (..., n, n), or DomainError: the checks of ``check_input`` with radius 1 + rho,
    then ``||I - A||_2 <= rho (1 + NORM_SLACK) + NORM_SLACK`` (computed in floating point)."""
    A = check_input(A, n, 1.0 + rho, dtype)
    if A.numel():
        eye = torch.eye(n, dtype=A.dtype, device=A.device)
        dev = torch.linalg.matrix_norm(eye - A, ord=2)
        worst = float(dev.max())
        if worst > rho * (1.0 + NORM_SLACK) + NORM_SLACK:
            raise DomainError(
                f"||I - A||_2 = {worst:.6g} exceeds rho={rho:g} in {int((dev > rho).sum())} "
                "matrix/matrices; the guarantee holds only on ||I - A||_2 <= rho"
            )
    return A


# -- inputs of the domain -------------------------------------------------------------------------


def in_near_identity(A: np.ndarray, rho: float) -> bool:
    """``||I - A||_2 <= rho`` for one matrix, with the slack of :func:`check_near_identity`."""
    return bool(np.linalg.norm(np.eye(A.shape[-1]) - A, 2) <= rho * (1.0 + NORM_SLACK) + NORM_SLACK)


def _scaled(X: np.ndarray, radius: float) -> np.ndarray:
    """X scaled to spectral norm ``radius`` (shrunk by a relative 1e-15 so rounding stays inside)."""
    return X * (radius * (1.0 - 1e-15) / np.linalg.norm(X, 2))


def near_identity_samples(n: int, rho: float, count: int, rng: np.random.Generator) -> dict:
    """Inputs ``A = I - X`` with ``||X||_2 <= rho``, by kind, each an array (k, n, n) of float64:

    * ``"random"``: X Gaussian, scaled to norm ``rho U^(1/n^2)``; a quarter exactly on the boundary
      ``||I - A||_2 = rho``;
    * ``"symmetric"``: ``X = Q diag(rho u) Q^T``, u uniform in [-1, 1], a third with u = +-1;
    * ``"nonnormal"``: X upper triangular (strong off-diagonal part), scaled to norm rho;
    * ``"structured"``: ``X = +-rho I`` (A = (1 -+ rho) I: the slowest convergence, where the
      truncation bounds are sharp), ``rho diag(+-1)``, a Jordan block ``X = c (I + J)`` and
      ``c (-I + J)`` with ``||X||_2 = rho``, the nilpotent shift ``rho J``, rank one ``rho u v^T``
      (u, v unit; non-normal) and ``rho u u^T``, a rotation ``rho Q`` (complex spectrum) and
      ``rho 11^T / n`` (the sharp case of Lemma 3) with both signs.
    """
    out = {}
    X = rng.standard_normal((count, n, n))
    radius = rho * rng.uniform(size=count) ** (1.0 / (n * n))
    radius[: count // 4] = rho
    out["random"] = np.stack([_scaled(x, r) for x, r in zip(X, radius, strict=True)]) if count else None
    sym = []
    for t in range(max(count // 4, 1)):
        Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
        u = rng.uniform(-1.0, 1.0, n)
        if t % 3 == 0:
            u = np.sign(u)
        sym.append((Q * (rho * (1.0 - 1e-15) * u)) @ Q.T)
    out["symmetric"] = np.stack(sym)
    nonnormal = []
    for _ in range(max(count // 4, 1)):
        T = np.triu(rng.standard_normal((n, n)))
        T += 3.0 * np.triu(rng.standard_normal((n, n)), 1)
        nonnormal.append(_scaled(T, rho * rng.choice([1.0, rng.uniform()])) if rho > 0 else 0 * T)
    out["nonnormal"] = np.stack(nonnormal)
    eye = np.eye(n)
    signs = np.where(np.arange(n) % 2 == 0, 1.0, -1.0)
    mats = [rho * eye, -rho * eye, rho * np.diag(signs), -rho * np.diag(signs)]
    J = np.diag(np.ones(n - 1), 1)
    u = rng.standard_normal(n)
    v = rng.standard_normal(n)
    u, v = u / np.linalg.norm(u), v / np.linalg.norm(v)
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    ones = np.ones((n, n)) / n
    if rho > 0:
        mats += [
            _scaled(eye + J, rho),
            _scaled(-eye + J, rho),
            rho * np.outer(u, v),
            -rho * np.outer(u, v),
            rho * np.outer(u, u),
            rho * Q,
            rho * ones,
            -rho * ones,
        ]
        if n >= 2:
            mats.append(rho * J)
            rot = eye.copy()
            th = math.pi / 3
            rot[:2, :2] = [[math.cos(th), -math.sin(th)], [math.sin(th), math.cos(th)]]
            mats.append(rho * rot)
    out["structured"] = np.stack(mats)
    A = {k: eye - x for k, x in out.items() if x is not None}
    return {k: a[[in_near_identity(x, rho) for x in a]] for k, a in A.items()}


# -- worst-case search ----------------------------------------------------------------------------


def _errors(net, A: np.ndarray, reference: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    ord_ = "fro" if net.norm == "fro" else 2
    with torch.no_grad():
        phi = net.structured(torch.from_numpy(A)).numpy()
    return np.linalg.norm(phi - reference(A), ord=ord_, axis=(-2, -1))


def _project(A: torch.Tensor, rho: float) -> torch.Tensor:
    """The point ``I - X`` with X scaled into ``||X||_2 <= rho`` (radial projection)."""
    eye = torch.eye(A.shape[-1], dtype=A.dtype)
    X = eye - A
    norms = torch.linalg.matrix_norm(X, ord=2).clamp_min(1e-300)
    return eye - X * torch.clamp(rho * (1.0 - 1e-15) / norms, max=1.0)[..., None, None]


def adversarial_ascent(net, starts: np.ndarray, surrogate, steps: int = 20, lr: float = 0.02) -> np.ndarray:
    """Projected gradient ascent of ``||Phi(A) - f(A)||_F`` over ``||I - A||_2 <= rho`` from ``starts``.

    ``surrogate`` is a differentiable torch f (used only to steer the ascent; the caller judges the
    returned points against the independent reference)."""
    A = torch.from_numpy(starts.copy()).requires_grad_(True)
    opt = torch.optim.Adam([A], lr=lr * max(net.rho, 1e-3))
    for _ in range(steps):
        loss = -torch.linalg.matrix_norm(net.structured(A) - surrogate(A)).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        with torch.no_grad():
            A.copy_(_project(A, net.rho))
    return A.detach().numpy()


def check_near_identity_network(
    net,
    reference: Callable[[np.ndarray], np.ndarray],
    surrogate,
    reference_name: str,
    count: int = 100,
    seed: int = 0,
    adversarial_starts: int = 4,
    adversarial_steps: int = 20,
) -> CheckResult:
    """Worst error of ``net`` on :func:`near_identity_samples` (``count`` random ones) and a projected
    gradient ascent from the worst inputs, each judged by ``reference`` (batched numpy f)."""
    if net.eps is None:
        raise ValueError("the worst-case search needs a network with a guaranteed eps")
    rng = np.random.default_rng(seed)
    kinds = near_identity_samples(net.n, net.rho, count, rng)
    errs = {k: _errors(net, A, reference) for k, A in kinds.items() if len(A)}
    if adversarial_starts > 0 and net.rho > 0:
        pool = np.concatenate([kinds[k] for k in errs])
        pool_err = np.concatenate([errs[k] for k in errs])
        starts = pool[np.argsort(pool_err)[::-1][:adversarial_starts]]
        found = adversarial_ascent(net, starts, surrogate, adversarial_steps)
        found = found[[in_near_identity(a, net.rho) for a in found]]
        if len(found):
            kinds["adversarial"] = found
            errs["adversarial"] = _errors(net, found, reference)
    return result_from_errors(net.eps, kinds, errs, reference_name)
