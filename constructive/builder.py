"""One generic builder: constructions written as affine forms, realised as sparse (W, b) layers.

A construction never writes a weight matrix by hand. It creates hidden units
``sigma(form)``, where a :class:`Form` is an affine expression in the units of the layer below
(or in the network input), and it combines the returned unit values into new forms. The builder
turns the recorded units into sparse COO weights layer by layer (STYLE.md habit 4: constructions
as data, one generic builder).

Example: Lemma 1's first layer is ``u = layer.unit(x)``, ``v = layer.unit(x - 0.5)``, and
``g = 2 * u - 4 * v`` is then a form over that layer.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

from .relu_network import ReluNetwork

__all__ = ["Form", "NetworkBuilder", "Layer", "Carry"]


class Form:
    """An affine form ``sum_k c_k h_k + const`` over the units ``h`` of one layer.

    ``level`` names the layer (0 = network input). Forms of different levels never mix: a unit of
    layer l reads only forms of level l - 1, which is what makes the result a feed-forward network.
    Zero coefficients are dropped, so the number of entries is the fan-in of a unit reading the form.
    """

    __slots__ = ("coeffs", "const", "level")

    def __init__(self, coeffs: dict[int, float] | None = None, const: float = 0.0, level: int = 0):
        self.coeffs = coeffs if coeffs is not None else {}
        self.const = float(const)
        self.level = level

    @staticmethod
    def constant(c: float, level: int) -> Form:
        return Form({}, c, level)

    def _check(self, other: Form) -> None:
        if self.level != other.level and self.coeffs and other.coeffs:
            raise ValueError(f"cannot combine forms of layers {self.level} and {other.level}")

    def __add__(self, other: Form | float) -> Form:
        if not isinstance(other, Form):
            return Form(dict(self.coeffs), self.const + other, self.level)
        self._check(other)
        coeffs = dict(self.coeffs)
        for k, c in other.coeffs.items():
            v = coeffs.get(k, 0.0) + c
            if v == 0.0:
                coeffs.pop(k, None)
            else:
                coeffs[k] = v
        level = self.level if self.coeffs else other.level
        return Form(coeffs, self.const + other.const, level)

    __radd__ = __add__

    def __mul__(self, a: float) -> Form:
        a = float(a)
        if a == 0.0:
            return Form({}, 0.0, self.level)
        return Form({k: a * c for k, c in self.coeffs.items()}, a * self.const, self.level)

    __rmul__ = __mul__

    def __truediv__(self, a: float) -> Form:
        return self * (1.0 / float(a))

    def __neg__(self) -> Form:
        return self * -1.0

    def __sub__(self, other: Form | float) -> Form:
        return self + (-other if isinstance(other, Form) else -float(other))

    def __rsub__(self, other: float) -> Form:
        return (-self) + other


def form_sum(forms: Iterable[Form], level: int) -> Form:
    """The sum of forms of one level (empty sum: the zero form of that level)."""
    total = Form({}, 0.0, level)
    for f in forms:
        total = total + f
    return total


class Layer:
    """A hidden layer under construction; ``unit(form)`` appends ``sigma(form)``."""

    def __init__(self, level: int):
        self.level = level
        self.rows: list[dict[int, float]] = []
        self.bias: list[float] = []

    def unit(self, form: Form) -> Form:
        """Append the unit ``sigma(form)`` and return its value as a form over this layer."""
        if form.coeffs and form.level != self.level - 1:
            raise ValueError(
                f"layer {self.level} can only read layer {self.level - 1}, got a form of layer {form.level}"
            )
        self.rows.append(form.coeffs)
        self.bias.append(form.const)
        return Form({len(self.rows) - 1: 1.0}, 0.0, self.level)

    def __len__(self) -> int:
        return len(self.rows)


class NetworkBuilder:
    """Collects hidden layers and an output map, then realises them as a :class:`ReluNetwork`."""

    def __init__(self, in_features: int):
        self.in_features = in_features
        self.layers: list[Layer] = []

    def input(self, k: int) -> Form:
        """The k-th input coordinate as a form of level 0."""
        return Form({k: 1.0}, 0.0, 0)

    @property
    def level(self) -> int:
        """The level of the last hidden layer (0 before the first one)."""
        return len(self.layers)

    def new_layer(self) -> Layer:
        layer = Layer(len(self.layers) + 1)
        self.layers.append(layer)
        return layer

    def realise(self, outputs: list[Form], dtype=torch.float64, device=None) -> ReluNetwork:
        """Sparse COO weights for every hidden layer and the output map ``outputs``."""
        top = self.level
        for f in outputs:
            if f.coeffs and f.level != top:
                raise ValueError(f"outputs must be forms of the last layer {top}, got {f.level}")
        weights, biases = [], []
        fan_in = self.in_features
        maps = [(layer.rows, layer.bias) for layer in self.layers]
        maps.append(([f.coeffs for f in outputs], [f.const for f in outputs]))
        for rows, bias in maps:
            idx_r, idx_c, vals = [], [], []
            for i, row in enumerate(rows):
                idx_r.extend([i] * len(row))
                idx_c.extend(row.keys())
                vals.extend(row.values())
            W = torch.sparse_coo_tensor(
                torch.tensor([idx_r, idx_c], dtype=torch.long).reshape(2, -1),
                torch.tensor(vals, dtype=dtype),
                (len(rows), fan_in),
                device=device,
                check_invariants=True,
            ).coalesce()
            weights.append(W)
            biases.append(torch.tensor(bias, dtype=dtype, device=device))
            fan_in = len(rows)
        return ReluNetwork(weights, biases)


class Carry:
    """Identity carry of a scalar through hidden layers (THEORY.md section 4, "Carry").

    The first carry layer forms ``sigma(z)`` and ``sigma(-z)``; later layers copy each unit with one
    weight (``sigma(h) = h`` for ``h >= 0``) instead of re-forming ``sigma(h+ - h-)``, which would cost
    two weights (pitfall 3). The carried value is ``h+ - h-``.
    """

    def __init__(self, value: Form):
        self.value = value
        self._pair: tuple[Form, Form] | None = None

    def step(self, layer: Layer) -> None:
        if self._pair is None:
            hp, hm = layer.unit(self.value), layer.unit(-self.value)
        else:
            hp, hm = layer.unit(self._pair[0]), layer.unit(self._pair[1])
        self._pair = (hp, hm)
        self.value = hp - hm
