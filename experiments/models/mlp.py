"""A trained ReLU MLP for vec(A) -> vec(f(A)), counted like the constructive networks.

Counting conventions (THEORY.md section 1; the same as the explicit networks of
`constructive`, so a trained MLP and a constructed one can be compared number for number):

- depth L = number of hidden layers = number of affine maps minus one (L = 0 is one affine map);
- width W = size of the largest hidden layer (0 when L = 0);
- params P = nonzero weights + nonzero biases of all affine maps, the output map included.

Worked examples for n_in = n_out = 9 (3x3 matrices), width 64, every entry nonzero:

- depth 0: x -> W0 x + b0 (9x9): P = 81 + 9 = 90, W = 0;
- depth 1: x -> W1 relu(W0 x + b0) + b1: P = (9*64 + 64) + (64*9 + 9) = 1225, W = 64;
- depth 2: one more 64x64 map: P = 1225 + 64*64 + 64 = 5385.

In general P = n_in*W + W + (L-1)(W^2 + W) + W*n_out + n_out for L >= 1.

Input and output normalisation (per-coordinate mean and standard deviation of the training data)
live in buffers, so they are saved in the state_dict and a checkpoint is self-contained. They are
affine and are folded into the first and last affine maps when the network is counted
(`folded_affine_maps`), so the counts describe the plain ReLU network that computes `forward`.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from constructive import Counts, ReluNetwork, count

__all__ = ["MLP", "Counts", "count_mlp", "folded_affine_maps"]

# Standard deviations below this are treated as 1: a constant coordinate (e.g. a zero entry that
# every sample shares) carries no scale, and dividing by ~0 would blow up the inputs.
_MIN_STD = 1e-8


def _check_positive_int(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


class MLP(nn.Module):
    """ReLU MLP: `depth` hidden layers of `width` units between n_in inputs and n_out outputs.

    Args:
        n_in: input size (n*n for vec(A)).
        n_out: output size (n*n for vec(f(A))).
        width: units per hidden layer (>= 1).
        depth: number of hidden layers (>= 0; 0 gives a single affine map).

    Buffers `in_mean, in_std` (n_in,) and `out_mean, out_std` (n_out,) default to 0 and 1 and are
    set by `set_normalisation`. Initialisation is PyTorch's default for nn.Linear
    (Kaiming-uniform weights with a = sqrt(5), He et al. 2015; uniform biases).
    """

    def __init__(self, n_in: int, n_out: int, width: int, depth: int):
        super().__init__()
        self.n_in = _check_positive_int("n_in", n_in, 1)
        self.n_out = _check_positive_int("n_out", n_out, 1)
        self.width = _check_positive_int("width", width, 1)
        self.depth = _check_positive_int("depth", depth, 0)
        sizes = [n_in] + [width] * depth + [n_out]
        # depth + 1 affine maps; ReLU after every one but the last.
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:], strict=True))
        self.register_buffer("in_mean", torch.zeros(n_in))
        self.register_buffer("in_std", torch.ones(n_in))
        self.register_buffer("out_mean", torch.zeros(n_out))
        self.register_buffer("out_std", torch.ones(n_out))

    @torch.no_grad()
    def set_normalisation(self, x: Tensor, y: Tensor) -> None:
        """Store per-coordinate mean and std of inputs x (N, n_in) and targets y (N, n_out).

        Uses the population std (divisor N); coordinates with std < 1e-8 get std 1.
        """
        if x.ndim != 2 or x.shape[1] != self.n_in:
            raise ValueError(f"x must have shape (N, {self.n_in}), got {tuple(x.shape)}")
        if y.ndim != 2 or y.shape[1] != self.n_out:
            raise ValueError(f"y must have shape (N, {self.n_out}), got {tuple(y.shape)}")
        if x.shape[0] != y.shape[0] or x.shape[0] < 1:
            raise ValueError(
                f"x and y need the same number N >= 1 of rows, got {x.shape[0]} and {y.shape[0]}"
            )
        for name, t in (("x", x), ("y", y)):
            if not torch.isfinite(t).all():
                raise ValueError(f"{name} contains NaN or inf; normalisation needs finite data")
        for t, mean_buf, std_buf in (
            (x, self.in_mean, self.in_std),
            (y, self.out_mean, self.out_std),
        ):
            t64 = t.detach().to(torch.float64)
            mean = t64.mean(dim=0)
            std = t64.std(dim=0, unbiased=False)
            std = torch.where(std < _MIN_STD, torch.ones_like(std), std)
            mean_buf.copy_(mean.to(mean_buf))
            std_buf.copy_(std.to(std_buf))

    def normalise_targets(self, y: Tensor) -> Tensor:
        """Targets y (B, n_out) in original units -> normalised units, as `forward_normalised`."""
        y = y.to(self.out_mean.dtype)
        return (y - self.out_mean) / self.out_std

    def forward_normalised(self, x: Tensor) -> Tensor:
        """x (B, n_in) in original units -> prediction (B, n_out) in normalised output units.

        x is cast to the model's floating dtype (e.g. float64 data into a float32 model).
        """
        h = (x.to(self.in_mean.dtype) - self.in_mean) / self.in_std  # (B, n_in)
        for layer in self.layers[:-1]:
            h = torch.relu(layer(h))  # (B, width)
        return self.layers[-1](h)  # (B, n_out)

    def forward(self, x: Tensor) -> Tensor:
        """x (B, n_in) -> prediction (B, n_out) in original (un-normalised) units."""
        z = self.forward_normalised(x)
        return z * self.out_std + self.out_mean

    def to_relu_network(self) -> ReluNetwork:
        """The plain ReLU network computing `forward` (normalisation folded in), float64."""
        maps = folded_affine_maps(self)
        return ReluNetwork([W for W, _ in maps], [b for _, b in maps])

    def extra_repr(self) -> str:
        return f"n_in={self.n_in}, n_out={self.n_out}, width={self.width}, depth={self.depth}"


@torch.no_grad()
def folded_affine_maps(model: MLP) -> list[tuple[Tensor, Tensor]]:
    """The affine maps (W_l, b_l), l = 0..depth, of the plain ReLU network computing model.forward.

    The input normalisation z = (x - mu_in) / s_in is folded into the first map,
    W_0' = W_0 diag(1/s_in), b_0' = b_0 - W_0 (mu_in / s_in), and the output map
    y = s_out * h + mu_out into the last, W_L' = diag(s_out) W_L, b_L' = s_out * b_L + mu_out.
    Since s_in, s_out > 0, folding keeps every weight's zero pattern; a bias can change.
    Returned in float64 so the folded network reproduces forward up to rounding.
    """
    maps = [
        (layer.weight.detach().to(torch.float64), layer.bias.detach().to(torch.float64))
        for layer in model.layers
    ]
    mu_in, s_in = model.in_mean.to(torch.float64), model.in_std.to(torch.float64)
    mu_out, s_out = model.out_mean.to(torch.float64), model.out_std.to(torch.float64)
    W0, b0 = maps[0]
    maps[0] = (W0 / s_in, b0 - W0 @ (mu_in / s_in))  # (w, n_in), (w,)
    WL, bL = maps[-1]
    maps[-1] = (s_out[:, None] * WL, s_out * bL + mu_out)  # (n_out, w), (n_out,)
    return maps


def count_mlp(model: MLP) -> Counts:
    """Counts(depth, width, params) of the model, read off its (folded) weights.

    depth = affine maps - 1, width = largest hidden layer (0 for depth 0), params = nonzero
    entries of all folded weights and biases (see `folded_affine_maps` and the module docstring).
    Counted by `constructive.count` on `model.to_relu_network()`, the very function that counts
    the explicit networks, so trained and constructed networks are compared like for like.
    """
    if not isinstance(model, MLP):
        raise ValueError(f"count_mlp expects an MLP, got {type(model).__name__}")
    return count(model.to_relu_network())
