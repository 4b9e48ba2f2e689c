"""The explicit ReLU network: a list of affine maps with ReLU between them.

This is the object the theorem speaks of. Counting conventions (THEORY.md section 1), with the
layers listed for small depths as in equinox's ``nn.MLP`` documentation:

* depth ``L`` = number of hidden layers = number of affine maps minus one.
  ``L = 0``: ``x -> W1 x + b1`` (affine, no ReLU).
  ``L = 1``: ``x -> W2 relu(W1 x + b1) + b2``.
  ``L = 2``: ``x -> W3 relu(W2 relu(W1 x + b1) + b2) + b3``.
* width ``W`` = largest number of rows of ``W_1 .. W_L`` (the output map is not counted; 0 when L = 0).
* params ``P`` = nonzero entries of all ``W_l`` and ``b_l``, the output map included.

Counts are read from the realised tensors, never computed separately (DESIGN.md).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

__all__ = ["Counts", "ReluNetwork", "count"]


class Counts(NamedTuple):
    """Depth (hidden layers), width (largest hidden layer) and params (nonzeros incl. biases)."""

    depth: int
    width: int
    params: int


def _nnz(t: torch.Tensor) -> int:
    if t.is_sparse:
        t = t.coalesce()
        return int(torch.count_nonzero(t.values()))
    if t.layout == torch.sparse_csr:
        return int(torch.count_nonzero(t.values()))
    return int(torch.count_nonzero(t))


class ReluNetwork:
    """A plain stack of affine maps ``(W_l, b_l)``, ``l = 1..L+1``, with ReLU between them.

    ``weights[l]`` has shape (out_l, in_l) and is dense or sparse (COO); ``biases[l]`` has shape
    (out_l,). Evaluation maps x of shape (B, in_1) to (B, out_{L+1}) and needs nothing else.
    """

    def __init__(self, weights: list[torch.Tensor], biases: list[torch.Tensor]):
        if len(weights) != len(biases) or not weights:
            raise ValueError("a ReLU network needs one bias per weight matrix and at least one map")
        for l_, (W, b) in enumerate(zip(weights, biases, strict=True)):
            if W.dim() != 2 or b.shape != (W.shape[0],):
                raise ValueError(f"map {l_ + 1}: W must be 2-D and b of length W.shape[0]")
            if l_ and W.shape[1] != weights[l_ - 1].shape[0]:
                raise ValueError(
                    f"map {l_ + 1} takes {W.shape[1]} inputs, the previous gives {weights[l_ - 1].shape[0]}"
                )
        self.weights = weights
        self.biases = biases

    @property
    def in_features(self) -> int:
        return self.weights[0].shape[1]

    @property
    def out_features(self) -> int:
        return self.weights[-1].shape[0]

    @property
    def layer_widths(self) -> list[int]:
        """Widths of the hidden layers 1..L."""
        return [W.shape[0] for W in self.weights[:-1]]

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Evaluate on x of shape (B, in_features); returns (B, out_features)."""
        h = x.T  # (in, B): column layout so sparse @ dense works
        for l_, (W, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            h = (torch.sparse.mm(W, h) if W.is_sparse else W @ h) + b[:, None]
            if l_ < len(self.weights) - 1:
                h = torch.relu(h)
        return h.T

    def to_sequential(self, max_entries: int = 50_000_000) -> nn.Sequential:
        """The same network as ``nn.Sequential(Linear, ReLU, ..., Linear)`` with dense weights.

        Raises ValueError when the dense weights would hold more than ``max_entries`` numbers
        (THEORY.md section 11 item 11: about 0.5 GB per layer at n = 10).
        """
        total = sum(W.shape[0] * W.shape[1] for W in self.weights)
        if total > max_entries:
            raise ValueError(
                f"dense export needs {total:,} weights, above max_entries={max_entries:,};"
                " evaluate the ReluNetwork (sparse) instead"
            )
        mods: list[nn.Module] = []
        for l_, (W, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            lin = nn.Linear(W.shape[1], W.shape[0], dtype=b.dtype, device=b.device)
            with torch.no_grad():
                lin.weight.copy_(W.to_dense() if W.is_sparse else W)
                lin.bias.copy_(b)
            mods.append(lin)
            if l_ < len(self.weights) - 1:
                mods.append(nn.ReLU())
        return nn.Sequential(*mods)


def count(net: ReluNetwork | nn.Sequential) -> Counts:
    """Read depth, width and params off the realised weights (conventions in the module docstring)."""
    if isinstance(net, nn.Sequential):
        lins = [mod for mod in net if isinstance(mod, nn.Linear)]
        weights = [lin.weight.detach() for lin in lins]
        biases = [
            lin.bias.detach() if lin.bias is not None else torch.zeros(lin.out_features) for lin in lins
        ]
    else:
        weights, biases = net.weights, net.biases
    depth = len(weights) - 1
    width = max((W.shape[0] for W in weights[:-1]), default=0)
    params = sum(_nnz(W) + _nnz(b) for W, b in zip(weights, biases, strict=True))
    return Counts(depth, width, params)
