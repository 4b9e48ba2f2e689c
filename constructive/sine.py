"""ReLU networks for sin and sinh on ``||A||_2 <= r``: Taylor at B = A/2^s, double angles.

docs/sin_network.md.

C~ = Pi_sq(B) (Lemma 3, squaring variant, range r_s; B carried alongside). Sine chain:
``P~_{J-1} = I + sigma C~/(2J(2J+1))``, ``P~_{k-1} = I + sigma Pi(C~, P~_k)/(2k(2k+1))`` (ranges
(gamma, mu'_k)), then ``S~_0 = Pi(B, P~_0)`` (ranges (r_s, mu'_0)); sigma = -1 for sin, +1 for sinh.
If s >= 1 the cosine chain ``Q~_J = I + sigma C~/((2J+1)(2J+2))``, ``Q~_{k-1} = I + sigma
Pi(C~, Q~_k)/((2k-1)2k)`` runs in the same layers, and double angle j forms in the same layers
``S~_j = 2 Pi(S~_{j-1}, Y~_{j-1})`` and (j < s) ``Y~_j = 2 Pi_sq(Y~_{j-1}) - I`` (Y~_0 = Q~_0).
Lemmas T3-T4 bound the error; ``bounds.sine.choose_sine`` picks (s, J, m).
"""

from __future__ import annotations

import mpmath
import scipy.linalg
import torch

from .builder import Carry, Form, NetworkBuilder
from .check import CheckResult
from .exact import REFERENCES
from .exp_nets import ExpNetworkBase
from .matmul import matmul_structured, parallel_product_stage
from .relu_network import ReluNetwork

__all__ = ["SinNetwork", "sine_network", "reference_sine", "check_sine_network", "parallel_product_stage"]

_SIGMA = {"sin": -1.0, "sinh": 1.0}
Matrix = list[list[Form]]


def _mp_sinh(A):
    return (mpmath.expm(A) - mpmath.expm(-A)) / 2


REFERENCES.setdefault("sin", mpmath.sinm)
REFERENCES.setdefault("sinh", _mp_sinh)


class SinNetwork(ExpNetworkBase):
    """ReLU network approximating sin (``function="sin"``) or sinh on ``{||A||_2 <= r}``.

    Args:
        function: "sin" or "sinh".
        n, r: matrix size and radius.
        J: Taylor stages after the squaring (>= 1; sine degree 2J + 1); s: double angles (``len(m) - 1``).
        m: ``(m_0, m_1, ..., m_s)`` layers per Taylor product / per double angle.
        gamma: range of C~; mu_sin: ranges mu'_k of P~_k, k = 0..J-1; mu_cos: ranges mu_k of Q~_k,
            k = 1..J (only used if s >= 1); MS, MY: ranges of S~_{j-1}, Y~_{j-1} in double angle j
            (Lemmas T3-T4, ``bounds.sine.sine_constants``).
        eps: the guaranteed error in ``norm`` (optional; ``certify`` needs it).

    Guarantee (Theorem N): with the ranges of ``bounds.sine.sine_constants(n, r, s, J, m, norm)``,
    ``||Phi(A) - f(A)|| <= dS[-1]`` for every ``||A||_2 <= r`` in exact arithmetic.
    ``forward`` checks ``||A||_2 <= r`` (DomainError); ``structured`` is the batched arithmetic;
    ``to_relu_network`` the explicit network whose counts equal ``bounds.sine.sine_counts``.
    """

    def __init__(
        self,
        function,
        n,
        r,
        J,
        m,
        gamma,
        mu_sin,
        mu_cos,
        MS,
        MY,
        *,
        eps=None,
        norm="fro",
        dtype=torch.float64,
        choice=None,
    ):
        super().__init__()
        if function not in _SIGMA:
            raise ValueError(f"function must be 'sin' or 'sinh', got {function!r}")
        s = len(m) - 1
        if n < 1 or r <= 0 or J < 1 or s < 0 or any(v < 1 for v in m):
            raise ValueError(f"need n >= 1, r > 0, J >= 1, m_j >= 1; got n={n}, r={r}, J={J}, m={m}")
        if any(k not in mu_sin for k in range(J)):
            raise ValueError("need mu_sin[k] for k = 0..J-1")
        if s >= 1 and (len(MS) != s or len(MY) != s or any(k not in mu_cos for k in range(1, J + 1))):
            raise ValueError("with s >= 1 need MS, MY of length s and mu_cos[k] for k = 1..J")
        self._setup(n, r, eps, norm, dtype, choice)
        self.function, self.sigma = function, _SIGMA[function]
        self.J, self.s, self.m = int(J), s, tuple(int(v) for v in m)
        self.gamma = float(gamma)
        self.mu_sin = {k: float(mu_sin[k]) for k in range(J)}
        self.mu_cos = {k: float(mu_cos[k]) for k in range(1, J + 1)} if s else {}
        self.MS, self.MY = tuple(map(float, MS[:s])), tuple(map(float, MY[:s]))
        self.r_s = self.r / 2**s

    def structured(self, A: torch.Tensor) -> torch.Tensor:
        """The network's output for A of shape (..., n, n), by batched tensor ops (no checks)."""
        B = A.to(self.dtype) * 2.0**-self.s
        eye = torch.eye(self.n, dtype=B.dtype, device=B.device)
        m0, J, sg = self.m[0], self.J, self.sigma
        C = matmul_structured(B, B, self.r_s, self.r_s, m0)
        P = eye + sg * C / (2 * J * (2 * J + 1))
        for k in range(J - 1, 0, -1):
            P = eye + sg * matmul_structured(C, P, self.gamma, self.mu_sin[k], m0) / (2 * k * (2 * k + 1))
        S = matmul_structured(B, P, self.r_s, self.mu_sin[0], m0)
        if self.s == 0:
            return S
        Y = eye + sg * C / ((2 * J + 1) * (2 * J + 2))
        for k in range(J, 0, -1):
            Y = eye + sg * matmul_structured(C, Y, self.gamma, self.mu_cos[k], m0) / ((2 * k - 1) * 2 * k)
        for j, (Ms, My, mj) in enumerate(zip(self.MS, self.MY, self.m[1:], strict=True), start=1):
            S, Y = (
                2.0 * matmul_structured(S, Y, Ms, My, mj),
                2.0 * matmul_structured(Y, Y, My, My, mj) - eye if j < self.s else None,
            )
        return S

    def _build(self) -> ReluNetwork:
        n, J, m0, sg, s = self.n, self.J, self.m[0], self.sigma, self.s
        b = NetworkBuilder(n * n)
        scale = 2.0**-s
        B = [[b.input(i * n + j) * scale for j in range(n)] for i in range(n)]

        def plus_identity(P: Matrix, c: float) -> Matrix:
            return [[c * P[i][j] + float(i == j) for j in range(n)] for i in range(n)]

        def values(carry: list[list[Carry]]) -> Matrix:
            return [[c.value for c in row] for row in carry]

        B_carry = [[Carry(B[i][j]) for j in range(n)] for i in range(n)]
        B_flat = [c for row in B_carry for c in row]
        (C,) = parallel_product_stage(b, [(B, None, self.r_s, self.r_s)], m0, B_flat)
        P = plus_identity(C, sg / (2 * J * (2 * J + 1)))
        Y = plus_identity(C, sg / ((2 * J + 1) * (2 * J + 2))) if s else None
        last_c_stage = J if s else J - 1  # the last stage whose first layer reads C~
        C_carry = [[Carry(C[i][j]) for j in range(n)] for i in range(n)] if last_c_stage >= 2 else None
        C_flat = [c for row in C_carry for c in row] if C_carry else []
        for t in range(1, J + 1):  # stage t forms P~_{J-1-t} (or S~_0 at t = J) and Q~_{J-t}
            X = C if t == 1 else (values(C_carry) if C_carry else None)
            k = J - t
            products = []
            if t < J:
                products.append((X, P, self.gamma, self.mu_sin[k]))
            else:
                products.append((values(B_carry), P, self.r_s, self.mu_sin[0]))
            if s:
                products.append((X, Y, self.gamma, self.mu_cos[k + 1]))
            carries = (B_flat if t < J else []) + (C_flat if t < last_c_stage else [])
            out = parallel_product_stage(b, products, m0, carries)
            P = plus_identity(out[0], sg / (2 * k * (2 * k + 1))) if t < J else out[0]
            if s:
                Y = plus_identity(out[1], sg / ((2 * k + 1) * (2 * k + 2)))
        S = P
        for j, (Ms, My, mj) in enumerate(zip(self.MS, self.MY, self.m[1:], strict=True), start=1):
            products = [(S, Y, Ms, My)] + ([(Y, None, My, My)] if j < s else [])
            out = parallel_product_stage(b, products, mj)
            S = [[2.0 * f for f in row] for row in out[0]]
            if j < s:
                Y = [[2.0 * out[1][i][j_] - float(i == j_) for j_ in range(n)] for i in range(n)]
        return b.realise([f for row in S for f in row], dtype=self.dtype)

    def extra_repr(self) -> str:
        return (
            f"{self.function}, n={self.n}, r={self.r:g}, J={self.J}, s={self.s}, m={self.m}, eps={self.eps}"
        )


def sine_network(function: str, n: int, eps: float, r: float, norm: str = "fro", dtype=torch.float64):
    """The network ``bounds.sine.choose_sine(function, n, eps, r, norm)`` describes.

    Guarantee (docs/sin_network.md, Theorem N): ``sup_{||A||_2 <= r} ||Phi(A) - f(A)|| <= eps``
    (f = sin or sinh) in exact arithmetic, in the chosen norm."""
    from bounds.sine import choose_sine  # bounds imports no torch

    c = choose_sine(function, n, eps, r, norm)
    k = c.constants
    return SinNetwork(
        function,
        n,
        c.r,
        c.J,
        c.m,
        k.gamma,
        k.mu_sin,
        k.mu_cos,
        k.MS,
        k.MY,
        eps=eps,
        norm=norm,
        dtype=dtype,
        choice=c,
    )


def reference_sine(function: str):
    """``(A, digits) -> f(A)`` per matrix: ``scipy.linalg.sinm/sinhm`` or mpmath at ``digits``."""
    from .ball_check import scipy_reference

    sp_f = {"sin": scipy.linalg.sinm, "sinh": scipy.linalg.sinhm}[function]
    return scipy_reference(function, sp_f)


def _surrogate(function: str):
    def sin(A):
        return torch.linalg.matrix_exp(1j * A.to(torch.complex128)).imag

    def sinh(A):
        return 0.5 * (torch.linalg.matrix_exp(A) - torch.linalg.matrix_exp(-A))

    return {"sin": sin, "sinh": sinh}[function]


def check_sine_network(net: SinNetwork, count: int = 200, seed: int = 0) -> CheckResult:
    """Worst error of ``net`` (``constructive.ball_check``) against scipy.linalg.sinm / sinhm."""
    from .ball_check import check_ball_network

    return check_ball_network(
        net,
        reference_sine(net.function),
        _surrogate(net.function),
        count=count,
        seed=seed,
        reference_name=f"scipy.linalg.{net.function}m",
    )
