"""A ReLU network for the matrix power A^k (k >= 2) on ``||A||_2 <= r``: binary powering.

Left-to-right binary powering (docs/power_network.md): X~_0 = A; for each bit of k after the
leading one, a squaring stage ``X~ <- Pi_sq(X~)`` (Lemma 3, squaring variant, range nu_t) and, if
the bit is 1, a product stage ``X~ <- Pi(X~, A)`` (Lemma 3, ranges (nu_t, r)); A is carried to the
last product. Lemma P1 bounds the error; ``bounds.power.choose_power`` picks the layers.
"""

from __future__ import annotations

import numpy as np
import torch

from .builder import Carry, NetworkBuilder
from .check import CheckResult, mp_reference
from .exact import REFERENCES
from .exp_nets import ExpNetworkBase
from .matmul import matmul_structured, product_stage
from .relu_network import ReluNetwork

__all__ = ["PowerNetwork", "power_network", "reference_power", "check_power_network"]


class PowerNetwork(ExpNetworkBase):
    """ReLU network approximating A^k on ``{A in R^{n x n}: ||A||_2 <= r}`` (docs/power_network.md).

    Args:
        n, r, k: matrix size, radius, power (k >= 2).
        m: layers per stage, one per operation of ``bounds.power.power_schedule(k)``.
        nu: (nu_0..nu_N) of Lemma P1; stage t uses ranges (nu_t, nu_t) ("S") or (nu_t, r) ("M").
        eps: the guaranteed error (optional; ``certify`` needs it).

    ``forward`` checks ``||A||_2 <= r`` (DomainError); ``structured`` is the batched arithmetic;
    ``to_relu_network`` the explicit network whose counts equal ``bounds.power.power_counts``.
    """

    def __init__(self, n, r, k, m, nu, *, eps=None, norm="fro", dtype=torch.float64, choice=None):
        super().__init__()
        from bounds.power import power_schedule

        self.ops = power_schedule(k)
        if n < 1 or r <= 0:
            raise ValueError(f"need n >= 1, r > 0; got n={n}, r={r}")
        if len(m) != len(self.ops) or any(v < 1 for v in m) or len(nu) != len(self.ops) + 1:
            raise ValueError(
                f"need {len(self.ops)} layer counts m_t >= 1 and {len(self.ops) + 1} ranges nu_t"
            )
        self._setup(n, r, eps, norm, dtype, choice)
        self.k, self.m, self.nu = int(k), tuple(int(v) for v in m), tuple(float(v) for v in nu)
        #: f's name for ``certify_exact``: "pow:k", registered with its mpmath reference A -> A^k.
        self.function = f"pow:{self.k}"
        REFERENCES.setdefault(self.function, lambda A, k=self.k: A**k)

    def structured(self, A: torch.Tensor) -> torch.Tensor:
        """The network's output for A of shape (..., n, n), by batched tensor ops (no checks)."""
        A = A.to(self.dtype)
        X = A
        for op, mt, nut in zip(self.ops, self.m, self.nu, strict=False):
            if op == "S":
                X = matmul_structured(X, X, nut, nut, mt)
            else:
                X = matmul_structured(X, A, nut, self.r, mt)
        return X

    def _build(self) -> ReluNetwork:
        n = self.n
        b = NetworkBuilder(n * n)
        A = [[b.input(i * n + j) for j in range(n)] for i in range(n)]
        last_mul = max((t for t, op in enumerate(self.ops) if op == "M"), default=-1)
        carry = [[Carry(A[i][j]) for j in range(n)] for i in range(n)] if last_mul > 0 else None
        X = A
        for t, (op, mt, nut) in enumerate(zip(self.ops, self.m, self.nu, strict=False)):
            active = [c for row in carry for c in row] if carry and t < last_mul else []
            if op == "S":
                X = product_stage(b, X, None, nut, nut, mt, active)
            else:
                Ac = A if carry is None else [[c.value for c in row] for row in carry]
                X = product_stage(b, X, Ac, nut, self.r, mt, active)
        return b.realise([f for row in X for f in row], dtype=self.dtype)

    def extra_repr(self) -> str:
        return f"n={self.n}, r={self.r:g}, k={self.k}, ops={''.join(self.ops)}, m={self.m}, eps={self.eps}"


def power_network(
    n: int, eps: float, r: float, k: int, norm: str = "fro", dtype=torch.float64
) -> PowerNetwork:
    """The network ``bounds.power.choose_power(n, eps, r, k, norm)`` describes, with its constants.

    Guarantee (docs/power_network.md, Theorem P): ``sup_{||A||_2 <= r} ||Phi(A) - A^k|| <= eps``
    in exact arithmetic (Frobenius, hence spectral)."""
    from bounds.power import choose_power  # bounds imports no torch

    c = choose_power(n, eps, r, k, norm)
    return PowerNetwork(n, c.r, c.k, c.m, c.nu, eps=eps, norm=norm, dtype=dtype, choice=c)


def reference_power(k: int):
    """``(A, digits) -> A^k`` per matrix: ``numpy.linalg.matrix_power`` or mpmath at ``digits``."""

    def ref(A: np.ndarray, digits: int | None) -> np.ndarray:
        if digits is None:
            return np.linalg.matrix_power(A, k)
        return mp_reference(lambda M: M**k, A, digits)

    return ref


def check_power_network(net: PowerNetwork, count: int = 200, seed: int = 0) -> CheckResult:
    """Worst error of ``net`` (``constructive.ball_check``) against ``numpy.linalg.matrix_power``."""
    from .ball_check import check_ball_network

    return check_ball_network(
        net,
        reference_power(net.k),
        lambda A: torch.linalg.matrix_power(A, net.k),
        count=count,
        seed=seed,
        reference_name="numpy.linalg.matrix_power",
    )
