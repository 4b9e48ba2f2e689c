"""Typed configs: named configs, --set overrides with validation, learning-rate schedule."""

import json
import math

import pytest

from experiments.config import (
    Config,
    ConfigError,
    TrainConfig,
    apply_overrides,
    known_configs,
    load_config,
)

NAMED = ["cpu-mlp", "cpu-transformer", "gpu-mlp", "gpu-transformer", "tiny-mlp", "tiny-transformer"]


def test_named_configs_exist_and_load():
    assert set(NAMED) <= set(known_configs())
    for name in NAMED:
        cfg = load_config(name)
        assert cfg.name == name
        assert cfg.description, f"{name} should say why it is sized as it is"
        assert cfg.model.kind == ("mlp" if name.endswith("mlp") else "transformer")


def test_named_config_sizes_follow_the_issue():
    cpu_t = load_config("cpu-transformer")
    assert cpu_t.data.n == 3 and 128 <= cpu_t.model.d_model <= 256 and cpu_t.train.threads == 1
    assert cpu_t.model.enc_layers >= 2 and cpu_t.model.dec_layers >= 2
    assert load_config("cpu-mlp").data.n == 3
    for name in ("gpu-mlp", "gpu-transformer"):
        cfg = load_config(name)
        assert cfg.data.n == 5 and cfg.train.device == "cuda" and cfg.train.amp


def test_overrides_are_typed():
    cfg = load_config(
        "cpu-transformer",
        [
            "encoding=FP15",
            "function=sin",
            "train.lr=1e-4",
            "max_minutes=none",
            "decay_over=steps",
            "compile=true",
            'params={"c": 0.5}',
        ],
    )
    assert cfg.data.encoding == "FP15" and cfg.data.function == "sin"
    assert cfg.train.lr == 1e-4 and cfg.train.max_minutes is None and cfg.train.compile is True
    assert cfg.data.params == {"c": 0.5}
    assert cfg.run_name == "cpu-transformer-sin-FP15-s0"
    assert load_config("cpu-mlp", ["seed=3"]).run_name == "cpu-mlp-exp-mlp-s3"


def test_function_override_picks_the_wellposed_distribution():
    assert load_config("cpu-mlp").data.distribution == "uniform"
    assert load_config("cpu-mlp", ["function=sign"]).data.distribution == "sign_wellposed"
    cfg = load_config("cpu-mlp", ["function=sign", "distribution=gaussian"])
    assert cfg.data.distribution == "gaussian"


def test_roundtrip_through_json(tmp_path):
    cfg = load_config("tiny-transformer", ["encoding=B1999", "seed=7"])
    path = tmp_path / "config.json"
    path.write_text(json.dumps(cfg.to_dict()))
    assert load_config(str(path)) == cfg
    assert Config.from_dict(cfg.to_dict()) == cfg


@pytest.mark.parametrize(
    "item,match",
    [
        ("colour=red", r"unknown --set key 'colour'; allowed keys: .*batch_size"),
        ("model.lr=0.1", "unknown --set key 'lr'"),
        ("batch_size", "expects key=value"),
        ("batch_size=-3", "batch_size must be a positive integer, got -3"),
        ("batch_size=abc", "batch_size=abc: value must be int"),
        ("width=0", "width must be a positive integer"),
        ("lr=0", "lr must be a finite number > 0"),
        ("lr=nan", "lr must be a finite number > 0"),
        ("kind=cnn", "unknown model kind 'cnn'; allowed: mlp, transformer"),
        ("encoding=P7", "unknown encoding 'P7'; allowed: P10, P1000, B1999, FP15"),
        ("function=tan", "tan"),
        ("distribution=cauchy", "unknown distribution 'cauchy'; allowed: auto, uniform"),
        ("schedule=linear", "allowed: cosine, inverse_sqrt, constant"),
        ("device=tpu", "device must be auto, cpu, cuda or cuda:N"),
        ("n_heads=3", "d_model=128 must be divisible by n_heads=3"),
        ("amp=maybe", "amp=maybe: value must be bool"),
        ("params=[1]", "JSON object"),
        ("dropout=1.5", r"dropout must be in \[0, 1\)"),
        ("max_minutes=-1", "max_minutes must be a finite number > 0 or none"),
        ("max_minutes=none", "decay_over=time needs a max_minutes budget"),
        ("decay_over=epochs", "allowed: steps, time"),
    ],
)
def test_bad_overrides_name_what_is_allowed(item, match):
    with pytest.raises(ConfigError, match=match):
        load_config("cpu-transformer", [item])


def test_function_error_lists_known_functions():
    with pytest.raises(ConfigError) as e:
        load_config("cpu-mlp", ["function=tan"])
    for f in ("exp", "sign", "sin"):
        assert f in str(e.value)


def test_unknown_config_name_and_bad_files(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown config 'nope'; allowed: .*cpu-mlp"):
        load_config("nope")
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(str(tmp_path / "missing.json"))
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(str(bad))
    bad.write_text(json.dumps({"train": {"steps": "ten"}}))
    with pytest.raises(ConfigError, match="train.steps must be int"):
        load_config(str(bad))
    bad.write_text(json.dumps({"optim": {}}))
    with pytest.raises(ConfigError, match="unknown config section"):
        load_config(str(bad))
    bad.write_text(json.dumps({"model": {"layers": 3}}))
    with pytest.raises(ConfigError, match="unknown key.*'layers'.*allowed: kind"):
        load_config(str(bad))


def test_apply_overrides_revalidates():
    cfg = load_config("tiny-mlp")
    assert apply_overrides(cfg, ["steps=5"]).train.steps == 5
    with pytest.raises(ConfigError):
        apply_overrides(cfg, ["steps=0"])


def test_schedule_closed_forms():
    # Linear warmup to lr, then cosine to min_lr_ratio * lr over the remaining steps.
    tc = TrainConfig(lr=1.0, warmup=10, steps=110, min_lr_ratio=0.1, schedule="cosine")
    assert tc.lr_at(0) == pytest.approx(0.1)
    assert tc.lr_at(9) == pytest.approx(1.0)
    assert tc.lr_at(10) == pytest.approx(1.0)
    assert tc.lr_at(60) == pytest.approx(0.1 + 0.9 * 0.5)  # half-way: cos(pi/2) = 0
    assert tc.lr_at(110) == pytest.approx(0.1)
    assert tc.lr_at(35) == pytest.approx(0.1 + 0.45 * (1 + math.cos(math.pi / 4)))
    # Inverse square root: lr * sqrt(warmup / (step + 1)).
    ti = TrainConfig(lr=2.0, warmup=100, schedule="inverse_sqrt")
    assert ti.lr_at(399) == pytest.approx(1.0)
    assert TrainConfig(lr=0.5, warmup=0, schedule="constant").lr_at(1000) == 0.5


def test_time_decay_uses_the_budget_fraction():
    tc = TrainConfig(lr=1.0, warmup=10, steps=10**6, max_minutes=1, decay_over="time")
    assert tc.lr_at(5, time_fraction=0.9) == pytest.approx(0.6)  # warmup is still in steps
    assert tc.lr_at(500, time_fraction=0.5) == pytest.approx(0.05 + 0.95 * 0.5)
    assert tc.lr_at(500, time_fraction=1.0) == pytest.approx(0.05)


def test_curriculum_scale_closed_form():
    tc = TrainConfig(curriculum_steps=100, curriculum_start=0.2)
    assert tc.curriculum_scale(0) == pytest.approx(0.2)
    assert tc.curriculum_scale(50) == pytest.approx(0.6)
    assert tc.curriculum_scale(100) == 1.0 and tc.curriculum_scale(10**6) == 1.0
    assert TrainConfig().curriculum_scale(0) == 1.0  # no curriculum by default


@pytest.mark.parametrize("function", ["sign", "log", "sqrt"])
def test_curriculum_is_refused_where_norm_is_not_difficulty(function):
    cfg = load_config("tiny-mlp")
    with pytest.raises(ConfigError, match="curriculum on"):
        apply_overrides(cfg, [f"function={function}", "curriculum_steps=10"])
    assert apply_overrides(cfg, ["function=sin", "curriculum_steps=10"]).train.curriculum_steps == 10
    for bad in ("0", "1.5", "-0.1"):
        with pytest.raises(ConfigError, match="curriculum_start must be in"):
            apply_overrides(cfg, ["function=sin", f"curriculum_start={bad}"])
