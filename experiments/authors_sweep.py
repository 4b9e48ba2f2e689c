"""The authors' MLP sample-complexity sweep, reproduced, beside our MLP on the same data.

Issue 10, item 1. For each matrix function f in {exp, sign, sin, cos, log}, dimension n and
training-set size N = 2^k, two arms are trained on one fixed training set and scored on one
fixed test set with one metric:

- ``"authors"``: the architecture and recipe of rahul3/LAWT, ``src/neuralnet/`` (read at commit
  f18f7ab for the facts below; no code taken from it).
- ``"ours"``: ``experiments.models.mlp.MLP`` (width 256, 4 hidden layers, the study's MLP,
  ``experiments/configs/study-mlp.json``) with its input/output normalisation fitted on the
  training set itself, our relative-L1 loss (``experiments.train.mlp_loss``), AdamW
  (betas 0.9/0.98, weight decay 0.01) with linear warmup over min(200, T/10) steps then cosine
  decay to 5% of lr 1e-3 at the last step T, gradient-norm clipping at 1 -- the recipe of our
  training loop (``experiments.train``), laid out over the same step budget T as the authors'
  arm. It sees the same N matrices in the same batch size (128) and the same shuffled order, for
  the same number of steps, so the only differences are model and recipe.

The authors' protocol as their code has it (``deepnetwork_hd_train.py``, ``datagenerator.py``
``NNMatrixData``, ``models.py`` ``DeepMatrixNet``, ``loss.py``), and what this module does:

- Inputs: entries iid ``(c / sqrt 3) N(0, 1)`` with ``c = coeff_upper = 5`` (sampling's
  ``"gaussian"`` with ``sigma = 5 / sqrt 3``); for log ``(c / sqrt 3) |N(0, 1)|``
  (``"gaussian_positive"``, ``c = 5``). Same here.
- Sizes: ``2^5, ..., 2^18`` training matrices. Their script loops over dims 1..8
  (``range(1, 9)``) and, at commit f18f7ab, over ``["log", "exp"]`` only (sin, sign, cos are in
  a commented-out list); their published table (``results/icprai_2026/combined_results_dim123
  .csv``) has all five functions for dims 1, 2, 3 at tolerance 0.05 only.
- Model: ``n^2 -> 128 -> 256 -> 512 -> 1024 -> 512 -> 256 -> 128 -> n^2``, ReLU and dropout 0.2
  after each of the 7 hidden layers, PyTorch default initialisation, no input or output
  scaling. ``torch.set_default_dtype(torch.float64)`` precedes data and model, so their model
  and data are float64. Same here by default (``authors_dtype``; float32 is offered for speed).
- Loss: exp: relative L1, ``mean_b sum|P_b - F_b| / (sum|F_b| + 1e-7)``; the others:
  ``torch.norm(P - F, p='fro')`` of the whole batch tensor, i.e. the square root of the sum of
  squared errors over the batch (absolute, not relative, not averaged) for n > 1, and
  ``nn.MSELoss`` (mean squared error) for n = 1. Same here.
- Optimiser: Adam, lr 1e-3, PyTorch defaults otherwise, no schedule, no clipping; batch 128,
  reshuffled every epoch, the last batch partial (DataLoader defaults); 100 epochs, i.e.
  ``100 * ceil(N / 128)`` steps. Same here, up to the ``max_steps`` cap.
- Metric: ``d1 = sum|P - F| / (sum|F| + 1e-12)``, correct when ``d1 < tol``, tol in
  {0.05, 0.02, 0.01, 0.005}, dropout off (``model.eval()``). Here:
  ``experiments.evaluate.evaluate_predictions`` with norm "l1" (the same ratio without the
  1e-12, strict ``<``), Wilson 95% intervals.

Differences from the issue's summary and from the authors' code, on purpose or by necessity:

- Test set: the authors draw the ``2^15`` held-out matrices afresh with every training size
  (``random_split`` of one draw of N + 2^15) and use them only for a test *loss*; their accuracy
  is measured on yet another fresh draw of 10,000 matrices per training size. Here one test set
  of ``2^test_size_log2`` (default 2^15) matrices per (f, n), drawn once with a seed that
  depends only on (f, n, size), scores every arm, training size and seed.
- Training sets: the authors' come from one global RNG stream (``torch.manual_seed(42)`` once),
  so each depends on everything drawn before it. Here each (f, n, N, seed) has its own derived
  seed (``derived_seed``), so a record can be recomputed alone and both arms get the same set.
- Matrices without a real f(A): the authors keep every draw. For log with a negative real
  eigenvalue scipy's ``logm`` returns a complex matrix, the whole target array becomes complex
  and the later ``.to(torch.float64)`` silently keeps the real part; for sign a matrix with an
  eigenvalue on the imaginary axis has probability zero. Here such matrices are **dropped and
  redrawn** (``experiments.data.sampling.sample``, rule of ``matrix_function_masked``: no
  eigenvalue within 1e-10 relative of the closed negative real axis for log, of the imaginary
  axis for sign; convergence and residual checks); every set records how many candidates were
  ``drawn`` and ``rejected``. For log with positive entries this rejects half of the 2x2 draws
  (a 2x2 positive matrix has real eigenvalues, one negative exactly when det < 0, probability
  1/2) and about 60% of the 3x3 draws, so our log distribution is the authors' conditioned on
  a real logarithm existing.
- The step cap ``max_steps`` (same for both arms) replaces the full 100 epochs where it is
  smaller; every record says whether it bit and at which step and epoch.
- The "ours" arm is float32 (our training loop's precision); the authors' arm is float64.

Cost (measured on this project's shared 2-core AMD EPYC, one thread, exp, n = 3, N = 2^18, 300
steps, batch 128; CPU seconds of the process, wall time about 3x longer while two other
training runs shared the machine): the authors' arm 40 CPU s per 1,000 steps in float64
(21 in float32), ours 7.6; scoring 2^15 test matrices 2.5 CPU s (authors, float64). Their full
protocol is ``100 * ceil(N / 128)`` steps, 204,800 at N = 2^18 and 409,700 per (f, n) curve over
N = 2^5..2^18, about 4.5 CPU hours per curve for their arm, 68 for the 15 curves of dims 1-3.
A cap of 1,000 steps (the default) makes the 15 curves about 176,000 steps, 2.2 CPU hours for
the authors' arm and 0.5 for ours; it bites from N = 2^11 on (at epoch 62.5 there, at epoch
0.49 at N = 2^18, where half the training set is never seen).

Records: one JSON file per (f, n, k, arm, seed), ``<f>-n<n>-k<k>-<arm>-s<seed>.json``, written
atomically (temporary file, fsync, ``os.replace``), holding the protocol, data counts and
SHA-256 hashes of the training and test tensors, the step budget and where the cap bit, the
test scores and the run record (git commit, versions, hardware, seed, wall time). A record
whose file exists with the same protocol is skipped, so a sweep resumes across sessions; a
file with a different protocol stops the sweep before anything runs (one folder, one protocol).
One thread per process (``torch.set_num_threads(1)``). ``sweep_table`` renders a folder of records
as the generated table of ``results/authors_sweep/README.md`` (``python -m experiments tables``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import torch
from torch import Tensor, nn

from experiments.data.sampling import SamplerConfig, sample
from experiments.evaluate import TOLERANCES, evaluate_predictions
from experiments.models.mlp import MLP
from experiments.runrecord import collect_run_record, git_commit, utc_now
from experiments.train import mlp_loss

__all__ = [
    "ARMS",
    "AUTHORS_HIDDEN",
    "FUNCTIONS",
    "REFERENCE_DIR",
    "DataSet",
    "SweepError",
    "Protocol",
    "authors_loss",
    "authors_model",
    "derived_seed",
    "figure_accuracy_vs_size",
    "load_records",
    "plan_keys",
    "planned_steps",
    "record_name",
    "run_one",
    "run_sweep",
    "sampler_config",
    "score_predictions",
    "sweep_table",
    "tensor_sha256",
    "test_set",
    "training_set",
]

REPO = Path(__file__).resolve().parent.parent
REFERENCE_DIR = REPO / "results" / "authors_sweep"
DEFAULT_OUT = REPO / "runs" / "authors_sweep"
SCHEMA = "authors-sweep record v1"

FUNCTIONS = ("exp", "sign", "sin", "cos", "log")
ARMS = ("authors", "ours")
C_SCALE = 5.0  # the authors' coeff_upper
EPOCHS = 100
BATCH_SIZE = 128
LR = 1e-3
AUTHORS_HIDDEN = (128, 256, 512, 1024, 512, 256, 128)
AUTHORS_DROPOUT = 0.2
AUTHORS_EXP_EPS = 1e-7  # loss.py RelativeErrorL1(eps=1e-7)
OURS_WIDTH, OURS_DEPTH = 256, 4
OURS_WARMUP, OURS_MIN_LR_RATIO, OURS_WEIGHT_DECAY, OURS_CLIP = 200, 0.05, 0.01, 1.0
EVAL_BATCH = 8192
LOSS_TRACE_POINTS = 20
DEFAULT_MAX_STEPS = 1000  # see "Cost" in the module docstring
# The sweep the command line runs by default: the authors' published dims 1-3, sizes 2^5..2^18.
DEFAULT_DIMS = (1, 2, 3)
DEFAULT_SIZES_LOG2 = tuple(range(5, 19))
DEFAULT_SEEDS = (0,)


class SweepError(ValueError):
    """Bad sweep settings, or an output folder holding records of a different protocol."""


# ---------------------------------------------------------------------------------------------
# data


def sampler_config(function: str, n: int) -> SamplerConfig:
    """The authors' input distribution for ``function`` at size n (see the module docstring)."""
    if function not in FUNCTIONS:
        raise SweepError(f"unknown function {function!r}; allowed: {', '.join(FUNCTIONS)}")
    if function == "log":
        return SamplerConfig(function="log", distribution="gaussian_positive", n=n, params={"c": C_SCALE})
    return SamplerConfig(
        function=function, distribution="gaussian", n=n, params={"sigma": C_SCALE / math.sqrt(3)}
    )


def derived_seed(*parts: object) -> int:
    """A 63-bit seed from the parts' text (SHA-256): stable across processes and Python runs."""
    text = "|".join(str(p) for p in parts)
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") >> 1


def tensor_sha256(*tensors: Tensor) -> str:
    """SHA-256 of the tensors' float64 bytes (contiguous, C order), in the given order."""
    h = hashlib.sha256()
    for t in tensors:
        h.update(t.detach().to("cpu", torch.float64).contiguous().numpy().tobytes())
    return h.hexdigest()


@dataclass(frozen=True)
class DataSet:
    """``A``, ``F`` (N, n, n) float64 with F = f(A) well defined for every row; ``drawn``
    candidates examined, of which ``rejected`` had no reliable real f(A) and were redrawn."""

    A: Tensor
    F: Tensor
    seed: int
    drawn: int
    rejected: int

    def summary(self) -> dict:
        return {
            "size": int(self.A.shape[0]),
            "seed": self.seed,
            "drawn": self.drawn,
            "rejected": self.rejected,
            "sha256": tensor_sha256(self.A, self.F),
        }


def _draw(function: str, n: int, size: int, seed: int) -> DataSet:
    b = sample(sampler_config(function, n), size, torch.Generator().manual_seed(seed))
    return DataSet(b.A, b.F, seed, b.drawn, b.rejected)


@lru_cache(maxsize=4)
def training_set(function: str, n: int, size: int, seed: int) -> DataSet:
    """The fixed training set of (function, n, size, seed); the same tensors for every arm."""
    return _draw(function, n, size, derived_seed("train", function, n, size, seed))


@lru_cache(maxsize=2)
def test_set(function: str, n: int, size: int) -> DataSet:
    """The fixed test set of (function, n): independent of arm, training size and seed."""
    return _draw(function, n, size, derived_seed("test", function, n, size))


# ---------------------------------------------------------------------------------------------
# models and losses


def authors_model(n: int, dtype: torch.dtype = torch.float64) -> nn.Sequential:
    """``DeepMatrixNet(n*n)``: n^2 -> 128 -> 256 -> 512 -> 1024 -> 512 -> 256 -> 128 -> n^2, each
    hidden affine map followed by ReLU then Dropout(0.2); PyTorch default initialisation."""
    sizes = [n * n, *AUTHORS_HIDDEN, n * n]
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(nn.Linear(a, b, dtype=dtype))
        if i < len(sizes) - 2:
            layers += [nn.ReLU(), nn.Dropout(AUTHORS_DROPOUT)]
    return nn.Sequential(*layers)


def authors_loss(function: str, n: int) -> tuple[str, Callable[[Tensor, Tensor], Tensor]]:
    """(name, loss) of the authors' recipe on (B, n*n) predictions and targets."""
    if function == "exp":

        def rel_l1(p: Tensor, y: Tensor) -> Tensor:
            return ((p - y).abs().sum(1) / (y.abs().sum(1) + AUTHORS_EXP_EPS)).mean()

        return "relative L1, mean_b sum|P-F| / (sum|F| + 1e-7)", rel_l1
    if n == 1:
        return "MSE (mean squared error)", nn.functional.mse_loss

    def batch_fro(p: Tensor, y: Tensor) -> Tensor:
        return torch.linalg.vector_norm(p - y)

    return "Frobenius norm of the batch error, sqrt(sum_b sum_ij (P-F)^2)", batch_fro


def ours_model(n: int, train: DataSet) -> MLP:
    """Our MLP with its normalisation fitted on the training set (no extra matrices)."""
    model = MLP(n * n, n * n, OURS_WIDTH, OURS_DEPTH)
    model.set_normalisation(train.A.reshape(-1, n * n).float(), train.F.reshape(-1, n * n).float())
    return model


def ours_lr(step: int, total: int) -> float:
    """Linear warmup over min(200, total // 10) steps, then cosine to 5% of 1e-3 at ``total``."""
    warmup = max(1, min(OURS_WARMUP, total // 10))
    if step < warmup:
        return LR * (step + 1) / warmup
    t = min((step - warmup) / max(total - warmup, 1), 1.0)
    return LR * (OURS_MIN_LR_RATIO + (1 - OURS_MIN_LR_RATIO) * 0.5 * (1 + math.cos(math.pi * t)))


def n_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# ---------------------------------------------------------------------------------------------
# one record


@dataclass(frozen=True)
class Protocol:
    """Settings that must agree for two records to belong to one sweep."""

    max_steps: int
    test_size_log2: int
    authors_dtype: str = "float64"

    def to_dict(self) -> dict:
        return {
            "c": C_SCALE,
            "epochs": EPOCHS,
            "batch_size": BATCH_SIZE,
            "lr": LR,
            "max_steps": self.max_steps,
            "test_size": 2**self.test_size_log2,
            "authors_dtype": self.authors_dtype,
            "ours": {
                "width": OURS_WIDTH,
                "depth": OURS_DEPTH,
                "warmup": OURS_WARMUP,
                "min_lr_ratio": OURS_MIN_LR_RATIO,
                "weight_decay": OURS_WEIGHT_DECAY,
                "grad_clip": OURS_CLIP,
            },
        }


def planned_steps(size: int, epochs: int = EPOCHS, batch_size: int = BATCH_SIZE) -> int:
    """Steps of the authors' ``epochs`` passes over ``size`` matrices, last batch partial."""
    return epochs * math.ceil(size / batch_size)


def _matrices_seen(steps: int, size: int) -> int:
    """Training matrices passed through the model in ``steps`` steps (full epochs plus batches)."""
    epochs, rest = divmod(steps, math.ceil(size / BATCH_SIZE))
    return epochs * size + rest * BATCH_SIZE  # rest < steps per epoch, so rest * 128 < size


def record_name(function: str, n: int, k: int, arm: str, seed: int) -> str:
    return f"{function}-n{n}-k{k}-{arm}-s{seed}.json"


def score_predictions(pred: Tensor, F: Tensor) -> dict:
    """Accuracy within 5/2/1/0.5% in relative entrywise L1 (the authors' d1, Charton 2022) with
    Wilson 95% intervals, error quantiles, and the number of correct matrices per tolerance.
    Non-finite predictions count as wrong."""
    res = evaluate_predictions(pred, torch.ones(pred.shape[0], dtype=torch.bool), F, norm="l1")
    d = res.to_dict()
    for tau in TOLERANCES:
        d["accuracy"][f"{tau:g}"]["correct"] = int((res.errors < tau).sum())
    return d


@torch.no_grad()
def predict_arm(model: nn.Module, A: Tensor) -> Tensor:
    """Predictions (B, n, n) float64 in eval mode (dropout off), in batches of 8192."""
    model.eval()
    B, n, _ = A.shape
    dtype = next(model.parameters()).dtype
    out = [
        model(A[i : i + EVAL_BATCH].reshape(-1, n * n).to(dtype)).to(torch.float64)
        for i in range(0, B, EVAL_BATCH)
    ]
    return torch.cat(out).reshape(B, n, n)


def _train(
    arm: str,
    model: nn.Module,
    function: str,
    n: int,
    train: DataSet,
    total: int,
    order_seed: int,
    dtype: torch.dtype,
) -> dict:
    """``total`` steps of the arm's recipe over epochs of ``train`` reshuffled with ``order_seed``."""
    N = train.A.shape[0]
    X = train.A.reshape(N, n * n).to(dtype)
    Y = train.F.reshape(N, n * n).to(dtype)
    if arm == "authors":
        loss_name, loss_fn = authors_loss(function, n)
        opt = torch.optim.Adam(model.parameters(), lr=LR)
    else:
        loss_name, loss_fn = "relative L1, mean_b sum|P-F| / sum|F| (experiments.train.mlp_loss)", mlp_loss
        opt = torch.optim.AdamW(model.parameters(), lr=LR, betas=(0.9, 0.98), weight_decay=OURS_WEIGHT_DECAY)
    g = torch.Generator().manual_seed(order_seed)
    model.train()
    every = max(1, total // LOSS_TRACE_POINTS)
    trace, window, nonfinite_at, step = [], [], None, 0
    t0 = time.perf_counter()
    while step < total and nonfinite_at is None:
        perm = torch.randperm(N, generator=g)
        for i in range(0, N, BATCH_SIZE):
            idx = perm[i : i + BATCH_SIZE]
            if arm == "ours":
                for group in opt.param_groups:
                    group["lr"] = ours_lr(step, total)
            loss = loss_fn(model(X[idx]), Y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if arm == "ours":
                nn.utils.clip_grad_norm_(model.parameters(), OURS_CLIP)
            opt.step()
            step += 1
            value = float(loss.detach())
            if not math.isfinite(value):
                nonfinite_at = step
                break
            window.append(value)
            if step % every == 0 or step == total:
                trace.append([step, sum(window) / len(window)])
                window = []
            if step >= total:
                break
    seconds = time.perf_counter() - t0
    return {
        "loss": loss_name,
        "optimizer": "Adam(lr=1e-3)"
        if arm == "authors"
        else "AdamW(lr=1e-3, betas=(0.9, 0.98), weight_decay=0.01), clip 1.0",
        "schedule": "constant" if arm == "authors" else "warmup min(200, T/10), cosine to 5% at T",
        "dtype": str(dtype).removeprefix("torch."),
        "steps_done": step,
        "nonfinite_loss_at_step": nonfinite_at,
        "loss_trace": trace,
        "train_seconds": round(seconds, 3),
        "steps_per_second": round(step / seconds, 3) if seconds > 0 else None,
    }


def run_one(
    function: str,
    n: int,
    k: int,
    arm: str,
    seed: int,
    protocol: Protocol,
    commit: tuple[str | None, bool | None] | None = None,
) -> dict:
    """Train and score one (function, n, N = 2^k, arm, seed); returns the record (not written)."""
    if arm not in ARMS:
        raise SweepError(f"unknown arm {arm!r}; allowed: {', '.join(ARMS)}")
    started, t0 = utc_now(), time.perf_counter()
    size = 2**k
    train = training_set(function, n, size, seed)
    test = test_set(function, n, 2**protocol.test_size_log2)
    planned = planned_steps(size)
    total = min(planned, protocol.max_steps)
    torch.manual_seed(derived_seed("init", function, n, size, seed, arm))
    if arm == "authors":
        dtype = getattr(torch, protocol.authors_dtype)
        model: nn.Module = authors_model(n, dtype)
        layer_sizes = [n * n, *AUTHORS_HIDDEN, n * n]
        model_info = {"kind": "authors DeepMatrixNet", "dropout": AUTHORS_DROPOUT}
    else:
        dtype = torch.float32
        model = ours_model(n, train)
        layer_sizes = [n * n, *[OURS_WIDTH] * OURS_DEPTH, n * n]
        model_info = {"kind": "experiments.models.mlp.MLP (normalised on the training set)", "dropout": 0.0}
    order_seed = derived_seed("order", function, n, size, seed)
    training = _train(arm, model, function, n, train, total, order_seed, dtype)
    steps_per_epoch = math.ceil(size / BATCH_SIZE)
    cap_bit = protocol.max_steps < planned
    training.update(
        {
            "epochs_planned": EPOCHS,
            "steps_planned": planned,
            "max_steps": protocol.max_steps,
            "steps_budget": total,
            "cap_bit": cap_bit,
            "cap_bit_at": {
                "step": total,
                "epoch": round(total / steps_per_epoch, 4),
                "fraction_of_planned": round(total / planned, 6),
            }
            if cap_bit
            else None,
            "epochs_done": round(training["steps_done"] / steps_per_epoch, 4),
            "matrices_seen": _matrices_seen(training["steps_done"], size),
        }
    )
    scores = score_predictions(predict_arm(model, test.A), test.F)
    cfg = sampler_config(function, n)
    return {
        "schema": SCHEMA,
        "key": {"function": function, "n": n, "train_size_log2": k, "arm": arm, "seed": seed},
        "protocol": protocol.to_dict(),
        "data": {
            "distribution": cfg.distribution,
            "params": dict(cfg.params),
            "well_posedness": "matrices without a reliable real f(A) (matrix_function_masked) are "
            "dropped and redrawn; 'rejected' of 'drawn' candidates",
            "train": train.summary(),
            "test": test.summary(),
        },
        "model": {**model_info, "layer_sizes": layer_sizes, "parameters": n_parameters(model)},
        "training": training,
        "test": scores,
        "run": collect_run_record(
            torch.device("cpu"), seed, started, time.perf_counter() - t0, commit=commit
        ).to_dict(),
    }


# ---------------------------------------------------------------------------------------------
# the sweep


def _write_json_atomic(path: Path, obj: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(json.dumps(obj, indent=1) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def plan_keys(
    functions: Sequence[str] = FUNCTIONS,
    dims: Sequence[int] = DEFAULT_DIMS,
    sizes_log2: Sequence[int] = DEFAULT_SIZES_LOG2,
    arms: Sequence[str] = ARMS,
    seeds: Sequence[int] = DEFAULT_SEEDS,
) -> list[tuple[str, int, int, str, int]]:
    """Every (function, n, k, arm, seed) of a sweep in run order: function, n, seed, k, arm (both
    arms of one training set back to back). The defaults are the command line's default sweep."""
    return [(f, n, k, a, s) for f in functions for n in dims for s in seeds for k in sizes_log2 for a in arms]


def _read_record(path: Path) -> dict:
    try:
        rec = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise SweepError(
            f"{path} is not a readable record ({type(e).__name__}); delete it to rerun"
        ) from None
    if not isinstance(rec, dict) or rec.get("schema") != SCHEMA:
        raise SweepError(f"{path} is not an authors-sweep record ({SCHEMA!r}); move it away")
    return rec


def _check_settings(functions, dims, ks, arms, seeds, max_steps, test_size_log2) -> None:
    for f in functions:
        if f not in FUNCTIONS:
            raise SweepError(f"unknown function {f!r}; allowed: {', '.join(FUNCTIONS)}")
    for a in arms:
        if a not in ARMS:
            raise SweepError(f"unknown arm {a!r}; allowed: {', '.join(ARMS)}")
    for name, values, low in (("dims", dims, 1), ("sizes (log2)", ks, 0), ("seeds", seeds, 0)):
        if not values or any(isinstance(v, bool) or not isinstance(v, int) or v < low for v in values):
            raise SweepError(f"{name} must be integers >= {low}, got {list(values)}")
    if isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 1:
        raise SweepError(f"max_steps must be an integer >= 1, got {max_steps!r}")
    if not (isinstance(test_size_log2, int) and 1 <= test_size_log2 <= 20):
        raise SweepError(f"test_size_log2 must be an integer in [1, 20], got {test_size_log2!r}")


def run_sweep(
    functions: Sequence[str] = FUNCTIONS,
    dims: Sequence[int] = DEFAULT_DIMS,
    sizes_log2: Sequence[int] = DEFAULT_SIZES_LOG2,
    arms: Sequence[str] = ARMS,
    max_steps: int = DEFAULT_MAX_STEPS,
    test_size_log2: int = 15,
    out: str | Path = DEFAULT_OUT,
    seeds: Sequence[int] = DEFAULT_SEEDS,
    authors_dtype: str = "float64",
    echo: Callable[[str], None] = print,
    dry_run: bool = False,
) -> list[tuple[str, str]]:
    """Run every (function, n, k, arm, seed) whose record is missing under ``out``.

    Loops in the order function, n, seed, k, arm (both arms of one training set back to back,
    sharing the cached set). Returns ``[(record file name, "done" | "skipped" | "todo")]``.
    Raises SweepError on bad settings or when ``out`` holds a record of another protocol (before
    anything runs).
    """
    functions, dims, ks, arms, seeds = list(functions), list(dims), list(sizes_log2), list(arms), list(seeds)
    _check_settings(functions, dims, ks, arms, seeds, max_steps, test_size_log2)
    if authors_dtype not in ("float64", "float32"):
        raise SweepError(f"authors_dtype must be float64 or float32, got {authors_dtype!r}")
    protocol = Protocol(max_steps, test_size_log2, authors_dtype)
    out = Path(out)
    plan = plan_keys(functions, dims, ks, arms, seeds)
    state = {}
    for key in plan:
        path = out / record_name(*key)
        if path.exists():
            old = _read_record(path)["protocol"]
            if old != protocol.to_dict():
                diff = sorted(
                    k for k in set(old) | set(protocol.to_dict()) if old.get(k) != protocol.to_dict().get(k)
                )
                raise SweepError(
                    f"{path} was made with another protocol (differs in {', '.join(diff)}); "
                    "use another --out or the same settings"
                )
            state[key] = "skipped"
        else:
            state[key] = "todo"
    if dry_run:
        return [(record_name(*key), state[key]) for key in plan]
    torch.set_num_threads(1)
    commit = git_commit()
    todo = sum(1 for v in state.values() if v == "todo")
    echo(f"authors-sweep: {len(plan)} records, {len(plan) - todo} already done, {todo} to run, into {out}")
    done = 0
    for key in plan:
        name = record_name(*key)
        if state[key] == "skipped":
            continue
        rec = run_one(*key, protocol=protocol, commit=commit)
        _write_json_atomic(out / name, rec)
        state[key] = "done"
        done += 1
        tr, acc = rec["training"], rec["test"]["accuracy"]["0.05"]
        cap = f" (cap bit at epoch {tr['cap_bit_at']['epoch']:g})" if tr["cap_bit"] else ""
        echo(
            f"[{done}/{todo}] {name}: within 5% {acc['acc']:.4f} "
            f"[{acc['ci95'][0]:.4f}, {acc['ci95'][1]:.4f}], "
            f"{tr['steps_done']}/{tr['steps_planned']} steps{cap}, "
            f"train rejected {rec['data']['train']['rejected']}/{rec['data']['train']['drawn']}, "
            f"{tr['steps_per_second']} steps/s, {rec['run']['wall_time_s']:.0f} s"
        )
    return [(record_name(*key), state[key]) for key in plan]


def load_records(folder: str | Path) -> list[dict]:
    """Every record ``*.json`` in ``folder`` (sorted by name); SweepError on a foreign file."""
    return [_read_record(p) for p in sorted(Path(folder).glob("*.json"))]


# ---------------------------------------------------------------------------------------------
# table (the generated block of results/authors_sweep/README.md: ``python -m experiments tables
# authors-sweep DIR``, registered in experiments.readme_tables)

Key = tuple[str, int, int, str, int]  # (function, n, k, arm, seed), as in record_name


def _key(rec: dict) -> Key:
    k = rec["key"]
    return (k["function"], k["n"], k["train_size_log2"], k["arm"], k["seed"])


def _span(ks: Sequence[int]) -> str:
    """``2^5..2^18`` for consecutive exponents, else ``2^5, 2^7``."""
    ks = sorted(ks)
    if len(ks) > 2 and ks == list(range(ks[0], ks[-1] + 1)):
        return f"2^{ks[0]}..2^{ks[-1]}"
    return ", ".join(f"2^{k}" for k in ks)


def _pct(x: float) -> str:
    return f"{100 * x:.1f}"


def _within5(rec: dict) -> dict:
    return rec["test"]["accuracy"]["0.05"]


def _function_table(by_key: dict[Key, dict], function: str, ks: list[int], rows: list[tuple]) -> list[str]:
    """The Markdown table of one function: a row per (n, arm[, seed]), a cell per k ("-": no record),
    and the Wilson 95% interval of the row's largest k that has a record."""
    with_seed = len({row[2] for row in rows}) > 1
    head = ["n", "arm", *(["seed"] if with_seed else []), *[f"2^{k}" for k in ks], "95% CI at largest N"]
    lines = [
        "| " + " | ".join(head) + " |",
        "|" + "---|" * (len(head) - len(ks) - 1) + "---:|" * len(ks) + "---|",
    ]
    for n, arm, seed in rows:
        recs = {k: by_key.get((function, n, k, arm, seed)) for k in ks}
        cells = [_pct(_within5(r)["acc"]) if r else "-" for r in recs.values()]
        done = [k for k, r in recs.items() if r]
        if done:
            lo, hi = _within5(recs[done[-1]])["ci95"]
            ci = f"2^{done[-1]}: [{_pct(lo)}, {_pct(hi)}]"
        else:
            ci = "-"
        label = [str(n), arm, *([str(seed)] if with_seed else [])]
        lines.append("| " + " | ".join([*label, *cells, ci]) + " |")
    return lines


def _rejections(recs: list[dict]) -> str:
    """Per n: candidates rejected of those drawn, summed over the training sets and over the test
    sets, each set counted once by its hash (both arms of one size share one training set)."""
    parts = []
    for n in sorted({r["key"]["n"] for r in recs}):
        sets = {"train": {}, "test": {}}
        for r in recs:
            if r["key"]["n"] == n:
                for part in sets:
                    d = r["data"][part]
                    sets[part][d["sha256"]] = (d["rejected"], d["drawn"])
        train, test = ((sum(v[0] for v in s.values()), sum(v[1] for v in s.values())) for s in sets.values())
        parts.append(
            f"n = {n}: training sets {train[0]:,} of {train[1]:,} drawn, test set {test[0]:,} of {test[1]:,}"
        )
    return "; ".join(parts)


def _cap(recs: list[dict]) -> str:
    """The step cap(s) and, per k where a record says it bit, the epoch it bit at."""
    caps = sorted({r["training"]["max_steps"] for r in recs})
    bit: dict[int, set[float]] = defaultdict(set)
    for r in recs:
        if r["training"]["cap_bit"]:
            bit[r["key"]["train_size_log2"]].add(r["training"]["cap_bit_at"]["epoch"])
    text = f"Step cap {' / '.join(f'{c:,}' for c in caps)} steps"
    if not bit:
        return text + ": never bit"
    where = ", ".join(f"2^{k} (epoch {' / '.join(f'{e:g}' for e in sorted(bit[k]))})" for k in sorted(bit))
    return f"{text}: bit at {where}"


def _function_line(function: str, recs: list[dict]) -> str:
    """One line: matrices rejected and redrawn, where the step cap bit, records per arm, and any run
    stopped by a non-finite loss."""
    per_arm = defaultdict(int)
    for r in recs:
        per_arm[r["key"]["arm"]] += 1
    arms = ", ".join(f"{a} {per_arm[a]}" for a in sorted(per_arm, key=_arm_order))
    line = (
        f"{function}: rejected and redrawn (no reliable real f(A)): {_rejections(recs)}. "
        f"{_cap(recs)}. Records: {arms}."
    )
    stopped = [
        f"n = {r['key']['n']} {r['key']['arm']} 2^{r['key']['train_size_log2']} at step "
        f"{r['training']['nonfinite_loss_at_step']}"
        for r in recs
        if r["training"].get("nonfinite_loss_at_step") is not None
    ]
    if stopped:
        line += " Stopped by a non-finite loss: " + ", ".join(stopped) + "."
    return line


def _arm_order(arm: str) -> tuple[int, str]:
    return (ARMS.index(arm) if arm in ARMS else len(ARMS), arm)


def sweep_table(records: Sequence[dict], plan: Sequence[Key] | None = None) -> str:
    """Markdown of the sweep's records, every number read from them, none recomputed.

    Per function that has records (in FUNCTIONS order): a table of accuracy within 5% in percent
    (one decimal), one row per (n, arm) -- per (n, arm, seed) when several seeds are present --
    one column per training size 2^k for every k present in any record, "-" where the record is
    missing, and the Wilson 95% interval at the row's largest k with a record; then one line with
    the matrices rejected and redrawn, where the step cap bit, and the records per arm. Last, how
    many of ``plan`` (default ``plan_keys()``, the command line's default sweep) exist, and how
    many records lie outside it. Raises ValueError on two records with one key.
    """
    plan = plan_keys() if plan is None else list(plan)
    by_key: dict[Key, dict] = {}
    for r in records:
        if _key(r) in by_key:
            raise ValueError(f"two records of {record_name(*_key(r))}")
        by_key[_key(r)] = r
    ks = sorted({k[2] for k in by_key})
    functions = [f for f in FUNCTIONS if any(k[0] == f for k in by_key)]
    functions += sorted({k[0] for k in by_key} - set(functions))
    rows = sorted({(k[1], k[3], k[4]) for k in by_key}, key=lambda r: (r[0], _arm_order(r[1]), r[2]))
    tests = sorted({r["test"]["n"] for r in by_key.values()})
    out = []
    if by_key:
        out += [
            f"Accuracy within 5% in percent of the {' / '.join(f'{t:,}' for t in tests)} test matrices "
            "of each (function, n) (relative entrywise L1 error below 0.05); columns: training-set "
            'size N; "-": no record yet; last column: the Wilson 95% interval at the row\'s largest N '
            "with a record.",
            "",
        ]
    for f in functions:
        recs = [r for k, r in by_key.items() if k[0] == f]
        out += [f"**{f}**", "", *_function_table(by_key, f, ks, rows), "", _function_line(f, recs), ""]
    planned = set(plan)
    present = sum(1 for k in planned if k in by_key)
    missing_functions = [f for f in dict.fromkeys(k[0] for k in plan) if f not in functions]
    pf, pn, pk, pa, ps = (list(dict.fromkeys(k[i] for k in plan)) for i in range(5))
    line = (
        f"Records: {present} of the {len(planned)} planned ({', '.join(pf)}; n = {', '.join(map(str, pn))}; "
        f"N = {_span(pk)}; arms {', '.join(pa)}; seed{'s' * (len(ps) > 1)} {', '.join(map(str, ps))}) exist"
    )
    extra = len(set(by_key) - planned)
    line += f", and {extra} outside the plan." if extra else "."
    if missing_functions:
        line += f" No records yet for {', '.join(missing_functions)}."
    out.append(line)
    return "\n".join(out)


def sweep_summary(records: Sequence[dict]) -> str:
    """Markdown of one row per (function, n), seed 0 only: for each arm its accuracy within 5% at
    the largest training size with a record, with the Wilson 95% interval, and its best accuracy
    over all sizes with that size. Every number is read from the records; ValueError when none."""
    by_key = {_key(r): r for r in records if r["key"]["seed"] == 0}
    if not by_key:
        raise ValueError("no seed-0 authors-sweep records")
    arms = sorted({k[3] for k in by_key}, key=_arm_order)
    head = ["f", "n"]
    for arm in arms:
        head += [f"{arm}: at largest N [95% CI]", f"{arm}: best (N)"]
    lines = ["| " + " | ".join(head) + " |", "|---|---|" + "---:|" * (len(head) - 2)]
    functions = [f for f in FUNCTIONS if any(k[0] == f for k in by_key)]
    for f in functions:
        for n in sorted({k[1] for k in by_key if k[0] == f}):
            cells = [f, str(n)]
            for arm in arms:
                recs = {k[2]: r for k, r in by_key.items() if (k[0], k[1], k[3]) == (f, n, arm)}
                if not recs:
                    cells += ["-", "-"]
                    continue
                top = max(recs)
                w = _within5(recs[top])
                best = max(recs, key=lambda k: (_within5(recs[k])["acc"], -k))
                cells += [
                    f"2^{top}: {_pct(w['acc'])} [{_pct(w['ci95'][0])}, {_pct(w['ci95'][1])}]",
                    f"{_pct(_within5(recs[best])['acc'])} (2^{best})",
                ]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# figure


def figure_accuracy_vs_size(folder: str | Path = REFERENCE_DIR):
    """Accuracy within 5% against log2 of the training-set size, one panel per function, one line
    per (n, arm): the mean over seeds, the band from the lowest to the highest Wilson 95% bound
    of the seeds; hollow markers where the step cap bit. Raises FileNotFoundError when ``folder``
    holds no records (``experiments.figures`` then skips the figure with a message)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    records = load_records(folder) if Path(folder).is_dir() else []
    if not records:
        raise FileNotFoundError(2, "no authors-sweep records", str(Path(folder) / "*.json"))
    points: dict = defaultdict(lambda: defaultdict(list))
    for r in records:
        key = r["key"]
        points[key["function"], key["n"], key["arm"]][key["train_size_log2"]].append(r)
    functions = [f for f in FUNCTIONS if any(f == f_ for f_, _, _ in points)]
    dims = sorted({n for _, n, _ in points})
    colors = plt.get_cmap("viridis")
    fig, axes = plt.subplots(
        1,
        len(functions),
        layout="constrained",
        figsize=(3.3 * len(functions), 3.4),
        squeeze=False,
        sharey=True,
    )
    for ax, f in zip(axes[0], functions, strict=True):
        for (f_, n, arm), by_k in sorted(points.items()):
            if f_ != f:
                continue
            color = colors(dims.index(n) / max(len(dims) - 1, 1) * 0.85)
            ks = sorted(by_k)
            acc = [
                100 * sum(r["test"]["accuracy"]["0.05"]["acc"] for r in by_k[k]) / len(by_k[k]) for k in ks
            ]
            lo = [100 * min(r["test"]["accuracy"]["0.05"]["ci95"][0] for r in by_k[k]) for k in ks]
            hi = [100 * max(r["test"]["accuracy"]["0.05"]["ci95"][1] for r in by_k[k]) for k in ks]
            capped = [any(r["training"]["cap_bit"] for r in by_k[k]) for k in ks]
            ls = "--" if arm == "authors" else "-"
            ax.plot(ks, acc, ls=ls, color=color, label=f"n={n} {arm}")
            ax.fill_between(ks, lo, hi, color=color, alpha=0.15, lw=0)
            for k, a, c in zip(ks, acc, capped, strict=True):
                ax.plot([k], [a], "o", ms=3.5, color=color, mfc="white" if c else color)
        ax.set_title(f)
        ax.set_xlabel("log2(training matrices)")
        ks_here = sorted({k for (f_, _, _), by_k in points.items() if f_ == f for k in by_k})
        ax.set_xticks(ks_here if len(ks_here) <= 8 else ks_here[:: math.ceil(len(ks_here) / 8)])
        ax.set_ylim(-2, 102)
    axes[0][0].set_ylabel("test accuracy within 5% (%)")
    handles = [
        Line2D(
            [], [], color=colors(dims.index(n) / max(len(dims) - 1, 1) * 0.85), ls=ls, label=f"n={n} {arm}"
        )
        for n in dims
        for arm, ls in (("authors", "--"), ("ours", "-"))
        if any((f_, n, arm) in points for f_ in functions)
    ]
    fig.legend(handles=handles, loc="outside right center", fontsize=7)
    fig.suptitle(
        "Authors' MLP protocol (dashed) vs ours (solid): Wilson 95% bands; hollow = step cap bit", fontsize=9
    )
    return fig


# ---------------------------------------------------------------------------------------------
# command line (registered in experiments.__main__ as ``authors-sweep``)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--functions", nargs="+", default=list(FUNCTIONS), metavar="F", help="default: all five")
    p.add_argument(
        "--dims",
        nargs="+",
        type=int,
        default=list(DEFAULT_DIMS),
        metavar="N",
        help=f"default {' '.join(map(str, DEFAULT_DIMS))}",
    )
    p.add_argument(
        "--sizes-log2",
        nargs=2,
        type=int,
        default=[DEFAULT_SIZES_LOG2[0], DEFAULT_SIZES_LOG2[-1]],
        metavar=("LO", "HI"),
        help=f"training sizes 2^LO .. 2^HI (default {DEFAULT_SIZES_LOG2[0]} {DEFAULT_SIZES_LOG2[-1]})",
    )
    p.add_argument(
        "--arms", nargs="+", default=list(ARMS), metavar="ARM", help="authors, ours (default both)"
    )
    p.add_argument(
        "--max-steps",
        type=int,
        default=DEFAULT_MAX_STEPS,
        metavar="N",
        help=f"step cap, same for both arms (default {DEFAULT_MAX_STEPS}: the full dims 1-3 sweep in about "
        "2.2 CPU hours for the authors' arm; see the module docstring)",
    )
    p.add_argument("--test-size-log2", type=int, default=15, metavar="K", help="test set 2^K (default 15)")
    p.add_argument(
        "--out", default=str(DEFAULT_OUT), metavar="DIR", help="record folder (default runs/authors_sweep)"
    )
    p.add_argument(
        "--seeds",
        nargs="+",
        type=int,
        default=list(DEFAULT_SEEDS),
        metavar="S",
        help=f"default {' '.join(map(str, DEFAULT_SEEDS))}",
    )
    p.add_argument(
        "--authors-dtype",
        choices=("float64", "float32"),
        default="float64",
        help="the authors' arm precision (their code: float64)",
    )
    p.add_argument("--dry-run", action="store_true", help="list the records and their state; run nothing")


def run_cli(args: argparse.Namespace) -> int:
    """``python -m experiments authors-sweep``; SweepError (bad input) propagates to the caller."""
    lo, hi = args.sizes_log2
    if lo > hi:
        raise SweepError(f"--sizes-log2 LO HI needs LO <= HI, got {lo} {hi}")
    states = run_sweep(
        functions=args.functions,
        dims=args.dims,
        sizes_log2=range(lo, hi + 1),
        arms=args.arms,
        max_steps=args.max_steps,
        test_size_log2=args.test_size_log2,
        out=args.out,
        seeds=args.seeds,
        authors_dtype=args.authors_dtype,
        echo=lambda s: print(time.strftime("%H:%M:%S ") + s, flush=True),
        dry_run=args.dry_run,
    )
    if args.dry_run:
        for name, state in states:
            print(f"{state:8s} {name}")
    sys.stdout.flush()
    return 0
