"""experiments.token_loss: token roles, the teacher-forced CE breakdown and the mantissa loss.

References are independent of the code under test: Python's own "%.2e" formatting for the
mantissa of a number, closed forms for the loss of a point mass and of a uniform distribution,
and a stub model whose only error is a known shift of the mantissa token.
"""

import numpy as np
import pytest
import torch
from torch import nn

from experiments.config import ConfigError, TrainConfig, load_config
from experiments.data import get_encoding
from experiments.token_loss import (
    mantissa_error_loss,
    scheduled_sampling_inputs,
    teacher_forcing_batch,
    token_breakdown,
)

X = np.array([3.14159, -0.5, 271.8, -1.0e-3, 9.996, 0.0])


def mantissa_from_format(x: float) -> int:
    """The 3-significant-digit integer mantissa of x, signed, from Python's formatting."""
    digits, _ = f"{abs(x):.2e}".split("e")
    m = int(digits.replace(".", ""))
    return -m if x < 0 else m


@pytest.mark.parametrize("name", ["P10", "P1000", "B1999", "FP15"])
def test_number_roles_name_the_tokens(name):
    enc = get_encoding(name)
    assert len(enc.number_roles) == enc.tokens_per_number
    for x in X:
        for role, token in zip(enc.number_roles, enc.encode_number(x), strict=True):
            if role == "sign":
                assert token == ("-" if x < 0 else "+")
            elif role == "exponent":
                assert token.startswith("E")
            elif role == "mantissa":
                assert int(token) == abs(mantissa_from_format(x))
            elif role.startswith("digit"):
                k = int(role.split()[1]) - 1
                assert token == f"{abs(mantissa_from_format(x)):03d}"[k]
            elif role == "signed mantissa":
                assert token == f"N{mantissa_from_format(x)}"
            else:
                assert role == "number" and name == "FP15"


@pytest.mark.parametrize("name", ["P1000", "B1999"])
def test_mantissa_token_table_reads_the_mantissa(name):
    enc = get_encoding(name)
    j, table = enc.mantissa_token()
    ids = np.array([[enc.token_to_id[t] for t in enc.encode_number(x)] for x in X])
    expected = [mantissa_from_format(x) if name == "B1999" else abs(mantissa_from_format(x)) for x in X]
    assert table[ids[:, j]].tolist() == expected
    others = np.delete(ids, j, axis=1)
    assert np.isnan(table[others]).all()


def test_encodings_without_one_mantissa_token():
    assert get_encoding("P10").mantissa_token() is None
    assert get_encoding("FP15").mantissa_token() is None
    assert get_encoding("P1000", precision=4).mantissa_token() is None  # two base-1000 tokens


class ShiftedMantissaOracle(nn.Module):
    """Teacher-forced logits that are sure of the true next token, except that every P1000
    mantissa m is predicted as m + 1 (m - 1 at 999)."""

    def __init__(self, encoding, n):
        super().__init__()
        self.enc, self.n = encoding, n

    def forward(self, src, tgt_in):
        eos = torch.full_like(tgt_in[:, :1], self.enc.eos_id)
        target = torch.cat([tgt_in[:, 1:], eos], dim=1).clone()  # = tgt_out
        pos = 2 + 3 * torch.arange(self.n * self.n) + 1
        m = target[:, pos] - self.enc.token_to_id["0"]
        target[:, pos] += torch.where(m < 999, 1, -1)
        return 20.0 * nn.functional.one_hot(target, len(self.enc.vocab)).float()


def test_token_breakdown_of_a_known_mantissa_shift():
    enc, n = get_encoding("P1000"), 3
    g = torch.Generator().manual_seed(0)
    F = torch.randn(40, n, n, generator=g, dtype=torch.float64) * 10.0 ** torch.randint(
        -2, 3, (40, 1, 1), generator=g
    )
    A = torch.randn(40, n, n, generator=g, dtype=torch.float64)
    result = token_breakdown(ShiftedMantissaOracle(enc, n), enc, A, F, chunk=15)
    roles = {r["role"]: r for r in result["roles"]}
    assert set(roles) == {"sign", "mantissa", "exponent", "structure"}
    assert sum(r["ce_share"] for r in roles.values()) == pytest.approx(1.0)
    assert roles["mantissa"]["top1"] == 0.0
    assert roles["sign"]["top1"] == roles["exponent"]["top1"] == roles["structure"]["top1"] == 1.0
    assert roles["mantissa"]["mean_ce"] == pytest.approx(20.0, abs=1e-3)  # log-sum-exp of a 20-logit gap
    assert roles["mantissa"]["tokens"] == 40 * n * n
    # A miss's cost: the entry written with mantissa m + 1 instead of m is off by 1/m.
    m = np.abs([mantissa_from_format(x) for x in F.flatten().tolist()]).astype(float)
    cost = np.where(m < 999, 1.0 / m, 1.0 / 999)
    assert roles["mantissa"]["miss_median_rel_error"] == pytest.approx(np.median(cost), rel=1e-12)
    assert roles["mantissa"]["miss_share_above_5pct"] == 0.0
    assert roles["sign"]["miss_median_rel_error"] is None  # no misses
    # The mantissa softmax puts e^20 / Z on the shifted mantissa and 1 / Z on each of the other
    # 999, Z = e^20 + 999: the expected distance to m over max(m, 100), averaged over entries.
    values, shifted = np.arange(1000.0), np.where(m < 999, m + 1, m - 1)
    weights = np.where(values[None, :] == shifted[:, None], np.exp(20.0), 1.0)
    distance = (weights * np.abs(values[None, :] - m[:, None])).sum(1) / weights.sum(1)
    assert result["mantissa_loss"] == pytest.approx(np.mean(distance / np.maximum(m, 100)), rel=1e-5)


def _targets(enc, F):
    _, _, tgt_out = teacher_forcing_batch(enc, torch.zeros_like(F), F)
    return tgt_out


@pytest.mark.parametrize("name", ["P1000", "B1999"])
def test_mantissa_loss_of_a_point_mass_is_the_relative_shift(name):
    enc, n = get_encoding(name), 2
    F = torch.tensor([[[3.14, -0.5], [271.8, 120.0]]], dtype=torch.float64)
    tgt = _targets(enc, F)
    j, table = enc.mantissa_token()
    pos = 2 + enc.tokens_per_number * torch.arange(n * n) + j
    logits = torch.zeros(1, tgt.shape[1], len(enc.vocab))
    shifted = tgt[0, pos] + 7  # seven mantissa steps up, every true mantissa is below 990
    logits[0, pos, shifted] = 60.0
    m = np.array([mantissa_from_format(x) for x in F.flatten().tolist()], dtype=float)
    expected = np.mean(7.0 / np.maximum(np.abs(m), 100))
    assert float(mantissa_error_loss(logits, tgt, enc, n)) == pytest.approx(expected, rel=1e-5)


def test_mantissa_loss_of_the_uniform_distribution():
    enc, n = get_encoding("P1000"), 2
    F = torch.tensor([[[3.14, -0.5], [0.0, 999.0]]], dtype=torch.float64)
    tgt = _targets(enc, F)
    logits = torch.randn(1, tgt.shape[1], len(enc.vocab))
    _, table = enc.mantissa_token()
    logits[:, :, ~torch.from_numpy(np.isnan(table))] = 0.0  # equal logits on the 1000 mantissas
    values = np.arange(1000.0)
    m = np.abs([mantissa_from_format(x) for x in F.flatten().tolist()]).astype(float)
    expected = np.mean([np.abs(values - mi).mean() / max(mi, 100) for mi in m])
    assert float(mantissa_error_loss(logits, tgt, enc, n)) == pytest.approx(expected, rel=1e-5)


def test_mantissa_loss_refuses_other_encodings():
    enc = get_encoding("FP15")
    with pytest.raises(ValueError, match="P1000 at precision <= 3, B1999"):
        mantissa_error_loss(torch.zeros(1, 12, len(enc.vocab)), torch.zeros(1, 12, dtype=torch.long), enc, 3)


@pytest.mark.parametrize("overrides", [["encoding=FP15"], ["encoding=P10"], ["precision=4"]])
def test_config_refuses_mantissa_loss_without_a_mantissa_token(overrides):
    with pytest.raises(ConfigError, match="mantissa as one token"):
        load_config("tiny-transformer", ["mantissa_loss=1", *overrides])


def test_config_refuses_mantissa_loss_for_the_mlp():
    with pytest.raises(ConfigError, match="mantissa as one token"):
        load_config("tiny-mlp", ["mantissa_loss=1"])


@pytest.mark.parametrize("bad", [-1.0, float("inf"), True, "1"])
def test_config_refuses_bad_mantissa_loss_weights(bad):
    with pytest.raises(ConfigError, match="mantissa_loss must be a finite number >= 0"):
        TrainConfig(mantissa_loss=bad)


def test_config_accepts_mantissa_loss_on_p1000_and_b1999():
    for enc in ("P1000", "B1999"):
        assert (
            load_config("tiny-transformer", ["mantissa_loss=2.5", f"encoding={enc}"]).train.mantissa_loss
            == 2.5
        )


def test_training_adds_the_weighted_mantissa_loss_to_the_cross_entropy(tmp_path):
    """Same seed, same first batch and weights: the first logged loss grows by exactly
    weight * the mantissa loss of that batch, recomputed here from a fresh model."""
    from experiments.run_folder import build_model, get_run_encoding
    from experiments.token_loss import seq2seq_loss
    from experiments.train import read_metrics, train, training_stream

    base = ["steps=1", "log_every=1", "threads=1", "cpu_amp=false", "amp=false", "dropout=0"]
    losses = {}
    for w in (0.0, 5.0):
        config = load_config("tiny-transformer", [*base, f"mantissa_loss={w}"])
        train(config, tmp_path / f"w{w}", quiet=True)
        rows = [r for r in read_metrics(tmp_path / f"w{w}") if r["kind"] == "train"]
        losses[w] = rows[0]["loss"]
    enc = get_run_encoding(config)
    torch.manual_seed(config.train.seed)
    model = build_model(config, enc)
    batch = next(training_stream(config))
    src, tgt_in, tgt_out = teacher_forcing_batch(enc, batch.A, batch.F)
    with torch.no_grad():
        logits = model(src, tgt_in)
        ce = float(seq2seq_loss(logits, tgt_out, enc.pad_id))
        term = float(mantissa_error_loss(logits, tgt_out, enc, config.data.n))
    assert losses[0.0] == pytest.approx(ce, rel=1e-5)
    assert losses[5.0] == pytest.approx(ce + 5.0 * term, rel=1e-5)
    assert term > 0


def test_sampling_probability_rises_linearly_to_its_maximum():
    tc = TrainConfig(steps=100, scheduled_sampling=0.4)
    assert [tc.sampling_probability(t) for t in (0, 25, 100, 10**6)] == pytest.approx([0.0, 0.1, 0.4, 0.4])
    assert TrainConfig().sampling_probability(50) == 0.0  # off by default


class ConstantGuess(nn.Module):
    """Logits sure of one token everywhere."""

    def __init__(self, token, vocab):
        super().__init__()
        self.token, self.vocab = token, vocab

    def forward(self, src, tgt_in):
        guess = torch.full_like(tgt_in, self.token)
        return nn.functional.one_hot(guess, self.vocab).float()


def test_scheduled_sampling_replaces_tokens_after_bos_with_the_models_guess():
    enc = get_encoding("P1000")
    F = torch.randn(200, 3, 3, dtype=torch.float64)
    src, tgt_in, _ = teacher_forcing_batch(enc, F, F)
    guess = enc.token_to_id["7"]
    model = ConstantGuess(guess, len(enc.vocab))
    assert scheduled_sampling_inputs(model, src, tgt_in, 0.0) is tgt_in
    every = scheduled_sampling_inputs(model, src, tgt_in, 1.0)
    assert (every[:, 0] == enc.bos_id).all() and (every[:, 1:] == guess).all()
    torch.manual_seed(0)
    half = scheduled_sampling_inputs(model, src, tgt_in, 0.5)
    assert (half[:, 0] == enc.bos_id).all()
    kept, swapped = half[:, 1:] == tgt_in[:, 1:], half[:, 1:] == guess
    assert (kept | swapped).all()
    # Replaced positions whose true token is not the guess: Binomial(N, 1/2), within 5 sigma.
    differ = tgt_in[:, 1:] != guess
    k, N = int((swapped & differ).sum()), int(differ.sum())
    assert abs(k - N / 2) < 5 * (N / 4) ** 0.5


def test_config_refuses_scheduled_sampling_outside_the_transformer_and_0_1():
    with pytest.raises(ConfigError, match="scheduled_sampling > 0 is for the transformer"):
        load_config("tiny-mlp", ["scheduled_sampling=0.5"])
    for bad in (-0.1, 1.5, True):
        with pytest.raises(ConfigError, match=r"scheduled_sampling must be a probability in \[0, 1\]"):
            TrainConfig(scheduled_sampling=bad)


def test_position_errors_closed_form():
    from experiments.token_loss import position_errors

    F = torch.tensor([[[1.0, -2.0], [3.0, -6.0]], [[2.0, 2.0], [2.0, 2.0]], [[1.0, 1.0], [1.0, 1.0]]])
    delta = torch.tensor([[[0.3, 0.0], [0.0, 1.2]], [[0.0, 0.2], [0.0, 0.0]], [[9.0, 9.0], [9.0, 9.0]]])
    valid = torch.tensor([True, True, False])  # the third is left out, however wrong
    # mean |F| is 3 and 2: errors / mean |F| are (0.1, 0, 0, 0.4) and (0, 0.1, 0, 0); medians of
    # two values are the lower one (torch.median).
    assert position_errors(F + delta, valid, F) == pytest.approx([0.0, 0.0, 0.0, 0.0])
    valid = torch.tensor([True, False, False])
    assert position_errors(F + delta, valid, F) == pytest.approx([0.1, 0.0, 0.0, 0.4])
    assert all(np.isnan(position_errors(F, torch.zeros(3, dtype=torch.bool), F)))
