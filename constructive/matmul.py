"""Lemma 3: the n x n matrix product from n^3 scalar products, and its squaring variant.

``Pi(X, Y)_ij = sum_l Pi_m(x_il, y_lj)`` with ``|x_il| <= Mx``, ``|y_lj| <= My`` satisfies
``|E_ij| <= n delta`` and ``||E||_F <= n^2 delta``, ``delta = Mx My 4^(-m-1)`` (THEORY.md section 4).
In the squaring variant ``Pi_sq(Y) ~ Y^2`` the blocks ``(i, i, i)`` read the same scalar twice and use
the one-branch square (pitfall 5).

Composition (section 4): the sum over l is not a layer of its own; it is merged into whatever reads
the product (the next stage's first layer, or the output map), so a product costs exactly m layers.
"""

from __future__ import annotations

import torch
from torch import nn

from .builder import Carry, Form, NetworkBuilder, form_sum
from .product import ProductBlock, product_structured
from .relu_network import ReluNetwork

__all__ = ["MatmulNet", "matmul_structured", "parallel_product_stage", "product_stage"]

Matrix = list[list[Form]]


#: Scalar products per chunk of the batch on CPU: a chunk's state (2 branches x (h, f), about
#: 2^17 float64 numbers) stays in cache through the m layers of a stage; measured 5-10x faster
#: than one pass over a batch of 10^4 (benchmarks/README.md).
CPU_CHUNK_PRODUCTS = 2**15


def matmul_structured(X: torch.Tensor, Y: torch.Tensor, Mx: float, My: float, m: int) -> torch.Tensor:
    """``Pi(X, Y)`` for batches X, Y of shape (..., n, n) (broadcasting): all n^3 scalar products.

    Block (i, j, l) pairs ``x_il`` with ``y_lj``; ``Pi(Y, Y)`` is the squaring variant, since
    ``d = 0`` in the blocks (i, i, i) gives ``f_m(0) = 0`` exactly, as the one-branch square does.
    On CPU the batch is processed in chunks of about ``CPU_CHUNK_PRODUCTS / n^3`` matrices; every
    product gets the same elementwise arithmetic whatever the chunk.
    """
    n = X.shape[-1]
    batch = torch.broadcast_shapes(X.shape[:-2], Y.shape[:-2])
    X = X.expand(*batch, n, n).reshape(-1, n, n)  # (N, n, n)
    Y = Y.expand(*batch, n, n).reshape(-1, n, n)  # (N, n, n)
    rows = max(1, CPU_CHUNK_PRODUCTS // n**3)
    if X.device.type != "cpu" or len(X) <= rows:  # accelerators want one large launch
        return _matmul_products(X, Y, Mx, My, m).reshape(*batch, n, n)
    chunks = [_matmul_products(X[i : i + rows], Y[i : i + rows], Mx, My, m) for i in range(0, len(X), rows)]
    return torch.cat(chunks).reshape(*batch, n, n)


def _matmul_products(X: torch.Tensor, Y: torch.Tensor, Mx: float, My: float, m: int) -> torch.Tensor:
    """(N, n, n) x (N, n, n) -> (N, n, n). The batch is the innermost (contiguous) axis of the
    products, so the broadcasts and the sum over l run over long contiguous rows."""
    x = X.permute(2, 1, 0).unsqueeze(2).contiguous()  # (n_l, n_i, 1, N): x_il
    y = Y.permute(1, 2, 0).unsqueeze(1).contiguous()  # (n_l, 1, n_j, N): y_lj
    return product_structured(x, y, Mx, My, m).sum(dim=0).permute(2, 0, 1)  # (N, n_i, n_j)


def parallel_product_stage(
    builder: NetworkBuilder,
    products: list[tuple[Matrix, Matrix | None, float, float]],
    m: int,
    carries: list[Carry] = (),
) -> list[Matrix]:
    """Append m hidden layers computing several Lemma 3 products side by side.

    ``products`` holds ``(X, Y, Mx, My)``: ``Pi(X, Y)`` with ranges (Mx, My), or, when ``Y is None``,
    the squaring variant ``Pi_sq(X)`` of range Mx (blocks (i, i, i) one-branch, THEORY.md pitfall 5;
    My is not read). X and Y are n x n forms over the current last layer. Every product has its own
    blocks; the layers are shared with each other and with ``carries``, so the stage costs m layers
    whatever the number of products. Returns the n x n output forms of each product over the stage's
    last layer (the sums over l merged into the consumer).
    """
    stages = []
    for X, Y, Mx, My in products:
        n = len(X)
        blocks = {}
        for i in range(n):
            for j in range(n):
                for l_ in range(n):
                    if Y is None and i == l_ == j:
                        blocks[i, j, l_] = ProductBlock(X[i][i], None, Mx, Mx)
                    else:
                        y = X[l_][j] if Y is None else Y[l_][j]
                        blocks[i, j, l_] = ProductBlock(X[i][l_], y, Mx, Mx if Y is None else My)
        stages.append((n, blocks))
    for _ in range(m):
        layer = builder.new_layer()
        for _, blocks in stages:
            for block in blocks.values():
                block.step(layer)
        for c in carries:
            c.step(layer)
    level = builder.level
    return [
        [[form_sum((blocks[i, j, l_].value for l_ in range(n)), level) for j in range(n)] for i in range(n)]
        for n, blocks in stages
    ]


def product_stage(
    builder: NetworkBuilder,
    X: Matrix,
    Y: Matrix | None,
    Mx: float,
    My: float,
    m: int,
    carries: list[Carry] = (),
) -> Matrix:
    """Append m hidden layers computing ``Pi(X, Y)`` (or ``Pi_sq(X)`` of range Mx when ``Y is None``):
    :func:`parallel_product_stage` of one product.

    X and Y are n x n forms over the current last layer; ``carries`` advance through the same
    layers. Returns the n x n output forms over the stage's last layer (the sum over l merged).
    """
    (out,) = parallel_product_stage(builder, [(X, Y, Mx, My)], m, carries)
    return out


class MatmulNet(nn.Module):
    """Lemma 3 network: ``(X, Y) -> Pi(X, Y)``, or ``Y -> Pi_sq(Y)`` when ``square=True``.

    Standalone counts: depth m, width ``8n^3``, params ``n^3 (16m + 20)`` (m >= 2), ``28 n^3`` (m = 1);
    the squaring variant has width ``8n^3 - 4n``.
    """

    def __init__(self, n: int, Mx: float, My: float, m: int, square: bool = False):
        super().__init__()
        if n < 1 or m < 1 or Mx <= 0 or My <= 0:
            raise ValueError(f"need n, m >= 1 and Mx, My > 0, got n={n}, m={m}, Mx={Mx}, My={My}")
        if square and Mx != My:
            raise ValueError("the squaring variant needs Mx == My")
        self.n, self.Mx, self.My, self.m, self.square = n, float(Mx), float(My), m, square

    def forward(self, X: torch.Tensor, Y: torch.Tensor | None = None) -> torch.Tensor:
        """X, Y of shape (..., n, n); returns (..., n, n). Y is ignored (must be None) if square."""
        if self.square:
            if Y is not None:
                raise ValueError("the squaring variant takes one matrix")
            Y = X
        return matmul_structured(X, Y, self.Mx, self.My, self.m)

    def to_relu_network(self, dtype=torch.float64) -> ReluNetwork:
        """Input (B, n^2) = vec(X) (square) or (B, 2n^2) = (vec X, vec Y), row-major; output vec."""
        n = self.n
        b = NetworkBuilder(n * n if self.square else 2 * n * n)
        X = [[b.input(i * n + j) for j in range(n)] for i in range(n)]
        Y = None if self.square else [[b.input(n * n + i * n + j) for j in range(n)] for i in range(n)]
        out = product_stage(b, X, Y, self.Mx, self.My, self.m)
        return b.realise([f for row in out for f in row], dtype=dtype)
