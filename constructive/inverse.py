"""A ReLU network for the matrix inverse: the factored Neumann series with Lemma 3 products.

Domain ``{A: ||I - A||_2 <= rho}``, ``0 <= rho < 1``. With ``X = I - A`` the network computes
``P_k = (I + X)(I + X^2) ... (I + X^(2^(k-1)))`` (docs/inverse_network.md): ``P~_1 = 2I - A`` is affine;
stage s = 1..k squares ``Z~_s = Pi_sq(Z~_{s-1})`` (s <= k - 1, ``Z~_0 = X``, range ``M_{s-1}``) and, side
by side in the same layers, multiplies ``P~_s = Pi(P~_{s-1}, I + Z~_{s-1})`` (s >= 2, ranges
``(U_{s-1}, V_{s-1})``); A is carried through stage 1. Lemmas I1-I2 bound the error;
``bounds.inverse.choose_inverse`` picks k and m.
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

__all__ = ["InverseNetwork", "inverse_network", "reference_inverse", "check_inverse_network"]


class InverseNetwork(ExpNetworkBase):
    """ReLU network approximating A^-1 on ``||I - A||_2 <= rho`` by k Neumann factors.

    Args:
        n: matrix size.
        rho: the domain ``||I - A||_2 <= rho < 1``.
        m: layers per stage ``(m_1, ..., m_k)`` (k = len(m); empty: k = 1, the affine map 2I - A).
        M: entry ranges of Z~_0..Z~_{k-2} (the squarings); U, V: entry ranges of P~_t and I + Z~_t
            for t = 1..k-1 (the products), as ``bounds.inverse.InverseConstants`` (index 0 unused).
        eps: the guaranteed error in ``norm`` (optional; ``certify`` needs it).

    ``forward`` checks the domain (DomainError); ``structured`` is the same arithmetic, batched;
    ``to_relu_network`` the explicit network.
    """

    function = "inverse"

    def __init__(
        self,
        n: int,
        rho: float,
        m: tuple[int, ...] = (),
        M: tuple[float, ...] = (),
        U: tuple[float, ...] = (),
        V: tuple[float, ...] = (),
        *,
        eps: float | None = None,
        norm: str = "fro",
        dtype: torch.dtype = torch.float64,
        choice=None,
    ):
        super().__init__()
        k = max(len(m), 1)
        if n < 1 or not 0 <= rho < 1:
            raise ValueError(f"need n >= 1 and 0 <= rho < 1; got n={n}, rho={rho}")
        if len(m) == 1 or any(v < 1 for v in m):
            raise ValueError(f"m must hold k >= 2 integers >= 1 (or none for k = 1), got {m!r}")
        if k >= 2 and (len(M) < k - 1 or len(U) < k or len(V) < k):
            raise ValueError(f"need ranges M_0..M_(k-2) and U_t, V_t for t < k = {k}")
        self._setup(n, 1.0 + rho, eps, norm, dtype, choice)
        self.rho, self.k = float(rho), k
        self.m = tuple(int(v) for v in m)
        self.M = tuple(float(v) for v in M)
        self.U = tuple(float(v) for v in U)
        self.V = tuple(float(v) for v in V)

    def forward(self, A) -> torch.Tensor:
        """Phi(A) for A of shape (..., n, n) with ``||I - A||_2 <= rho`` (DomainError otherwise)."""
        return self.structured(check_near_identity(A, self.n, self.rho, self.dtype))

    def structured(self, A: torch.Tensor) -> torch.Tensor:
        """The network's output for A of shape (..., n, n), by batched tensor ops (no checks)."""
        A = A.to(self.dtype)
        eye = torch.eye(self.n, dtype=A.dtype, device=A.device)
        Z, P = eye - A, 2 * eye - A
        for s in range(1, self.k + 1):
            ms = self.m[s - 1]
            Z_next = matmul_structured(Z, Z, self.M[s - 1], self.M[s - 1], ms) if s <= self.k - 1 else None
            if s >= 2:
                P = matmul_structured(P, eye + Z, self.U[s - 1], self.V[s - 1], ms)
            Z = Z_next
        return P

    def _build(self) -> ReluNetwork:
        n, k = self.n, self.k
        b = NetworkBuilder(n * n)
        A = [[b.input(i * n + j) for j in range(n)] for i in range(n)]
        if k == 1:
            return b.realise([2.0 * float(i == j) - A[i][j] for i in range(n) for j in range(n)], self.dtype)
        Z = [[float(i == j) - A[i][j] for j in range(n)] for i in range(n)]
        carry = [[Carry(A[i][j]) for j in range(n)] for i in range(n)]
        (Z,) = parallel_product_stage(
            b, [(Z, None, self.M[0], self.M[0])], self.m[0], [c for row in carry for c in row]
        )
        P = [[2.0 * float(i == j) - carry[i][j].value for j in range(n)] for i in range(n)]
        for s in range(2, k + 1):
            IZ = [[Z[i][j] + float(i == j) for j in range(n)] for i in range(n)]
            jobs = [(P, IZ, self.U[s - 1], self.V[s - 1])]
            if s <= k - 1:
                jobs.append((Z, None, self.M[s - 1], self.M[s - 1]))
            out = parallel_product_stage(b, jobs, self.m[s - 1])
            P = out[0]
            Z = out[1] if s <= k - 1 else None
        return b.realise([f for row in P for f in row], dtype=self.dtype)

    def extra_repr(self) -> str:
        return f"n={self.n}, rho={self.rho:g}, k={self.k}, m={self.m}, eps={self.eps}"


def inverse_network(
    n: int, eps: float, rho: float, norm: str = "fro", dtype: torch.dtype = torch.float64
) -> InverseNetwork:
    """The network ``bounds.inverse.choose_inverse(n, eps, rho, norm)`` describes, with its constants.

    Guarantee (docs/inverse_network.md, Theorem I): ``sup ||Phi(A) - A^-1|| <= eps`` over
    ``||I - A||_2 <= rho``, in exact arithmetic.
    """
    from bounds.inverse import choose_inverse  # bounds imports no torch

    c = choose_inverse(n, eps, rho, norm)
    k = c.constants
    return InverseNetwork(n, c.rho, c.m, k.M, k.U, k.V, eps=eps, norm=norm, dtype=dtype, choice=c)


def reference_inverse(A: np.ndarray, digits: int | None = None) -> np.ndarray:
    """A^-1 per matrix of (k, n, n): ``numpy.linalg.inv`` (digits=None; the condition number is at
    most (1 + rho) / (1 - rho) on the domain) or mpmath at ``digits`` digits."""
    if digits is None:
        return np.linalg.inv(A)
    return mp_reference(mpmath.inverse, A, digits)


def check_inverse_network(
    net: InverseNetwork,
    count: int = 100,
    seed: int = 0,
    adversarial_starts: int = 4,
    adversarial_steps: int = 20,
) -> CheckResult:
    """Worst error of ``net`` on random, boundary, symmetric, non-normal, structured and adversarial
    inputs of ``||I - A||_2 <= rho`` (``near_identity.check_near_identity_network``), against
    ``numpy.linalg.inv`` (mpmath at 40 digits below eps = 1e-9)."""
    digits = 40 if net.eps is not None and net.eps < 1e-9 else None
    return check_near_identity_network(
        net,
        lambda A: reference_inverse(A, digits),
        torch.linalg.inv,
        "mpmath.inverse (40 digits)" if digits else "numpy.linalg.inv",
        count=count,
        seed=seed,
        adversarial_starts=adversarial_starts,
        adversarial_steps=adversarial_steps,
    )
