"""The one training loop for the ReLU MLP and the transformer encoder-decoder.

Both model kinds learn A -> f(A) from an infinite seeded stream of fresh matrices
(experiments.data.MatrixStream) and are scored on a fixed test set drawn with a separate seed.
The loop is AdamW with linear warmup then cosine or inverse-sqrt decay (TrainConfig.lr_at),
gradient-norm clipping, bf16 autocast and optional torch.compile on CUDA, and
DistributedDataParallel when started by ``torchrun`` (each rank draws its own stream; rank 0
alone writes files).

Losses:
- Transformer: teacher forcing (Vaswani et al. 2017, section 5; Charton 2022, section 3). The
  decoder reads BOS + tokens(f(A)) and predicts tokens(f(A)) + EOS; cross-entropy over target
  positions, ignoring PAD.
- MLP: the relative entrywise L1 error, mean_b ||P_b - F_b||_1 / ||F_b||_1, computed in the
  original (un-normalised) units. This is exactly the quantity the evaluation thresholds
  (Charton 2022's metric, experiments.evaluate), so lowering the loss lowers the errors that are
  counted; a mean-squared error on normalised outputs would instead spend capacity on the
  matrices with the largest f(A) (e.g. exp of matrices with large positive eigenvalues), which
  the per-matrix relative metric weighs no more than any other.

Run folder (experiments.run_folder): config.json, metrics.jsonl (one JSON object per line,
"kind" = "train" or "eval"), test_set.pt, checkpoint.pt (atomic writes), results.json (run record
+ final metrics). ``resume=True`` restores model, optimizer, step (the schedule is a function of
the step), data streams of every rank and RNG states, so an interrupted CPU run continues with
bit-identical losses. With ``train.validation_size`` > 0 the run delivers the weights that scored
best on a separate validation set (the checkpoint carries them while training goes on), not the
last ones; selection reads the model and never changes training.

The loop reads top to bottom like nanoGPT's train.py: :func:`train` sets up (``_setup``), then
repeats ``_train_step`` / ``_log_train`` / ``_evaluate`` / ``_save_checkpoint`` on one
``_TrainState``, and ends with ``_finish`` (final evaluation and results.json).
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch import Tensor, nn

from experiments.config import Config, ConfigError
from experiments.data import MatrixStream, TestSet, make_test_set, matrix_function, sample
from experiments.evaluate import evaluate_predictions, predict
from experiments.progress import progress_bar
from experiments.run_folder import (
    CHECKPOINT,
    CHECKPOINT_VERSION,
    RUN_FILES,
    CheckpointError,
    RunFolderError,
    atomic_write_bytes,
    build_model,
    get_run_encoding,
    load_checkpoint,
    read_metrics,
    run_test_set,
    write_json,
)
from experiments.runrecord import collect_run_record, git_commit, utc_now
from experiments.token_loss import (
    mantissa_error_loss,
    scheduled_sampling_inputs,
    seq2seq_loss,
    teacher_forcing_batch,
)

__all__ = [
    "CHECKPOINT",
    "CHECKPOINT_VERSION",
    "RUN_FILES",
    "RunFolderError",
    "CheckpointError",
    "NonFiniteLossError",
    "TrainResult",
    "build_model",
    "get_run_encoding",
    "mlp_loss",
    "load_checkpoint",
    "read_metrics",
    "train",
]


class NonFiniteLossError(RuntimeError):
    """Training produced max_nonfinite non-finite losses (or gradients) in a row."""


@dataclass
class TrainResult:
    """What a call to train() did.

    Attributes:
        run_dir: the run folder (None on ranks other than 0 under torchrun).
        step: optimizer steps completed in total (including earlier, resumed-from work).
        finished: True when the run reached config.train.steps or its time budget.
        stopped_by: "steps", "time" or "already_finished".
        losses: (step, loss) for every train line this process logged.
        nonfinite_steps: steps skipped because loss or gradient was not finite (whole run).
        final: EvalResult.to_dict() on the full test set (rank 0, when finished), else None.
        model: the trained module (unwrapped from DDP/compile), on its training device.
    """

    run_dir: Path | None
    step: int
    finished: bool
    stopped_by: str
    losses: list[tuple[int, float]] = field(default_factory=list)
    nonfinite_steps: int = 0
    final: dict | None = None
    model: nn.Module | None = None


# ----------------------------------------------------------------------------------------------
# losses, batches


def mlp_loss(pred: Tensor, F: Tensor) -> Tensor:
    """Mean relative entrywise L1 error, mean_b ||P_b - F_b||_1 / ||F_b||_1; (B, n*n) x2 -> ().

    The evaluation metric itself (Charton 2022, section 2), so minimising it targets the
    counted errors directly; see the module docstring for why not MSE.
    """
    pred = pred.float()
    F = F.float()
    return ((pred - F).abs().sum(-1) / F.abs().sum(-1).clamp_min(1e-12)).mean()


# ----------------------------------------------------------------------------------------------
# distributed / device


@dataclass(frozen=True)
class _Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world > 1


def _init_distributed(device_setting: str) -> _Dist:
    """Join the process group when started by torchrun (WORLD_SIZE > 1 in the environment)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return _Dist()
    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", rank))
    use_cuda = device_setting != "cpu" and torch.cuda.is_available()
    if not dist.is_initialized():
        if use_cuda:
            torch.cuda.set_device(local_rank)
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    return _Dist(rank=rank, world=world, local_rank=local_rank)


def _resolve_device(setting: str, d: _Dist) -> torch.device:
    if setting == "auto":
        setting = "cuda" if torch.cuda.is_available() else "cpu"
    if setting.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError(f"device={setting!r} but CUDA is not available; allowed: auto, cpu")
        if d.enabled:
            return torch.device("cuda", d.local_rank)
    return torch.device(setting)


def _data_seed(seed: int, rank: int) -> int:
    """Independent stream seed per (seed, rank) via numpy's SeedSequence hashing."""
    return int(np.random.SeedSequence([seed, rank, 0x5EED]).generate_state(1)[0])


def validation_seed(test_seed: int) -> int:
    """The validation set's seed: hashed from test_seed (SeedSequence), so it is never test_seed
    itself and validation and test matrices are independent draws."""
    return int(np.random.SeedSequence([test_seed, 0x7A11D]).generate_state(1)[0])


def training_stream(config: Config, rank: int = 0) -> MatrixStream:
    """The seeded stream of training batches that rank ``rank`` of a run draws, from its start;
    ``experiments.vocabulary`` replays it to find the tokens a run was trained on."""
    return MatrixStream(
        config.data.sampler_config(), config.train.batch_size, seed=_data_seed(config.train.seed, rank)
    )


def _rank0_elapsed(local: float, d: _Dist, device: torch.device) -> float:
    """Rank 0's clock for every rank, so all stop at the same step and (decay_over="time")
    use the same learning rate; otherwise ranks would hang or drift apart."""
    if not d.enabled:
        return local
    t = torch.tensor([local], dtype=torch.float64, device=device)
    dist.broadcast(t, src=0)
    return float(t.item())


def _rng_state(device: torch.device) -> dict:
    state = {"torch": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def _set_rng_state(state: dict, device: torch.device) -> None:
    torch.set_rng_state(state["torch"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


# ----------------------------------------------------------------------------------------------
# run folder


def _prepare_new_run(run_dir: Path, config: Config) -> None:
    existing = [f for f in RUN_FILES if (run_dir / f).exists()]
    if existing:
        raise RunFolderError(
            f"run folder {str(run_dir)!r} already holds a run ({', '.join(existing)}); "
            f"continue it with --resume {run_dir} or choose another --out"
        )
    run_dir.mkdir(parents=True, exist_ok=True)
    write_json(run_dir / "config.json", config.to_dict())


def _truncate_metrics(run_dir: Path, step: int) -> None:
    """Drop metric lines written after the checkpoint at `step` (they will be recomputed)."""
    rows = [r for r in read_metrics(run_dir) if r.get("step", 0) <= step and not r.get("final")]
    data = "".join(json.dumps(r) + "\n" for r in rows).encode()
    atomic_write_bytes(run_dir / "metrics.jsonl", lambda fh: fh.write(data))


def _resume_checkpoint(run_dir: Path, config: Config, d: _Dist) -> dict:
    """The run's checkpoint, checked against the config and the number of processes."""
    ckpt = load_checkpoint(run_dir, map_location="cpu")
    # Through from_dict, so a checkpoint written before a config field existed (it then has the
    # field's default) still matches.
    if Config.from_dict(ckpt["config"]).to_dict() != config.to_dict():
        raise CheckpointError(
            f"checkpoint in {str(run_dir)!r} was written for a different config than "
            "its config.json; allowed: resume a folder written by one training run"
        )
    n_ranks = len(ckpt["ranks"])
    if n_ranks != d.world:
        raise CheckpointError(
            f"checkpoint in {str(run_dir)!r} was written by {n_ranks} process(es); "
            f"resume it with the same number (now {d.world})"
        )
    return ckpt


class _Metrics:
    """metrics.jsonl, appended line by line (flushed: a kill loses at most the line being
    written); a no-op on ranks other than 0."""

    def __init__(self, run_dir: Path | None):
        self.fh = open(run_dir / "metrics.jsonl", "a") if run_dir is not None else None  # noqa: SIM115

    def log(self, row: dict) -> None:
        if self.fh is not None:
            self.fh.write(json.dumps(row) + "\n")
            self.fh.flush()

    def close(self) -> None:
        if self.fh is not None:
            self.fh.close()


# ----------------------------------------------------------------------------------------------
# the loop


@dataclass
class _TrainState:
    """One process's run: what _setup builds, then the counters that a checkpoint saves."""

    config: Config
    run_dir: Path
    d: _Dist
    device: torch.device
    encoding: object | None  # the transformer's number encoding; None for the MLP
    model: nn.Module  # the bare module: its state_dict is what a checkpoint holds
    train_model: nn.Module  # model, wrapped in DDP and/or torch.compile: runs the forward pass
    optimizer: torch.optim.Optimizer
    stream: MatrixStream
    test_set: TestSet | None  # rank 0 only
    validation_set: TestSet | None = None  # rank 0, when train.validation_size > 0
    best: dict | None = None  # the selected weights so far: step, validation accuracy, state
    selection: dict | None = None  # what _select did, once the run has ended
    step: int = 0
    elapsed0: float = 0.0  # training seconds before this process started (from the checkpoint)
    nonfinite_total: int = 0
    consecutive: int = 0  # non-finite steps in a row
    checkpoint_step: int | None = None  # step of the newest checkpoint on disk, if any
    t_start: float = 0.0  # time.perf_counter() when this process's loop started

    @property
    def is_main(self) -> bool:
        return self.d.rank == 0

    def elapsed(self) -> float:
        """Training seconds of the whole run so far (earlier processes included)."""
        return self.elapsed0 + time.perf_counter() - self.t_start


@dataclass
class _Window:
    """Steps, tokens and finite losses since the last train line, for its means and rates."""

    t: float
    steps: int = 0
    tokens: int = 0
    losses: list[Tensor] = field(default_factory=list)


def _setup(config: Config, run_dir: Path, d: _Dist, device: torch.device, ckpt: dict | None) -> _TrainState:
    """Model, optimizer, data stream and test set, fresh or restored from ckpt.

    The order of the seeded draws is part of the determinism guarantee (same seed, same
    losses; resume continues bit-identically): seed, build the model, draw the MLP's
    normalisation batch from its own generator, then the stream; a checkpoint then overwrites
    weights, optimizer, stream and RNG state.
    """
    tc = config.train
    encoding = get_run_encoding(config)
    sampler_cfg = config.data.sampler_config()
    torch.manual_seed(tc.seed)
    model = build_model(config, encoding)
    if config.model.kind == "mlp" and ckpt is None:
        # Normalisation statistics from a separate seeded draw, identical on every rank.
        g = torch.Generator().manual_seed(_data_seed(tc.seed, 10_000))
        norm_batch = sample(sampler_cfg, 4096, g)
        n2 = config.data.n**2
        model.set_normalisation(
            norm_batch.A.reshape(-1, n2).float(),  # (N, n*n)
            norm_batch.F.reshape(-1, n2).float(),  # (N, n*n)
        )
    model.to(device)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=tc.lr, betas=(0.9, 0.98), weight_decay=tc.weight_decay
    )
    stream = training_stream(config, d.rank)
    s = _TrainState(config, run_dir, d, device, encoding, model, model, optimizer, stream, None)
    if ckpt is not None:
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        mine = ckpt["ranks"][d.rank]
        stream.load_state_dict(mine["stream"])
        _set_rng_state(mine["rng"], device)
        s.step = s.checkpoint_step = int(ckpt["step"])
        s.elapsed0 = float(ckpt["elapsed_s"])
        s.nonfinite_total = int(ckpt.get("nonfinite_total", 0))
        s.consecutive = int(ckpt.get("nonfinite_consecutive", 0))
        s.best = ckpt.get("best")
        s.selection = ckpt.get("selection")
    if s.is_main:
        s.test_set = run_test_set(run_dir, config, save=True)
        if tc.validation_size:
            seed = validation_seed(config.data.test_seed)
            s.validation_set = make_test_set(sampler_cfg, tc.validation_size, seed)
        if ckpt is not None:  # after every check that can fail, so a failed resume changes nothing
            _truncate_metrics(run_dir, s.step)
    if d.enabled:
        from torch.nn.parallel import DistributedDataParallel as DDP

        s.train_model = DDP(model, device_ids=[device.index] if device.type == "cuda" else None)
    if tc.compile:
        s.train_model = torch.compile(s.train_model)
    return s


def _forward_loss(s: _TrainState, A: Tensor, F: Tensor) -> tuple[Tensor, int]:
    """Loss of one batch and its token count (0 for the MLP)."""
    tc = s.config.train
    use_amp = (tc.amp and s.device.type == "cuda") or (tc.cpu_amp and s.device.type == "cpu")
    with torch.autocast(device_type=s.device.type, dtype=torch.bfloat16, enabled=use_amp):
        if s.encoding is None:
            n2 = A.shape[-1] ** 2
            x = A.reshape(-1, n2).to(s.device, torch.float32)  # (B, n*n)
            y = F.reshape(-1, n2).to(s.device, torch.float32)  # (B, n*n)
            return mlp_loss(s.train_model(x), y), 0
        src, tgt_in, tgt_out = teacher_forcing_batch(s.encoding, A, F)
        src, tgt_in, tgt_out = src.to(s.device), tgt_in.to(s.device), tgt_out.to(s.device)
        tgt_in = scheduled_sampling_inputs(s.train_model, src, tgt_in, tc.sampling_probability(s.step))
        logits = s.train_model(src, tgt_in)  # (B, T+1, V)
        loss = seq2seq_loss(logits, tgt_out, s.encoding.pad_id)
        if tc.mantissa_loss:
            loss = loss + tc.mantissa_loss * mantissa_error_loss(logits, tgt_out, s.encoding, A.shape[-1])
        return loss, src.numel() + tgt_out.numel()


def _train_step(s: _TrainState, lr: float) -> tuple[Tensor | None, int]:
    """One optimizer step on the next batch; returns (loss, tokens), loss None when skipped.

    A step whose loss or gradient is not finite is skipped (no update) and counted;
    max_nonfinite of them in a row raise NonFiniteLossError.
    """
    tc = s.config.train
    batch = next(s.stream)
    A, F = batch.A, batch.F
    scale = tc.curriculum_scale(s.step)
    if scale < 1.0:
        A = scale * A
        F = matrix_function(s.config.data.function, A)  # exp, sin, cos: defined everywhere
    for group in s.optimizer.param_groups:
        group["lr"] = lr
    loss, tokens = _forward_loss(s, A, F)
    finite = torch.isfinite(loss.detach()).to(torch.float32)
    if s.d.enabled:
        # Every rank must skip together, or DDP's gradient all-reduce would deadlock.
        dist.all_reduce(finite, op=dist.ReduceOp.MIN)
    ok = bool(finite.item())
    if ok:
        s.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        gnorm = torch.nn.utils.clip_grad_norm_(s.model.parameters(), tc.grad_clip)
        # gnorm is the same on every rank (gradients are already all-reduced).
        ok = bool(torch.isfinite(gnorm))
        if ok:
            s.optimizer.step()
    s.step += 1
    if ok:
        s.consecutive = 0
        return loss.detach(), tokens
    s.nonfinite_total += 1
    s.consecutive += 1
    s.optimizer.zero_grad(set_to_none=True)
    if s.consecutive >= tc.max_nonfinite:
        if s.checkpoint_step is None:
            kept = f"no checkpoint was written yet (the first is due at step {tc.checkpoint_every})"
        else:
            kept = f"the checkpoint of step {s.checkpoint_step} is kept"
        raise NonFiniteLossError(
            f"loss or gradient was not finite for {s.consecutive} steps in a row "
            f"(steps {s.step - s.consecutive + 1}..{s.step}, lr={lr:.3g}); stopped. "
            f"Try a smaller lr or grad_clip (now lr={tc.lr:g}, grad_clip={tc.grad_clip:g}); {kept}"
        )
    return None, tokens


def _log_train(s: _TrainState, window: _Window, lr: float, metrics: _Metrics) -> dict:
    """Write the train line for the steps since the last one; returns it."""
    now = time.perf_counter()
    dt = max(now - window.t, 1e-9)
    mean_loss = float(torch.stack(window.losses).float().mean()) if window.losses else math.nan
    examples = window.steps * s.config.train.batch_size * s.d.world
    row = {
        "kind": "train",
        "step": s.step,
        "loss": mean_loss,
        "lr": lr,
        "examples_per_s": examples / dt,
        "tokens_per_s": (window.tokens * s.d.world / dt) if s.encoding is not None else None,
        "nonfinite_total": s.nonfinite_total,
        "elapsed_s": s.elapsed0 + now - s.t_start,
    }
    metrics.log(row)
    return row


def _score(s: _TrainState, test_set: TestSet, size: int | None = None) -> dict:
    """EvalResult.to_dict() (l1) of the current model on the first `size` matrices of test_set."""
    pred, valid = predict(s.model, test_set.A[:size], encoding=s.encoding, device=s.device)
    s.model.train()
    return evaluate_predictions(pred, valid, test_set.F[:size], norm="l1").to_dict()


def _validate(s: _TrainState) -> dict:
    """Score the validation set; keep the weights if they beat the best so far (strictly)."""
    res = _score(s, s.validation_set)
    acc = res["accuracy"]["0.05"]["acc"]
    if s.best is None or acc > s.best["validation_acc"]:
        state = {k: v.detach().to("cpu", copy=True) for k, v in s.model.state_dict().items()}
        s.best = {"step": s.step, "validation_acc": acc, "model": state}
    return res


def _evaluate(s: _TrainState, metrics: _Metrics) -> float:
    """Score the first eval_size test matrices (l1) and the validation set if any, log the eval
    line; the test accuracy within 5%."""
    res = _score(s, s.test_set, s.config.train.eval_size)
    row = {"kind": "eval", "step": s.step, "test": res}
    if s.validation_set is not None:
        row["validation"] = _validate(s)
    metrics.log(row)
    return res["accuracy"]["0.05"]["acc"]


def _select(s: _TrainState) -> None:
    """Rank 0, at the end of a run with a validation set: score the last model there too, then
    load the selected weights and set s.selection, the record for results.json (it holds the
    last model's test result, l1, when another step was selected). Done once: a finished
    checkpoint already holds the selected weights and its selection."""
    if s.validation_set is None or s.selection is not None:
        return
    _validate(s)
    best = s.best
    last = None
    if best["step"] != s.step:
        last = _score(s, s.test_set)
        s.model.load_state_dict(best["model"])
    tc = s.config.train
    s.selection = {
        "validation_size": tc.validation_size,
        "validation_seed": validation_seed(s.config.data.test_seed),
        "step": best["step"],
        "validation_acc": best["validation_acc"],
        "last_step": s.step,
        "last_test": last,
    }


def _save_checkpoint(s: _TrainState, finished: bool, elapsed: float) -> None:
    """Write checkpoint.pt atomically (rank 0), holding every rank's data stream and RNG state."""
    mine = {"stream": s.stream.state_dict(), "rng": _rng_state(s.device)}
    if s.d.enabled:
        ranks = [None] * s.d.world
        dist.all_gather_object(ranks, mine)
    else:
        ranks = [mine]
    s.checkpoint_step = s.step
    if not s.is_main:
        return
    state = {
        "version": CHECKPOINT_VERSION,
        "step": s.step,
        "finished": finished,
        "elapsed_s": elapsed,
        "nonfinite_total": s.nonfinite_total,
        "nonfinite_consecutive": s.consecutive,
        "model": s.model.state_dict(),
        "best": s.best,
        "selection": s.selection,
        "optimizer": s.optimizer.state_dict(),
        "config": s.config.to_dict(),
        "ranks": ranks,
    }
    atomic_write_bytes(s.run_dir / CHECKPOINT, lambda fh: torch.save(state, fh))


def _finish(s: _TrainState, metrics: _Metrics, stopped_by: str, started: str, elapsed: float, commit) -> dict:
    """Rank 0: score the full test set in every norm, log it, write results.json; the l1 result.

    The final metrics line is the last step's model, so learning curves end where training did;
    with a validation set, results.json's "final" is the selected model (s.selection)."""
    tc = s.config.train
    final_all = {}
    pred, valid = predict(s.model, s.test_set.A, encoding=s.encoding, device=s.device)
    for norm in ("l1", "fro", "max"):
        final_all[norm] = evaluate_predictions(pred, valid, s.test_set.F, norm=norm).to_dict()
    last = (s.selection or {}).get("last_test") or final_all["l1"]
    metrics.log({"kind": "eval", "step": s.step, "test": last, "final": True})
    metrics.close()
    record = collect_run_record(s.device, tc.seed, started, elapsed, world_size=s.d.world, commit=commit)
    data = s.config.data
    write_json(
        s.run_dir / "results.json",
        {
            "run": s.run_dir.name,
            "config_name": s.config.name,
            "model": s.config.model.kind,
            "function": data.function,
            "distribution": data.distribution,
            "n": data.n,
            "encoding": data.encoding if s.encoding is not None else None,
            "status": "finished",
            "stopped_by": stopped_by,
            "steps": s.step,
            "examples_seen": s.step * tc.batch_size * s.d.world,
            "nonfinite_steps": s.nonfinite_total,
            "parameters": sum(p.numel() for p in s.model.parameters()),
            "final": final_all,
            "selection": s.selection,
            "record": record.to_dict(),
        },
    )
    return final_all["l1"]


def train(
    config: Config,
    out_dir: str | Path | None = None,
    *,
    resume: bool = False,
    quiet: bool = False,
) -> TrainResult:
    """Train config's model; write or continue the run folder.

    Args:
        config: the full experiment config (for resume: the run's own config.json).
        out_dir: run folder; default runs/<config.run_name>.
        resume: continue the run in out_dir from its checkpoint.
        quiet: no progress bar.

    Returns:
        TrainResult. Under torchrun every rank returns; only rank 0 has run_dir and final.

    Raises:
        RunFolderError: new run into a folder that already holds one; resume without config;
            a damaged test_set.pt.
        CheckpointError: resume from a missing/corrupt/mismatched checkpoint.
        NonFiniteLossError: config.train.max_nonfinite non-finite steps in a row.
    """
    tc = config.train
    d = _init_distributed(tc.device)
    device = _resolve_device(tc.device, d)
    if tc.threads:
        torch.set_num_threads(tc.threads)
    run_dir = Path(out_dir) if out_dir is not None else Path("runs") / config.run_name
    is_main = d.rank == 0

    ckpt = None
    if resume:
        ckpt = _resume_checkpoint(run_dir, config, d)
        if ckpt.get("finished") and (run_dir / "results.json").is_file():
            return TrainResult(
                run_dir=run_dir if is_main else None,
                step=int(ckpt["step"]),
                finished=True,
                stopped_by="already_finished",
                nonfinite_steps=int(ckpt.get("nonfinite_total", 0)),
            )
    elif is_main:
        _prepare_new_run(run_dir, config)
    s = _setup(config, run_dir, d, device, ckpt)

    metrics = _Metrics(run_dir if is_main else None)
    # Under a wall-clock schedule the step count is an upper bound only; show no total.
    bar = None
    if is_main and not quiet:
        total = tc.steps if tc.decay_over == "steps" else None
        bar = progress_bar(total=total, initial=s.step, desc=config.run_name)
    budget_s = tc.max_minutes * 60 if tc.max_minutes is not None else math.inf
    started = utc_now()
    # The code that runs is the code at start; other work may commit while training.
    commit = git_commit() if is_main else (None, None)
    s.t_start = time.perf_counter()
    window = _Window(t=s.t_start)
    losses: list[tuple[int, float]] = []
    last_acc = None
    stopped_by = "steps"
    s.model.train()
    try:
        while s.step < tc.steps:
            elapsed = s.elapsed()
            if math.isfinite(budget_s):
                elapsed = _rank0_elapsed(elapsed, d, device)
            if elapsed >= budget_s:
                stopped_by = "time"
                break
            lr = tc.lr_at(s.step, elapsed / budget_s)
            loss, tokens = _train_step(s, lr)
            window.steps += 1
            window.tokens += tokens
            if loss is not None:
                window.losses.append(loss)

            if s.step % tc.log_every == 0 or s.step == tc.steps:
                row = _log_train(s, window, lr, metrics)
                losses.append((s.step, row["loss"]))
                if bar is not None:
                    post = {"loss": f"{row['loss']:.4g}", "ex/s": f"{row['examples_per_s']:.0f}"}
                    if last_acc is not None:
                        post["acc5%"] = f"{last_acc:.3f}"
                    if math.isfinite(budget_s):
                        post["time"] = f"{row['elapsed_s']:.0f}/{budget_s:.0f}s"
                    bar.set_postfix(post, refresh=False)
                    bar.update(s.step - bar.n)
                window = _Window(t=time.perf_counter())

            if is_main and s.step % tc.eval_every == 0 and s.step < tc.steps:
                last_acc = _evaluate(s, metrics)
                window.t = time.perf_counter()  # evaluation is not charged to the throughput

            if s.step % tc.checkpoint_every == 0 and s.step < tc.steps:
                _save_checkpoint(s, False, s.elapsed())
    except BaseException:
        metrics.close()
        raise
    finally:
        if bar is not None:
            bar.close()

    elapsed = s.elapsed()
    if is_main:
        _select(s)
    _save_checkpoint(s, True, elapsed)
    final = _finish(s, metrics, stopped_by, started, elapsed, commit) if is_main else None
    return TrainResult(
        run_dir=run_dir if is_main else None,
        step=s.step,
        finished=True,
        stopped_by=stopped_by,
        losses=losses,
        nonfinite_steps=s.nonfinite_total,
        final=final,
        model=s.model,
    )
