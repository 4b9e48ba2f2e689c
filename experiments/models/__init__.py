"""Trained models: a ReLU MLP (vec(A) -> vec(f(A))) and a transformer encoder-decoder over tokens.

- `mlp`: `MLP`, `count_mlp`, `folded_affine_maps`, `Counts` (constructive counting conventions).
- `transformer`: `Seq2SeqTransformer` (pre-LN, learned positions, tied head, KV-cache greedy
  decoding), `num_parameters`.
"""

from experiments.models.mlp import MLP, Counts, count_mlp, folded_affine_maps
from experiments.models.transformer import Seq2SeqTransformer, num_parameters

__all__ = [
    "MLP",
    "Counts",
    "count_mlp",
    "folded_affine_maps",
    "Seq2SeqTransformer",
    "num_parameters",
]
