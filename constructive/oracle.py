"""Input checks and the certificate of the oracle API (DESIGN.md, "Oracle API")."""

from __future__ import annotations

import math
import numbers
import warnings

import numpy as np
import torch

__all__ = [
    "DomainError",
    "PrecisionWarning",
    "NORM_SLACK",
    "DTYPES",
    "check_dtype",
    "check_tol",
    "check_candidate",
    "check_input",
    "norm_slack",
    "eps_floor",
    "certify_values",
]

#: Relative slack on the radius check ``||A||_2 <= r (1 + NORM_SLACK)``: the spectral norm is itself
#: computed in floating point (an SVD, accurate to a few ulps), so a matrix scaled to norm exactly r
#: must not be rejected for rounding. The error bound at radius r(1 + 1e-12) exceeds the bound at r
#: by a relative O(1e-12), far below the margins measured in THEORY.md section 10.2 (>= 1.13).
NORM_SLACK = 1e-12

#: The dtypes a network can be built in: the arithmetic of ``structured`` and of the explicit weights.
#: float16 and bfloat16 cannot resolve any useful eps (``eps_floor``) and lack the sparse kernels.
DTYPES = (torch.float64, torch.float32)

#: float32 unit roundoff ``u_32 = 2^-24``; float32 input is checked with the relative radius slack
#: ``8 (1 + sqrt(n)) u_32`` of :func:`norm_slack`.
FLOAT32_UNIT = 2.0**-24


class DomainError(ValueError):
    """The input lies outside the domain on which the network's guarantee holds."""


class PrecisionWarning(RuntimeWarning):
    """The requested eps is below what the floating-point type can resolve (THEORY.md section 11.9)."""


def check_dtype(dtype) -> torch.dtype:
    """``dtype`` if it is one of :data:`DTYPES` (a ``torch.dtype``, not a string), else ValueError."""
    if not isinstance(dtype, torch.dtype) or dtype not in DTYPES:
        raise ValueError(
            f"dtype must be torch.float64 (the default) or torch.float32, got {dtype!r}; "
            "integer and half-precision types cannot carry the network's weights"
        )
    return dtype


def eps_floor(n: int, r: float, dtype: torch.dtype) -> float:
    """``100 n u e^r``: below this eps the realised error is dominated by rounding.

    THEORY.md section 11 item 9: this threshold lies 22-69x above every float64 floor and 28-195x
    above every float32 floor measured for n <= 3, r <= 4. ``inf`` where e^r overflows a float.
    """
    u = 2.0**-53 if dtype == torch.float64 else FLOAT32_UNIT
    return 100.0 * n * u * math.exp(r) if r < 700.0 else math.inf


def warn_if_unresolvable(n: int, eps: float, r: float, dtype: torch.dtype) -> None:
    floor = eps_floor(n, r, dtype)
    if eps < floor:
        warnings.warn(
            f"eps={eps:.3g} is below 100*n*u*e^r = {floor:.3g} for {dtype}: rounding, not the "
            "construction, will dominate the error; use float64 or a larger eps",
            PrecisionWarning,
            stacklevel=3,
        )


def norm_slack(input_dtype: torch.dtype, n: int) -> float:
    """Relative slack of the radius check for an input of ``input_dtype`` (before the cast).

    float32 input: ``8 (1 + sqrt(n)) u_32``, u_32 = 2^-24 (about 4.8e-7 (1 + sqrt(n))). A matrix
    normalised to ``||A||_2 = r`` in float32 (torch's default dtype) has a true norm up to a few u_32
    above r: rounding each entry moves ``||A||_2`` by at most ``u_32 ||A||_F <= sqrt(n) u_32 ||A||_2``,
    and the float32 norm it was divided by carries a few u_32 more (measured: at most 10 u_32 for
    n <= 64 over 2000 random matrices per n; about half of them lie above r). Such an input is the
    float32 image of a matrix of the ball, so it is accepted. The guarantee is stated on
    ``||A||_2 <= r``; at ``r (1 + delta)`` the error bound grows by a relative O(delta), far below the
    margins of THEORY.md section 10.2 (>= 1.13), as for :data:`NORM_SLACK`.

    Every other input (float64, integers, float16/bfloat16, which convert to float64 exactly) is
    checked at its exact value with :data:`NORM_SLACK`, the slack of the SVD's own rounding.
    """
    if input_dtype == torch.float32:
        return max(NORM_SLACK, 8.0 * (1.0 + math.sqrt(n)) * FLOAT32_UNIT)
    return NORM_SLACK


def _radius_message(worst: float, r: float, slack: float, over: int, input_dtype: torch.dtype) -> str:
    rel = worst / r - 1.0
    policy = (
        f"{input_dtype} input is checked in float64 with relative slack {slack:.2g} = 8 (1 + sqrt(n)) 2^-24"
        if input_dtype == torch.float32
        else f"{input_dtype} input is checked with relative slack {slack:.2g} (float32 input: "
        "8 (1 + sqrt(n)) 2^-24)"
    )
    return (
        f"spectral norm {worst:.9g} = r (1 + {rel:.2g}) exceeds the radius r={r:g} by {worst - r:.2g} "
        f"in {over} matrix/matrices; {policy}; the guarantee holds only on ||A||_2 <= r"
    )


def check_input(A, n: int, r: float, dtype: torch.dtype) -> torch.Tensor:
    """Return A as a tensor of shape (..., n, n) and the given dtype, or raise DomainError.

    Conditions, in order: a tensor or array; at least 2 dimensions with square trailing shape;
    size n; real; finite entries; spectral norm at most ``r (1 + norm_slack(A.dtype, n))``, computed
    in float64 (float32 input is cast to float64 exactly first; see :func:`norm_slack`).
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
    input_dtype = A.dtype
    A64 = A.to(torch.float64)
    if not bool(torch.isfinite(A64).all()):
        bad = int((~torch.isfinite(A64)).flatten(-2).any(-1).sum())
        raise DomainError(f"input has non-finite entries (in {bad} matrix/matrices)")
    if A64.numel():
        slack = norm_slack(input_dtype, n)
        norms = torch.linalg.matrix_norm(A64, ord=2)
        worst = float(norms.max())
        if worst > r * (1.0 + slack):
            over = int((norms > r * (1.0 + slack)).sum())
            raise DomainError(_radius_message(worst, r, slack, over, input_dtype))
    return A.to(dtype)


def check_tol(tol) -> float:
    """``tol`` as a float if it is a finite real number > 0 (bool refused), else ValueError."""
    if isinstance(tol, bool) or not isinstance(tol, numbers.Real):
        raise ValueError(f"tol must be a finite real number > 0, got {tol!r} of type {type(tol).__name__}")
    tol = float(tol)
    if not (math.isfinite(tol) and tol > 0):
        raise ValueError(f"tol must be a finite real number > 0, got {tol!r}")
    return tol


def check_candidate(candidate, like: torch.Tensor) -> torch.Tensor:
    """``candidate`` as a real tensor of ``like``'s dtype, device and shape, else ValueError.

    A complex candidate is refused, never cast (the cast would drop its imaginary part): f(A) of a
    real A is real, and the certificate is about real matrices. NaN entries are kept (they fail)."""
    try:
        cand = candidate if isinstance(candidate, torch.Tensor) else torch.as_tensor(np.asarray(candidate))
    except (TypeError, ValueError, RuntimeError) as e:
        raise ValueError(f"candidate must be a real array of shape {tuple(like.shape)}: {e}") from None
    if cand.is_complex():
        raise ValueError(
            f"candidate must be real (got dtype {cand.dtype}); f(A) of a real matrix is real, and a "
            "complex candidate is not cast (that would drop its imaginary part)"
        )
    cand = cand.to(dtype=like.dtype, device=like.device)
    if cand.shape != like.shape:
        raise ValueError(f"candidate has shape {tuple(cand.shape)}, expected {tuple(like.shape)}")
    return cand


def certify_values(distance: torch.Tensor, eps: float, tol: float):
    """Decide ``||candidate - exp(A)|| <= tol`` from ``distance = ||candidate - Phi(A)||``.

    Since ``||Phi(A) - exp(A)|| <= eps``, the triangle inequality gives: ``distance <= tol - eps``
    proves the candidate within tol ("pass"); ``distance > tol + eps`` proves it is not ("fail");
    anything between is "undecided". A NaN distance (a candidate with NaN entries) is "fail": NaN is
    no matrix, so it is not within tol of exp(A). Returns a str for a single matrix, else an array.
    """
    d = distance.detach().cpu().numpy()
    fail = np.isnan(d) | (d > tol + eps)
    out = np.where(d <= tol - eps, "pass", np.where(fail, "fail", "undecided"))
    return str(out) if out.ndim == 0 else out
