"""ReLU networks for exp(A): Taylor polynomial by Horner (Method H) and scaling and squaring (SS).

Method H (THEORY.md section 5, Lemma 4): ``Q_{K-1} = I + A/K`` (affine, exact: the product with I is
skipped, pitfall 4), then ``Q_{k-1} = I + Pi^{(k)}(A, Q_k) / k`` for k = K-1..1 with Lemma 3 products
of ranges ``(Mx, My) = (r, mu_k)``; A is carried through the layers that still need it.

Method SS (section 6, Lemma 5): Method H on ``B = A / 2^s`` at radius ``r_s = r 2^-s`` (the scaling
is folded into the first-layer weights), then s squarings ``Y_j = Pi_sq^{(j)}(Y_{j-1})`` with range
``M_j = nu_{j-1}``. ``s = 0`` is Method H.

All ranges are a-priori constants from the recursions in :mod:`bounds`, never from data (pitfall 6).
"""

from __future__ import annotations

import torch

from .builder import Carry, Form, NetworkBuilder
from .matmul import matmul_structured, product_stage
from .network_base import ExpNetworkBase
from .oracle import check_dtype
from .relu_network import ReluNetwork

__all__ = ["ExpNetworkBase", "ExpNetwork", "exp_network", "METHODS", "ALL_METHODS"]

#: The paper's methods (as ``bounds.METHODS``), and every method built here (``bounds.ALL_METHODS``).
METHODS = ("horner", "scaling_squaring")
ALL_METHODS = (*METHODS, "paterson_stockmeyer")


class ExpNetwork(ExpNetworkBase):
    """A ReLU network approximating exp on ``{A in R^{n x n}: ||A||_2 <= r}``.

    Parameters follow THEORY.md: Taylor degree ``K``, ``m0`` layers per Taylor product, entry bounds
    ``mu[k]`` (k = 1..K-1, Lemma 4 at radius ``r / 2^s``), and per squaring j = 1..s its layers
    ``m_squarings[j-1]`` and range ``M[j-1]`` (Lemma 5). ``eps`` (optional) is the guaranteed error in
    the norm ``norm``; the oracle calls need it.

    ``forward`` checks its input (shape (..., n, n), finite, ``||A||_2 <= r``) and raises
    :class:`DomainError` otherwise; ``structured`` is the same arithmetic without the check.
    """

    def __init__(
        self,
        n: int,
        r: float,
        K: int,
        m0: int = 0,
        m_squarings: tuple[int, ...] = (),
        mu: dict[int, float] | None = None,
        M: tuple[float, ...] = (),
        *,
        eps: float | None = None,
        norm: str = "fro",
        dtype: torch.dtype = torch.float64,
        choice=None,
    ):
        super().__init__()
        s = len(m_squarings)
        if n < 1 or r <= 0 or K < 0:
            raise ValueError(f"need n >= 1, r > 0, K >= 0; got n={n}, r={r}, K={K}")
        if s >= 1 and K == 0:
            raise ValueError("K = 0 with s >= 1 would square a constant (THEORY.md pitfall 13)")
        if K >= 2 and (m0 < 1 or mu is None or any(k not in mu for k in range(1, K))):
            raise ValueError("K >= 2 needs m0 >= 1 and mu[k] for k = 1..K-1")
        if len(M) != s or any(mj < 1 for mj in m_squarings):
            raise ValueError("need one range M_j and one m_j >= 1 per squaring")
        self._setup(n, r, eps, norm, dtype, choice)
        self.K, self.s = K, s
        self.m0 = m0 if K >= 2 else 0
        self.m_squarings = tuple(int(v) for v in m_squarings)
        self.mu = {k: float(mu[k]) for k in range(1, K)} if K >= 2 else {}
        self.M = tuple(float(v) for v in M)
        self.r_s = self.r / 2**s

    # -- the structured (batched) realisation -------------------------------------------------
    def structured(self, A: torch.Tensor) -> torch.Tensor:
        """The network's output for A of shape (..., n, n), by batched tensor ops (no checks)."""
        A = A.to(self.dtype)
        B = A * 2.0**-self.s
        eye = torch.eye(self.n, dtype=A.dtype, device=A.device)
        if self.K >= 2:
            Q = eye + B / self.K
            for k in range(self.K - 1, 0, -1):
                Q = eye + matmul_structured(B, Q, self.r_s, self.mu[k], self.m0) / k
        else:
            Q = eye + self.K * B
        Y = Q
        for Mj, mj in zip(self.M, self.m_squarings, strict=True):
            Y = matmul_structured(Y, Y, Mj, Mj, mj)
        return Y

    # -- the explicit ReLU network ------------------------------------------------------------
    def _build(self) -> ReluNetwork:
        n, K = self.n, self.K
        b = NetworkBuilder(n * n)
        scale = 2.0**-self.s
        B = [[b.input(i * n + j) * scale for j in range(n)] for i in range(n)]

        def plus_identity(P, c=1.0):
            return [[c * P[i][j] + float(i == j) for j in range(n)] for i in range(n)]

        if K >= 2:
            Q = plus_identity(B, 1.0 / K)
            carries = [[Carry(B[i][j]) for j in range(n)] for i in range(n)] if K >= 3 else None
            for t in range(1, K):  # stage t forms Q_{k-1}, k = K - t
                k = K - t
                X = B if t == 1 else [[c.value for c in row] for row in carries]
                active = [c for row in carries for c in row] if (carries and t <= K - 2) else []
                P = product_stage(b, X, Q, self.r_s, self.mu[k], self.m0, active)
                Q = plus_identity(P, 1.0 / k)
        elif K == 1:
            Q = plus_identity(B)
        else:
            Q = [[Form.constant(float(i == j), 0) for j in range(n)] for i in range(n)]
        Y = Q
        for Mj, mj in zip(self.M, self.m_squarings, strict=True):
            Y = product_stage(b, Y, None, Mj, Mj, mj)
        return b.realise([f for row in Y for f in row], dtype=self.dtype)

    def extra_repr(self) -> str:
        return (
            f"n={self.n}, r={self.r:g}, K={self.K}, s={self.s}, m0={self.m0}, "
            f"m_squarings={self.m_squarings}, eps={self.eps}"
        )


def exp_network(
    n: int,
    eps: float,
    r: float,
    method: str = "scaling_squaring",
    norm: str = "fro",
    dtype: torch.dtype = torch.float64,
) -> ExpNetworkBase:
    """The network ``bounds.choose(n, eps, r, method, norm)`` describes, built with its constants.

    Methods: ``"horner"`` and ``"scaling_squaring"`` (:class:`ExpNetwork`), ``"paterson_stockmeyer"``
    (:class:`~constructive.paterson_stockmeyer.PatersonStockmeyerNetwork`, THEORY.md section 7).

    Guarantee (THEORY.md Theorem, section 8): ``sup_{||A||_2 <= r} ||Phi(A) - exp(A)|| <= eps`` in the
    chosen norm, in exact arithmetic; a :class:`PrecisionWarning` says when dtype cannot resolve eps.

    Raises ValueError for a dtype other than torch.float64 / torch.float32, for inputs that
    ``bounds.choose`` refuses (e.g. r above ``bounds.MAX_RADIUS``), and for an unknown method. The
    explicit network is built on demand by ``to_relu_network``, which checks its size first.
    """
    from bounds import choose  # bounds imports no torch; the arrow points this way only

    check_dtype(dtype)  # before the rule runs: refuse at once
    if method not in ALL_METHODS:
        raise ValueError(f"unknown method {method!r}; constructive builds {', '.join(ALL_METHODS)}")
    c = choose(n, eps, r, method=method, norm=norm)
    if method == "paterson_stockmeyer":
        from .paterson_stockmeyer import PatersonStockmeyerNetwork  # it subclasses ExpNetworkBase

        p = c.p if c.p is not None else 1
        return PatersonStockmeyerNetwork(
            n, r, c.K, p, c.m0, c.ps_nu, c.ps_M, eps=eps, norm=norm, dtype=dtype, choice=c
        )
    return ExpNetwork(n, r, c.K, c.m0, c.m_squarings, c.mu, c.M, eps=eps, norm=norm, dtype=dtype, choice=c)
