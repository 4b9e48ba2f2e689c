"""Shipped models (experiments.shipped) and `python -m experiments predict` / `models`."""

import json
from pathlib import Path

import numpy as np
import pytest
import scipy.linalg
import torch

import experiments.shipped as shipped_mod
from experiments.__main__ import main
from experiments.data import TestSet, make_test_set
from experiments.evaluate import evaluate_model
from experiments.predict import InputError, read_matrices, training_domain
from experiments.shipped import export_model, list_models, load_model

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory):
    """Two tiny runs (MLP and transformer on 2x2 exp), shipped into a temporary models folder."""
    root = tmp_path_factory.mktemp("ship")
    for config, name in (("tiny-mlp", "tiny-exp-mlp"), ("tiny-transformer", "tiny-exp-P1000")):
        run = root / "runs" / name
        assert main(["train", "--config", config, "--set", "threads=1", "--out", str(run), "--quiet"]) == 0
        export_model(run, name, out_dir=root / "models")
    return root / "models"


@pytest.fixture
def use_models(models_dir, monkeypatch):
    monkeypatch.setattr(shipped_mod, "MODELS_DIR", models_dir)
    return models_dir


def _one_line_error(capsys) -> str:
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    return lines[0]


def test_export_stores_float16_parameters_and_scores_them(models_dir):
    for name in ("tiny-exp-mlp", "tiny-exp-P1000"):
        state = torch.load(models_dir / name / "weights.pt", weights_only=True)
        shipped = load_model(name, models_dir)
        params = dict(shipped.model.named_parameters())
        buffers = dict(shipped.model.named_buffers())
        assert all(v.dtype == torch.float16 for k, v in state.items() if k not in buffers)
        # The loaded float32 model holds exactly the float16 values.
        for k, p in params.items():
            assert torch.equal(p.detach(), state[k].float())
        meta = shipped.meta
        assert meta["function"] == "exp" and meta["n"] == 2 and meta["storage_dtype"] == "float16"


def test_shipped_weights_reproduce_their_recorded_accuracy(models_dir):
    """Rescore each shipped model on its recorded test set (regenerated from the seed)."""
    for meta in list_models(models_dir):
        shipped = load_model(meta["name"], models_dir)
        dc = shipped.config.data
        test = make_test_set(dc.sampler_config(), meta["test"]["size"], meta["test"]["seed"])
        res = evaluate_model(shipped.model, test, encoding=shipped.encoding).to_dict()
        assert res["accuracy"] == meta["test"]["l1"]["accuracy"]
        assert res["n_invalid"] == meta["test"]["l1"]["n_invalid"]


def test_committed_models_load_and_reproduce_accuracy_on_a_sample():
    """Every model under models/ loads, fits the size limit, and matches its record on the first
    100 test matrices (the recorded per-matrix errors are not stored, so the check is that the
    sample's accuracy lies inside a 99.9% binomial band around the recorded accuracy)."""
    metas = list_models(REPO / "models")
    total = 0
    for meta in metas:
        path = REPO / "models" / meta["name"] / "weights.pt"
        total += path.stat().st_size
        assert path.stat().st_size <= shipped_mod.MAX_BYTES
        shipped = load_model(meta["name"], REPO / "models")
        dc = shipped.config.data
        full = make_test_set(dc.sampler_config(), meta["test"]["size"], meta["test"]["seed"])
        k = 100
        sample = TestSet(A=full.A[:k], F=full.F[:k], config=full.config, seed=full.seed)
        acc = evaluate_model(shipped.model, sample, encoding=shipped.encoding).to_dict()["accuracy"]["0.05"][
            "acc"
        ]
        p = meta["test"]["l1"]["accuracy"]["0.05"]["acc"]
        half = 3.3 * max((p * (1 - p) / k) ** 0.5, 1 / k)
        assert abs(acc - p) <= half, (meta["name"], acc, p)
    assert total <= 40 * 2**20


def test_models_lists_the_shipped_ones(use_models, capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "tiny-exp-mlp" in out and "tiny-exp-P1000" in out and "transformer P1000" in out


@pytest.mark.parametrize("name", ["tiny-exp-mlp", "tiny-exp-P1000"])
def test_predict_json_single_matrix_against_scipy(use_models, tmp_path, capsys, name):
    A = np.array([[0.3, -0.2], [0.1, 0.4]])
    np.save(tmp_path / "A.npy", A)
    assert main(["predict", "--model", name, "--input", str(tmp_path / "A.npy"), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert set(doc) >= {"model", "function", "prediction", "reference", "relative_error", "valid"}
    assert doc["model"] == name and doc["function"] == "exp"
    ref = scipy.linalg.expm(A)
    np.testing.assert_allclose(np.array(doc["reference"][0]), ref, rtol=1e-12)
    if doc["valid"][0]:
        P = np.array(doc["prediction"][0])
        err = np.abs(P - ref).sum() / np.abs(ref).sum()
        assert doc["relative_error"][0] == pytest.approx(err, rel=1e-9)
    else:
        assert doc["relative_error"][0] is None


def test_predict_batch_from_json_and_out_file(use_models, tmp_path, capsys):
    batch = [[[0.1, 0.2], [0.0, -0.3]], [[0.5, 0.0], [0.2, 0.1]], [[-0.4, 0.3], [0.3, 0.2]]]
    (tmp_path / "A.json").write_text(json.dumps(batch))
    out = tmp_path / "P.npy"
    args = ["predict", "--model", "tiny-exp-mlp", "--input", str(tmp_path / "A.json"), "--out", str(out)]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert text.count("matrix ") == 3 and "relative l1 error" in text
    P = np.load(out)
    assert P.shape == (3, 2, 2)


def test_predict_warns_outside_training_domain(use_models, tmp_path, capsys):
    np.save(tmp_path / "A.npy", np.array([[3.0, 0.0], [0.0, 0.5]]))  # entry 3 > c = 1 (uniform)
    assert main(["predict", "--model", "tiny-exp-mlp", "--input", str(tmp_path / "A.npy")]) == 0
    err = capsys.readouterr().err
    assert "outside tiny-exp-mlp's training domain" in err and "c=1" in err


@pytest.mark.parametrize(
    "content, suffix, message",
    [
        (b"not an array", ".npy", "cannot read"),
        (b"[[1, 2], [3]]", ".json", "cannot read"),
        (b"[1, 2, 3]", ".json", "shape"),
        (b"[[1, 2, 3], [4, 5, 6]]", ".json", "shape"),
        (b"[[1, NaN], [0, 1]]", ".json", "non-finite"),
        (b"[[1, 0], [0, 1]]", ".txt", "suffix"),
        (b'[["a", "b"], ["c", "d"]]', ".json", "cannot read"),
    ],
)
def test_predict_malformed_input_one_line_exit_2(use_models, tmp_path, capsys, content, suffix, message):
    path = tmp_path / f"A{suffix}"
    path.write_bytes(content)
    assert main(["predict", "--model", "tiny-exp-mlp", "--input", str(path)]) == 2
    line = _one_line_error(capsys)
    assert message in line and "allowed" in line


def test_predict_wrong_size_and_unknown_model(use_models, tmp_path, capsys):
    np.save(tmp_path / "A.npy", np.eye(3))
    assert main(["predict", "--model", "tiny-exp-mlp", "--input", str(tmp_path / "A.npy")]) == 2
    assert "takes 2x2 matrices, got 3x3" in _one_line_error(capsys)
    assert main(["predict", "--model", "nope", "--input", str(tmp_path / "A.npy")]) == 2
    line = _one_line_error(capsys)
    assert "no shipped model 'nope'" in line and "tiny-exp-mlp" in line
    assert main(["predict", "--model", "tiny-exp-mlp", "--input", str(tmp_path / "missing.npy")]) == 2
    assert "does not exist" in _one_line_error(capsys)


def test_read_matrices_accepts_integer_arrays(tmp_path):
    np.save(tmp_path / "A.npy", np.arange(8).reshape(2, 2, 2))
    A = read_matrices(tmp_path / "A.npy")
    assert A.dtype == torch.float64 and A.shape == (2, 2, 2)
    with pytest.raises(InputError):
        read_matrices(tmp_path / "nothing.npy")


def test_training_domain_of_the_well_posed_distributions():
    from experiments.config import DataConfig

    sign = DataConfig(function="sign", n=2)  # sign_wellposed: delta 0.5 <= |Re lambda| <= 2
    A = torch.tensor([[[1.0, 0.0], [0.0, -1.5]], [[0.1, 0.0], [0.0, 1.0]], [[3.0, 0.0], [0.0, 1.0]]])
    reasons = training_domain(sign, A.double())
    assert reasons[0] is None and "sign_wellposed" in reasons[1] and "sign_wellposed" in reasons[2]
    log = DataConfig(function="log", n=2)  # logsqrt_wellposed: 0.2 <= |lambda| <= 5, |arg| <= 2.5
    A = torch.tensor([[[1.0, 0.0], [0.0, 2.0]], [[-1.0, 0.0], [0.0, 1.0]]]).double()
    reasons = training_domain(log, A)
    assert reasons[0] is None and reasons[1] is not None
