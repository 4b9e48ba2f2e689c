"""ReLU networks for cos and cosh on ``||A||_2 <= r``: Taylor in B^2 at B = A/2^s, double angles.

docs/trig_network.md: C~ = Pi_sq(B) (Lemma 3, squaring variant, range r_s), the Horner recursion
``Q~_{k-1} = I + sigma Pi(C~, Q~_k)/((2k-1)2k)`` from ``Q~_{J-1} = I + sigma C~/((2J-1)2J)`` (ranges
(gamma, mu_k); sigma = -1 for cos, +1 for cosh; C~ carried), then s double angles
``Y~_j = 2 Pi_sq(Y~_{j-1}) - I`` (range M_j). Lemmas T1-T2 bound the error; ``bounds.trig.choose_trig``
picks (s, J, m).
"""

from __future__ import annotations

import mpmath
import scipy.linalg
import torch

from .builder import Carry, Form, NetworkBuilder
from .check import CheckResult
from .exact import REFERENCES
from .exp_nets import ExpNetworkBase
from .matmul import matmul_structured, product_stage
from .relu_network import ReluNetwork

__all__ = ["CosNetwork", "trig_network", "reference_trig", "check_trig_network"]

_SIGMA = {"cos": -1.0, "cosh": 1.0}


def _mp_cosh(A):
    return (mpmath.expm(A) + mpmath.expm(-A)) / 2


REFERENCES.setdefault("cos", mpmath.cosm)
REFERENCES.setdefault("cosh", _mp_cosh)


class CosNetwork(ExpNetworkBase):
    """ReLU network approximating cos (``function="cos"``) or cosh on ``{||A||_2 <= r}``.

    Args:
        function: "cos" or "cosh".
        n, r: matrix size and radius.
        J: Horner degree in B^2 (>= 1); s: double angles (``len(m) - 1``).
        m: ``(m_0, m_1, ..., m_s)`` layers per Taylor product / per double angle.
        gamma, mu: ranges of C~ and of Q~_k (k = 1..J-1) (Lemma T1); M: ranges M_1..M_s (Lemma T2).
        eps: the guaranteed error in ``norm`` (optional; ``certify`` needs it).

    ``forward`` checks ``||A||_2 <= r`` (DomainError); ``structured`` is the batched arithmetic;
    ``to_relu_network`` the explicit network whose counts equal ``bounds.trig.cos_counts``.
    """

    def __init__(
        self, function, n, r, J, m, gamma, mu, M, *, eps=None, norm="fro", dtype=torch.float64, choice=None
    ):
        super().__init__()
        if function not in _SIGMA:
            raise ValueError(f"function must be 'cos' or 'cosh', got {function!r}")
        s = len(m) - 1
        if n < 1 or r <= 0 or J < 1 or s < 0 or any(v < 1 for v in m):
            raise ValueError(f"need n >= 1, r > 0, J >= 1, m_j >= 1; got n={n}, r={r}, J={J}, m={m}")
        if len(M) != s or any(k not in mu for k in range(1, J)):
            raise ValueError("need one range M_j per double angle and mu_k for k = 1..J-1")
        self._setup(n, r, eps, norm, dtype, choice)
        self.function, self.sigma = function, _SIGMA[function]
        self.J, self.s, self.m = int(J), s, tuple(int(v) for v in m)
        self.gamma, self.mu, self.M = (
            float(gamma),
            {k: float(mu[k]) for k in range(1, J)},
            tuple(map(float, M)),
        )
        self.r_s = self.r / 2**s

    def structured(self, A: torch.Tensor) -> torch.Tensor:
        """The network's output for A of shape (..., n, n), by batched tensor ops (no checks)."""
        B = A.to(self.dtype) * 2.0**-self.s
        eye = torch.eye(self.n, dtype=B.dtype, device=B.device)
        m0, J, sg = self.m[0], self.J, self.sigma
        C = matmul_structured(B, B, self.r_s, self.r_s, m0)
        Y = eye + sg * C / ((2 * J - 1) * 2 * J)
        for k in range(J - 1, 0, -1):
            Y = eye + sg * matmul_structured(C, Y, self.gamma, self.mu[k], m0) / ((2 * k - 1) * 2 * k)
        for Mj, mj in zip(self.M, self.m[1:], strict=True):
            Y = 2.0 * matmul_structured(Y, Y, Mj, Mj, mj) - eye
        return Y

    def _build(self) -> ReluNetwork:
        n, J, m0, sg = self.n, self.J, self.m[0], self.sigma
        b = NetworkBuilder(n * n)
        scale = 2.0**-self.s
        B = [[b.input(i * n + j) * scale for j in range(n)] for i in range(n)]

        def plus_identity(P: list[list[Form]], c: float) -> list[list[Form]]:
            return [[c * P[i][j] + float(i == j) for j in range(n)] for i in range(n)]

        C = product_stage(b, B, None, self.r_s, self.r_s, m0)
        Y = plus_identity(C, sg / ((2 * J - 1) * 2 * J))
        carries = [[Carry(C[i][j]) for j in range(n)] for i in range(n)] if J >= 3 else None
        for t in range(1, J):  # stage t forms Q~_{k-1}, k = J - t
            k = J - t
            X = C if t == 1 else [[c.value for c in row] for row in carries]
            active = [c for row in carries for c in row] if carries and t <= J - 2 else []
            P = product_stage(b, X, Y, self.gamma, self.mu[k], m0, active)
            Y = plus_identity(P, sg / ((2 * k - 1) * 2 * k))
        for Mj, mj in zip(self.M, self.m[1:], strict=True):
            P = product_stage(b, Y, None, Mj, Mj, mj)
            Y = [[2.0 * P[i][j] - float(i == j) for j in range(n)] for i in range(n)]
        return b.realise([f for row in Y for f in row], dtype=self.dtype)

    def extra_repr(self) -> str:
        return (
            f"{self.function}, n={self.n}, r={self.r:g}, J={self.J}, s={self.s}, m={self.m}, eps={self.eps}"
        )


def trig_network(function: str, n: int, eps: float, r: float, norm: str = "fro", dtype=torch.float64):
    """The network ``bounds.trig.choose_trig(function, n, eps, r, norm)`` describes.

    Guarantee (docs/trig_network.md, Theorem T): ``sup_{||A||_2 <= r} ||Phi(A) - f(A)|| <= eps``
    (f = cos or cosh) in exact arithmetic, in the chosen norm."""
    from bounds.trig import choose_trig  # bounds imports no torch

    c = choose_trig(function, n, eps, r, norm)
    k = c.constants
    return CosNetwork(
        function, n, c.r, c.J, c.m, k.gamma, k.mu, k.M, eps=eps, norm=norm, dtype=dtype, choice=c
    )


def reference_trig(function: str):
    """``(A, digits) -> f(A)`` per matrix: ``scipy.linalg.cosm/coshm`` or mpmath at ``digits``."""
    from .ball_check import scipy_reference

    sp_f = {"cos": scipy.linalg.cosm, "cosh": scipy.linalg.coshm}[function]
    return scipy_reference(function, sp_f)


def _surrogate(function: str):
    def cos(A):
        return torch.linalg.matrix_exp(1j * A.to(torch.complex128)).real

    def cosh(A):
        return 0.5 * (torch.linalg.matrix_exp(A) + torch.linalg.matrix_exp(-A))

    return {"cos": cos, "cosh": cosh}[function]


def check_trig_network(net: CosNetwork, count: int = 200, seed: int = 0) -> CheckResult:
    """Worst error of ``net`` (``constructive.ball_check``) against scipy.linalg.cosm / coshm."""
    from .ball_check import check_ball_network

    return check_ball_network(
        net,
        reference_trig(net.function),
        _surrogate(net.function),
        count=count,
        seed=seed,
        reference_name=f"scipy.linalg.{net.function}m",
    )
