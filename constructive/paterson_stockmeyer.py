"""Method PS: the Taylor polynomial T_K(A) by Paterson and Stockmeyer's scheme as a ReLU network.

Paterson & Stockmeyer (1973, SIAM J. Comput. 2(1), 60-66, "method (B)") evaluate a degree-K
polynomial with about 2 sqrt(K) nonscalar products: with a block size p and q = ceil(K/p),

    T_K(A) = sum_{b=0}^{q-1} C_b(A) (A^p)^b,   C_b = sum_{l=0}^{p-1} c_{bp+l} A^l  (b < q-1),
    C_{q-1} = sum_{l=0}^{kappa} c_{(q-1)p+l} A^l,   kappa = K - (q-1)p in [1, p],   c_i = 1/i!,

by first forming the powers P_t = A^t (t <= p, p - 1 products) and then the Horner recursion
R_{q-1} = C_{q-1}, R_b = C_b + A^p R_{b+1} in A^p (q - 1 products); R_0 = T_K(A).

The network (THEORY.md section 7) replaces every product by Lemma 3's product network with the
a-priori ranges of Lemma 6: power stage t (forming P~_{t+1} = Pi(A, P~_t)) uses
``(Mx, My) = (r, nu_t)`` and, for t = 1, the squaring variant with ``M = nu_1 = r``; Horner stage
h = 1..q-1 (b = q-1-h, forming R~_b = C~_b + Pi(P~_p, R~_{b+1})) uses ``(nu_p, M^(h))``. The
polynomials C~_b are affine in carried units. Carries (pitfall 3): A, P~_2..P~_{p-1} from their
creation to the output (C_0 reads them), P~_p through Horner stages 1..q-2. Lemma 6 then gives
``||Phi_PS(A) - e^A||_F <= sqrt(n) tau_K(r) + delta_0`` on ``||A||_2 <= r``.

p = 1 is Method H with R_b = Q_b / b!: the same units, the same counts and (up to rounding) the
same function as :class:`~constructive.exp_nets.ExpNetwork` with s = 0.
"""

from __future__ import annotations

import math

import torch

from .builder import Carry, Form, NetworkBuilder
from .matmul import matmul_structured, product_stage
from .network_base import ExpNetworkBase
from .relu_network import ReluNetwork

__all__ = ["PatersonStockmeyerNetwork", "taylor_coefficients"]

Matrix = list[list[Form]]


def taylor_coefficients(K: int) -> list[float]:
    """``c_i = 1/i!`` for i = 0..K as float64 (each the float nearest 1/i!; these are the weights)."""
    return [1.0 / math.factorial(i) for i in range(K + 1)]


class PatersonStockmeyerNetwork(ExpNetworkBase):
    """The PS network of THEORY.md section 7 for exp on ``{A in R^{n x n}: ||A||_2 <= r}``.

    Args:
        n: matrix size.
        r: radius of the domain.
        K: Taylor degree (K <= 1 gives the affine, exact network ``I + K A``, depth 0).
        p: block size, ``1 <= p <= K - 1`` (p = 1 is Method H).
        m: hidden layers per product (one m for every stage, Rule PS).
        nu: ``(nu_1, ..., nu_p)``, Lemma 6's bounds on ``||P~_t||_2`` (``nu_1 = r``).
        M: ``(M^(1), ..., M^(q-1))``, Lemma 6's entry bounds of ``R~_{b+1}`` in Horner stage h.
        eps: the guaranteed error in ``norm`` (optional; the oracle calls need it).

    Counts: depth ``(p + q - 2) m``, width ``8n^3 + 2n^2 (p - 1 + [q >= 3])`` and the params of
    THEORY.md section 7 (``bounds.paterson_stockmeyer_exp``), read off :meth:`to_relu_network`.
    ``forward`` checks its input (DomainError); ``structured`` is the same arithmetic, batched.
    """

    def __init__(
        self,
        n: int,
        r: float,
        K: int,
        p: int = 1,
        m: int = 0,
        nu: tuple[float, ...] = (),
        M: tuple[float, ...] = (),
        *,
        eps: float | None = None,
        norm: str = "fro",
        dtype: torch.dtype = torch.float64,
        choice=None,
    ):
        super().__init__()
        if n < 1 or r <= 0 or K < 0:
            raise ValueError(f"need n >= 1, r > 0, K >= 0; got n={n}, r={r}, K={K}")
        if K >= 2:
            if not 1 <= p <= K - 1:
                raise ValueError(f"the block size must satisfy 1 <= p <= K - 1 = {K - 1}, got p={p}")
            q = -(-K // p)
            if m < 1:
                raise ValueError(f"m (hidden layers per product) must be >= 1, got {m}")
            if len(nu) != p or len(M) != q - 1:
                raise ValueError(
                    f"need p = {p} bounds nu_1..nu_p and q - 1 = {q - 1} bounds M^(1)..M^(q-1); "
                    f"got {len(nu)} and {len(M)}"
                )
            if any(not v > 0 for v in (*nu, *M)) or nu[0] < r:
                raise ValueError("the ranges nu_t, M^(h) must be positive and nu_1 >= r (Lemma 6)")
        else:
            p, q, m, nu, M = 1, 1, 0, (), ()
        self._setup(n, r, eps, norm, dtype, choice)
        self.K, self.p, self.q, self.m = K, p, q, m
        self.kappa = K - (q - 1) * p if K >= 2 else 0
        self.nu = tuple(float(v) for v in nu)
        self.M = tuple(float(v) for v in M)
        self.c = taylor_coefficients(K)

    def _block_degree(self, b: int) -> int:
        """deg C_b: p - 1, except kappa for the top block b = q - 1."""
        return self.kappa if b == self.q - 1 else self.p - 1

    # -- the structured (batched) realisation -------------------------------------------------
    def structured(self, A: torch.Tensor) -> torch.Tensor:
        """The network's output for A of shape (..., n, n), by batched tensor ops (no checks)."""
        A = A.to(self.dtype)
        eye = torch.eye(self.n, dtype=A.dtype, device=A.device)
        K, p, q, m, c = self.K, self.p, self.q, self.m, self.c
        if K <= 1:
            return eye + K * A
        P = [eye, A]  # P[t] = P~_t, (..., n, n)
        for t in range(1, p):  # power stage t forms P~_{t+1}
            My = self.nu[t - 1]
            P.append(matmul_structured(A, P[t], My if t == 1 else self.r, My, m))

        def C(b: int) -> torch.Tensor:
            return sum(c[b * p + l_] * P[l_] for l_ in range(self._block_degree(b) + 1))

        R = C(q - 1)
        for h in range(1, q):  # Horner stage h forms R~_b
            b = q - 1 - h
            R = C(b) + matmul_structured(P[p], R, self.nu[p - 1], self.M[h - 1], m)
        return R

    # -- the explicit ReLU network ------------------------------------------------------------
    def _build(self) -> ReluNetwork:
        n, K, p, q, m, c = self.n, self.K, self.p, self.q, self.m, self.c
        b = NetworkBuilder(n * n)
        A = [[b.input(i * n + j) for j in range(n)] for i in range(n)]

        def combine(terms: list[tuple[float, Matrix]], const: float) -> Matrix:
            """sum_k w_k X_k + const I, entrywise (the forms share one level)."""
            out = []
            for i in range(n):
                row = []
                for j in range(n):
                    f = Form.constant(const * float(i == j), 0)
                    for w, X in terms:
                        f = f + w * X[i][j]
                    row.append(f)
                out.append(row)
            return out

        if K <= 1:
            Y = combine([(float(K), A)], 1.0)
            return b.realise([f for row in Y for f in row], dtype=self.dtype)

        # current[l]: forms of P~_l over the current last layer; carry[l]: its Carry, once carried.
        current: dict[int, Matrix] = {1: A}
        carry: dict[int, list[list[Carry]]] = {}

        def carried(ls) -> list[Carry]:
            """Start carrying P~_l (l in ls) if not yet carried; the flat list of their Carries."""
            out = []
            for l_ in ls:
                if l_ not in carry:
                    carry[l_] = [[Carry(current[l_][i][j]) for j in range(n)] for i in range(n)]
                out.extend(cr for row in carry[l_] for cr in row)
            return out

        def refresh() -> None:
            for l_, rows in carry.items():
                current[l_] = [[cr.value for cr in row] for row in rows]

        # Power stages t = 1..p-1: P~_{t+1} = Pi(A, P~_t); P~_1..P~_t are all needed later (C_0).
        for t in range(1, p):
            X, Y = current[1], current[t]
            My = self.nu[t - 1]
            active = carried(range(1, t + 1))
            if t == 1:
                out = product_stage(b, X, None, My, My, m, active)
            else:
                out = product_stage(b, X, Y, self.r, My, m, active)
            refresh()
            current[t + 1] = out

        def C(b_: int) -> Matrix:
            deg = self._block_degree(b_)
            return combine([(c[b_ * p + l_], current[l_]) for l_ in range(1, deg + 1)], c[b_ * p])

        # Horner stages h = 1..q-1 (b = q-1-h): R~_b = C~_b + Pi(P~_p, R~_{b+1}).
        R = C(q - 1)
        for h in range(1, q):
            b_ = q - 1 - h
            X = current[p]
            keep = list(range(1, p)) + ([p] if h <= q - 2 else [])
            active = carried(keep)
            out = product_stage(b, X, R, self.nu[p - 1], self.M[h - 1], m, active)
            refresh()
            R = combine([(1.0, out)], 0.0)
            R = [[R[i][j] + Cb for j, Cb in enumerate(row)] for i, row in enumerate(C(b_))]
        return b.realise([f for row in R for f in row], dtype=self.dtype)

    def extra_repr(self) -> str:
        return f"n={self.n}, r={self.r:g}, K={self.K}, p={self.p}, q={self.q}, m={self.m}, eps={self.eps}"
