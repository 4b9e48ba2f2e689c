"""Transformer encoder-decoder over number-encoding tokens, with batched greedy KV-cache decoding.

The architecture is the encoder-decoder of Vaswani et al. (2017), "Attention is all you need",
as used for linear algebra by Charton (2022), "Linear algebra with transformers" (TMLR), with
two modern changes: pre-LayerNorm residual blocks (Xiong et al. 2020, "On layer normalization in
the transformer architecture") and learned positional embeddings. Written in the manner of
nanoGPT's model.py: small, one file, shapes beside every reshape.

Notation: B batch, S source length, T target length, C = d_model, nh heads, hs = C // nh head
size, V vocabulary size.

- Embeddings: one token embedding (V, C) shared by encoder input, decoder input and the output
  head (tied weights, Vaswani et al. 2017, section 3.4; Press & Wolf 2017), since source and target
  use the same vocabulary. Separate learned positions for source (max_src_len, C) and target
  (max_tgt_len, C).
- Encoder block: x + SelfAttn(LN(x)) with source padding masked as keys; then x + FFN(LN(x)).
- Decoder block: causal self-attention, cross-attention to the encoder memory (source padding
  masked), FFN; each pre-LN with a residual. Final LayerNorm after each stack.
- FFN: Linear(C, d_ff) -> GELU -> Linear(d_ff, C).
- Initialisation (as nanoGPT / GPT-2): every Linear and Embedding weight N(0, 0.02^2), biases 0,
  LayerNorm weight 1 and bias 0; the projections that write into the residual stream
  (attention output, FFN second linear) N(0, (0.02 / sqrt(2 * L))^2), L = enc_layers + dec_layers,
  so the residual stream's variance does not grow with depth (Radford et al. 2019).

Greedy decoding keeps, per decoder layer, a preallocated self-attention K/V cache
(B, nh, max_len, hs) filled one position per step, and the cross-attention K/V computed once from
the encoder memory; each step then runs the decoder on one token per row.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["Seq2SeqTransformer", "num_parameters"]


def _split_heads(x: Tensor, n_heads: int) -> Tensor:
    B, T, C = x.shape
    return x.view(B, T, n_heads, C // n_heads).transpose(1, 2)  # (B, nh, T, hs)


def _merge_heads(y: Tensor) -> Tensor:
    B, nh, T, hs = y.shape
    return y.transpose(1, 2).reshape(B, T, nh * hs)  # (B, T, C)


def explicit_attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    attn_mask: Tensor | None = None,
    is_causal: bool = False,
    dropout_p: float = 0.0,
) -> Tensor:
    """softmax(q k^T / sqrt(hs)) v written out as two batched matmuls (Vaswani et al. 2017, eq. 1).

    q (B, nh, T, hs), k and v (B, nh, S, hs), attn_mask bool broadcastable to (B, nh, T, S) with
    True where a key may be attended to; is_causal lets query t see keys 0..t only (T == S)
    -> (B, nh, T, hs) in v's dtype. The softmax runs in float32 at least (float64 stays float64), as
    autocast does for F.softmax. The same function as F.scaled_dot_product_attention (tested
    against it in tests/test_transformer.py); `attention` uses it where SDPA's CPU kernel is slow:

    * a single query (the cached decoding step): SDPA loops over (batch, head) pairs and took
      about twice as long as these two matmuls (2.4 vs 1.3 ms at B=128, nh=8, S=77, hs=32);
    * bfloat16 on CPU (training under CPU autocast): SDPA's bf16 flash backward took 4.9x as long
      as its float32 one (0.89 vs 0.18 s per step of the 5x5 reference configuration), while
      these matmuls run on the cores' bf16 dot-product units (benchmarks/README.md, issue 13).
    """
    att = q @ k.transpose(-2, -1)  # (B, nh, T, S)
    att = att.to(torch.promote_types(att.dtype, torch.float32)) * (1.0 / math.sqrt(q.shape[-1]))
    if is_causal:
        T, S = att.shape[-2:]
        future = torch.ones(T, S, dtype=torch.bool, device=q.device).triu(1)  # (T, S)
        att = att.masked_fill(future, float("-inf"))
    if attn_mask is not None:
        att = att.masked_fill(~attn_mask, float("-inf"))
    p = torch.softmax(att, dim=-1)
    if dropout_p > 0.0:
        p = F.dropout(p, dropout_p)
    return p.to(v.dtype) @ v  # (B, nh, T, hs)


def attend_one_query(q: Tensor, k: Tensor, v: Tensor, attn_mask: Tensor | None = None) -> Tensor:
    """`explicit_attention` for one query position q (B, nh, 1, hs), no dropout."""
    return explicit_attention(q, k, v, attn_mask)


def attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    attn_mask: Tensor | None = None,
    is_causal: bool = False,
    dropout_p: float = 0.0,
) -> Tensor:
    """Scaled dot-product attention by the faster kernel for the case (measured, issues 7 and 13).

    On CPU, a single query or bfloat16 inputs go to `explicit_attention`; everything else,
    float32 training on CPU included, to F.scaled_dot_product_attention.
    """
    if q.device.type == "cpu" and (q.shape[2] == 1 or q.dtype == torch.bfloat16):
        return explicit_attention(q, k, v, attn_mask, is_causal, dropout_p)
    return F.scaled_dot_product_attention(
        q, k, v, attn_mask=attn_mask, dropout_p=dropout_p, is_causal=is_causal
    )


class _KVCache:
    """Self-attention keys and values of one decoder layer, preallocated (B, nh, T_max, hs)."""

    def __init__(self):
        self.k: Tensor | None = None
        self.v: Tensor | None = None
        self.length = 0

    def append(self, k: Tensor, v: Tensor, max_len: int) -> tuple[Tensor, Tensor]:
        """Write k, v (B, nh, t, hs) after the cached positions; return all (B, nh, length, hs)."""
        if self.k is None:
            B, nh, _, hs = k.shape
            # Allocated on first use so the dtype follows autocast (bf16 keys under autocast).
            self.k = k.new_empty(B, nh, max_len, hs)
            self.v = v.new_empty(B, nh, max_len, hs)
        t = k.shape[2]
        self.k[:, :, self.length : self.length + t] = k
        self.v[:, :, self.length : self.length + t] = v
        self.length += t
        return self.k[:, :, : self.length], self.v[:, :, : self.length]


class SelfAttention(nn.Module):
    """Multi-head self-attention with one fused QKV projection (C -> 3C)."""

    def __init__(self, d_model: int, n_heads: int, dropout: float):
        super().__init__()
        self.n_heads = n_heads
        self.dropout = dropout
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)
        self.proj.is_residual_out = True

    def forward(
        self,
        x: Tensor,
        attn_mask: Tensor | None = None,
        is_causal: bool = False,
        cache: _KVCache | None = None,
        cache_len: int = 0,
    ) -> Tensor:
        """x (B, T, C) -> (B, T, C).

        attn_mask: bool (B, 1, 1, T), True where a key may be attended to (padding mask).
        is_causal: position i attends to keys 0..i only (decoder training / full recompute).
        cache: when given, x holds the newest position(s) only; their keys/values are appended
        and the queries attend to every cached position (which are all in their past).
        """
        q, k, v = self.qkv(x).split(x.shape[-1], dim=2)  # 3 x (B, T, C)
        q, k, v = (_split_heads(t, self.n_heads) for t in (q, k, v))  # (B, nh, T, hs)
        if cache is not None:
            if x.shape[1] != 1:
                raise ValueError("cached self-attention takes one new position per call")
            k, v = cache.append(k, v, cache_len)  # (B, nh, t+1, hs)
            # every cached position is in the query's past: no mask
            return self.proj(_merge_heads(attention(q, k, v)))
        y = attention(
            q, k, v, attn_mask, is_causal=is_causal, dropout_p=self.dropout if self.training else 0.0
        )  # (B, nh, T, hs)
        return self.proj(_merge_heads(y))


class CrossAttention(nn.Module):
    """Multi-head attention from decoder queries to encoder memory (Q: C -> C, KV fused C -> 2C)."""

    def __init__(self, d_model: int, n_heads: int, dropout: float):
        super().__init__()
        self.n_heads = n_heads
        self.dropout = dropout
        self.q = nn.Linear(d_model, d_model)
        self.kv = nn.Linear(d_model, 2 * d_model)
        self.proj = nn.Linear(d_model, d_model)
        self.proj.is_residual_out = True

    def memory_kv(self, memory: Tensor) -> tuple[Tensor, Tensor]:
        """Encoder memory (B, S, C) -> keys, values (B, nh, S, hs); computed once per decode."""
        k, v = self.kv(memory).split(memory.shape[-1], dim=2)  # 2 x (B, S, C)
        return _split_heads(k, self.n_heads), _split_heads(v, self.n_heads)

    def forward(
        self, x: Tensor, mem_k: Tensor, mem_v: Tensor, src_mask: Tensor, one_query: bool = False
    ) -> Tensor:
        """x (B, T, C), mem_k/mem_v (B, nh, S, hs), src_mask bool (B, 1, 1, S) -> (B, T, C).

        one_query: x is the single newest position of a cached decoding step (T = 1, eval).
        """
        q = _split_heads(self.q(x), self.n_heads)  # (B, nh, T, hs)
        y = attention(
            q, mem_k, mem_v, src_mask, dropout_p=0.0 if one_query or not self.training else self.dropout
        )  # (B, nh, T, hs)
        return self.proj(_merge_heads(y))


class FeedForward(nn.Module):
    def __init__(self, d_model: int, d_ff: int, dropout: float):
        super().__init__()
        self.fc = nn.Linear(d_model, d_ff)
        self.proj = nn.Linear(d_ff, d_model)
        self.proj.is_residual_out = True
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        return self.drop(self.proj(F.gelu(self.fc(x))))  # (B, T, C)


class EncoderBlock(nn.Module):
    def __init__(self, d_model: int, n_heads: int, d_ff: int, dropout: float):
        super().__init__()
        self.ln1 = nn.LayerNorm(d_model)
        self.attn = SelfAttention(d_model, n_heads, dropout)
        self.ln2 = nn.LayerNorm(d_model)
        self.ffn = FeedForward(d_model, d_ff, dropout)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor, src_mask: Tensor) -> Tensor:
        """x (B, S, C), src_mask bool (B, 1, 1, S) -> (B, S, C)."""
        x = x + self.drop(self.attn(self.ln1(x), attn_mask=src_mask))
        return x + self.ffn(self.ln2(x))


class DecoderBlock(nn.Module):
    def __init__(self, d_model: int, n_heads: int, d_ff: int, dropout: float):
        super().__init__()
        self.ln1 = nn.LayerNorm(d_model)
        self.self_attn = SelfAttention(d_model, n_heads, dropout)
        self.ln2 = nn.LayerNorm(d_model)
        self.cross_attn = CrossAttention(d_model, n_heads, dropout)
        self.ln3 = nn.LayerNorm(d_model)
        self.ffn = FeedForward(d_model, d_ff, dropout)
        self.drop = nn.Dropout(dropout)

    def forward(
        self,
        x: Tensor,
        mem_k: Tensor,
        mem_v: Tensor,
        src_mask: Tensor,
        cache: _KVCache | None = None,
        cache_len: int = 0,
    ) -> Tensor:
        """x (B, T, C) -> (B, T, C); causal over T, or one step against `cache` (T = 1)."""
        h = self.ln1(x)
        if cache is None:
            x = x + self.drop(self.self_attn(h, is_causal=True))
        else:
            x = x + self.drop(self.self_attn(h, cache=cache, cache_len=cache_len))
        x = x + self.drop(self.cross_attn(self.ln2(x), mem_k, mem_v, src_mask, one_query=cache is not None))
        return x + self.ffn(self.ln3(x))


def _check_int(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


class Seq2SeqTransformer(nn.Module):
    """Pre-LN transformer encoder-decoder, tied embeddings/output head (see module docstring).

    Args:
        vocab_size: V, shared by source and target (ids from `experiments.data.encodings`).
        d_model: C, divisible by n_heads.
        n_heads, enc_layers, dec_layers, d_ff: sizes; enc_layers and dec_layers may be set apart.
        max_src_len, max_tgt_len: lengths of the learned position tables.
        dropout: in attention weights, residual branches and after the embeddings.
        pad_id: padding token id, masked as attention key in the source.
    """

    def __init__(
        self,
        vocab_size: int,
        d_model: int = 256,
        n_heads: int = 8,
        enc_layers: int = 2,
        dec_layers: int = 2,
        d_ff: int = 1024,
        max_src_len: int = 512,
        max_tgt_len: int = 512,
        dropout: float = 0.0,
        pad_id: int = 0,
    ):
        super().__init__()
        _check_int("vocab_size", vocab_size, 1)
        _check_int("d_model", d_model, 1)
        _check_int("n_heads", n_heads, 1)
        _check_int("enc_layers", enc_layers, 0)
        _check_int("dec_layers", dec_layers, 1)
        _check_int("d_ff", d_ff, 1)
        _check_int("max_src_len", max_src_len, 1)
        _check_int("max_tgt_len", max_tgt_len, 1)
        _check_int("pad_id", pad_id, 0)
        if d_model % n_heads != 0:
            raise ValueError(f"d_model ({d_model}) must be divisible by n_heads ({n_heads})")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must lie in [0, 1), got {dropout!r}")
        if pad_id >= vocab_size:
            raise ValueError(f"pad_id ({pad_id}) must be < vocab_size ({vocab_size})")
        self.vocab_size = vocab_size
        self.d_model = d_model
        self.n_heads = n_heads
        self.max_src_len = max_src_len
        self.max_tgt_len = max_tgt_len
        self.pad_id = pad_id

        self.tok_emb = nn.Embedding(vocab_size, d_model)
        self.src_pos = nn.Embedding(max_src_len, d_model)
        self.tgt_pos = nn.Embedding(max_tgt_len, d_model)
        self.drop = nn.Dropout(dropout)
        self.encoder = nn.ModuleList(EncoderBlock(d_model, n_heads, d_ff, dropout) for _ in range(enc_layers))
        self.enc_ln = nn.LayerNorm(d_model)
        self.decoder = nn.ModuleList(DecoderBlock(d_model, n_heads, d_ff, dropout) for _ in range(dec_layers))
        self.dec_ln = nn.LayerNorm(d_model)
        self.lm_head = nn.Linear(d_model, vocab_size, bias=False)
        self.lm_head.weight = self.tok_emb.weight  # tied

        n_layers = enc_layers + dec_layers
        for module in self.modules():
            if isinstance(module, nn.Linear):
                std = 0.02 / math.sqrt(2 * n_layers) if hasattr(module, "is_residual_out") else 0.02
                nn.init.normal_(module.weight, mean=0.0, std=std)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Embedding):
                nn.init.normal_(module.weight, mean=0.0, std=0.02)
            # nn.LayerNorm already starts at weight 1, bias 0.

    # ---- encoder ---------------------------------------------------------------------------

    def _check_ids(self, name: str, ids: Tensor, max_len: int) -> None:
        if ids.ndim != 2 or ids.dtype not in (torch.long, torch.int32):
            raise ValueError(f"{name} must be an integer tensor (B, L), got {ids.dtype} {tuple(ids.shape)}")
        if ids.shape[1] > max_len:
            raise ValueError(f"{name} length {ids.shape[1]} exceeds the position table ({max_len})")
        if ids.shape[1] == 0:
            raise ValueError(f"{name} must hold at least one position")

    def source_mask(self, src: Tensor) -> Tensor:
        """src (B, S) -> bool (B, 1, 1, S), True at keys that may be attended to (not pad_id).

        Kept even when nothing is padded: dropping it measured no faster (issue 13, candidate
        "float32 unmasked" in benchmarks/README.md).

        A source made only of padding attends to all its positions instead, which keeps the
        softmax finite; such a row has no content, so what it decodes is meaningless anyway.
        """
        keep = src != self.pad_id  # (B, S)
        keep = keep | ~keep.any(dim=1, keepdim=True)
        return keep[:, None, None, :]  # (B, 1, 1, S)

    def encode(self, src: Tensor) -> tuple[Tensor, Tensor]:
        """src (B, S) ids -> memory (B, S, C) and source mask bool (B, 1, 1, S)."""
        self._check_ids("src", src, self.max_src_len)
        S = src.shape[1]
        pos = torch.arange(S, device=src.device)  # (S,)
        x = self.drop(self.tok_emb(src) + self.src_pos(pos))  # (B, S, C)
        src_mask = self.source_mask(src)
        for block in self.encoder:
            x = block(x, src_mask)
        return self.enc_ln(x), src_mask

    def _memory_kv(self, memory: Tensor) -> list[tuple[Tensor, Tensor]]:
        return [block.cross_attn.memory_kv(memory) for block in self.decoder]

    # ---- decoder ---------------------------------------------------------------------------

    def _decode_full(self, tgt_in: Tensor, mem_kv: list[tuple[Tensor, Tensor]], src_mask: Tensor) -> Tensor:
        """tgt_in (B, T) -> final decoder hidden states (B, T, C), causal self-attention."""
        T = tgt_in.shape[1]
        pos = torch.arange(T, device=tgt_in.device)  # (T,)
        x = self.drop(self.tok_emb(tgt_in) + self.tgt_pos(pos))  # (B, T, C)
        for block, (mem_k, mem_v) in zip(self.decoder, mem_kv, strict=True):
            x = block(x, mem_k, mem_v, src_mask)
        return self.dec_ln(x)

    def forward(self, src: Tensor, tgt_in: Tensor) -> Tensor:
        """Teacher-forced logits.

        Args:
            src: (B, S) source ids, padded with pad_id (padding is masked as attention key).
            tgt_in: (B, T) decoder input ids (BOS followed by the target shifted right).
        Returns:
            logits (B, T, V); position t depends on src and tgt_in[:, :t+1] only.
        """
        self._check_ids("tgt_in", tgt_in, self.max_tgt_len)
        if src.shape[0] != tgt_in.shape[0]:
            raise ValueError(f"src and tgt_in batch sizes differ: {src.shape[0]} != {tgt_in.shape[0]}")
        memory, src_mask = self.encode(src)
        h = self._decode_full(tgt_in, self._memory_kv(memory), src_mask)  # (B, T, C)
        return self.lm_head(h)  # (B, T, V)

    @torch.no_grad()
    def greedy_decode(
        self, src: Tensor, max_len: int, bos_id: int, eos_id: int, use_cache: bool = True
    ) -> Tensor:
        """Batched greedy decoding (argmax at every step, ties to the lowest id).

        Args:
            src: (B, S) source ids.
            max_len: most tokens generated per row (EOS included); max_len <= max_tgt_len.
            bos_id, eos_id: start and end tokens.
            use_cache: True keeps per-layer self-attention K/V caches and runs one position per
                step; False recomputes the whole decoder over the prefix at every step (the
                reference). Both return the same tokens up to floating-point ties.
        Returns:
            LongTensor (B, L), L <= max_len: generated tokens after BOS; stops once every row
            has produced EOS (kept in the output); positions after a row's EOS hold pad_id.
        """
        _check_int("max_len", max_len, 1)
        if max_len > self.max_tgt_len:
            raise ValueError(f"max_len ({max_len}) exceeds max_tgt_len ({self.max_tgt_len})")
        for name, tok in (("bos_id", bos_id), ("eos_id", eos_id)):
            if not 0 <= tok < self.vocab_size:
                raise ValueError(f"{name} must lie in [0, {self.vocab_size}), got {tok}")
        was_training = self.training
        self.eval()  # greedy decoding is deterministic: no dropout
        try:
            return self._greedy(src, max_len, bos_id, eos_id, use_cache)
        finally:
            self.train(was_training)

    def _greedy(self, src: Tensor, max_len: int, bos_id: int, eos_id: int, use_cache: bool) -> Tensor:
        memory, src_mask = self.encode(src)
        # Per layer 2 x (B, nh, S, hs), computed once. Made contiguous because every step reads
        # them whole: the strided views of the fused KV projection made the single-query
        # attention ~1.5x slower on CPU (measured, benchmarks/bench_models.py).
        mem_kv = [(k.contiguous(), v.contiguous()) for k, v in self._memory_kv(memory)]
        B = src.shape[0]
        device = src.device
        # Column 0 is BOS; column t+1 receives the token generated at step t.
        tokens = torch.full((B, max_len + 1), self.pad_id, dtype=torch.long, device=device)
        tokens[:, 0] = bos_id
        finished = torch.zeros(B, dtype=torch.bool, device=device)
        caches = [_KVCache() for _ in self.decoder] if use_cache else None
        steps = 0
        for t in range(max_len):
            if use_cache:
                pos = torch.full((1,), t, dtype=torch.long, device=device)
                x = self.tok_emb(tokens[:, t : t + 1]) + self.tgt_pos(pos)  # (B, 1, C)
                for block, (mem_k, mem_v), cache in zip(self.decoder, mem_kv, caches, strict=True):
                    x = block(x, mem_k, mem_v, src_mask, cache=cache, cache_len=max_len)
                h = self.dec_ln(x[:, -1])  # (B, C)
            else:
                h = self._decode_full(tokens[:, : t + 1], mem_kv, src_mask)[:, -1]  # (B, C)
            next_tok = self.lm_head(h).argmax(dim=-1)  # (B,)
            next_tok = torch.where(finished, torch.full_like(next_tok, self.pad_id), next_tok)
            tokens[:, t + 1] = next_tok
            finished |= next_tok == eos_id
            steps = t + 1
            if bool(finished.all()):
                break
        return tokens[:, 1 : steps + 1]


def num_parameters(model: nn.Module) -> int:
    """Number of distinct trainable parameters (tied weights counted once)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
