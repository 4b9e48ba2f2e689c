"""Worst-case error search for an exp network: random, boundary, structured and adversarial inputs.

The reference is ``scipy.linalg.expm``; below ``eps = 1e-9`` it is mpmath at 40 digits, because
scipy's expm is itself off by up to 4e-11 at ``||A||_2 = 4`` (THEORY.md section 11 item 10).
Every input lies in the ball ``||A||_2 <= r`` (pitfall 6: entry boxes would leave the domain).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import mpmath
import numpy as np
import scipy.linalg
import torch

__all__ = [
    "CheckResult",
    "result_from_errors",
    "ball_samples",
    "structured_inputs",
    "mp_reference",
    "reference_exp",
    "adversarial_search",
    "check_network",
]


def _scale_to_norm(A: torch.Tensor, radius: torch.Tensor | float) -> torch.Tensor:
    norms = torch.linalg.matrix_norm(A, ord=2).clamp_min(1e-300)
    return A * (torch.as_tensor(radius, dtype=A.dtype) / norms)[..., None, None]


def ball_samples(n: int, r: float, count: int, generator: torch.Generator, on_sphere: float = 0.25):
    """``count`` matrices in ``{||A||_2 <= r}``: Gaussian directions, spectral radius ``r U^(1/n^2)``.

    A fraction ``on_sphere`` lies exactly on the boundary ``||A||_2 = r`` (up to rounding).
    Returns (A of shape (count, n, n), float64).
    """
    A = torch.randn(count, n, n, generator=generator, dtype=torch.float64)
    radius = r * torch.rand(count, generator=generator, dtype=torch.float64) ** (1.0 / (n * n))
    radius[: int(on_sphere * count)] = r
    return _scale_to_norm(A, radius)


def structured_inputs(n: int, r: float, generator: torch.Generator) -> torch.Tensor:
    """Named extreme inputs of norm r: ``+-rI``, the nilpotent shift ``rJ``, ``r uu^T``, ``-r uu^T``,
    a random orthogonal ``rQ``, block rotations, ``r diag(+-1)`` and the sharp case ``c 11^T`` of Lemma 3.
    Returns (k, n, n), float64.
    """
    eye = torch.eye(n, dtype=torch.float64)
    mats = [r * eye, -r * eye]
    if n > 1:
        mats.append(r * torch.diag(torch.ones(n - 1, dtype=torch.float64), 1))  # nilpotent shift
        signs = torch.ones(n, dtype=torch.float64)
        signs[::2] = -1
        mats.append(r * torch.diag(signs))
    u = torch.randn(n, 1, generator=generator, dtype=torch.float64)
    u = u / torch.linalg.norm(u)
    mats += [r * (u @ u.T), -r * (u @ u.T)]
    Q, _ = torch.linalg.qr(torch.randn(n, n, generator=generator, dtype=torch.float64))
    mats.append(r * Q)
    rot = eye.clone()
    for k in range(0, n - 1, 2):
        th = math.pi / 3
        rot[k : k + 2, k : k + 2] = torch.tensor(
            [[math.cos(th), -math.sin(th)], [math.sin(th), math.cos(th)]], dtype=torch.float64
        )
    mats.append(r * rot)
    mats.append(r * torch.ones(n, n, dtype=torch.float64) / n)  # ||11^T||_2 = n
    return torch.stack(mats)


def mp_reference(f_mp: Callable, A: np.ndarray, digits: int) -> np.ndarray:
    """f(A) per matrix of (k, n, n) by the mpmath function ``f_mp`` at ``digits`` digits."""
    with mpmath.workdps(digits):
        return np.stack([np.array(f_mp(mpmath.matrix(a.tolist())).tolist(), dtype=float) for a in A])


def reference_exp(A: torch.Tensor, digits: int | None = None) -> torch.Tensor:
    """exp(A) per matrix by ``scipy.linalg.expm`` (digits=None) or mpmath at ``digits`` digits."""
    flat = A.detach().cpu().reshape(-1, A.shape[-2], A.shape[-1]).numpy()
    if digits is None:
        out = np.stack([scipy.linalg.expm(a) for a in flat])
    else:
        out = mp_reference(mpmath.expm, flat, digits)
    return torch.from_numpy(out).reshape(A.shape)


def _errors(net, A: torch.Tensor, ord_, digits) -> torch.Tensor:
    with torch.no_grad():
        return torch.linalg.matrix_norm(net.structured(A) - reference_exp(A, digits), ord=ord_)


def adversarial_search(net, starts: torch.Tensor, steps: int = 30, lr: float = 0.05) -> torch.Tensor:
    """Projected gradient ascent of ``||Phi(A) - exp(A)||_F`` over the ball, from ``starts`` (k, n, n).

    ``torch.linalg.matrix_exp`` serves as a differentiable surrogate of exp during the ascent; the
    returned points are then judged against the independent reference by the caller.
    Returns the final iterates, each projected onto ``||A||_2 <= r``.
    """
    r = net.r
    A = starts.clone().requires_grad_(True)
    opt = torch.optim.Adam([A], lr=lr * r)
    for _ in range(steps):
        loss = -torch.linalg.matrix_norm(net.structured(A) - torch.linalg.matrix_exp(A)).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        with torch.no_grad():
            norms = torch.linalg.matrix_norm(A, ord=2)
            A.mul_(torch.clamp(r / norms, max=1.0)[..., None, None])
    return A.detach()


@dataclass
class CheckResult:
    """Worst error found per input kind, in the network's norm, and the overall worst."""

    eps: float
    worst_error: float
    worst_kind: str
    by_kind: dict[str, float] = field(default_factory=dict)
    inputs: int = 0
    reference: str = "scipy.linalg.expm"

    @property
    def ratio(self) -> float:
        """worst error / eps; the guarantee says <= 1."""
        return self.worst_error / self.eps

    @property
    def holds(self) -> bool:
        return self.worst_error <= self.eps


def result_from_errors(eps, kinds: dict, errs: dict, reference: str) -> CheckResult:
    """The :class:`CheckResult` of a worst-case search: ``errs`` maps an input kind to its errors (a
    tensor or array), ``kinds`` the kind to its inputs; the worst kind is the first with the largest
    error, ``inputs`` counts the inputs of the kinds in ``errs``."""
    by_kind = {k: float(e.max()) for k, e in errs.items()}
    worst_kind = max(by_kind, key=by_kind.get)
    return CheckResult(
        eps=float(eps),
        worst_error=by_kind[worst_kind],
        worst_kind=worst_kind,
        by_kind=by_kind,
        inputs=sum(len(kinds[k]) for k in errs),
        reference=reference,
    )


def check_network(
    net, count: int = 200, seed: int = 0, adversarial_starts: int = 6, adversarial_steps: int = 30
) -> CheckResult:
    """Search for the worst error of ``net`` on ``count`` random-in-ball matrices (a quarter on the
    sphere), the structured inputs, and an adversarial ascent from the worst random ones."""
    if net.eps is None:
        raise ValueError("check_network needs a network with a guaranteed eps")
    g = torch.Generator().manual_seed(seed)
    ord_ = "fro" if net.norm == "fro" else 2
    digits = 40 if net.eps < 1e-9 else None
    kinds = {
        "random": ball_samples(net.n, net.r, count, g),
        "structured": structured_inputs(net.n, net.r, g),
    }
    errs = {k: _errors(net, A, ord_, digits) for k, A in kinds.items()}
    if adversarial_starts > 0:
        worst = torch.topk(errs["random"], min(adversarial_starts, count)).indices
        kinds["adversarial"] = adversarial_search(net, kinds["random"][worst], adversarial_steps)
        errs["adversarial"] = _errors(net, kinds["adversarial"], ord_, digits)
    return result_from_errors(net.eps, kinds, errs, "mpmath (40 digits)" if digits else "scipy.linalg.expm")
