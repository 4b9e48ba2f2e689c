"""Reference matrix functions, batched in torch float64.

Every function maps a real tensor ``A`` of shape ``(..., n, n)`` to ``f(A)`` of the same shape
in one batched call (no Python loop over matrices). Names form a registry keyed by the
mathematics: ``"exp"``, ``"sign"``, ``"sin"``, ``"cos"``, ``"log"``, ``"sqrt"`` and ``"pow<k>"``
for an integer ``k >= 2`` (``"pow2"``, ``"pow3"``, ...).

Methods (Higham, *Functions of Matrices: Theory and Computation*, SIAM 2008, cited "H08"):

- exp: scaling and squaring with a degree-18 Taylor polynomial, ``exp(A) = T_18(A/2^s)^(2^s)``
  with ``s`` the smallest integer giving ``||A/2^s||_F <= 1`` (truncation below
  ``e/19! ~ 2e-17``), the polynomial evaluated by Paterson-Stockmeyer (H08 ch. 10, sec. 10.3,
  and sec. 4.4). Chosen over ``torch.linalg.matrix_exp`` because it is matrix products only, which
  are 5-10x cheaper per small matrix than torch's batched kernels on CPU.
- sin, cos: the same scaling and squaring applied to ``exp(iA) = cos A + i sin A`` for real A
  (H08 ch. 12), carried out in real arithmetic: the Taylor parts of the even and odd series
  give ``C ~ cos(A/2^s)``, ``S ~ sin(A/2^s)``, and each complex squaring is the double-angle
  step ``C <- C^2 - S^2``, ``S <- 2 C S``; both functions come from one pass.
- sign: Newton iteration ``X <- (mu X + (mu X)^{-1}) / 2`` with determinantal scaling
  ``mu = |det X|^{-1/n}``, switched off once the relative change is below 1e-2, and the
  convergence test of H08 Algorithm 5.14 (Newton algorithm for the matrix sign function, ch. 5).
- sqrt: product form of the Denman-Beavers iteration with determinantal scaling (H08 sec. 6.3;
  Cheng, Higham, Kenney & Laub, SIAM J. Matrix Anal. Appl. 22 (2001) 1112-1125). Chosen over an
  eigendecomposition because its accuracy does not depend on the eigenvector conditioning
  (clustered or defective eigenvalues are fine), it needs only batched inverses, and it keeps a
  real matrix real. Converges for every spectrum off the closed negative real axis.
- log: by the eigendecomposition ``log A = V log(Lambda) V^{-1}`` (H08 sec. 4.5, eq. (4.11)) for
  every matrix whose computed eigenvector matrix has ``kappa_1(V) <= 1e5``: its error grows like
  ``kappa(V) u`` (H08 sec. 4.5), 1e-13 to 7e-11 relative (Frobenius) against 50-digit mpmath on
  8 x 8 matrices with eigenvalues in [0.5, 2] and cond(V) = 4e3 to 1e4, where the
  transformation-free inverse scaling and squaring below was 1e-12 to 1e-9 off (its square
  roots are not backward stable on non-normal matrices) and scipy.linalg.logm 3e-13 to 4e-11.
  The other matrices, nearly defective ones whose eigenvectors are close to parallel, take the
  transformation-free inverse scaling and squaring (H08 sec. 11.5, Algorithm 11.10 ("inverse
  scaling and squaring", without a Schur form); Cheng et al. 2001), whose accuracy does not
  depend on V: take square roots with the iteration above until ``||X - I||_1 <= 0.25``, then
  ``log A = 2^s r_8(X - I)`` with the [8/8] Pade approximant of ``log(1 + x)`` evaluated in
  partial fractions, whose nodes and weights are those of 8-point Gauss-Legendre quadrature of
  ``log(1+x) = int_0^1 x/(1+tx) dt`` (H08 sec. 11.4; Higham, SIAM J. Matrix Anal. Appl. 22
  (2001) 1126-1135, Theorem 4.3). The truncation error for ``||X - I|| <= 0.25`` is at most
  ``|r_8(-0.25) - log(0.75)| ~ 1e-17`` (the Kenney-Laub 1989 bound that H08 sec. 11.4 uses),
  below double rounding.
- pow<k>: binary powering (repeated squaring), ``floor(log2 k) + popcount(k) - 1`` products.

Inputs may be any real dtype and device; the computation runs in float64 on the CPU (tiny
matrices, where LAPACK and stacked products beat kernel launches) and the result comes back in
float64 on the input's device.

Domain and failures are reported per matrix (``matrix_function_masked``) or as one
``OutOfDomainError`` naming how many matrices failed and why (``matrix_function``); never as a
silent NaN. A matrix is marked invalid when its entries are not finite, it is outside the
function's domain (sign: an eigenvalue with ``|Re lambda| <= 1e-10 * max(1, ||A||_F)``; log and
sqrt: an eigenvalue within ``1e-10 * max(1, ||A||_F)`` of the closed negative real axis), an
iteration did not converge, or the a-posteriori residual check (``S^2 = I``, ``X^2 = A``,
``exp(L) = A``) exceeds 1e-8 relative.
"""

from __future__ import annotations

import math
import re
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "FUNCTIONS",
    "MaskedResult",
    "OutOfDomainError",
    "check_function_name",
    "known_functions",
    "matrix_function",
    "matrix_function_masked",
]

FUNCTIONS: tuple[str, ...] = ("exp", "sign", "sin", "cos", "log", "sqrt")
_POW_RE = re.compile(r"^pow(\d+)$")

# Relative distance (in units of max(1, ||A||_F)) below which an eigenvalue counts as lying on
# the imaginary axis (sign) or on the closed negative real axis (log, sqrt).
DOMAIN_TOL = 1e-10
# Relative residual above which a computed sign/sqrt/log is reported as a failure.
RESIDUAL_TOL = 1e-8
MAX_ITER = 100


class OutOfDomainError(ValueError):
    """Some matrices are outside the function's domain, or its iteration did not converge."""


class MaskedResult(NamedTuple):
    """``value`` (..., n, n) float64, NaN where invalid; ``valid`` (...) bool."""

    value: Tensor
    valid: Tensor


def known_functions() -> list[str]:
    """Registry names, with the literal ``"pow<k>"`` standing for ``pow2``, ``pow3``, ..."""
    return [*FUNCTIONS, "pow<k>"]


def check_function_name(name: str) -> str:
    """Return the canonical registry name of ``name``; raise ValueError listing known names."""
    if not isinstance(name, str):
        raise ValueError(f"function name must be a string, got {type(name).__name__}")
    key = name.strip().lower()
    if key in FUNCTIONS:
        return key
    match = _POW_RE.match(key)
    if match is not None:
        k = int(match.group(1))
        if k >= 2:
            return f"pow{k}"
        raise ValueError(f"pow<k> needs an integer k >= 2, got {name!r}")
    raise ValueError(f"unknown matrix function {name!r}; known: {', '.join(known_functions())}")


def _as_batch(A) -> Tensor:
    """Validate and convert ``A`` to a float64 tensor of shape (..., n, n) (no gradient)."""
    if not isinstance(A, Tensor):
        A = torch.as_tensor(np.asarray(A))
    if A.is_complex():
        raise ValueError("matrix functions here take real matrices; got a complex tensor")
    if A.dim() < 2 or A.shape[-1] != A.shape[-2]:
        raise ValueError(f"expected a tensor of shape (..., n, n), got {tuple(A.shape)}")
    if A.shape[-1] < 1:
        raise ValueError("matrices must be at least 1 x 1")
    return A.detach().to(torch.float64)


def _fro(X: Tensor) -> Tensor:
    return torch.linalg.matrix_norm(X, ord="fro")


def _eye_like(X: Tensor) -> Tensor:
    n = X.shape[-1]
    return torch.eye(n, dtype=X.dtype, device=X.device).expand_as(X)


def _mm(X: Tensor, Y: Tensor) -> Tensor:
    """Batched product X @ Y; numpy's stacked matmul on CPU, about 5x faster than torch's for
    many tiny matrices (measured on (10^4, 5, 5) float64). Overflow gives inf, reported by the
    callers' finiteness checks, so numpy's overflow warning is silenced here."""
    if X.device.type == "cpu" and Y.device.type == "cpu":
        with np.errstate(over="ignore", invalid="ignore"):
            return torch.from_numpy(np.matmul(X.numpy(), Y.numpy()))
    return X @ Y


def _all_finite(X: Tensor) -> Tensor:
    """(B,) True where every entry of X (B, n, n) is finite."""
    # A finite sum implies finite entries; only when some sum is not finite (a non-finite
    # entry, or an overflowing sum of huge ones) is the exact entrywise test needed.
    quick = torch.isfinite(X.sum(dim=(-2, -1)))
    return quick if bool(quick.all()) else torch.isfinite(X).flatten(1).all(dim=1)


def _norm1(X: Tensor) -> Tensor:
    """Matrix 1-norm (max column sum) of (B, n, n)."""
    return X.abs().sum(dim=-2).amax(dim=-1)


def _inv_logabsdet(X: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """(X^{-1}, log|det X|, ok) from one LU factorisation of X (B, n, n)."""
    LU, pivots, info = torch.linalg.lu_factor_ex(X)
    eye = _eye_like(X)
    Xinv = torch.linalg.lu_solve(LU, pivots, eye)
    logabsdet = torch.log(torch.diagonal(LU, dim1=-2, dim2=-1).abs()).sum(dim=-1)
    ok = (info == 0) & _all_finite(Xinv) & torch.isfinite(logabsdet)
    return Xinv, logabsdet, ok


def _paterson_stockmeyer(powers: list[Tensor], coeffs: list[float]) -> Tensor:
    """sum_k coeffs[k] Y^k given powers = [Y, Y^2, ..., Y^q] (Higham 2008, sec. 4.4).

    Horner in Y^q over blocks of q coefficients: about d/q products for degree d.
    """
    q = len(powers)

    def block(c: list[float]) -> Tensor:  # c_0 I + c_1 Y + ... + c_{q-1} Y^{q-1}
        out = torch.zeros_like(powers[0])
        for cj, Yj in zip(c[1:], powers, strict=False):
            out.add_(Yj, alpha=cj)
        out.diagonal(dim1=-2, dim2=-1).add_(c[0])
        return out

    blocks = [coeffs[i : i + q] for i in range(0, len(coeffs), q)]
    result = block(blocks[-1])
    for c in reversed(blocks[:-1]):
        result = _mm(result, powers[-1]).add_(block(c))
    return result


_TAYLOR_DEGREE = 18
_EXP_COEFFS = [1.0 / math.factorial(k) for k in range(_TAYLOR_DEGREE + 1)]
_COS_COEFFS = [(-1) ** k / math.factorial(2 * k) for k in range(_TAYLOR_DEGREE // 2 + 1)]
_SIN_COEFFS = [(-1) ** k / math.factorial(2 * k + 1) for k in range(_TAYLOR_DEGREE // 2 + 1)]


def _where_active(active: Tensor, new: Tensor, old: Tensor) -> Tensor:
    """new where active (B,) else old; skips the select when every matrix is active."""
    if bool(active.all()):
        return new
    return torch.where(active[:, None, None], new, old)


def _squarings(A: Tensor) -> Tensor:
    """Smallest s >= 0 with ||A / 2^s||_F <= 1, per matrix (B,) int64.

    Any submultiplicative norm bounds the Taylor remainder; the Frobenius norm is the cheapest
    to compute in batch and, for n <= 8, within a factor sqrt(n) of the 1-norm either way.
    """
    norm = _fro(A)
    s = torch.ceil(torch.log2(torch.clamp(norm, min=1.0)))
    return torch.clamp(s, min=0).to(torch.int64)


def _expm(A: Tensor) -> Tensor:
    """exp(A) for A (B, n, n) by Taylor scaling and squaring (see module docstring)."""
    s = _squarings(A)
    X = A * torch.pow(2.0, -s.to(A.dtype))[:, None, None]  # ||X||_F <= 1
    X2 = _mm(X, X)
    X3 = _mm(X2, X)
    X4 = _mm(X3, X)
    E = _paterson_stockmeyer([X, X2, X3, X4], _EXP_COEFFS)
    for j in range(int(s.max()) if s.numel() else 0):
        E = _where_active(s > j, _mm(E, E), E)
    return E


def _cos_sin(A: Tensor) -> tuple[Tensor, Tensor]:
    """(cos A, sin A) for real A (B, n, n): scaling and squaring of exp(iA) in real arithmetic."""
    s = _squarings(A)
    X = A * torch.pow(2.0, -s.to(A.dtype))[:, None, None]
    B = _mm(X, X)
    B2 = _mm(B, B)
    B3 = _mm(B2, B)
    C = _paterson_stockmeyer([B, B2, B3], _COS_COEFFS)
    S = _mm(X, _paterson_stockmeyer([B, B2, B3], _SIN_COEFFS))
    for j in range(int(s.max()) if s.numel() else 0):
        # (C + iS)^2 = (C^2 - S^2) + 2i CS: the double-angle formulas.
        active = s > j
        C_new = _mm(C, C) - _mm(S, S)
        S_new = 2 * _mm(C, S)
        C, S = _where_active(active, C_new, C), _where_active(active, S_new, S)
    return C, S


def _matrix_power(A: Tensor, k: int) -> Tensor:
    """A^k by binary powering."""
    result = None
    base = A
    while k:
        if k & 1:
            result = base if result is None else _mm(result, base)
        k >>= 1
        if k:
            base = _mm(base, base)
    return result


def _sign_newton(A: Tensor) -> tuple[Tensor, Tensor]:
    """Scaled Newton iteration for sign(A), A of shape (B, n, n).

    Higham (2008), Algorithm 5.14: determinantal scaling mu_k = |det X_k|^{-1/n} until the
    relative change delta_{k+1} = ||X_{k+1} - X_k||_F / ||X_{k+1}||_F falls below 1e-2; stop
    when ||X_{k+1} - X_k||_F <= (n u ||X_{k+1}||_F / ||X_k^{-1}||_F)^{1/2}, or, once unscaled,
    when the change stops halving (rounding level reached). Returns (X, converged).
    """
    B, n, _ = A.shape
    tol_cgce = n * torch.finfo(torch.float64).eps / 2
    out = A.clone()
    converged = torch.zeros(B, dtype=torch.bool)
    # Working set: only matrices still iterating; compacted when some finish.
    idx = torch.arange(B)
    X = A
    scale = torch.ones(B, dtype=torch.bool)
    delta_prev = torch.full((B,), math.inf, dtype=torch.float64)
    for _ in range(MAX_ITER):
        if idx.numel() == 0:
            break
        Y, logabsdet, inverted = _inv_logabsdet(X)
        mu = torch.where(scale, torch.exp(-logabsdet / n), torch.ones_like(logabsdet))
        mu = torch.where(torch.isfinite(mu), mu, torch.ones_like(mu))[:, None, None]
        X_new = 0.5 * (mu * X + Y / mu)
        diff = _fro(X_new - X)
        norm_new = _fro(X_new)
        delta = diff / norm_new
        stop = diff <= torch.sqrt(tol_cgce * norm_new / _fro(Y))
        stop |= (delta > delta_prev / 2) & ~scale
        bad = ~inverted | ~_all_finite(X_new)
        scale = scale & ~(delta <= 1e-2)
        delta_prev = delta
        done = stop | bad
        if bool(done.any()):
            out[idx[done]] = X_new[done]
            converged[idx[done]] = stop[done] & ~bad[done]
            keep = ~done
            idx, X, scale, delta_prev = idx[keep], X_new[keep], scale[keep], delta_prev[keep]
        else:
            X = X_new
    return out, converged


def _sqrt_db(A: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Principal square root by the scaled product-form Denman-Beavers iteration.

    Higham (2008), sec. 6.3 (product form, Cheng et al. 2001): with M_0 = Y_0 = A,
    M_{k+1} = (I + (mu^2 M_k + mu^{-2} M_k^{-1}) / 2) / 2, Y_{k+1} = mu Y_k (I + mu^{-2} M_k^{-1}) / 2,
    mu_k = |det M_k|^{-1/(2n)}; Y_k -> A^{1/2}, M_k -> I. A of shape (B, n, n).
    Returns (Y, M, converged).
    """
    B, n, _ = A.shape
    eps = torch.finfo(torch.float64).eps
    eye = torch.eye(n, dtype=A.dtype)
    M_out, Y_out = A.clone(), A.clone()
    converged = torch.zeros(B, dtype=torch.bool)
    # Working set: only matrices still iterating; compacted when some finish.
    idx = torch.arange(B)
    M, Y = A, A
    scale = torch.ones(B, dtype=torch.bool)
    res_prev = torch.full((B,), math.inf, dtype=torch.float64)
    for _ in range(MAX_ITER):
        if idx.numel() == 0:
            break
        Minv, logabsdet, inverted = _inv_logabsdet(M)
        mu = torch.where(scale, torch.exp(-logabsdet / (2 * n)), torch.ones_like(logabsdet))
        mu = torch.where(torch.isfinite(mu), mu, torch.ones_like(mu))[:, None, None]
        M_new = 0.5 * (eye + 0.5 * (mu**2 * M + Minv / mu**2))
        Y_new = 0.5 * mu * (Y + _mm(Y, Minv) / mu**2)
        res = _fro(M_new - eye)
        # Scaling only helps far from convergence; near it, it would slow the quadratic phase.
        scale = scale & ~(res <= 1e-2)
        # ||M_{k+1} - I|| ~ ||M_k - I||^2 / 4, so one step after ||M_k - I|| <= 1e-7 the error
        # is at rounding level; stopping there avoids iterating on rounding noise.
        stop = (res <= 10 * n * eps) | (res_prev <= 1e-7)
        res_prev = res
        bad = ~inverted | ~_all_finite(Y_new) | ~_all_finite(M_new)
        done = stop | bad
        if bool(done.any()):
            M_out[idx[done]] = M_new[done]
            Y_out[idx[done]] = Y_new[done]
            converged[idx[done]] = stop[done] & ~bad[done]
            keep = ~done
            idx, M, Y = idx[keep], M_new[keep], Y_new[keep]
            scale, res_prev = scale[keep], res_prev[keep]
        else:
            M, Y = M_new, Y_new
    return Y_out, M_out, converged


# Gauss-Legendre nodes/weights on [0, 1]: the [m/m] Pade approximant of log(1+x) is
# r_m(x) = sum_j w_j x / (1 + t_j x) (Higham 2001, Theorem 4.3; H08 sec. 11.4).
_PADE_M = 8
_GL_X, _GL_W = np.polynomial.legendre.leggauss(_PADE_M)
_PADE_T = torch.tensor((_GL_X + 1) / 2, dtype=torch.float64)
_PADE_W = torch.tensor(_GL_W / 2, dtype=torch.float64)
_LOG_THETA = 0.25
_MAX_SQRTS = 64


def _log_iss(A: Tensor) -> tuple[Tensor, Tensor]:
    """Principal logarithm by transformation-free inverse scaling and squaring, A (B, n, n).

    Higham (2008), sec. 11.5, Algorithm 11.10 (Cheng, Higham, Kenney & Laub 2001): square roots
    until ||X - I||_1 <= 0.25, then log A = 2^s r_8(X - I). Returns (L, converged).
    """
    B, n, _ = A.shape
    eye = torch.eye(n, dtype=A.dtype)
    X = A.clone()
    s = torch.zeros(B, dtype=torch.float64)
    ok = torch.ones(B, dtype=torch.bool)
    near = torch.zeros(B, dtype=torch.bool)
    for _ in range(_MAX_SQRTS + 1):
        dist = _norm1(X - eye)
        near |= dist <= _LOG_THETA
        todo = torch.nonzero(~near & ok).flatten()
        if todo.numel() == 0:
            break
        Y, _, conv = _sqrt_db(X[todo])
        X[todo] = Y
        s[todo] += 1
        ok[todo[~conv]] = False
    ok &= near
    E = X - eye  # (B, n, n)
    # Partial fractions: sum_j w_j (I + t_j E)^{-1} E, all m nodes in one batched solve.
    lhs = eye + _PADE_T[:, None, None, None] * E[None]  # (m, B, n, n)
    terms = torch.linalg.solve_ex(lhs, E[None].expand_as(lhs))[0]  # (m, B, n, n)
    R = (_PADE_W[:, None, None, None] * terms).sum(dim=0)  # (B, n, n)
    L = R * torch.pow(2.0, s)[:, None, None]  # exact: a power of two
    ok &= torch.isfinite(L).flatten(1).all(dim=1)
    return L, ok


# Above this 1-norm condition number of the eigenvector matrix the eigendecomposition's error,
# about kappa_1(V) u, could exceed 1e-11 relative, and the inverse scaling and squaring is used.
_LOG_EIG_COND = 1e5


def _log_eig(lam: Tensor, V: Tensor) -> tuple[Tensor, Tensor]:
    """log A = V diag(log lambda) V^{-1} from A's eigenvalues lam (B, n) and eigenvectors V (B, n, n).

    H08 sec. 4.5, eq. (4.11), principal branch (the caller has checked that no eigenvalue lies on
    the closed negative real axis). Returns (L real (B, n, n), ok (B,)): ok where V is invertible,
    kappa_1(V) <= _LOG_EIG_COND and L is finite. For real A the eigenvalues come in conjugate
    pairs with conjugate logarithms, so L is real up to rounding; its real part is returned.
    """
    Vinv, info = torch.linalg.inv_ex(V)
    cond = _norm1(V) * _norm1(Vinv)  # (B,)
    L = torch.matmul(V * torch.log(lam)[:, None, :], Vinv).real  # (B, n, n)
    ok = (info == 0) & (cond <= _LOG_EIG_COND) & _all_finite(L)
    return L, ok


def _log(A: Tensor, lam: Tensor, V: Tensor) -> tuple[Tensor, Tensor]:
    """Principal logarithm of A (B, n, n): the eigendecomposition where V is well conditioned,
    inverse scaling and squaring for the rest (see the module docstring). Returns (L, converged)."""
    L, ok = _log_eig(lam, V)
    converged = torch.ones(A.shape[0], dtype=torch.bool)
    rest = torch.nonzero(~ok).flatten()
    if rest.numel():
        L[rest], converged[rest] = _log_iss(A[rest])
    return L, converged


def _eigen_domain(A: Tensor, function: str, lam: Tensor | None = None) -> Tensor:
    """True where the spectrum of A (B, n, n) (eigenvalues ``lam`` (B, n) if computed already)
    lies inside the function's domain."""
    if lam is None:
        lam = torch.linalg.eigvals(A)  # (B, n) complex
    tol = DOMAIN_TOL * torch.clamp(_fro(A), min=1.0)[:, None]
    if function == "sign":
        return (lam.real.abs() > tol).all(dim=1)
    # Distance to the closed negative real axis (-inf, 0].
    dist = torch.where(lam.real >= 0, lam.abs(), lam.imag.abs())
    return (dist > tol).all(dim=1)


def _rel_residual(R: Tensor, scale: Tensor) -> Tensor:
    return _fro(R) / torch.clamp(scale, min=torch.finfo(torch.float64).tiny)


def _evaluate(name: str, A: Tensor) -> tuple[Tensor, Tensor, dict[str, Tensor]]:
    """Compute f(A) for A (B, n, n) finite; return (value, valid, reasons)."""
    B, n, _ = A.shape
    reasons: dict[str, Tensor] = {}
    valid = torch.ones(B, dtype=torch.bool)
    if name == "exp":
        F = _expm(A)
    elif name in ("sin", "cos"):
        C, S = _cos_sin(A)
        F = S if name == "sin" else C
    elif name.startswith("pow"):
        F = _matrix_power(A, int(name[3:]))
    elif name == "sign":
        domain = _eigen_domain(A, "sign")
        reasons["eigenvalue on or near the imaginary axis"] = ~domain
        F = torch.zeros_like(A)
        conv_all = torch.ones(B, dtype=torch.bool)
        idx = torch.nonzero(domain).flatten()
        if idx.numel():
            S, conv = _sign_newton(A[idx])
            F[idx] = S
            conv_all[idx] = conv
        reasons["Newton iteration did not converge"] = ~conv_all & domain
        ok = domain & conv_all
        # Rounding in S @ S is of order u ||S||_F^2, in SA - AS of order u ||S||_F ||A||_F.
        norm_S = _fro(F)
        resid = _rel_residual(_mm(F, F) - _eye_like(F), norm_S**2)
        resid = torch.maximum(resid, _rel_residual(_mm(F, A) - _mm(A, F), norm_S * _fro(A)))
        reasons["residual check failed (S^2 = I, SA = AS)"] = ok & ~(resid <= RESIDUAL_TOL)
    elif name in ("sqrt", "log"):
        if name == "log":
            lam, V = torch.linalg.eig(A)  # (B, n), (B, n, n) complex: domain check and _log_eig
            domain = _eigen_domain(A, name, lam)
        else:
            domain = _eigen_domain(A, name)
        reasons["eigenvalue on or near the closed negative real axis"] = ~domain
        F = torch.zeros_like(A)
        conv_all = torch.ones(B, dtype=torch.bool)
        idx = torch.nonzero(domain).flatten()
        if idx.numel():
            if name == "sqrt":
                X, _, conv = _sqrt_db(A[idx])
            else:
                X, conv = _log(A[idx], lam[idx], V[idx])
            F[idx] = X
            conv_all[idx] = conv
        key = "square-root iteration did not converge"
        reasons[key] = ~conv_all & domain
        ok = domain & conv_all
        if name == "sqrt":
            resid = _rel_residual(_mm(F, F) - A, _fro(A))
            check = "residual check failed (X^2 = A)"
        else:
            resid = _rel_residual(_expm(F) - A, _fro(A))
            check = "residual check failed (exp(L) = A)"
        reasons[check] = ok & ~(resid <= RESIDUAL_TOL)
    else:  # pragma: no cover - names are checked before
        raise ValueError(f"unknown matrix function {name!r}; known: {known_functions()}")
    finite = _all_finite(F)
    for bad in reasons.values():
        valid &= ~bad
    reasons["result not finite"] = valid & ~finite
    valid &= finite
    return F, valid, reasons


def _run(name: str, A) -> tuple[Tensor, Tensor, dict[str, Tensor]]:
    name = check_function_name(name)
    A = _as_batch(A)
    if A.device.type != "cpu":
        # References are computed on the CPU (tiny matrices, LAPACK-bound; the data layer
        # samples on the CPU anyway) and handed back on the caller's device.
        value, valid, reasons = _run(name, A.detach().cpu())
        device = A.device
        return value.to(device), valid.to(device), {k: v.to(device) for k, v in reasons.items()}
    batch_shape = A.shape[:-2]
    n = A.shape[-1]
    flat = A.reshape(-1, n, n)  # (B, n, n)
    finite = _all_finite(flat)
    reasons = {"input not finite": ~finite}
    if bool(finite.all()):  # common case: no gather/scatter copies
        F, ok, why = _evaluate(name, flat)
        value = F if bool(ok.all()) else torch.where(ok[:, None, None], F, math.nan)
        reasons.update(why)
        return value.reshape(*batch_shape, n, n), ok.reshape(batch_shape), reasons
    value = torch.full_like(flat, math.nan)
    valid = torch.zeros(flat.shape[0], dtype=torch.bool)
    idx = torch.nonzero(finite).flatten()
    if idx.numel():
        F, ok, why = _evaluate(name, flat[idx])
        value[idx] = torch.where(ok[:, None, None], F, torch.full_like(F, math.nan))
        valid[idx] = ok
        for key, bad in why.items():
            full = torch.zeros(flat.shape[0], dtype=torch.bool)
            full[idx] = bad
            reasons[key] = full
    value = value.reshape(*batch_shape, n, n)  # (..., n, n)
    return value, valid.reshape(batch_shape), reasons


def matrix_function_masked(name: str, A) -> MaskedResult:
    """f(A) for every matrix of ``A`` (..., n, n) with a per-matrix validity mask.

    Returns ``MaskedResult(value, valid)``: ``value`` float64 (..., n, n) equal to f(A) where
    ``valid`` (...) is True and NaN elsewhere. A matrix is invalid when its entries are not
    finite, it lies outside (or within 1e-10 relative of the boundary of) the domain, the
    iteration did not converge, or the residual check failed (see the module docstring).
    Raises ValueError for an unknown name or a non-square / complex input.
    """
    value, valid, _ = _run(name, A)
    return MaskedResult(value, valid)


def matrix_function(name: str, A) -> Tensor:
    """f(A) for every matrix of ``A`` (..., n, n), float64, same shape.

    Raises ``OutOfDomainError`` saying how many matrices failed and why if any matrix is
    invalid (see ``matrix_function_masked``); ValueError for an unknown name or bad shape.
    """
    value, valid, reasons = _run(name, A)
    if not bool(valid.all()):
        total = int((~valid).sum())
        parts = [f"{int(bad.sum())} {why}" for why, bad in reasons.items() if bool(bad.any())]
        raise OutOfDomainError(
            f"{total} of {valid.numel()} matrices have no reliable {check_function_name(name)}: "
            + "; ".join(parts)
            + " (use matrix_function_masked for a per-matrix mask)"
        )
    return value
