"""Restricting an FP15 transformer to the tokens of its training stream (experiments.vocabulary)."""

import json

import numpy as np
import pytest
import torch

import experiments.data.sampling as sampling
from experiments.__main__ import main
from experiments.data import TestSet, get_encoding, make_test_set
from experiments.evaluate import evaluate_model, load_trained
from experiments.shipped import export_model, load_model
from experiments.vocabulary import KEPT_KEY, RestrictedHead, nearest_kept, training_token_ids

FP15 = get_encoding("FP15")


def _fp15_values() -> np.ndarray:
    """Token values from the token names alone (``N{m}e{e}`` is m 10^(e - L)), independent of
    the encoding's own tables."""
    out = np.full(len(FP15.vocab), np.nan)
    for i, t in enumerate(FP15.vocab):
        if t.startswith("N"):
            m, e = t[1:].split("e")
            out[i] = int(m) * 10.0 ** (int(e) - FP15.L)
        elif t in ("OVF", "-OVF"):
            out[i] = 10.0**FP15.L * (1 if t == "OVF" else -1)
    return out


def test_nearest_kept_is_the_brute_force_nearest_value():
    values = _fp15_values()
    rng = np.random.default_rng(0)
    numbers = np.flatnonzero(~np.isnan(values))
    kept = np.union1d(np.flatnonzero(np.isnan(values)), rng.choice(numbers, 300, replace=False))
    got = nearest_kept(FP15, torch.from_numpy(kept)).numpy()
    kept_numbers = kept[~np.isnan(values[kept])]
    assert np.array_equal(got[kept], kept)  # kept tokens read as themselves
    for j in rng.choice(np.setdiff1d(numbers, kept), 500, replace=False):
        dist = np.abs(values[kept_numbers] - values[j])
        # Equal to the brute-force minimum distance (ties may pick either side).
        assert abs(values[got[j]] - values[j]) == pytest.approx(dist.min(), rel=1e-12, abs=1e-300)


def test_nearest_kept_refuses_dropped_structure_tokens():
    with pytest.raises(ValueError, match="non-number token"):
        nearest_kept(FP15, torch.tensor([5, 100, 200]))
    with pytest.raises(ValueError, match="one-token-per-number"):
        nearest_kept(get_encoding("P1000"), torch.arange(10))


def test_restricted_head_matches_the_full_projection_on_kept_tokens():
    g = torch.Generator().manual_seed(1)
    W = torch.randn(50, 8, generator=g)
    kept = torch.tensor([0, 3, 7, 20, 49])
    head = RestrictedHead(W[kept], kept, 50)
    h = torch.randn(4, 3, 8, generator=g)
    logits = head(h)
    full = h @ W.T
    assert logits.shape == (4, 3, 50)
    torch.testing.assert_close(logits[..., kept], full[..., kept], rtol=0, atol=1e-6)
    dropped = torch.ones(50, dtype=torch.bool)
    dropped[kept] = False
    assert torch.isneginf(logits[..., dropped]).all()


@pytest.fixture(scope="module")
def fp15_run(tmp_path_factory):
    """A tiny 2x2 exp FP15 run, with every batch its training loop drew recorded."""
    root = tmp_path_factory.mktemp("vocab")
    drawn = []
    original = sampling.MatrixStream.__next__

    def recording(self):
        batch = original(self)
        drawn.append((batch.A.clone(), batch.F.clone()))
        return batch

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(sampling.MatrixStream, "__next__", recording)
        args = ["train", "--config", "tiny-transformer", "--set", "encoding=FP15", "--set", "threads=1"]
        assert main([*args, "--out", str(root / "run"), "--quiet"]) == 0
    return root, drawn


def test_training_token_ids_are_the_tokens_the_training_loop_drew(fp15_run):
    root, drawn = fp15_run
    _, _, config = load_trained(root / "run")
    steps = json.loads((root / "run" / "results.json").read_text())["steps"]
    assert len(drawn) == steps
    expected = set(np.flatnonzero(np.isnan(_fp15_values())).tolist())
    for A, F in drawn:
        for M in (A, F):
            for i in range(M.shape[0]):
                expected.update(FP15.token_to_id[t] for t in FP15.encode(M[i].numpy()))
    assert training_token_ids(config, FP15, steps).tolist() == sorted(expected)


def test_restricted_export_decodes_like_the_full_model_where_both_use_kept_tokens(fp15_run):
    root, _ = fp15_run
    out = root / "models"
    full_dir = export_model(root / "run", "full", out_dir=out)  # small enough: not restricted
    cut_dir = export_model(root / "run", "cut", out_dir=out, restrict=True)
    full_meta = json.loads((full_dir / "model.json").read_text())
    cut_meta = json.loads((cut_dir / "model.json").read_text())
    assert full_meta["vocabulary"] is None
    assert 0 < cut_meta["vocabulary"]["kept"] < cut_meta["vocabulary"]["of"] == len(FP15)
    assert cut_meta["weights_bytes"] < full_meta["weights_bytes"]
    state = torch.load(cut_dir / "weights.pt", weights_only=True)
    kept = state[KEPT_KEY]
    assert state["tok_emb.weight"].shape[0] == len(kept) and "lm_head.weight" not in state

    full, cut = load_model("full", out), load_model("cut", out)
    test = make_test_set(full.config.data.sampler_config(), 64, 7)
    src = FP15.encode_batch(test.A)
    is_kept = torch.zeros(len(FP15), dtype=torch.bool)
    is_kept[kept] = True
    max_len = FP15.sequence_length(2, 2) + 1
    with torch.no_grad():
        out_full = full.model.greedy_decode(src, max_len, FP15.bos_id, FP15.eos_id)
        out_cut = cut.model.greedy_decode(src, max_len, FP15.bos_id, FP15.eos_id)
    same_domain = is_kept[src].all(1) & is_kept[out_full].all(1)
    assert same_domain.sum() > 0
    assert torch.equal(out_full[same_domain], out_cut[same_domain])
    assert is_kept[out_cut].all()  # a restricted model never emits a dropped token

    # The record is what the shipped weights score, on the run's own test set.
    res = evaluate_model(
        cut.model, TestSet.load(root / "run" / "test_set.pt"), encoding=cut.encoding
    ).to_dict()
    assert res["accuracy"] == cut_meta["test"]["l1"]["accuracy"]


def test_restricting_another_encoding_is_refused(tmp_path):
    args = ["train", "--config", "tiny-transformer", "--set", "threads=1", "--set", "steps=2"]
    assert main([*args, "--out", str(tmp_path / "run"), "--quiet"]) == 0
    with pytest.raises(ValueError, match="one-token-per-number"):
        export_model(tmp_path / "run", "x", out_dir=tmp_path / "models", restrict=True)


def test_predict_warns_on_an_entry_token_unseen_in_training(fp15_run, monkeypatch, capsys, tmp_path):
    import experiments.shipped as shipped_mod
    from experiments.predict import predict_matrices

    root, drawn = fp15_run
    out = root / "models-predict"
    export_model(root / "run", "cut", out_dir=out, restrict=True)
    cut = load_model("cut", out)
    seen = drawn[0][0][:2]  # training inputs: every token occurred
    assert predict_matrices(cut, seen).outside == [None, None]
    A = np.array([[0.5, 1.23e-7], [0.2, 0.3]])  # 1.23e-7: a token 320 draws do not produce
    assert FP15.token_to_id[FP15.encode_number(1.23e-7)[0]] not in set(cut.model.lm_head.kept.tolist())
    np.save(tmp_path / "A.npy", A)
    monkeypatch.setattr(shipped_mod, "MODELS_DIR", out)
    assert main(["predict", "--model", "cut", "--input", str(tmp_path / "A.npy")]) == 0
    assert "token never occurred in training" in capsys.readouterr().err
