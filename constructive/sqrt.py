"""A ReLU network for the principal matrix square root: coupled Newton-Schulz with Lemma 3 products.

Domain ``{A: ||I - A||_2 <= rho}``, ``0 <= rho < 1``. The iteration ``W_j = (3I - Z_j Y_j)/2``,
``Y_{j+1} = Y_j W_j``, ``Z_{j+1} = W_j Z_j`` from ``Y_0 = A``, ``Z_0 = I`` (Higham 2008, Functions of
Matrices, eq. (6.35)) uses only products (docs/sqrt_network.md): step 0 is one product
``Y~_1 = Pi(A, (3I - A)/2)`` (``Z_1 = (3I - A)/2`` is affine; A is carried); step j >= 1 is a product
``T~_j = Pi(Z~_j, Y~_j)`` (Y~_j, Z~_j carried) and then, side by side, ``Y~_{j+1} = Pi(Y~_j, W~_j)`` and
``Z~_{j+1} = Pi(W~_j, Z~_j)`` with ``W~_j = (3I - T~_j)/2`` read directly (the last step skips Z).
Lemmas Q1-Q2 bound the error; ``bounds.sqrt.choose_sqrt`` picks k and m.
"""

from __future__ import annotations

import mpmath
import numpy as np
import torch

from .builder import Carry, NetworkBuilder
from .check import CheckResult, mp_reference
from .exp_nets import ExpNetworkBase
from .matmul import matmul_structured
from .near_identity import check_near_identity, check_near_identity_network, parallel_product_stage
from .relu_network import ReluNetwork

__all__ = ["SqrtNetwork", "sqrt_network", "reference_sqrt", "newton_schulz_sqrt", "check_sqrt_network"]


class SqrtNetwork(ExpNetworkBase):
    """ReLU network approximating A^(1/2) on ``||I - A||_2 <= rho`` by k coupled Newton-Schulz steps.

    Args:
        n: matrix size.
        rho: the domain ``||I - A||_2 <= rho < 1``.
        m: layers ``(m_0, a_1, b_1, ..., a_{k-1}, b_{k-1})`` (k = (len(m) + 1) / 2; empty: k = 0, A -> A).
        MY, MZ, N: per step j = 0..k-1 the entry ranges of Y~_j, Z~_j and W~_j (Lemma Q2; index 0: the
            ranges (1 + rho, 1 + rho/2) of step 0's product, MZ_0 unused).
        eps: the guaranteed error in ``norm`` (optional; ``certify`` needs it).
    """

    function = "sqrt"

    def __init__(
        self,
        n: int,
        rho: float,
        m: tuple[int, ...] = (),
        MY: tuple[float, ...] = (),
        MZ: tuple[float, ...] = (),
        N: tuple[float, ...] = (),
        *,
        eps: float | None = None,
        norm: str = "fro",
        dtype: torch.dtype = torch.float64,
        choice=None,
    ):
        super().__init__()
        if n < 1 or not 0 <= rho < 1:
            raise ValueError(f"need n >= 1 and 0 <= rho < 1; got n={n}, rho={rho}")
        if (m and len(m) % 2 == 0) or any(v < 1 for v in m):
            raise ValueError(f"m must hold 2k - 1 integers >= 1 (m_0, a_1, b_1, ...), got {m!r}")
        k = (len(m) + 1) // 2
        if len(MY) < k or len(MZ) < k or len(N) < k:
            raise ValueError(f"need ranges MY_j, MZ_j, N_j for j < k = {k}")
        self._setup(n, 1.0 + rho, eps, norm, dtype, choice)
        self.rho, self.k = float(rho), k
        self.m = tuple(int(v) for v in m)
        self.MY = tuple(float(v) for v in MY)
        self.MZ = tuple(float(v) for v in MZ)
        self.N = tuple(float(v) for v in N)

    def forward(self, A) -> torch.Tensor:
        """Phi(A) for A of shape (..., n, n) with ``||I - A||_2 <= rho`` (DomainError otherwise)."""
        return self.structured(check_near_identity(A, self.n, self.rho, self.dtype))

    def structured(self, A: torch.Tensor) -> torch.Tensor:
        """The network's output for A of shape (..., n, n), by batched tensor ops (no checks)."""
        A = A.to(self.dtype)
        if self.k == 0:
            return A
        eye = torch.eye(self.n, dtype=A.dtype, device=A.device)
        W0 = 1.5 * eye - 0.5 * A
        Y = matmul_structured(A, W0, self.MY[0], self.N[0], self.m[0])
        Z = W0
        for j in range(1, self.k):
            a, b = self.m[2 * j - 1], self.m[2 * j]
            T = matmul_structured(Z, Y, self.MZ[j], self.MY[j], a)
            W = 1.5 * eye - 0.5 * T
            Y, Z = (
                matmul_structured(Y, W, self.MY[j], self.N[j], b),
                matmul_structured(W, Z, self.N[j], self.MZ[j], b) if j <= self.k - 2 else None,
            )
        return Y

    def _build(self) -> ReluNetwork:
        n, k = self.n, self.k
        b = NetworkBuilder(n * n)
        A = [[b.input(i * n + j) for j in range(n)] for i in range(n)]
        if k == 0:
            return b.realise([f for row in A for f in row], dtype=self.dtype)

        def half_three_minus(T):  # (3I - T)/2
            return [[-0.5 * T[i][j] + 1.5 * float(i == j) for j in range(n)] for i in range(n)]

        carry_A = [[Carry(A[i][j]) for j in range(n)] for i in range(n)] if k >= 2 else []
        flat_A = [c for row in carry_A for c in row]
        (Y,) = parallel_product_stage(b, [(A, half_three_minus(A), self.MY[0], self.N[0])], self.m[0], flat_A)
        Z = None
        for j in range(1, k):
            a, bj = self.m[2 * j - 1], self.m[2 * j]
            carry_Y = [[Carry(Y[i][l_]) for l_ in range(n)] for i in range(n)]
            if j == 1:
                Z = half_three_minus([[c.value for c in row] for row in carry_A])
                carries = flat_A + [c for row in carry_Y for c in row]
                (T,) = parallel_product_stage(b, [(Z, Y, self.MZ[j], self.MY[j])], a, carries)
                Z = half_three_minus([[c.value for c in row] for row in carry_A])
            else:
                carry_Z = [[Carry(Z[i][l_]) for l_ in range(n)] for i in range(n)]
                carries = [c for row in carry_Y for c in row] + [c for row in carry_Z for c in row]
                (T,) = parallel_product_stage(b, [(Z, Y, self.MZ[j], self.MY[j])], a, carries)
                Z = [[c.value for c in row] for row in carry_Z]
            Y = [[c.value for c in row] for row in carry_Y]
            W = half_three_minus(T)
            jobs = [(Y, W, self.MY[j], self.N[j])]
            if j <= k - 2:
                jobs.append((W, Z, self.N[j], self.MZ[j]))
            out = parallel_product_stage(b, jobs, bj)
            Y, Z = out[0], (out[1] if j <= k - 2 else None)
        return b.realise([f for row in Y for f in row], dtype=self.dtype)

    def extra_repr(self) -> str:
        return f"n={self.n}, rho={self.rho:g}, k={self.k}, m={self.m}, eps={self.eps}"


def sqrt_network(
    n: int, eps: float, rho: float, norm: str = "fro", dtype: torch.dtype = torch.float64
) -> SqrtNetwork:
    """The network ``bounds.sqrt.choose_sqrt(n, eps, rho, norm)`` describes, with its constants.

    Guarantee (docs/sqrt_network.md, Theorem Q): ``sup ||Phi(A) - A^(1/2)|| <= eps`` (principal square
    root) over ``||I - A||_2 <= rho``, in exact arithmetic.
    """
    from bounds.sqrt import choose_sqrt  # bounds imports no torch

    c = choose_sqrt(n, eps, rho, norm)
    k = c.constants
    return SqrtNetwork(n, c.rho, c.m, k.MY, k.MZ, k.N, eps=eps, norm=norm, dtype=dtype, choice=c)


def reference_sqrt(A: np.ndarray, digits: int = 40) -> np.ndarray:
    """The principal square root per matrix of (k, n, n) by ``mpmath.sqrtm`` at ``digits`` digits
    (not scipy.linalg.sqrtm, whose Schur method loses accuracy on non-normal inputs)."""
    return mp_reference(mpmath.sqrtm, A, digits)


def newton_schulz_sqrt(A: torch.Tensor, steps: int = 60) -> torch.Tensor:
    """The exact coupled Newton-Schulz iteration in torch (differentiable; converges on ||I - A||_2 < 1).
    Used only to steer the adversarial ascent, never as the reference."""
    eye = torch.eye(A.shape[-1], dtype=A.dtype, device=A.device)
    Y, Z = A, eye.expand_as(A)
    for _ in range(steps):
        W = 1.5 * eye - 0.5 * Z @ Y
        Y, Z = Y @ W, W @ Z
    return Y


def check_sqrt_network(
    net: SqrtNetwork,
    count: int = 100,
    seed: int = 0,
    adversarial_starts: int = 4,
    adversarial_steps: int = 20,
) -> CheckResult:
    """Worst error of ``net`` on random, boundary, symmetric, non-normal, structured and adversarial
    inputs of ``||I - A||_2 <= rho`` (``near_identity.check_near_identity_network``), against
    ``mpmath.sqrtm`` at 40 digits."""
    return check_near_identity_network(
        net,
        reference_sqrt,
        newton_schulz_sqrt,
        "mpmath.sqrtm (40 digits)",
        count=count,
        seed=seed,
        adversarial_starts=adversarial_starts,
        adversarial_steps=adversarial_steps,
    )
