"""experiments.generalisation: shipped models on every matrix class, unscaled and scaled to the
training norms, beside the certified networks; checked against numpy norms, scipy references and
predictions rescored here."""

import json

import numpy as np
import pytest
import scipy.linalg
import scipy.stats
import torch

from experiments import generalisation as gen
from experiments.__main__ import main
from experiments.data import DISTRIBUTIONS, SamplerConfig, make_test_set, sample
from experiments.evaluate import predict
from experiments.figures import figure_generalisation
from experiments.readme_tables import generate
from experiments.shipped import export_model, list_models, load_model

SIZE, SEED, EPS = 16, 123, 1e-2
CLASSES = ("symmetric", "positive_definite", "orthogonal")
SCIPY = {"exp": scipy.linalg.expm, "log": scipy.linalg.logm}


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory):
    """A tiny 2x2 exp transformer (P1000, uniform) and a tiny 5x5 log MLP (logsqrt_wellposed)."""
    root = tmp_path_factory.mktemp("gen")
    for config, sets, name in (
        ("tiny-transformer", [], "tiny-exp-P1000"),
        ("tiny-mlp", ["function=log", "n=5"], "tiny-log-mlp"),
    ):
        run = root / "runs" / name
        args = ["train", "--config", config, "--set", "threads=1"]
        for s in sets:
            args += ["--set", s]
        assert main([*args, "--out", str(run), "--quiet"]) == 0
        export_model(run, name, out_dir=root / "models")
    return root / "models"


@pytest.fixture(scope="module")
def shipped(models_dir):
    return {m["name"]: load_model(m["name"], models_dir) for m in list_models(models_dir)}


@pytest.fixture(scope="module")
def result(shipped):
    return gen.generalisation(list(shipped.values()), CLASSES, SIZE, SEED, EPS)


def _train_norm_range(sm) -> tuple[float, float]:
    """Spectral norms of the documented reference draw (4096 training matrices, seed 0), by numpy."""
    A = sample(sm.config.data.sampler_config(), 4096, torch.Generator().manual_seed(0)).A.numpy()
    t = np.linalg.norm(A, 2, axis=(1, 2))
    return float(t.min()), float(t.max())


def _matrices(row, shipped) -> np.ndarray:
    """The row's test matrices: unscaled drawn here from the documented seed; scaled via the module."""
    f, n, c = row["function"], row["n"], row["class"]
    if row["variant"] == "unscaled":
        cfg = SamplerConfig(f, c, n)
        return make_test_set(cfg, SIZE, SEED + DISTRIBUTIONS.index(c)).A.numpy()
    norms = gen.training_norms(shipped[row["model"]].config.data.sampler_config())
    return gen.class_test_set(f, n, c, SIZE, SEED, norms).A.numpy()


def _rel_l1(P: np.ndarray, F: np.ndarray) -> np.ndarray:
    return np.abs(P - F).sum(axis=(1, 2)) / np.abs(F).sum(axis=(1, 2))


def test_one_row_per_model_class_and_variant_and_skips_reported(result):
    keys = sorted((r["model"], r["class"], r["variant"]) for r in result["rows"])
    expected = [("tiny-exp-P1000", c, v) for c in CLASSES for v in gen.VARIANTS]
    # log on 5x5 symmetric matrices: real spectra of both signs, no well-posed matrix
    expected += [("tiny-log-mlp", c, v) for c in CLASSES if c != "symmetric" for v in gen.VARIANTS]
    assert keys == sorted(expected)
    skipped = [(s["model"], s["class"], s["variant"]) for s in result["skipped"]]
    assert skipped == [("tiny-log-mlp", "symmetric", "unscaled"), ("tiny-log-mlp", "symmetric", "scaled")]
    assert "well-posed" in result["skipped"][0]["reason"]
    md = gen.markdown(result)
    assert "tiny-log-mlp (log), symmetric unscaled" in md
    assert sum(line.startswith("| exp |") for line in md.splitlines()) == len(CLASSES)
    for r in result["rows"]:
        assert r["test_set"]["size"] == SIZE and r["model_scores"]["n_scored"] == SIZE


def test_scaled_norms_lie_in_the_training_range_and_keep_the_class_shape(result, shipped):
    for name, sm in shipped.items():
        lo, hi = _train_norm_range(sm)
        assert result["models"][name]["train_norms"]["min"] == pytest.approx(lo, rel=1e-12)
        assert result["models"][name]["train_norms"]["max"] == pytest.approx(hi, rel=1e-12)
        for r in result["rows"]:
            if r["model"] != name:
                continue
            A = _matrices(r, shipped)
            t = np.linalg.norm(A, 2, axis=(1, 2))
            assert r["test_set"]["norm2"]["max"] == pytest.approx(t.max(), rel=1e-12)
            if r["variant"] != "scaled":
                continue
            assert ((t >= lo * (1 - 1e-12)) & (t <= hi * (1 + 1e-12))).all(), (name, r["class"])
            # no drops here: the scaled matrix i is unscaled matrix i times a positive factor
            assert r["test_set"]["dropped_after_scaling"] == 0
            U = _matrices({**r, "variant": "unscaled"}, shipped)
            u = np.linalg.norm(U, 2, axis=(1, 2))
            np.testing.assert_allclose(A / t[:, None, None], U / u[:, None, None], atol=1e-12)
    # the unscaled positive-definite class (eigenvalues >= n) lies far above the 2x2 uniform training norms
    r = next(
        r for r in result["rows"] if r["model"] == "tiny-exp-P1000" and r["class"] == "positive_definite"
    )
    assert (
        r["variant"] == "unscaled"
        and r["test_set"]["norm2"]["min"] > _train_norm_range(shipped[r["model"]])[1]
    )


def test_scaled_norms_are_distributed_like_the_training_norms(shipped):
    sm = shipped["tiny-exp-P1000"]
    norms = gen.training_norms(sm.config.data.sampler_config())
    A = gen.class_test_set("exp", 2, "positive_definite", 400, SEED, norms).A.numpy()
    train = sample(sm.config.data.sampler_config(), 4000, torch.Generator().manual_seed(99)).A.numpy()
    p = scipy.stats.ks_2samp(np.linalg.norm(A, 2, axis=(1, 2)), np.linalg.norm(train, 2, axis=(1, 2))).pvalue
    assert p > 1e-3
    # and unscaled they are not
    U = gen.class_test_set("exp", 2, "positive_definite", 400, SEED).A.numpy()
    assert (
        scipy.stats.ks_2samp(np.linalg.norm(U, 2, axis=(1, 2)), np.linalg.norm(train, 2, axis=(1, 2))).pvalue
        < 1e-6
    )


def test_model_accuracies_recomputed_from_predictions(result, shipped):
    for r in result["rows"]:
        sm = shipped[r["model"]]
        A = _matrices(r, shipped)
        F = np.stack([SCIPY[r["function"]](a).real for a in A])
        if sm.encoding is None:
            with torch.no_grad():
                P = (
                    sm.model(torch.from_numpy(A).reshape(len(A), -1).float())
                    .double()
                    .reshape(A.shape)
                    .numpy()
                )
            valid = np.ones(len(A), bool)
        else:
            P, valid = predict(sm.model, torch.from_numpy(A), encoding=sm.encoding)
            P, valid = P.numpy(), valid.numpy()
        err = np.where(valid, _rel_l1(np.nan_to_num(P), F), np.inf)
        k = int((err < 0.05).sum())
        s = r["model_scores"]
        assert s["accuracy"]["0.05"]["acc"] == k / SIZE, (r["model"], r["class"], r["variant"])
        lo, hi = s["accuracy"]["0.05"]["ci95"]
        assert lo <= k / SIZE <= hi and (k == 0) == (lo == 0.0) and (k == SIZE) == (hi == 1.0)
        assert s["n_invalid"] == int((~valid).sum())
        med = np.sort(err)[(SIZE - 1) // 2]
        assert (
            (s["median_rel_error"] is None)
            if np.isinf(med)
            else s["median_rel_error"] == pytest.approx(med, rel=1e-6)
        )


def test_constructive_rows_only_on_matrices_inside_the_domain(result, shipped):
    from constructive.functions import network

    for r in result["rows"]:
        c, A = r["constructive"], _matrices(r, shipped)
        t = np.linalg.norm(A, 2, axis=(1, 2))
        if r["function"] == "exp":  # r = largest norm rounded up to 0.5: every matrix inside
            radius = c["domain"]["r"]
            assert t.max() <= radius < t.max() + 0.5 + 1e-12 and radius * 2 == int(radius * 2)
            assert c["inside"] == SIZE and "inside_indices" not in c
            net = network("exp", 2, EPS, r=radius)
            with torch.no_grad():
                P = net(torch.from_numpy(A)).numpy()
            F = np.stack([scipy.linalg.expm(a) for a in A])
            assert np.linalg.norm(P - F, "fro", axis=(1, 2)).max() <= EPS
            k = int((_rel_l1(P, F) < 0.05).sum())
            assert c["scores"]["accuracy"]["0.05"]["acc"] == k / SIZE
        else:  # log: ||A - I||_2 <= 0.9
            assert c["domain"] == {"rho": 0.9}
            inside = np.flatnonzero(np.linalg.norm(A - np.eye(5), 2, axis=(1, 2)) <= 0.9)
            assert c["inside"] == len(inside)
            if 0 < len(inside) < SIZE:
                assert c["inside_indices"] == inside.tolist()
            if len(inside) == 0:
                assert c["scores"] is None
            else:
                assert c["scores"]["n_scored"] == len(inside)
    # unscaled positive-definite 5x5 matrices have every eigenvalue >= 5: none inside
    pd = [r for r in result["rows"] if r["model"] == "tiny-log-mlp" and r["class"] == "positive_definite"]
    assert pd[0]["variant"] == "unscaled" and pd[0]["constructive"]["inside"] == 0
    assert "(0/16)" in gen.markdown(result)


def test_cli_writes_both_files_and_figure_and_table_read_them(models_dir, tmp_path, capsys, monkeypatch):
    out = tmp_path / "generalisation"
    args = ["generalisation", "--models-dir", str(models_dir), "--models", "tiny-exp-P1000"]
    args += ["--classes", "orthogonal", "band", "--test-size", "4", "--out", str(out)]
    assert main(args) == 0
    record = json.loads((out / "generalisation.json").read_text())
    assert len(record["rows"]) == 4 and record["classes"] == ["orthogonal", "band"]
    md = (out / "generalisation.md").read_text()
    assert gen.markdown(record) in md and "| exp | tiny-exp-P1000 | orthogonal |" in md
    assert (
        generate(f"generalisation {out / 'generalisation.json'}", tmp_path).strip()
        == gen.markdown(record).strip()
    )
    # fig. 10 reads the sibling folder of --results; without a record it is skipped
    drawn = figure_generalisation(tmp_path / "reproduce", tmp_path / "figs")
    assert [p.name for p in drawn] == ["fig10_generalisation.png", "fig10_generalisation.pdf"]
    # elsewhere: the committed reference record, and without one the figure is skipped
    import experiments.figures as figures_mod

    monkeypatch.setattr(figures_mod, "_REPO", tmp_path / "clone")
    with pytest.raises(FileNotFoundError):
        figure_generalisation(tmp_path / "elsewhere" / "reproduce", tmp_path / "figs")
    (tmp_path / "clone" / "results" / "generalisation").mkdir(parents=True)
    reference = tmp_path / "clone" / "results" / "generalisation" / "generalisation.json"
    reference.write_text((tmp_path / "generalisation" / "generalisation.json").read_text())
    assert figures_mod.generalisation_file(tmp_path / "elsewhere" / "reproduce") == reference
    capsys.readouterr()


@pytest.mark.parametrize(
    "bad",
    [
        ["--models", "no-such-model"],
        ["--classes", "no-such-class"],
        ["--test-size", "0"],
        ["--eps", "2"],
        ["--models-dir", "/no/such/folder"],
        ["--test-size", "many"],
    ],
)
def test_cli_bad_input_exits_2_with_one_line(models_dir, tmp_path, capsys, bad):
    args = ["generalisation", "--out", str(tmp_path / "out")]
    if "--models-dir" not in bad:
        args += ["--models-dir", str(models_dir)]
    try:
        rc = main([*args, *bad])
    except SystemExit as e:  # argparse's own refusal (a non-integer --test-size)
        rc = e.code
    assert rc == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and "error" in lines[0]
    assert not (tmp_path / "out").exists()
