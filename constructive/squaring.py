"""Lemma 1: Yarotsky's squaring network on [0, 1] (Yarotsky 2017, Neural Networks 94, Prop. 2).

``g(x) = 2 sigma(x) - 4 sigma(x - 1/2)`` is the hat on [0, 1]; ``g_s`` is its s-fold composition and
``f_m(x) = x - sum_{s=1}^m g_s(x) / 4^s`` is the piecewise-linear interpolant of ``x^2`` at the
nodes ``k 2^-m``, so ``0 <= f_m(x) - x^2 <= 4^(-m-1)`` on [0, 1] with equality at the midpoints
(THEORY.md section 2).

The *branch* is the unit pattern that computes ``f_m``: layer 1 forms the hat's two ReLUs, every
later layer forms ``u = sigma(G)``, ``v = sigma(G - 1/2)`` and ``p = sigma(F)`` with ``G = g_l`` and
``F = f_l``. With ``merged=True`` the first layer also takes ``|t|`` of ``t in [-1, 1]`` through
``sigma(|t| - c) = sigma(t - c) + sigma(-t - c)`` (Lemma 2's merging identity), so ``f_m(|t|)``
costs no extra layer.
"""

from __future__ import annotations

import torch
from torch import nn

from .builder import Form, Layer, NetworkBuilder
from .relu_network import ReluNetwork

__all__ = ["yarotsky_f", "SquaringNet", "Branch"]


def yarotsky_f(t: torch.Tensor, m: int, merged: bool) -> torch.Tensor:
    """``f_m(|t|)`` for ``t in [-1, 1]`` (merged) or ``f_m(t)`` for ``t in [0, 1]``, elementwise.

    The same arithmetic as the explicit branch, layer by layer, evaluated on tensors of any shape;
    ``t`` is not modified. Without autograd the layers update two state tensors in place (fewer
    kernels and allocations, about 2x faster on CPU); every rewrite used there is exact in binary
    floating point, so both paths return bit-identical values (tests/test_benchmarks.py):
    ``sigma(t) + sigma(-t) = |t|`` and ``sigma(t - 1/2) + sigma(-t - 1/2) = sigma(|t| - 1/2)`` (one
    term is 0), ``sigma(t - 1/2) = sigma(sigma(t) - 1/2)``, ``2u - 4v = 2 (u - 2v)`` and
    ``G / 4^l = 4^-l G`` (scalings by powers of two are exact).
    """
    if torch.is_grad_enabled() and t.requires_grad:
        return _yarotsky_f_autograd(t, m, merged)
    a = t.abs() if merged else torch.relu(t)  # first-layer units sigma(t) (+ sigma(-t)); fresh
    v = (a - 0.5).relu_()  # b = sigma(|t| - 1/2)
    F = torch.add(v, a, alpha=0.5)  # f_1 = a/2 + b
    G = a.sub_(v, alpha=2.0).mul_(2.0)  # g_1 = 2a - 4b, in a's storage
    for level in range(2, m + 1):
        torch.sub(G, 0.5, out=v).relu_()  # v = sigma(G - 1/2), reusing b's storage
        G.relu_().sub_(v, alpha=2.0).mul_(2.0)  # g_l = 2 sigma(G) - 4 v
        F.relu_().sub_(G, alpha=4.0**-level)  # f_l = sigma(F) - g_l / 4^l
    return F


def _yarotsky_f_autograd(t: torch.Tensor, m: int, merged: bool) -> torch.Tensor:
    """:func:`yarotsky_f` without in-place updates, for inputs that need gradients."""
    relu = torch.relu
    if merged:
        a = relu(t) + relu(-t)  # |t|
        b = relu(t - 0.5) + relu(-t - 0.5)  # sigma(|t| - 1/2)
    else:
        a, b = relu(t), relu(t - 0.5)
    G = 2.0 * a - 4.0 * b  # g_1
    F = 0.5 * a + b  # f_1 = |t| - g_1 / 4
    scale = 4.0
    for _ in range(2, m + 1):
        scale *= 4.0
        u, v, p = relu(G), relu(G - 0.5), relu(F)
        G = 2.0 * u - 4.0 * v
        F = p - G / scale
    return F


class Branch:
    """The units computing ``f_m(|t|)`` (merged) or ``f_m(t)``, one hidden layer per ``step``.

    After ``l`` steps, ``value`` is ``f_l`` as a form over the last layer: 4 units (merged) or 2 in
    layer 1, then 3 units per layer.
    """

    def __init__(self, t: Form, merged: bool):
        self.t = t
        self.merged = merged
        self.steps = 0
        self.G: Form | None = None
        self.value: Form | None = None

    def step(self, layer: Layer) -> None:
        self.steps += 1
        if self.steps == 1:
            t = self.t
            if self.merged:
                a = layer.unit(t) + layer.unit(-t)
                b = layer.unit(t - 0.5) + layer.unit(-t - 0.5)
            else:
                a, b = layer.unit(t), layer.unit(t - 0.5)
            self.G = 2.0 * a - 4.0 * b
            self.value = 0.5 * a + b
            return
        u, v, p = layer.unit(self.G), layer.unit(self.G - 0.5), layer.unit(self.value)
        self.G = 2.0 * u - 4.0 * v
        self.value = p - self.G / 4.0**self.steps


class SquaringNet(nn.Module):
    """Lemma 1 network ``N^sq_m``: ``x in [0, 1] -> f_m(x)`` with ``0 <= f_m(x) - x^2 <= 4^(-m-1)``.

    Counts (THEORY.md section 2): depth m, width 2 (m = 1) or 3, params ``8m - 3``.
    """

    def __init__(self, m: int):
        super().__init__()
        if m < 1:
            raise ValueError(f"m (hidden layers) must be >= 1, got {m}")
        self.m = m

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x of any shape with entries in [0, 1]; returns f_m(x) of the same shape."""
        return yarotsky_f(x, self.m, merged=False)

    def to_relu_network(self, dtype=torch.float64) -> ReluNetwork:
        """The explicit network: input (B, 1), output (B, 1)."""
        b = NetworkBuilder(1)
        branch = Branch(b.input(0), merged=False)
        for _ in range(self.m):
            branch.step(b.new_layer())
        return b.realise([branch.value], dtype=dtype)
