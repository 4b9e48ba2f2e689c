"""Input checks and the certificate of the oracle API (DESIGN.md, "Oracle API")."""

from __future__ import annotations

import math
import warnings

import numpy as np
import torch

__all__ = ["DomainError", "PrecisionWarning", "NORM_SLACK", "check_input", "eps_floor", "certify_values"]

#: Relative slack on the radius check ``||A||_2 <= r (1 + NORM_SLACK)``: the spectral norm is itself
#: computed in floating point (an SVD, accurate to a few ulps), so a matrix scaled to norm exactly r
#: must not be rejected for rounding. The error bound at radius r(1 + 1e-12) exceeds the bound at r
#: by a relative O(1e-12), far below the margins measured in THEORY.md section 10.2 (>= 1.13).
NORM_SLACK = 1e-12


class DomainError(ValueError):
    """The input lies outside the domain on which the network's guarantee holds."""


class PrecisionWarning(RuntimeWarning):
    """The requested eps is below what the floating-point type can resolve (THEORY.md section 11.9)."""


def eps_floor(n: int, r: float, dtype: torch.dtype) -> float:
    """``100 n u e^r``: below this eps the realised error is dominated by rounding.

    THEORY.md section 11 item 9: this threshold lies 22-69x above every float64 floor and 28-195x
    above every float32 floor measured for n <= 3, r <= 4.
    """
    u = 2.0**-53 if dtype == torch.float64 else 2.0**-24
    return 100.0 * n * u * math.exp(r)


def warn_if_unresolvable(n: int, eps: float, r: float, dtype: torch.dtype) -> None:
    floor = eps_floor(n, r, dtype)
    if eps < floor:
        warnings.warn(
            f"eps={eps:.3g} is below 100*n*u*e^r = {floor:.3g} for {dtype}: rounding, not the "
            "construction, will dominate the error; use float64 or a larger eps",
            PrecisionWarning,
            stacklevel=3,
        )


def check_input(A, n: int, r: float, dtype: torch.dtype) -> torch.Tensor:
    """Return A as a tensor of shape (..., n, n) and the given dtype, or raise DomainError.

    Conditions, in order: a tensor or array; at least 2 dimensions with square trailing shape;
    size n; finite entries; spectral norm at most ``r (1 + NORM_SLACK)``.
    """
    if isinstance(A, np.ndarray):
        A = torch.from_numpy(A)
    if not isinstance(A, torch.Tensor):
        raise DomainError(f"input must be a torch.Tensor or numpy.ndarray, got {type(A).__name__}")
    if A.dim() < 2 or A.shape[-1] != A.shape[-2]:
        raise DomainError(
            f"input must have shape (..., n, n) with square trailing dimensions, got {tuple(A.shape)}"
        )
    if A.shape[-1] != n:
        raise DomainError(f"this network is built for {n} x {n} matrices, got {A.shape[-2]} x {A.shape[-1]}")
    if A.is_complex():
        raise DomainError("input must be real")
    A = A.to(dtype)
    if not bool(torch.isfinite(A).all()):
        bad = int((~torch.isfinite(A)).flatten(-2).any(-1).sum())
        raise DomainError(f"input has non-finite entries (in {bad} matrix/matrices)")
    if A.numel():
        norms = torch.linalg.matrix_norm(A, ord=2)
        worst = float(norms.max())
        if worst > r * (1.0 + NORM_SLACK):
            over = int((norms > r * (1.0 + NORM_SLACK)).sum())
            raise DomainError(
                f"spectral norm {worst:.6g} exceeds the radius r={r:g} (relative slack {NORM_SLACK:g}) "
                f"in {over} matrix/matrices; the guarantee holds only on ||A||_2 <= r"
            )
    return A


def certify_values(distance: torch.Tensor, eps: float, tol: float):
    """Decide ``||candidate - exp(A)|| <= tol`` from ``distance = ||candidate - Phi(A)||``.

    Since ``||Phi(A) - exp(A)|| <= eps``, the triangle inequality gives: ``distance <= tol - eps``
    proves the candidate within tol ("pass"); ``distance > tol + eps`` proves it is not ("fail");
    anything between is "undecided". Returns a str for a single matrix, else an array of str.
    """
    d = distance.detach().cpu().numpy()
    out = np.where(d <= tol - eps, "pass", np.where(d > tol + eps, "fail", "undecided"))
    return str(out) if out.ndim == 0 else out
