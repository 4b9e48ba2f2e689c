"""Seq2SeqTransformer: masks, padding, cached vs recomputed greedy decoding, autocast, gradients.

References are independent of the model's code paths: a naive softmax attention written here,
hand-built models whose greedy output is known, and a copy task whose answer is the input.
"""

import math

import pytest
import torch
import torch.nn.functional as F

from experiments.models.transformer import (
    SelfAttention,
    Seq2SeqTransformer,
    attend_one_query,
    attention,
    explicit_attention,
    num_parameters,
)

PAD, BOS, EOS = 0, 1, 2  # DATA_API.md


def small_model(seed=0, **kw):
    torch.manual_seed(seed)
    cfg = dict(d_model=32, n_heads=4, enc_layers=2, dec_layers=2, d_ff=64)
    cfg.update(kw)
    return Seq2SeqTransformer(cfg.pop("vocab_size", 40), **cfg).eval()


def random_ids(shape, vocab, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(3, vocab, shape, generator=g)  # no special tokens


def test_attention_matches_naive_softmax_with_padding_mask():
    torch.manual_seed(0)
    attn = SelfAttention(d_model=16, n_heads=2, dropout=0.0)
    x = torch.randn(3, 5, 16, dtype=torch.float64)
    attn = attn.double()
    keep = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [1, 0, 1, 0, 1]], dtype=torch.bool)
    out = attn(x, attn_mask=keep[:, None, None, :])
    # naive: per head softmax(q k^T / sqrt(hs)) with masked keys at -inf
    W, b = attn.qkv.weight, attn.qkv.bias
    q, k, v = (x @ W.T + b).split(16, dim=-1)
    heads = []
    for h in range(2):
        sl = slice(8 * h, 8 * h + 8)
        scores = q[..., sl] @ k[..., sl].transpose(1, 2) / math.sqrt(8)  # (B, T, T)
        scores = scores.masked_fill(~keep[:, None, :], float("-inf"))
        heads.append(torch.softmax(scores, dim=-1) @ v[..., sl])
    ref = torch.cat(heads, dim=-1) @ attn.proj.weight.T + attn.proj.bias
    torch.testing.assert_close(out, ref, rtol=1e-12, atol=1e-12)


def test_one_query_attention_matches_naive_and_sdpa():
    g = torch.Generator().manual_seed(3)
    q = torch.randn(4, 2, 1, 8, generator=g, dtype=torch.float64)
    k = torch.randn(4, 2, 6, 8, generator=g, dtype=torch.float64)
    v = torch.randn(4, 2, 6, 8, generator=g, dtype=torch.float64)
    keep = torch.rand(4, 1, 1, 6, generator=g) < 0.6
    keep[..., 0] = True  # every row keeps one key
    out = attend_one_query(q, k, v, keep)
    # naive, one (batch, head) at a time
    for b in range(4):
        for h in range(2):
            s = (k[b, h] @ q[b, h, 0]) / math.sqrt(8)  # (S,)
            w = torch.exp(s - s[keep[b, 0, 0]].max()) * keep[b, 0, 0]
            torch.testing.assert_close(out[b, h, 0], (w / w.sum()) @ v[b, h], rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v, attn_mask=keep))
    torch.testing.assert_close(attend_one_query(q, k, v), F.scaled_dot_product_attention(q, k, v))


@pytest.mark.parametrize("is_causal", [False, True])
def test_explicit_attention_matches_naive_softmax(is_causal):
    # Several queries, a padding mask or a causal mask, float64: against a per-(batch, head) loop.
    g = torch.Generator().manual_seed(5)
    q, k, v = (torch.randn(3, 2, 6, 8, generator=g, dtype=torch.float64) for _ in range(3))
    keep = None if is_causal else torch.rand(3, 1, 1, 6, generator=g) < 0.7
    if keep is not None:
        keep[..., 0] = True
    out = explicit_attention(q, k, v, keep, is_causal=is_causal)
    assert out.dtype == torch.float64
    for b in range(3):
        for h in range(2):
            for t in range(6):
                s = (k[b, h] @ q[b, h, t]) / math.sqrt(8)  # (S,)
                allowed = torch.arange(6) <= t if is_causal else keep[b, 0, 0]
                w = torch.exp(s - s[allowed].max()) * allowed
                ref = (w / w.sum()) @ v[b, h]
                torch.testing.assert_close(out[b, h, t], ref, rtol=1e-12, atol=1e-12)
    sdpa = F.scaled_dot_product_attention(q, k, v, attn_mask=keep, is_causal=is_causal)
    torch.testing.assert_close(out, sdpa)


def test_bf16_attention_on_cpu_is_close_to_float32():
    # The CPU bf16 route (explicit matmuls, float32 softmax) against float32 SDPA: bf16 has an
    # 8-bit significand, so agreement to a few times 2^-8 of the output's scale is what it can give.
    g = torch.Generator().manual_seed(6)
    q, k, v = (torch.randn(4, 2, 9, 16, generator=g) for _ in range(3))
    ref = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    out = attention(q.bfloat16(), k.bfloat16(), v.bfloat16(), is_causal=True)
    assert out.dtype == torch.bfloat16
    torch.testing.assert_close(out.float(), ref, rtol=0.0, atol=4 * 2.0**-8 * float(ref.abs().max()))


def test_decoder_is_causal():
    model = small_model()
    src = random_ids((4, 9), 40, seed=1)
    tgt = random_ids((4, 12), 40, seed=2)
    k = 6
    changed = tgt.clone()
    changed[:, k:] = random_ids((4, 12 - k), 40, seed=3)
    assert not torch.equal(changed[:, k], tgt[:, k])
    with torch.no_grad():
        a, b = model(src, tgt), model(src, changed)
    torch.testing.assert_close(a[:, :k], b[:, :k], rtol=0, atol=1e-6)
    # the changed positions themselves do see the change (so this test can fail)
    assert (a[:, k:] - b[:, k:]).abs().max() > 1e-3


def test_source_padding_does_not_change_outputs():
    model = small_model()
    src = random_ids((3, 7), 40, seed=4)
    src[1, 5:] = PAD  # a row already padded
    tgt = random_ids((3, 10), 40, seed=5)
    padded = torch.cat([src, torch.full((3, 4), PAD)], dim=1)  # (3, 11)
    with torch.no_grad():
        a, b = model(src, tgt), model(padded, tgt)
        # the same extra positions holding a real token do change the logits: the mask matters
        c = model(torch.cat([src, torch.full((3, 4), 7)], dim=1), tgt)
    torch.testing.assert_close(a, b, rtol=0, atol=1e-5)
    assert (a - c).abs().max() > 1e-3
    assert torch.equal(model.greedy_decode(src, 10, BOS, EOS), model.greedy_decode(padded, 10, BOS, EOS))


def test_all_padding_source_gives_finite_logits():
    model = small_model()
    src = torch.full((2, 5), PAD)
    with torch.no_grad():
        assert torch.isfinite(model(src, random_ids((2, 3), 40, seed=6))).all()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_cached_and_uncached_greedy_agree_on_random_model(seed):
    model = small_model(seed=seed, vocab_size=60, max_tgt_len=40)
    src = random_ids((16, 11), 60, seed=10 + seed)
    src[::3, 8:] = PAD
    cached = model.greedy_decode(src, 40, BOS, EOS, use_cache=True)
    full = model.greedy_decode(src, 40, BOS, EOS, use_cache=False)
    assert cached.dtype == torch.long and cached.shape[0] == 16 and 1 <= cached.shape[1] <= 40
    assert torch.equal(cached, full)


def test_greedy_stops_when_every_row_emits_eos():
    # Zero every weight into the final LayerNorm's output and put its bias on EOS's embedding:
    # the logits are then the same for every input and EOS wins at the first step.
    model = small_model()
    with torch.no_grad():
        model.dec_ln.weight.zero_()
        model.dec_ln.bias.copy_(model.tok_emb.weight[EOS] * 10.0)
    out = model.greedy_decode(random_ids((5, 6), 40, seed=7), 30, BOS, EOS)
    assert torch.equal(out, torch.full((5, 1), EOS))
    out = model.greedy_decode(random_ids((5, 6), 40, seed=7), 30, BOS, EOS, use_cache=False)
    assert torch.equal(out, torch.full((5, 1), EOS))


def copy_batch(B, L, vocab, g):
    """Sources of random length 3..L (PAD after), targets = source then EOS."""
    lens = torch.randint(3, L + 1, (B,), generator=g)
    src = torch.randint(3, vocab, (B, L), generator=g)
    src[torch.arange(L)[None, :] >= lens[:, None]] = PAD
    tgt = torch.full((B, L + 1), PAD)
    tgt[:, :L] = src
    tgt[torch.arange(B), lens] = EOS
    tgt_in = torch.cat([torch.full((B, 1), BOS), tgt[:, :-1]], dim=1)  # shifted right
    return src, tgt_in, tgt


@pytest.fixture(scope="module")
def copy_model():
    """A 1+1-layer model trained 100 AdamW steps to copy its source (about 1 s on one core)."""
    vocab, L = 12, 8
    torch.manual_seed(0)
    model = Seq2SeqTransformer(
        vocab, d_model=64, n_heads=4, enc_layers=1, dec_layers=1, d_ff=128,
        max_src_len=L, max_tgt_len=L + 1,
    )  # fmt: skip
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(0)
    for _ in range(100):
        src, tgt_in, tgt = copy_batch(64, L, vocab, g)
        logits = model(src, tgt_in)  # (B, T, V)
        loss = F.cross_entropy(logits.reshape(-1, vocab), tgt.reshape(-1), ignore_index=PAD)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval(), vocab, L


def test_trained_copy_model_decodes_its_source(copy_model):
    model, vocab, L = copy_model
    src, _, tgt = copy_batch(256, L, vocab, torch.Generator().manual_seed(99))
    cached = model.greedy_decode(src, L + 1, BOS, EOS)
    full = model.greedy_decode(src, L + 1, BOS, EOS, use_cache=False)
    assert torch.equal(cached, full)
    # the right answer is the source followed by EOS, then PAD: rows after EOS hold pad_id
    exact = (cached == tgt[:, : cached.shape[1]]).all(dim=1)
    assert exact.float().mean() >= 0.95
    # early stop: shorter outputs when every source is short
    short = src.clone()
    short[:, 4:] = PAD
    out = model.greedy_decode(short, L + 1, BOS, EOS)
    assert out.shape[1] <= 5 and (out == EOS).any(dim=1).all()


def test_forward_and_decode_under_bf16_autocast():
    model = small_model()
    src, tgt = random_ids((4, 9), 40, seed=8), random_ids((4, 7), 40, seed=9)
    with torch.no_grad():
        ref = model(src, tgt)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = model(src, tgt)
            tokens = model.greedy_decode(src, 12, BOS, EOS)
    assert low.dtype == torch.bfloat16 and torch.isfinite(low).all()
    # bf16 keeps ~3 significant digits; logits agree to a few percent of their spread
    assert (low.float() - ref).abs().max() < 0.05 * ref.abs().max()
    assert tokens.dtype == torch.long and tokens.shape[0] == 4


def test_gradient_reaches_every_parameter():
    S, T = 6, 5
    model = small_model(max_src_len=S, max_tgt_len=T).train()
    src, tgt_in = random_ids((3, S), 40, seed=11), random_ids((3, T), 40, seed=12)
    tgt_in[:, 0] = BOS
    logits = model(src, tgt_in)
    F.cross_entropy(logits.reshape(-1, 40), random_ids((3 * T,), 40, seed=13)).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    # tied head: the output projection is the token embedding, counted once
    assert model.lm_head.weight is model.tok_emb.weight
    assert num_parameters(model) == sum(p.numel() for p in set(model.parameters()))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(d_model=30, n_heads=4), "divisible"),
        (dict(dropout=1.0), "dropout"),
        (dict(pad_id=50), "pad_id"),
        (dict(enc_layers=-1), "enc_layers"),
        (dict(d_model=0), "d_model"),
    ],
)
def test_bad_configuration_raises(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Seq2SeqTransformer(40, **kwargs)


def test_bad_inputs_raise():
    model = small_model(max_src_len=8, max_tgt_len=8)
    src = random_ids((2, 5), 40, seed=14)
    with pytest.raises(ValueError, match="max_tgt_len"):
        model.greedy_decode(src, 9, BOS, EOS)
    with pytest.raises(ValueError, match="position table"):
        model(random_ids((2, 9), 40, seed=15), src)
    with pytest.raises(ValueError, match="integer tensor"):
        model(src.float(), src)
    with pytest.raises(ValueError, match="eos_id"):
        model.greedy_decode(src, 4, BOS, 40)


# CUDA joins when present (no skip on CPU-only machines: the list is just shorter).
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.mark.parametrize("device", DEVICES)
def test_device_forward_matches_cpu_and_decoding_agrees(device):
    model = small_model(vocab_size=60, max_tgt_len=30)
    src = random_ids((8, 10), 60, seed=16)
    src[::2, 7:] = PAD
    tgt = random_ids((8, 12), 60, seed=17)
    with torch.no_grad():
        ref = model(src, tgt)
        moved = model.to(device)
        out = moved(src.to(device), tgt.to(device)).cpu()
        cached = moved.greedy_decode(src.to(device), 30, BOS, EOS)
        full = moved.greedy_decode(src.to(device), 30, BOS, EOS, use_cache=False)
        with torch.autocast(device, dtype=torch.bfloat16):
            low = moved(src.to(device), tgt.to(device))
    # TF32 / kernel choice on CUDA: agree to 1e-3 of the logit scale, not bitwise
    assert (out - ref).abs().max() <= 1e-3 * ref.abs().max()
    assert cached.device.type == device and torch.equal(cached, full)
    assert low.dtype == torch.bfloat16 and torch.isfinite(low).all()
