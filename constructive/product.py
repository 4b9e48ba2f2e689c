"""Lemma 2: the scalar product on [-Mx, Mx] x [-My, My], and the one-branch square.

``xy = Mx My (s^2 - d^2)`` with ``s = (x/Mx + y/My)/2`` and ``d = (x/Mx - y/My)/2``, both in [-1, 1].
Replacing each square by Yarotsky's ``f_m(|.|)`` gives ``Pi_m(x, y) = Mx My (f_m(|s|) - f_m(|d|))``
with ``|Pi_m - xy| <= Mx My 4^(-m-1)``, sharp at ``x/Mx = y/My = 2^(-m-1)`` (THEORY.md section 3;
the factor-2 gain over the triangle inequality holds because both squaring errors have one sign).
``Pi_m(x, 0) = Pi_m(0, y) = 0`` exactly.

Where both factors are the same scalar (``d = 0``), the one-branch square ``M^2 f_m(|x|/M)`` is used
instead, so no dead units with nonzero bias appear (pitfall 5).
"""

from __future__ import annotations

import torch
from torch import nn

from .builder import Form, Layer, NetworkBuilder
from .relu_network import ReluNetwork
from .squaring import Branch, yarotsky_f

__all__ = ["ProductBlock", "ProductNet", "SquareNet", "product_structured"]


def product_structured(x: torch.Tensor, y: torch.Tensor, Mx: float, My: float, m: int) -> torch.Tensor:
    """``Pi_m(x, y)`` elementwise (broadcasting), the same arithmetic as the explicit block.

    The two branches run as one stacked tensor ``t = (s, d)`` of shape (2, ...), so each layer is
    one set of kernels over both.
    """
    xs, ys = x / Mx, y / My
    t = torch.stack((xs + ys, xs - ys)).mul_(0.5)  # (2, ...): s, d
    f = yarotsky_f(t, m, merged=True)  # (2, ...)
    return (Mx * My) * (f[0] - f[1])


class ProductBlock:
    """Units of one scalar product (two branches) or one square (one branch), built layer by layer.

    ``x`` and ``y`` are forms over the layer below the block's first layer; ``y=None`` means the
    one-branch square of ``x`` with ``M = Mx``. After m steps ``value`` is the block's output form.
    """

    def __init__(self, x: Form, y: Form | None, Mx: float, My: float):
        self.scale = Mx * My
        xs = x / Mx
        if y is None:
            self.branches = [Branch(xs, merged=True)]
        else:
            ys = y / My
            self.branches = [Branch(0.5 * (xs + ys), merged=True), Branch(0.5 * (xs - ys), merged=True)]

    def step(self, layer: Layer) -> None:
        for br in self.branches:
            br.step(layer)

    @property
    def value(self) -> Form:
        if len(self.branches) == 1:
            return self.scale * self.branches[0].value
        return self.scale * (self.branches[0].value - self.branches[1].value)


class ProductNet(nn.Module):
    """Lemma 2 network: ``(x, y) -> Pi_m(x, y)`` for ``|x| <= Mx``, ``|y| <= My``.

    Counts (THEORY.md section 3): depth m, widths (8, 6, ..., 6), params ``16m + 20`` (m >= 2), 28 (m = 1).
    """

    def __init__(self, Mx: float, My: float, m: int):
        super().__init__()
        if m < 1 or Mx <= 0 or My <= 0:
            raise ValueError(f"need m >= 1 and Mx, My > 0, got m={m}, Mx={Mx}, My={My}")
        self.Mx, self.My, self.m = float(Mx), float(My), m

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return product_structured(x, y, self.Mx, self.My, self.m)

    def to_relu_network(self, dtype=torch.float64) -> ReluNetwork:
        """Explicit network: input (B, 2) holding (x, y), output (B, 1)."""
        b = NetworkBuilder(2)
        block = ProductBlock(b.input(0), b.input(1), self.Mx, self.My)
        for _ in range(self.m):
            block.step(b.new_layer())
        return b.realise([block.value], dtype=dtype)


class SquareNet(nn.Module):
    """One-branch square: ``x -> M^2 f_m(|x|/M) in [x^2, x^2 + M^2 4^(-m-1)]`` for ``|x| <= M``.

    Widths (4, 3, ..., 3) (THEORY.md section 3, "One-branch square").
    """

    def __init__(self, M: float, m: int):
        super().__init__()
        if m < 1 or M <= 0:
            raise ValueError(f"need m >= 1 and M > 0, got m={m}, M={M}")
        self.M, self.m = float(M), m

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.M**2 * yarotsky_f(x / self.M, self.m, merged=True)

    def to_relu_network(self, dtype=torch.float64) -> ReluNetwork:
        """Explicit network: input (B, 1), output (B, 1)."""
        b = NetworkBuilder(1)
        block = ProductBlock(b.input(0), None, self.M, self.M)
        for _ in range(self.m):
            block.step(b.new_layer())
        return b.realise([block.value], dtype=dtype)
