"""Shipped models: trained weights committed under ``models/<name>/`` that anyone can run.

A shipped model is two files: ``weights.pt``, the state dict with its parameters stored in
float16 (buffers, e.g. the MLP's normalisation, stay float32), and ``model.json``: the run's
full config, where it came from (run folder, steps, seed, the record of the run that trained it)
and its test accuracy *measured with the float16 weights* on the run's own test set (the same
``test_seed``), so that what a user loads is what was scored. Models are built in float32 and
run in float32; float16 storage only rounds the weights (relative change <= 2^-11).
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path

import torch

__all__ = ["MODELS_DIR", "MAX_BYTES", "ShippedModel", "export_model", "list_models", "load_model"]

MODELS_DIR = Path(__file__).resolve().parent.parent / "models"
MAX_BYTES = 5 * 2**20  # per model (issue 14: at most 5 MB each, 40 MB in all)
STORAGE_DTYPE = torch.float16


class ModelNotFoundError(ValueError):
    """No shipped model of that name; the message lists the ones there are."""


@dataclass
class ShippedModel:
    name: str
    model: torch.nn.Module  # float32, eval mode
    encoding: object | None  # the transformer's number encoding; None for an MLP
    config: object  # experiments.config.Config
    meta: dict  # model.json


def _compact_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    # Everything but the buffers: named_parameters() lists a tied weight (the transformer's
    # output head shares the embedding) once, but the state dict holds it under both names.
    buffers = {name for name, _ in model.named_buffers()}
    return {
        k: (v.to(STORAGE_DTYPE) if k not in buffers and v.is_floating_point() else v).clone()
        for k, v in model.state_dict().items()
    }


def _build(config, state: dict):
    from experiments.run_folder import build_model, get_run_encoding
    from experiments.vocabulary import KEPT_KEY, load_restricted

    encoding = get_run_encoding(config)
    model = build_model(config, encoding)
    if KEPT_KEY in state:
        load_restricted(model, state, encoding)
    else:
        model.load_state_dict(state)  # copy_ casts float16 back to the model's float32
    model.eval()
    return model, encoding


def _nbytes(state: dict) -> int:
    buf = io.BytesIO()
    torch.save(state, buf)
    return buf.tell()


def export_model(
    run_dir: str | Path, name: str, out_dir: Path | None = None, restrict: bool | None = None
) -> Path:
    """Write ``out_dir/name/{weights.pt, model.json}`` from a finished run's checkpoint.

    The accuracy recorded is that of the stored weights (float16, and with the vocabulary
    restricted when it was) on the run's full test set. ``restrict`` cuts a one-token-per-number
    transformer (FP15) to the tokens of its training stream (``experiments.vocabulary``); None
    (the default) does so only when the full weights would exceed MAX_BYTES.

    Raises:
        ValueError: not a finished run, or the weights exceed MAX_BYTES.
    """
    from experiments.data import TestSet, make_test_set
    from experiments.evaluate import evaluate_model, load_trained
    from experiments.run_folder import get_run_encoding
    from experiments.vocabulary import KEPT_KEY, restrict_state, training_token_ids

    run_dir = Path(run_dir)
    results_path = run_dir / "results.json"
    if not results_path.is_file():
        raise ValueError(f"{str(run_dir)!r} holds no finished run (no results.json)")
    results = json.loads(results_path.read_text())
    model, _, config = load_trained(run_dir)
    state = _compact_state(model)
    encoding = get_run_encoding(config)
    if restrict is None:
        one_token = getattr(encoding, "tokens_per_number", None) == 1
        restrict = one_token and _nbytes(state) > MAX_BYTES
    if restrict:
        state = restrict_state(state, training_token_ids(config, encoding, results["steps"]))
    shipped, encoding = _build(config, state)
    ts_path = run_dir / "test_set.pt"
    dc = config.data
    test = (
        TestSet.load(ts_path)
        if ts_path.is_file()
        else make_test_set(dc.sampler_config(), dc.test_size, dc.test_seed)
    )
    acc = evaluate_model(shipped, test, encoding=encoding).to_dict()
    target = Path(out_dir if out_dir is not None else MODELS_DIR) / name
    target.mkdir(parents=True, exist_ok=True)
    torch.save(state, target / "weights.pt")
    size = (target / "weights.pt").stat().st_size
    if size > MAX_BYTES:
        (target / "weights.pt").unlink()
        raise ValueError(
            f"{name}: {size} bytes of weights exceed the {MAX_BYTES}-byte limit per shipped model"
        )
    meta = {
        "name": name,
        "function": dc.function,
        "distribution": dc.distribution,
        "distribution_params": dc.params,
        "n": dc.n,
        "kind": config.model.kind,
        "encoding": dc.encoding if config.model.kind == "transformer" else None,
        "parameters": sum(p.numel() for p in model.parameters()),
        "storage_dtype": str(STORAGE_DTYPE).replace("torch.", ""),
        "vocabulary": (
            {
                "kept": len(state[KEPT_KEY]),
                "of": len(encoding),
                "rule": f"tokens of the {results['steps']} training batches, replayed from the run's stream",
            }
            if KEPT_KEY in state
            else None
        ),
        "weights_bytes": size,
        "source_run": run_dir.name,
        "steps": results["steps"],
        "seed": config.train.seed,
        "test": {"seed": dc.test_seed, "size": dc.test_size, "l1": acc},
        "test_float32": results["final"]["l1"],
        "record": results.get("record", {}),
        "config": config.to_dict(),
    }
    if results.get("selection"):
        # The weights are those selected on the run's validation set, not the last step's.
        meta["selected_step"] = results["selection"]["step"]
    (target / "model.json").write_text(json.dumps(meta, indent=2) + "\n")
    return target


def list_models(models_dir: Path | None = None) -> list[dict]:
    """The model.json of every shipped model, sorted by name."""
    root = Path(models_dir if models_dir is not None else MODELS_DIR)
    return [json.loads(p.read_text()) for p in sorted(root.glob("*/model.json"))]


def load_model(name: str, models_dir: Path | None = None) -> ShippedModel:
    """A shipped model, ready to run (float32, eval mode, CPU).

    Raises:
        ModelNotFoundError: no such name (the message lists the shipped ones).
    """
    from experiments.config import Config

    models_dir = Path(models_dir if models_dir is not None else MODELS_DIR)
    if not isinstance(name, str) or not name or "/" in name or name.startswith("."):
        raise ModelNotFoundError(f"model name must be a plain folder name, got {name!r}")
    folder = models_dir / name
    if not (folder / "model.json").is_file() or not (folder / "weights.pt").is_file():
        names = ", ".join(m["name"] for m in list_models(models_dir)) or "none"
        raise ModelNotFoundError(f"no shipped model {name!r}; allowed: {names}")
    meta = json.loads((folder / "model.json").read_text())
    config = Config.from_dict(meta["config"])
    state = torch.load(folder / "weights.pt", map_location="cpu", weights_only=True)
    model, encoding = _build(config, state)
    return ShippedModel(name, model, encoding, config, meta)
