"""Model selection on a validation set (train.validation_size): which weights a run delivers.

References are independent of the selection code: the weights of step k of a constant-rate run
are those of a separate run stopped at step k (the schedule does not depend on the total), and
the validation scores are scripted, so the expected choice is known in advance.
"""

from __future__ import annotations

import json

import pytest
import torch

import experiments.train as train_mod
from experiments.config import ConfigError, load_config
from experiments.data import make_test_set
from experiments.train import load_checkpoint, read_metrics, train, validation_seed

BASE = ["threads=1", "schedule=constant", "steps=60", "eval_every=20", "checkpoint_every=20"]


def _script_validation(monkeypatch, scores: dict[int, float]) -> list[int]:
    """Replace the validation score at step k by scores[k]; the test scores stay real."""
    real = train_mod._score
    seen = []

    def fake(s, test_set, size=None):
        res = real(s, test_set, size)
        if test_set is s.validation_set:
            seen.append(s.step)
            res["accuracy"]["0.05"]["acc"] = scores[s.step]
        return res

    monkeypatch.setattr(train_mod, "_score", fake)
    return seen


def _final(run) -> dict:
    return json.loads((run / "results.json").read_text())["final"]["l1"]


def test_validation_set_is_its_own_draw_from_the_training_distribution():
    cfg = load_config("tiny-mlp", ["validation_size=64"])
    for test_seed in (0, 1, 4242, cfg.data.test_seed):
        assert validation_seed(test_seed) != test_seed
    sampler = cfg.data.sampler_config()
    val = make_test_set(sampler, 64, validation_seed(cfg.data.test_seed))
    test = make_test_set(sampler, 64, cfg.data.test_seed)
    assert not torch.equal(val.A, test.A)
    # Same distribution: f(A) of each validation matrix is exp(A) (scipy reference).
    from scipy.linalg import expm

    ref = torch.tensor(expm(val.A[0].double().numpy()))
    assert torch.allclose(val.F[0].double(), ref, rtol=1e-5, atol=1e-6)


def test_selection_never_changes_training(tmp_path):
    plain = train(load_config("tiny-mlp", BASE), tmp_path / "plain", quiet=True)
    chosen = train(load_config("tiny-mlp", [*BASE, "validation_size=32"]), tmp_path / "sel", quiet=True)
    assert chosen.losses == plain.losses


def test_best_validation_step_is_delivered(tmp_path, monkeypatch):
    seen = _script_validation(monkeypatch, {20: 0.5, 40: 0.7, 60: 0.6})
    run = tmp_path / "sel"
    cfg = load_config("tiny-mlp", [*BASE, "validation_size=32"])
    train(cfg, run, quiet=True)
    assert seen == [20, 40, 60]  # every evaluation and the end
    monkeypatch.undo()
    res = json.loads((run / "results.json").read_text())
    sel = res["selection"]
    assert (sel["step"], sel["validation_acc"], sel["last_step"]) == (40, 0.7, 60)
    assert sel["validation_seed"] == validation_seed(cfg.data.test_seed)

    # The delivered model is step 40's: a separate run stopped at 40 gives the same test result.
    stopped = train(load_config("tiny-mlp", [*BASE[:2], "steps=40", *BASE[3:]]), tmp_path / "s40", quiet=True)
    assert res["final"]["l1"] == stopped.final
    ckpt = load_checkpoint(run)
    ref = load_checkpoint(tmp_path / "s40")["model"]
    assert all(torch.equal(ckpt["model"][k], ref[k]) for k in ref)
    # The last step's result is kept: it is what a run without selection delivers.
    last = train(load_config("tiny-mlp", BASE), tmp_path / "last", quiet=True)
    assert sel["last_test"] == last.final
    final_line = [r for r in read_metrics(run) if r.get("final")]
    assert len(final_line) == 1 and final_line[0]["test"] == last.final


def test_ties_keep_the_earliest_and_the_last_model_can_win(tmp_path, monkeypatch):
    _script_validation(monkeypatch, {20: 0.5, 40: 0.5, 60: 0.5})
    train(load_config("tiny-mlp", [*BASE, "validation_size=32"]), tmp_path / "tie", quiet=True)
    assert json.loads((tmp_path / "tie" / "results.json").read_text())["selection"]["step"] == 20

    _script_validation(monkeypatch, {20: 0.5, 40: 0.6, 60: 0.8})
    run = tmp_path / "last"
    train(load_config("tiny-mlp", [*BASE, "validation_size=32"]), run, quiet=True)
    sel = json.loads((run / "results.json").read_text())["selection"]
    assert sel["step"] == 60 and sel["last_test"] is None  # the last model is the final one


def test_resume_keeps_the_best_so_far(tmp_path, monkeypatch):
    # Best at step 20, before the interruption: a resumed run that forgot it would pick 60.
    scores = {20: 0.9, 40: 0.5, 60: 0.6}
    cfg = load_config("tiny-mlp", [*BASE, "validation_size=32"])
    _script_validation(monkeypatch, scores)
    train(cfg, tmp_path / "ref", quiet=True)

    real_step = train_mod._train_step

    def interrupted(s, lr):
        if s.step == 45:
            raise KeyboardInterrupt
        return real_step(s, lr)

    monkeypatch.setattr(train_mod, "_train_step", interrupted)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, tmp_path / "run", quiet=True)
    assert load_checkpoint(tmp_path / "run")["best"]["step"] == 20
    monkeypatch.setattr(train_mod, "_train_step", real_step)
    train(cfg, tmp_path / "run", resume=True, quiet=True)
    ref = json.loads((tmp_path / "ref" / "results.json").read_text())
    got = json.loads((tmp_path / "run" / "results.json").read_text())
    assert got["selection"] == ref["selection"] and got["selection"]["step"] == 20
    assert got["final"] == ref["final"]


def test_finished_checkpoint_without_results_keeps_its_selection(tmp_path, monkeypatch):
    _script_validation(monkeypatch, {20: 0.9, 40: 0.5, 60: 0.6})
    cfg = load_config("tiny-mlp", [*BASE, "validation_size=32"])
    run = tmp_path / "run"
    train(cfg, run, quiet=True)
    first = json.loads((run / "results.json").read_text())
    (run / "results.json").unlink()
    train(cfg, run, resume=True, quiet=True)
    again = json.loads((run / "results.json").read_text())
    # The checkpoint holds the selected weights; scoring them again as "last" would be wrong.
    assert again["selection"] == first["selection"] and again["final"] == first["final"]


def test_validation_size_must_be_a_count():
    with pytest.raises(ConfigError, match="validation_size must be a non-negative integer"):
        load_config("tiny-mlp", ["validation_size=-1"])
