"""A transformer restricted to the tokens of its training stream, for shipping FP15 models.

FP15 (Charton, "Linear algebra with transformers", TMLR 2022) spends one token on each (sign,
mantissa, exponent): 29,036 tokens at 3 significant digits, so the study's d_model-128
transformer carries a 3.7M-parameter tied embedding, 7.4 MB in float16, over the 5 MB limit per
shipped model (issue 14). Most of those tokens never occur in training: the entries of 3x3
matrices and of their images span a few decades, not FP15's sixteen.

The restricted model keeps the embedding rows of the tokens that occurred in the run's training
examples, replayed exactly from its seeded data stream (``experiments.train`` draws every step's
batch from one ``MatrixStream``), and otherwise is the trained model:

- as output it can emit only kept tokens (the others get logit -inf). A token that never was a
  target was only ever pushed down by the softmax, so greedy decoding had no reason to pick it;
- as input it reads a number token that never occurred as the kept number token of nearest value
  (``nearest_kept``), since the trained embedding of an unseen token is its random initialisation.

Non-number tokens (``<pad>``, ``<bos>``, ``<eos>``, the dimension tokens) are always kept. Only
encodings with one token per number qualify: the others have small vocabularies and tokens that
are digits, not values. ``experiments.shipped`` re-measures the accuracy after restricting, so a
shipped model's record is that of what users load.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

__all__ = [
    "KEPT_KEY",
    "RestrictedHead",
    "load_restricted",
    "nearest_kept",
    "restrict_state",
    "training_token_ids",
]

KEPT_KEY = "vocabulary.kept_ids"  # the state-dict entry that marks a restricted model


def _token_values(encoding) -> np.ndarray:
    """(V,) the value of each token read as a one-token number, NaN for non-number tokens."""
    if getattr(encoding, "tokens_per_number", None) != 1:
        name = getattr(encoding, "name", encoding)
        raise ValueError(f"only one-token-per-number encodings (FP15) can be restricted, got {name}")
    values = [encoding.decode_number([t]) for t in encoding.vocab]
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)


def training_token_ids(config, encoding, steps: int) -> Tensor:
    """Sorted ids (K,) of every token in the first ``steps`` training batches of a run, inputs
    and targets, replayed from the run's seeded stream (rank 0), plus every non-number token.

    The replay is exact: it is ``experiments.train.training_stream``, the stream training drew.
    """
    from experiments.train import training_stream

    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be an integer >= 1, got {steps!r}")
    values = _token_values(encoding)
    seen = np.isnan(values)  # non-number tokens
    stream = training_stream(config)
    for _ in range(steps):
        batch = next(stream)
        for M in (batch.A, batch.F):
            seen[encoding.encode_batch(M).reshape(-1).numpy()] = True
    return torch.from_numpy(np.flatnonzero(seen))


def nearest_kept(encoding, kept: Tensor) -> Tensor:
    """(V,) for each token id the kept id it is read as: itself when kept, otherwise the kept
    number token of nearest value (ties to the smaller value)."""
    values = _token_values(encoding)
    kept_np = np.asarray(kept, dtype=np.int64)
    is_kept = np.zeros(len(values), dtype=bool)
    is_kept[kept_np] = True
    if not is_kept[np.isnan(values)].all():
        raise ValueError("every non-number token must be kept")
    numbers = kept_np[~np.isnan(values[kept_np])]
    if numbers.size == 0:
        raise ValueError("no number token is kept")
    order = numbers[np.argsort(values[numbers], kind="stable")]
    sorted_values = values[order]
    out = np.arange(len(values))
    dropped = np.flatnonzero(~is_kept)
    v = values[dropped]
    hi = np.minimum(np.searchsorted(sorted_values, v), len(order) - 1)  # first kept value >= v
    lo = np.maximum(hi - 1, 0)
    take_hi = np.abs(sorted_values[hi] - v) < np.abs(v - sorted_values[lo])
    out[dropped] = np.where(take_hi, order[hi], order[lo])
    return torch.from_numpy(out)


class RestrictedHead(nn.Module):
    """Output projection onto the kept tokens: logits (..., V) equal to ``h @ weight.T`` at the
    kept ids and -inf elsewhere."""

    def __init__(self, weight: Tensor, kept: Tensor, vocab_size: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(weight)
        self.register_buffer("kept", kept.to(torch.long))
        self.vocab_size = int(vocab_size)

    def forward(self, h: Tensor) -> Tensor:
        logits = h.new_full((*h.shape[:-1], self.vocab_size), float("-inf"))
        logits[..., self.kept] = h @ self.weight.T
        return logits


def restrict_state(state: dict[str, Tensor], kept: Tensor) -> dict[str, Tensor]:
    """A tied transformer's state dict with the embedding cut to the kept rows (stored once)."""
    out = {k: v for k, v in state.items() if k != "lm_head.weight"}
    out["tok_emb.weight"] = state["tok_emb.weight"][kept].clone()
    out[KEPT_KEY] = kept.clone()
    return out


def load_restricted(model: nn.Module, state: dict[str, Tensor], encoding) -> nn.Module:
    """Load a ``restrict_state`` state into a freshly built full-vocabulary transformer, in place:
    the embedding reads dropped tokens as ``nearest_kept``, the head emits kept tokens only."""
    state = dict(state)
    kept = state.pop(KEPT_KEY).to(torch.long)
    rows = state.pop("tok_emb.weight").to(torch.float32)
    vocab_size = model.tok_emb.weight.shape[0]
    model.tok_emb.weight = nn.Parameter(rows[_row_of(kept, vocab_size)[nearest_kept(encoding, kept)]])
    model.lm_head = RestrictedHead(rows.clone(), kept, vocab_size)
    missing, unexpected = model.load_state_dict(state, strict=False)
    expected_missing = {"tok_emb.weight", "lm_head.weight", "lm_head.kept"}
    if unexpected or set(missing) - expected_missing:
        raise ValueError(f"restricted state does not fit the model: missing {missing}, extra {unexpected}")
    return model


def _row_of(kept: Tensor, vocab_size: int) -> Tensor:
    """(V,) the row of each kept id in the cut embedding (-1 for dropped ids)."""
    row = torch.full((vocab_size,), -1, dtype=torch.long)
    row[kept] = torch.arange(len(kept))
    return row
