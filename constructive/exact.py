"""Exact-arithmetic certificate: the explicit network evaluated in rational arithmetic.

Floating point hides whether an error comes from the construction or from rounding (THEORY.md
section 10.5: the float64 evaluation stops following the bound near m = 24-26). The explicit
network's weights are float64 numbers, i.e. exact dyadic rationals ``a / 2^e``, so for a rational
input the network output is a rational number that can be computed exactly. Comparing it with
f(A) computed by mpmath at ``digits`` significant digits gives the error of the network *as a
function* (the object of the theorem), free of evaluation rounding.

The evaluation keeps each layer as integers over one common denominator ``D 2^E`` (D the lcm of
the input denominators): an affine map multiplies by the weights' integer numerators and shifts,
and ReLU is ``max(0, .)`` on the integers. This is exact rational arithmetic without a gcd per
operation (the cost of ``fractions.Fraction``); tests compare it with a plain Fraction evaluation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import mpmath
import numpy as np
import torch

from .oracle import DomainError
from .relu_network import ReluNetwork

__all__ = [
    "ExactCertificate",
    "certify_exact",
    "exact_forward",
    "rational_ball_samples",
    "to_rational_matrix",
    "REFERENCES",
]


def _mp_sign(A):
    """sign(A) = A (A^2)^(-1/2) (Higham 2008, Functions of Matrices, eq. (5.2)) in mpmath."""
    return A * mpmath.inverse(mpmath.sqrtm(A * A))


#: mpmath references f(A) keyed by the function name a network declares in ``net.function``.
REFERENCES = {
    "exp": mpmath.expm,
    "sign": _mp_sign,
    "inverse": mpmath.inverse,
    "sqrt": mpmath.sqrtm,
    "log": mpmath.logm,
}

#: Functions whose domain is ``||I - A||_2 <= net.rho`` (constructive/near_identity.py).
NEAR_IDENTITY = ("inverse", "sqrt", "log")


@dataclass(frozen=True)
class ExactCertificate:
    """Outcome of :func:`certify_exact` for one rational matrix A.

    ``exact_error``: ``||Phi(A) - f(A)||`` in the network's norm with Phi(A) exact (rational) and
    f(A) by mpmath at ``digits`` digits, rounded up to a float. ``eps``: the bound it is compared
    with; ``holds``: ``exact_error <= eps`` (decided in mpmath before rounding).
    ``float64_error``: the same error of the float64 evaluation of the same explicit network on
    ``fl(A)``, for contrast. ``output``: the exact Phi(A) as an n x n tuple of Fractions.
    ``max_numerator_bits``: the largest integer met during the evaluation (its cost).
    """

    exact_error: float
    eps: float
    holds: bool
    float64_error: float
    digits: int
    norm: str
    function: str
    depth: int
    output: tuple[tuple[Fraction, ...], ...]
    max_numerator_bits: int


def to_rational_matrix(A, n: int) -> list[list[Fraction]]:
    """A as an n x n list of Fractions. Accepts a torch tensor, numpy array or nested sequence of
    int / Fraction / float; floats convert exactly (``Fraction(float)``). Raises DomainError."""
    if isinstance(A, torch.Tensor):
        A = A.detach().cpu().numpy()
    if isinstance(A, np.ndarray):
        if A.dtype.kind not in "iuf":
            raise DomainError(f"input must be real numbers, got dtype {A.dtype}")
        A = A.tolist()
    try:
        rows = [list(row) for row in A]
    except TypeError:
        raise DomainError("input must be an n x n matrix (nested sequence, array or tensor)") from None
    if len(rows) != n or any(len(row) != n for row in rows):
        raise DomainError(f"this network is built for {n} x {n} matrices")
    out = []
    for row in rows:
        new = []
        for x in row:
            if isinstance(x, bool) or not isinstance(x, (int, float, Fraction)):
                raise DomainError(f"entries must be int, float or Fraction, got {type(x).__name__}")
            if isinstance(x, float) and not math.isfinite(x):
                raise DomainError("input has non-finite entries")
            new.append(Fraction(x))
        out.append(new)
    return out


def rational_ball_samples(n: int, r: float, count: int, seed: int = 0) -> list[list[list[Fraction]]]:
    """Rational n x n matrices in ``{||A||_2 <= r}``: ``+-rI`` (exactly on the sphere; the truncation
    bound is sharp there), then random matrices with entries ``k/d`` (d in {3, 7, 9, 11, 13, 999},
    so off the dyadic nodes where Lemma 1 is exact) scaled by a rational factor to norm in
    ``[r (1 - 2e-12), r]`` (the boundary, up to a relative 2e-12)."""
    rng = np.random.default_rng(seed)
    rq = Fraction(r)
    eye = [[rq * (i == j) for j in range(n)] for i in range(n)]
    out = [eye, [[-x for x in row] for row in eye]]
    while len(out) < count:
        dens = rng.choice([3, 7, 9, 11, 13, 999], size=(n, n))
        A = [[Fraction(int(rng.integers(-999, 1000)), int(dens[i, j])) for j in range(n)] for i in range(n)]
        with mpmath.workdps(30):
            s = max(mpmath.svd_r(mpmath.matrix([[float(a) for a in row] for row in A]), compute_uv=False))
        if s < 1e-6:
            continue
        t = rq / Fraction(float(s) * (1 + 1e-12))  # float(s) is within 1e-15 of s: norm <= r
        out.append([[a * t for a in row] for row in A])
    return out[:count]


def _dyadic(x: float) -> tuple[int, int]:
    """x = a / 2^e exactly, as (a, e) with e >= 0."""
    a, d = float(x).as_integer_ratio()
    return a, d.bit_length() - 1


def exact_forward(net: ReluNetwork, x: list[Fraction]) -> tuple[list[Fraction], int]:
    """The explicit network on the rational vector x, in exact arithmetic.

    Returns (output as Fractions, bit length of the largest integer met). Each layer holds
    integers H over the common denominator ``D 2^E``; a layer with weights ``k_ij / 2^F`` and biases
    ``a_i / 2^g_i`` maps them to ``Z_i = (sum_j k_ij H_j) 2^(E'-E-F) + a_i D 2^(E'-g_i)`` over
    ``D 2^E'``, ``E' = max(E + F, max g_i)``; ReLU keeps ``max(Z_i, 0)``.
    """
    if len(x) != net.in_features:
        raise ValueError(f"input has {len(x)} entries, the network takes {net.in_features}")
    D = math.lcm(*(xi.denominator for xi in x)) if x else 1
    H = [int(xi * D) for xi in x]
    E = 0
    biggest = max((abs(h).bit_length() for h in H), default=0)
    last = len(net.weights) - 1
    for l_, (W, b) in enumerate(zip(net.weights, net.biases, strict=True)):
        W = (W if W.is_sparse else W.to_sparse()).coalesce()
        idx = W.indices().tolist()  # (2, nnz)
        w = [_dyadic(v) for v in W.values().tolist()]
        bias = [_dyadic(v) for v in b.tolist()]
        F = max((e for _, e in w), default=0)
        G = max((e for _, e in bias), default=0)
        E_new = max(E + F, G)
        acc = [0] * W.shape[0]
        for i, j, (a, e) in zip(idx[0], idx[1], w, strict=True):
            acc[i] += (a << (F - e)) * H[j]
        shift = E_new - E - F
        Z = [(s << shift) + ((a * D) << (E_new - g)) for s, (a, g) in zip(acc, bias, strict=True)]
        if l_ < last:
            Z = [z if z > 0 else 0 for z in Z]
        # Strip common factors of 2 so the integers grow only as much as the values need.
        tz = min(((z & -z).bit_length() - 1 for z in Z if z), default=0)
        tz = min(tz, E_new)
        if tz:
            Z = [z >> tz for z in Z]
            E_new -= tz
        H, E = Z, E_new
        biggest = max(biggest, max((abs(z).bit_length() for z in Z), default=0))
    den = D << E
    return [Fraction(h, den) for h in H], biggest


def _mp_norm(E, norm: str):
    if norm == "fro":
        return mpmath.sqrt(mpmath.fsum(E[i, j] ** 2 for i in range(E.rows) for j in range(E.cols)))
    return max(mpmath.svd_r(E, compute_uv=False))


def _ceil_float(x) -> float:
    f = float(x)
    return math.nextafter(f, math.inf) if mpmath.mpf(f) < x else f


def certify_exact(net, A, eps: float | None = None, digits: int = 60) -> ExactCertificate:
    """Certify ``||Phi(A) - f(A)|| <= eps`` for one rational matrix A in exact arithmetic.

    Args:
        net: a constructive network with ``to_relu_network()``, ``n``, ``r``, ``norm`` and ``eps``
            (exp networks, the sign network); ``net.function`` names f ("exp" if absent).
        A: n x n rational matrix (Fractions, ints or floats converted exactly; tensor or array).
        eps: the bound to compare with; default ``net.eps``.
        digits: mpmath significant digits for f(A) and the norms (>= 30).

    The explicit network is evaluated exactly (:func:`exact_forward`), f(A) by mpmath at
    ``digits + 10`` digits (``REFERENCES``), the norm of the difference at ``digits``. The domain
    ``||A||_2 <= r`` (and ``||I - A^2||_2 <= rho`` for a network with ``rho``, the sign network) is
    checked in mpmath (relative slack ``10^(5 - digits)``): outside it the theorem says nothing.
    Raises DomainError (bad input) or ValueError (no eps, bad digits).
    """
    if isinstance(digits, bool) or not isinstance(digits, int) or digits < 30:
        raise ValueError(f"digits must be an integer >= 30, got {digits!r}")
    bound = net.eps if eps is None else eps
    if bound is None or not bound > 0:
        raise ValueError("certify_exact needs a positive eps (pass eps= or build the net with eps)")
    function = getattr(net, "function", "exp")
    if function not in REFERENCES:
        raise ValueError(f"no exact reference for {function!r}; known: {', '.join(REFERENCES)}")
    n = net.n
    Aq = to_rational_matrix(A, n)
    explicit = net.to_relu_network()
    out, bits = exact_forward(explicit, [a for row in Aq for a in row])  # vec row-major
    A_float = torch.tensor([[float(a) for a in row] for row in Aq], dtype=torch.float64)
    phi_float = explicit(A_float.reshape(1, n * n)).reshape(n, n).tolist()
    with mpmath.workdps(digits + 10):
        A_mp = mpmath.matrix([[mpmath.mpf(a.numerator) / a.denominator for a in row] for row in Aq])
        smax = max(mpmath.svd_r(A_mp, compute_uv=False))
        if smax > mpmath.mpf(net.r) * (1 + mpmath.mpf(10) ** (5 - digits)):
            raise DomainError(
                f"spectral norm {mpmath.nstr(smax, 12)} exceeds the radius r={net.r:g}; "
                "the guarantee holds only on ||A||_2 <= r"
            )
        rho = getattr(net, "rho", None)  # the second domain condition (sign, near-identity nets)
        if rho is not None:
            near = function in NEAR_IDENTITY
            D = mpmath.eye(n) - (A_mp if near else A_mp * A_mp)
            dev = max(mpmath.svd_r(D, compute_uv=False))
            if dev > mpmath.mpf(rho) * (1 + mpmath.mpf(10) ** (5 - digits)):
                what = "||I - A||_2" if near else "||I - A^2||_2"
                raise DomainError(f"{what} = {mpmath.nstr(dev, 12)} exceeds rho={rho:g}")
        ref = REFERENCES[function](A_mp)
    with mpmath.workdps(digits):
        exact_phi = mpmath.matrix(
            [[mpmath.mpf(q.numerator) / q.denominator for q in out[i * n : (i + 1) * n]] for i in range(n)]
        )
        err = _mp_norm(exact_phi - ref, net.norm)
        err_float = _mp_norm(mpmath.matrix(phi_float) - ref, net.norm)
        holds = bool(err <= mpmath.mpf(bound))
        return ExactCertificate(
            exact_error=_ceil_float(err),
            eps=float(bound),
            holds=holds,
            float64_error=float(err_float),
            digits=digits,
            norm=net.norm,
            function=function,
            depth=len(explicit.weights) - 1,
            output=tuple(tuple(out[i * n : (i + 1) * n]) for i in range(n)),
            max_numerator_bits=bits,
        )
