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
    ``t`` is not modified. Inputs that need gradients take the plain path
    (:func:`_yarotsky_f_autograd`). Otherwise the layers run in place on one state tensor
    ``(h_l, f_l)`` with ``h_l = 2^-l g_l``, 4 kernels per layer instead of 9 (benchmarks/README.md);
    every rewrite is exact in binary floating point, so both paths return bit-identical values
    (tests/test_benchmarks.py): ``sigma(t) + sigma(-t) = |t|``, ``sigma(t - 1/2) + sigma(-t - 1/2)
    = sigma(|t| - 1/2)`` (one term is 0), scalings by powers of two, and, for ``u >= 0`` and
    ``c > 0``, ``sigma(u - c) = softshrink(u, c)``. With ``u = sigma(h_{l-1})``:
    ``h_l = u - 2 sigma(u - 2^-l)`` (``= 2^-l (2 sigma(g) - 4 sigma(g - 1/2))``) and
    ``f_l = sigma(f_{l-1}) - 2^-l h_l`` (``= sigma(f) - g_l / 4^l``).
    """
    if torch.is_grad_enabled() and t.requires_grad:
        return _yarotsky_f_autograd(t, m, merged)
    state = torch.empty((2, *t.shape), dtype=t.dtype, device=t.device)  # (2, ...): h_l, f_l
    h, f = state[0], state[1]
    if merged:
        torch.abs(t, out=h)  # a = sigma(t) + sigma(-t)
    else:
        torch.clamp_min(t, 0.0, out=h)  # a = sigma(t)
    v = torch.sub(h, 0.5).relu_()  # b = sigma(a - 1/2)
    torch.add(v, h, alpha=0.5, out=f)  # f_1 = a/2 + b
    h.sub_(v, alpha=2.0)  # h_1 = a - 2b = g_1 / 2
    for level in range(2, m + 1):
        state.relu_()  # sigma(h_{l-1}), sigma(f_{l-1}): the units u and p of layer l
        _softshrink_out(h, 2.0**-level, out=v)  # 2^-(l-1) sigma(g_{l-1} - 1/2): the unit v
        h.sub_(v, alpha=2.0)  # h_l = 2^-l g_l
        f.sub_(h, alpha=2.0**-level)  # f_l = sigma(f_{l-1}) - g_l / 4^l
    return f


_softshrink_out = torch.ops.aten.softshrink.out  # the one elementwise kernel for sigma(u - c), u >= 0


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
