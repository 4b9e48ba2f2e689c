"""A training run's folder: the model its config describes, its checkpoint, metrics and test set.

Both the training loop (:mod:`experiments.train`) and the evaluation (:mod:`experiments.evaluate`)
read run folders; this module is what they share, so that neither imports the other for it.

Files: config.json, metrics.jsonl (one JSON object per line), test_set.pt, checkpoint.pt and
results.json. Every write is atomic (temporary file in the same folder, flush + fsync,
os.replace), so a reader, or a resume after SIGKILL, sees the old or the new file, never a part.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from torch import nn

__all__ = [
    "CHECKPOINT",
    "CHECKPOINT_VERSION",
    "RUN_FILES",
    "TEST_SET",
    "CheckpointError",
    "RunFolderError",
    "atomic_write_bytes",
    "build_model",
    "get_run_encoding",
    "load_checkpoint",
    "read_metrics",
    "read_test_set",
    "run_test_set",
    "write_json",
]

CHECKPOINT = "checkpoint.pt"
CHECKPOINT_VERSION = 1
TEST_SET = "test_set.pt"
RUN_FILES = ("config.json", "metrics.jsonl", CHECKPOINT, "results.json")


class RunFolderError(ValueError):
    """A run folder that cannot be used as asked (exists already, missing config, ...)."""


class CheckpointError(ValueError):
    """A missing, truncated, corrupt or mismatched checkpoint."""


# ----------------------------------------------------------------------------------------------
# the model a config describes


def get_run_encoding(config):
    """The number encoding of a transformer run, or None for an MLP."""
    if config.model.kind != "transformer":
        return None
    from experiments.data import get_encoding

    return get_encoding(config.data.encoding, precision=config.data.precision)


def build_model(config, encoding=None) -> nn.Module:
    """Fresh model for the config (weights from the current torch RNG state), float32 on CPU."""
    m, n = config.model, config.data.n
    if m.kind == "mlp":
        from experiments.models.mlp import MLP

        return MLP(n_in=n * n, n_out=n * n, width=m.width, depth=m.depth)
    from experiments.models.transformer import Seq2SeqTransformer

    if encoding is None:
        encoding = get_run_encoding(config)
    seq_len = encoding.sequence_length(n, n)
    return Seq2SeqTransformer(
        vocab_size=len(encoding.vocab),
        d_model=m.d_model,
        n_heads=m.n_heads,
        enc_layers=m.enc_layers,
        dec_layers=m.dec_layers,
        d_ff=m.d_ff,
        max_src_len=seq_len,
        max_tgt_len=seq_len + 1,  # BOS + target on input, target + EOS on output
        dropout=m.dropout,
        pad_id=encoding.pad_id,
    )


# ----------------------------------------------------------------------------------------------
# atomic writes


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_bytes(path: Path, write) -> None:
    """Write via `write(fileobj)` to a temporary file beside `path`, fsync, then os.replace.

    A reader (or a resume after SIGKILL) sees either the old complete file or the new
    complete file, never a partial one: os.replace is atomic within one file system.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    _fsync_dir(path.parent)


def write_json(path: Path, obj: dict) -> None:
    """``obj`` as indented JSON, written atomically."""
    data = (json.dumps(obj, indent=2) + "\n").encode()
    atomic_write_bytes(path, lambda fh: fh.write(data))


# ----------------------------------------------------------------------------------------------
# reading


def read_metrics(run_dir: Path) -> list[dict]:
    """Parsed lines of run_dir/metrics.jsonl; a torn last line (SIGKILL mid-write) is skipped."""
    path = Path(run_dir) / "metrics.jsonl"
    if not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return rows


def load_checkpoint(run_dir: Path, map_location: str | torch.device = "cpu") -> dict:
    """Read run_dir/checkpoint.pt; CheckpointError (one line) if missing, truncated or corrupt."""
    path = Path(run_dir) / CHECKPOINT
    if not path.is_file():
        raise CheckpointError(
            f"no {CHECKPOINT} in {str(run_dir)!r}; --resume/evaluate need a run folder written "
            "by `python -m experiments train` that reached its first checkpoint"
        )
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # torch raises several types for damaged zip/pickle data
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise CheckpointError(
            f"checkpoint {str(path)!r} is truncated or corrupt ({type(e).__name__}: {msg}); "
            "allowed: a complete checkpoint.pt written by `python -m experiments train`"
        ) from None
    required = {"version", "step", "model", "optimizer", "config", "ranks", "elapsed_s"}
    if not isinstance(ckpt, dict) or not required <= set(ckpt):
        raise CheckpointError(
            f"checkpoint {str(path)!r} is not a training checkpoint of this package "
            f"(needs keys {sorted(required)})"
        )
    if ckpt["version"] != CHECKPOINT_VERSION:
        raise CheckpointError(
            f"checkpoint {str(path)!r} has format version {ckpt['version']}; "
            f"this code reads version {CHECKPOINT_VERSION}"
        )
    return ckpt


def read_test_set(path: str | Path, remedy: str = "allowed: a file written by TestSet.save"):
    """The TestSet in ``path``; RunFolderError (one line, ending in ``remedy``) if it cannot be read.

    torch.load raises several exception types on truncated or foreign files; all of them, and
    TestSet.load's own ValueError, become the one error type the command line reports.
    """
    from experiments.data import TestSet

    try:
        return TestSet.load(path)
    except Exception as e:
        raise RunFolderError(
            f"cannot read test set {str(path)!r}: truncated, damaged or not a TestSet file "
            f"({type(e).__name__}); {remedy}"
        ) from None


def run_test_set(run_dir: str | Path, config, *, save: bool = False):
    """The run's fixed test set: run_dir/test_set.pt when it exists, else drawn from the config.

    A drawn set is ``make_test_set(config.data.sampler_config(), data.test_size, data.test_seed)``,
    which is what training saved, so both paths give the same matrices; with ``save=True`` it is
    written to run_dir/test_set.pt (atomically). Raises RunFolderError if the file exists but
    cannot be read.
    """
    from experiments.data import make_test_set

    path = Path(run_dir) / TEST_SET
    if path.exists():
        return read_test_set(path, "delete it and it is regenerated from config.json (data.test_seed)")
    test_set = make_test_set(config.data.sampler_config(), config.data.test_size, config.data.test_seed)
    if save:
        test_set.save(path)  # atomic (temporary file + rename)
    return test_set
