"""Typed experiment configuration: dataclasses, named configs, `--set key=value` overrides.

A run is fully described by one :class:`Config` = (:class:`ModelConfig`, :class:`DataConfig`,
:class:`TrainConfig`) plus a name. Defaults live in the dataclasses; a named config is a small
JSON file in ``experiments/configs/`` that overrides some of them and says why (nanoGPT's
config-file habit, STYLE.md habit 9). Every run saves the full config as ``config.json``, which
can itself be passed back as ``--config PATH``.

Overrides use flat field names (``--set encoding=FP15 --set lr=1e-4``) or dotted ones
(``--set train.lr=1e-4``); field names are unique across the three sections. Every value is
parsed by the field's type and validated; errors are :class:`ConfigError` (a ValueError) with a
one-line message naming what is allowed.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import typing
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "MODEL_KINDS",
    "SCHEDULES",
    "CONFIG_DIR",
    "ConfigError",
    "ModelConfig",
    "DataConfig",
    "TrainConfig",
    "Config",
    "known_configs",
    "load_config",
    "apply_overrides",
    "parse_override",
    "override_keys",
]

MODEL_KINDS = ("mlp", "transformer")
SCHEDULES = ("cosine", "inverse_sqrt", "constant")
DECAY_OVER = ("steps", "time")
CONFIG_DIR = Path(__file__).resolve().parent / "configs"
_DEVICE_RE = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")


class ConfigError(ValueError):
    """A config name, key or value that is not allowed; the message says what is."""


def _positive_int(owner: object, *names: str) -> None:
    for name in names:
        v = getattr(owner, name)
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ConfigError(f"{name} must be a positive integer, got {v!r}")


def _nonneg_int(owner: object, *names: str) -> None:
    for name in names:
        v = getattr(owner, name)
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise ConfigError(f"{name} must be a non-negative integer, got {v!r}")


def _positive_float(owner: object, *names: str, allow_none: bool = False) -> None:
    for name in names:
        v = getattr(owner, name)
        if v is None and allow_none:
            continue
        ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
        if not ok or v <= 0:
            suffix = " or none" if allow_none else ""
            raise ConfigError(f"{name} must be a finite number > 0{suffix}, got {v!r}")


@dataclass(frozen=True)
class ModelConfig:
    """Model architecture. `kind` selects which of the two groups of sizes is used.

    MLP (experiments.models.mlp.MLP): `width` neurons in each of `depth` hidden layers
    (depth = affine maps minus one, the constructive networks' convention).
    Transformer (experiments.models.transformer.Seq2SeqTransformer): `d_model`, `n_heads`,
    `enc_layers`, `dec_layers`, `d_ff`, `dropout`.
    """

    kind: str = "transformer"
    width: int = 256
    depth: int = 4
    d_model: int = 256
    n_heads: int = 8
    enc_layers: int = 2
    dec_layers: int = 2
    d_ff: int = 1024
    dropout: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in MODEL_KINDS:
            raise ConfigError(f"unknown model kind {self.kind!r}; allowed: {', '.join(MODEL_KINDS)}")
        _positive_int(self, "width", "depth", "d_model", "n_heads", "enc_layers", "dec_layers")
        _positive_int(self, "d_ff")
        if self.d_model % self.n_heads:
            raise ConfigError(f"d_model={self.d_model} must be divisible by n_heads={self.n_heads}")
        if not (isinstance(self.dropout, (int, float)) and 0 <= self.dropout < 1):
            raise ConfigError(f"dropout must be in [0, 1), got {self.dropout!r}")


@dataclass(frozen=True)
class DataConfig:
    """What is learned: f, the input distribution, matrix size n and (transformer) encoding.

    `distribution="auto"` resolves to the data layer's default for the function (e.g. sign ->
    "sign_wellposed"), so `--set function=sign` alone gives a well-posed problem; the resolved
    name is what config.json records. The test set is drawn with `test_seed`, independent of the
    training seed, so every model trained on the same (function, distribution, n) is scored on
    the same matrices.
    """

    function: str = "exp"
    distribution: str = "auto"
    params: dict = field(default_factory=dict)
    n: int = 3
    encoding: str = "P1000"
    precision: int = 3
    max_output_entry: float | None = None
    max_cond: float | None = None
    test_size: int = 1000
    test_seed: int = 20261129

    def __post_init__(self) -> None:
        from experiments.data import (
            DISTRIBUTIONS,
            ENCODINGS,
            check_function_name,
            default_distribution,
        )

        try:
            canonical = check_function_name(self.function)
        except ValueError as e:
            raise ConfigError(str(e)) from None
        object.__setattr__(self, "function", canonical)
        if self.distribution == "auto":
            object.__setattr__(self, "distribution", default_distribution(canonical))
        if self.distribution not in DISTRIBUTIONS:
            raise ConfigError(
                f"unknown distribution {self.distribution!r}; allowed: auto, {', '.join(DISTRIBUTIONS)}"
            )
        if self.encoding not in ENCODINGS:
            raise ConfigError(f"unknown encoding {self.encoding!r}; allowed: {', '.join(ENCODINGS)}")
        if not isinstance(self.params, dict):
            raise ConfigError(f"params must be a JSON object, got {self.params!r}")
        _positive_int(self, "n", "precision", "test_size")
        _nonneg_int(self, "test_seed")
        _positive_float(self, "max_output_entry", "max_cond", allow_none=True)
        try:
            self.sampler_config()
        except ValueError as e:
            raise ConfigError(str(e)) from None

    def sampler_config(self):
        """The data layer's SamplerConfig for these settings (validated there)."""
        from experiments.data import SamplerConfig

        return SamplerConfig(
            function=self.function,
            distribution=self.distribution,
            n=self.n,
            params=dict(self.params),
            max_output_entry=self.max_output_entry,
            max_cond=self.max_cond,
        )


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation, budget, logging and hardware.

    The learning rate rises linearly over `warmup` steps, then follows `schedule`: "cosine"
    decays to `min_lr_ratio * lr` at `steps`; "inverse_sqrt" is lr * sqrt(warmup / step)
    (Vaswani et al. 2017, eq. 3, without the d_model factor); "constant" stays at lr.
    Training stops at `steps` or after `max_minutes` of training wall time, whichever comes
    first. `decay_over="steps"` lays the decay out over `steps` (deterministic: same seed, same
    losses); `decay_over="time"` lays it out over the `max_minutes` budget, so runs of different
    speed (e.g. encodings with longer sequences) each get a complete schedule in the same wall
    time, at the price of step-exact reproducibility.
    `batch_size` is per process; under torchrun the global batch is batch_size * world size.
    `amp` runs the training forward under bfloat16 autocast on CUDA; `cpu_amp` does so on CPU
    (the cores' AVX512-BF16 units; speed-up and loss band measured in benchmarks/README.md, issue
    13). `cpu_amp` is off by default because it changes the numerics of CPU runs: records made
    without it stay comparable. Evaluation always decodes in float32. `compile` runs the training
    forward through `torch.compile` on either device (evaluation and decoding stay eager); each
    process start, a resume included, first spends tens of seconds compiling
    (`python -m benchmarks.precision_band --pair bf16-compiled` measures it on the real loop).
    `curriculum_steps` > 0 trains on a curriculum on ||A|| (Bengio et al. 2009, "Curriculum
    learning"): step t's batch is s(t) A with targets f(s(t) A), s rising linearly from
    `curriculum_start` to 1 over the first `curriculum_steps` steps (`curriculum_scale`); only
    for exp, sin and cos, whose f(sA) is defined and simpler for small s.
    `mantissa_loss` > 0 (transformer, P1000 or B1999) adds that multiple of the expected relative
    error of the mantissa tokens to the cross-entropy (`experiments.token_loss.mantissa_error_loss`:
    Zausinger et al. 2025's Number Token Loss, Wasserstein form): cross-entropy alone counts a
    mantissa off by one like one off by 500. The logged `loss` is then the sum.
    `scheduled_sampling` > 0 (transformer) trains the decoder partly on its own outputs (Bengio et
    al. 2015, "Scheduled sampling"; the two-pass form of Mihaylova and Martins 2019 for
    transformers): each target token of the decoder's input is replaced, with probability
    `sampling_probability(step)` rising linearly from 0 to `scheduled_sampling` over `steps`, by
    the model's own top-1 prediction of it from a first, gradient-free pass. Greedy decoding
    conditions on the model's outputs, teacher forcing on the true tokens; where the two part
    (`experiments analyze`, "teacher-forced" accuracy against greedy), this closes the gap.
    `validation_size` > 0 selects the delivered model on held-out data (early stopping in the
    sense of Prechelt 1998, "Early stopping - but when?", with the whole schedule run): at every
    evaluation and at the end, the model is scored on a validation set of that many matrices
    drawn with its own seed (`experiments.train.validation_seed`, never the test set's), and the
    weights with the highest accuracy within 5% there (the earliest, on a tie) become the run's
    final model: its checkpoint, `evaluate`, export and results.json's "final". The last step's
    test result stays in results.json under "selection" and in metrics.jsonl. 0 (default): the
    final model is the last one.
    """

    batch_size: int = 64
    lr: float = 3e-4
    weight_decay: float = 0.01
    warmup: int = 500
    schedule: str = "cosine"
    decay_over: str = "steps"
    min_lr_ratio: float = 0.05
    steps: int = 10_000
    max_minutes: float | None = None
    grad_clip: float = 1.0
    log_every: int = 10
    eval_every: int = 500
    eval_size: int = 200
    checkpoint_every: int = 500
    seed: int = 0
    device: str = "auto"
    amp: bool = True
    cpu_amp: bool = False
    compile: bool = False
    max_nonfinite: int = 10
    threads: int = 0
    curriculum_steps: int = 0
    curriculum_start: float = 0.25
    mantissa_loss: float = 0.0
    scheduled_sampling: float = 0.0
    validation_size: int = 0

    def __post_init__(self) -> None:
        _positive_int(self, "batch_size", "steps", "log_every", "eval_every", "eval_size")
        _positive_int(self, "checkpoint_every", "max_nonfinite")
        _nonneg_int(self, "warmup", "seed", "threads", "curriculum_steps", "validation_size")
        start = self.curriculum_start
        if isinstance(start, bool) or not isinstance(start, (int, float)) or not 0 < start <= 1:
            raise ConfigError(f"curriculum_start must be in (0, 1], got {start!r}")
        _positive_float(self, "lr", "grad_clip")
        _positive_float(self, "max_minutes", allow_none=True)
        w = self.mantissa_loss
        if isinstance(w, bool) or not isinstance(w, (int, float)) or not 0 <= w < math.inf:
            raise ConfigError(f"mantissa_loss must be a finite number >= 0 (0: off), got {w!r}")
        q = self.scheduled_sampling
        if isinstance(q, bool) or not isinstance(q, (int, float)) or not 0 <= q <= 1:
            raise ConfigError(f"scheduled_sampling must be a probability in [0, 1] (0: off), got {q!r}")
        if not (isinstance(self.weight_decay, (int, float)) and self.weight_decay >= 0):
            raise ConfigError(f"weight_decay must be >= 0, got {self.weight_decay!r}")
        if not (isinstance(self.min_lr_ratio, (int, float)) and 0 <= self.min_lr_ratio <= 1):
            raise ConfigError(f"min_lr_ratio must be in [0, 1], got {self.min_lr_ratio!r}")
        if self.schedule not in SCHEDULES:
            raise ConfigError(f"unknown schedule {self.schedule!r}; allowed: {', '.join(SCHEDULES)}")
        if self.decay_over not in DECAY_OVER:
            raise ConfigError(f"unknown decay_over {self.decay_over!r}; allowed: {', '.join(DECAY_OVER)}")
        if self.decay_over == "time" and self.max_minutes is None:
            raise ConfigError("decay_over=time needs a max_minutes budget; allowed: set both")
        if not isinstance(self.device, str) or not _DEVICE_RE.match(self.device):
            raise ConfigError(f"device must be auto, cpu, cuda or cuda:N, got {self.device!r}")

    def lr_at(self, step: int, time_fraction: float = 0.0) -> float:
        """Learning rate for optimizer step `step` (0-based); `time_fraction` = elapsed/budget
        is used instead of the step count when decay_over="time"."""
        if step < self.warmup:
            return self.lr * (step + 1) / self.warmup
        if self.schedule == "constant":
            return self.lr
        if self.schedule == "inverse_sqrt":
            return self.lr * math.sqrt(max(self.warmup, 1) / (step + 1))
        if self.decay_over == "time":
            t = min(max(time_fraction, 0.0), 1.0)
        else:
            t = min((step - self.warmup) / max(self.steps - self.warmup, 1), 1.0)
        return self.lr * (self.min_lr_ratio + (1 - self.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * t)))

    def sampling_probability(self, step: int) -> float:
        """Scheduled sampling's probability of feeding the model its own token at optimizer step
        `step` (0-based): scheduled_sampling * step / steps, capped at scheduled_sampling."""
        return self.scheduled_sampling * min(step / self.steps, 1.0)

    def curriculum_scale(self, step: int) -> float:
        """The factor s applied to the matrices of optimizer step `step` (0-based): rising
        linearly from curriculum_start at step 0 to 1 at step curriculum_steps, then 1."""
        if step >= self.curriculum_steps:
            return 1.0
        return self.curriculum_start + (1.0 - self.curriculum_start) * step / self.curriculum_steps


CURRICULUM_FUNCTIONS = ("exp", "sin", "cos")
_SECTIONS = {"model": ModelConfig, "data": DataConfig, "train": TrainConfig}


@dataclass(frozen=True)
class Config:
    """One experiment: a name plus model, data and training settings."""

    name: str = "custom"
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    description: str = ""

    def __post_init__(self) -> None:
        if self.train.curriculum_steps and self.data.function not in CURRICULUM_FUNCTIONS:
            raise ConfigError(
                f"a curriculum on ||A|| (curriculum_steps > 0) is for {', '.join(CURRICULUM_FUNCTIONS)}, "
                f"got {self.data.function!r}: sign is scale-invariant, and log and sqrt are simple "
                "near the identity, not near 0"
            )
        if self.train.scheduled_sampling and self.model.kind != "transformer":
            raise ConfigError(
                "scheduled_sampling > 0 is for the transformer (it feeds the decoder its own tokens); "
                f"got model kind {self.model.kind!r}"
            )
        if self.train.mantissa_loss and not (self.model.kind == "transformer" and self._one_token_mantissa()):
            raise ConfigError(
                "mantissa_loss > 0 needs a transformer whose encoding writes the mantissa as one token: "
                f"P1000 (precision <= 3) or B1999; got {self.model.kind} with {self.data.encoding} "
                f"at precision {self.data.precision}"
            )

    def _one_token_mantissa(self) -> bool:
        """Whether the data's encoding writes a number's whole mantissa as one token (the encoding
        says so: ``Encoding.mantissa_token``)."""
        from experiments.data import get_encoding

        try:
            return get_encoding(self.data.encoding, self.data.precision).mantissa_token() is not None
        except ValueError as e:
            raise ConfigError(str(e)) from None

    @property
    def run_name(self) -> str:
        """Default run folder name: <config>-<function>-<encoding or mlp>-s<seed>."""
        tag = self.data.encoding if self.model.kind == "transformer" else "mlp"
        return f"{self.name}-{self.data.function}-{tag}-s{self.train.seed}"

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Config:
        """Build from a (possibly partial) nested dict; unknown keys raise ConfigError."""
        if not isinstance(d, dict):
            raise ConfigError(f"a config must be a JSON object, got {type(d).__name__}")
        top = {"name", "description", *_SECTIONS}
        unknown = sorted(set(d) - top)
        if unknown:
            raise ConfigError(f"unknown config section(s) {unknown}; allowed: {', '.join(sorted(top))}")
        kwargs = {}
        for section, section_cls in _SECTIONS.items():
            sub = d.get(section, {})
            if not isinstance(sub, dict):
                raise ConfigError(f"config section {section!r} must be a JSON object")
            names = [f.name for f in dataclasses.fields(section_cls)]
            bad = sorted(set(sub) - set(names))
            if bad:
                raise ConfigError(f"unknown key(s) {bad} in section {section!r}; allowed: {', '.join(names)}")
            hints = typing.get_type_hints(section_cls)
            for k, v in sub.items():
                _check_json_type(f"{section}.{k}", v, hints[k])
            kwargs[section] = section_cls(**sub)
        return cls(name=str(d.get("name", "custom")), description=str(d.get("description", "")), **kwargs)


def _check_json_type(key: str, value: object, hint: object) -> None:
    """Reject a JSON value whose type does not fit the field (e.g. a string for an int)."""
    args = typing.get_args(hint)
    allowed = args if args else (hint,)
    for t in allowed:
        if t is type(None) and value is None:
            return
        if t is bool and isinstance(value, bool):
            return
        if t is int and isinstance(value, int) and not isinstance(value, bool):
            return
        if t is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            return
        if t in (str, dict) and isinstance(value, t):
            return
    names = " or ".join(getattr(t, "__name__", str(t)).replace("NoneType", "none") for t in allowed)
    raise ConfigError(f"{key} must be {names}, got {value!r}")


def override_keys() -> dict[str, tuple[str, object]]:
    """Flat override key -> (section, type hint), for every field of every section."""
    keys = {}
    for section, section_cls in _SECTIONS.items():
        hints = typing.get_type_hints(section_cls)
        for f in dataclasses.fields(section_cls):
            keys[f.name] = (section, hints[f.name])
    return keys


def _parse_value(key: str, text: str, hint: object) -> object:
    args = typing.get_args(hint)
    types = args if args else (hint,)
    if type(None) in types and text.strip().lower() in ("none", "null"):
        return None
    for t in types:
        if t is bool:
            low = text.strip().lower()
            if low in ("true", "1", "yes", "on"):
                return True
            if low in ("false", "0", "no", "off"):
                return False
        elif t is int:
            try:
                return int(text)
            except ValueError:
                pass
        elif t is float:
            try:
                return float(text)
            except ValueError:
                pass
        elif t is dict:
            try:
                v = json.loads(text)
            except json.JSONDecodeError:
                v = None
            if isinstance(v, dict):
                return v
        elif t is str:
            return text
    names = " or ".join(getattr(t, "__name__", str(t)).replace("NoneType", "none") for t in types)
    if dict in types:
        names += ' (a JSON object, e.g. {"c": 2.0})'
    raise ConfigError(f"--set {key}={text}: value must be {names}")


def parse_override(item: str) -> tuple[str, str, object]:
    """'key=value' -> (section, field, typed value); raises ConfigError naming allowed keys."""
    if "=" not in item:
        raise ConfigError(f"--set expects key=value, got {item!r}")
    key, text = item.split("=", 1)
    key = key.strip()
    keys = override_keys()
    section = None
    if "." in key:
        section, key = key.split(".", 1)
    if key not in keys or (section is not None and keys[key][0] != section):
        allowed = ", ".join(sorted(keys))
        raise ConfigError(f"unknown --set key {key!r}; allowed keys: {allowed}")
    section, hint = keys[key]
    return section, key, _parse_value(key, text, hint)


def _override_dict(d: dict, items: Iterable[str]) -> dict:
    """Copy of a nested config dict with `key=value` overrides set (parsed, not yet validated)."""
    d = {k: (dict(v) if isinstance(v, dict) else v) for k, v in d.items()}
    for item in items:
        section, key, value = parse_override(item)
        d.setdefault(section, {})
        if not isinstance(d[section], dict):
            raise ConfigError(f"config section {section!r} must be a JSON object")
        d[section][key] = value
    return d


def apply_overrides(config: Config, items: Iterable[str]) -> Config:
    """A new Config with `key=value` overrides applied and re-validated."""
    return Config.from_dict(_override_dict(config.to_dict(), items))


def known_configs() -> list[str]:
    """Names of the named configs shipped in experiments/configs/."""
    return sorted(p.stem for p in CONFIG_DIR.glob("*.json"))


def load_config(name_or_path: str, overrides: Iterable[str] = ()) -> Config:
    """A named config (see known_configs()) or a JSON file path, with overrides applied.

    Raises:
        ConfigError: unknown name, unreadable/invalid file, or invalid override.
    """
    path = Path(name_or_path)
    if path.suffix == ".json" or path.is_file():
        if not path.is_file():
            raise ConfigError(f"config file {name_or_path!r} does not exist")
    else:
        path = CONFIG_DIR / f"{name_or_path}.json"
        if not path.is_file():
            raise ConfigError(
                f"unknown config {name_or_path!r}; allowed: {', '.join(known_configs())} "
                "or a path to a .json file"
            )
    try:
        d = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ConfigError(f"cannot read config {str(path)!r}: {e}") from None
    if not isinstance(d, dict):
        raise ConfigError(f"config {str(path)!r} must hold a JSON object")
    d.setdefault("name", path.stem)
    # Overrides go into the raw dict, so a named config's distribution="auto" follows a
    # --set function=... override (sign -> sign_wellposed).
    return Config.from_dict(_override_dict(d, overrides))
