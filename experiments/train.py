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

Run folder: config.json, metrics.jsonl (one JSON object per line, "kind" = "train" or "eval"),
test_set.pt, checkpoint.pt (atomic: temporary file in the same folder, flush + fsync,
os.replace), results.json (run record + final metrics). ``resume=True`` restores model,
optimizer, step (the schedule is a function of the step), data streams of every rank and RNG
states, so an interrupted CPU run continues with bit-identical losses.
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
import torch.nn.functional as F_nn
from torch import Tensor, nn

from experiments.config import Config, ConfigError
from experiments.evaluate import evaluate_predictions, predict
from experiments.runrecord import collect_run_record, git_commit, utc_now

__all__ = [
    "CHECKPOINT",
    "RunFolderError",
    "CheckpointError",
    "NonFiniteLossError",
    "TrainResult",
    "build_model",
    "get_run_encoding",
    "mlp_loss",
    "seq2seq_loss",
    "teacher_forcing_batch",
    "load_checkpoint",
    "read_metrics",
    "train",
]

CHECKPOINT = "checkpoint.pt"
CHECKPOINT_VERSION = 1
RUN_FILES = ("config.json", "metrics.jsonl", CHECKPOINT, "results.json")


class RunFolderError(ValueError):
    """A run folder that cannot be used as asked (exists already, missing config, ...)."""


class CheckpointError(ValueError):
    """A missing, truncated, corrupt or mismatched checkpoint."""


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
# models, losses, batches


def get_run_encoding(config: Config):
    """The number encoding of a transformer run, or None for an MLP."""
    if config.model.kind != "transformer":
        return None
    from experiments.data import get_encoding

    return get_encoding(config.data.encoding, precision=config.data.precision)


def build_model(config: Config, encoding=None) -> nn.Module:
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


def mlp_loss(pred: Tensor, F: Tensor) -> Tensor:
    """Mean relative entrywise L1 error, mean_b ||P_b - F_b||_1 / ||F_b||_1; (B, n*n) x2 -> ().

    The evaluation metric itself (Charton 2022, section 2), so minimising it targets the
    counted errors directly; see the module docstring for why not MSE.
    """
    pred = pred.float()
    F = F.float()
    return ((pred - F).abs().sum(-1) / F.abs().sum(-1).clamp_min(1e-12)).mean()


def teacher_forcing_batch(encoding, A: Tensor, F: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Token tensors for teacher forcing.

    Returns src (B, S) = tokens(A); tgt_in (B, T+1) = BOS + tokens(F); tgt_out (B, T+1) =
    tokens(F) + EOS, where T = encoding.sequence_length(n, n).
    """
    src = encoding.encode_batch(A)  # (B, S)
    tgt = encoding.encode_batch(F)  # (B, T)
    B = tgt.shape[0]
    bos = torch.full((B, 1), encoding.bos_id, dtype=tgt.dtype)
    eos = torch.full((B, 1), encoding.eos_id, dtype=tgt.dtype)
    return src, torch.cat([bos, tgt], dim=1), torch.cat([tgt, eos], dim=1)


def seq2seq_loss(logits: Tensor, tgt_out: Tensor, pad_id: int) -> Tensor:
    """Token cross-entropy; logits (B, T, V), tgt_out (B, T) -> (), PAD positions ignored."""
    V = logits.shape[-1]
    return F_nn.cross_entropy(
        logits.float().reshape(-1, V),  # (B*T, V)
        tgt_out.reshape(-1),  # (B*T,)
        ignore_index=pad_id,
    )


# ----------------------------------------------------------------------------------------------
# files


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


def _atomic_write_bytes(path: Path, write) -> None:
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


def _write_json(path: Path, obj: dict) -> None:
    data = (json.dumps(obj, indent=2) + "\n").encode()
    _atomic_write_bytes(path, lambda fh: fh.write(data))


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


def _prepare_new_run(run_dir: Path, config: Config) -> None:
    existing = [f for f in RUN_FILES if (run_dir / f).exists()]
    if existing:
        raise RunFolderError(
            f"run folder {str(run_dir)!r} already holds a run ({', '.join(existing)}); "
            f"continue it with --resume {run_dir} or choose another --out"
        )
    run_dir.mkdir(parents=True, exist_ok=True)
    _write_json(run_dir / "config.json", config.to_dict())


def _truncate_metrics(run_dir: Path, step: int) -> None:
    """Drop metric lines written after the checkpoint at `step` (they will be recomputed)."""
    rows = [r for r in read_metrics(run_dir) if r.get("step", 0) <= step and not r.get("final")]
    data = "".join(json.dumps(r) + "\n" for r in rows).encode()
    _atomic_write_bytes(run_dir / "metrics.jsonl", lambda fh: fh.write(data))


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
# the loop


def _eval_on(model, config, encoding, test_set, size: int | None, device) -> dict:
    A = test_set.A if size is None else test_set.A[:size]
    F = test_set.F if size is None else test_set.F[:size]
    pred, valid = predict(model, A, encoding=encoding, device=device)
    result = evaluate_predictions(pred, valid, F, norm="l1")
    return result.to_dict()


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
        RunFolderError: new run into a folder that already holds one; resume without config.
        CheckpointError: resume from a missing/corrupt/mismatched checkpoint.
        NonFiniteLossError: config.train.max_nonfinite non-finite steps in a row.
    """
    from experiments.data import MatrixStream, TestSet, make_test_set, sample

    tc = config.train
    d = _init_distributed(tc.device)
    device = _resolve_device(tc.device, d)
    if tc.threads:
        torch.set_num_threads(tc.threads)
    run_dir = Path(out_dir) if out_dir is not None else Path("runs") / config.run_name
    is_main = d.rank == 0

    ckpt = None
    if resume:
        ckpt = load_checkpoint(run_dir, map_location="cpu")
        if ckpt["config"] != config.to_dict():
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
    stream = MatrixStream(sampler_cfg, tc.batch_size, seed=_data_seed(tc.seed, d.rank))

    step, elapsed0, nonfinite_total, consecutive = 0, 0.0, 0, 0
    if ckpt is not None:
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        mine = ckpt["ranks"][d.rank]
        stream.load_state_dict(mine["stream"])
        _set_rng_state(mine["rng"], device)
        step = int(ckpt["step"])
        elapsed0 = float(ckpt["elapsed_s"])
        nonfinite_total = int(ckpt.get("nonfinite_total", 0))
        consecutive = int(ckpt.get("nonfinite_consecutive", 0))
        if is_main:
            _truncate_metrics(run_dir, step)

    test_set = None
    if is_main:
        ts_path = run_dir / "test_set.pt"
        if ts_path.exists():
            try:
                test_set = TestSet.load(ts_path)
            except Exception as e:  # torch.load raises several types on damaged files
                raise RunFolderError(
                    f"{str(ts_path)!r} is damaged ({type(e).__name__}); delete it and it is "
                    "regenerated from config.json (data.test_seed)"
                ) from None
        else:
            test_set = make_test_set(sampler_cfg, config.data.test_size, config.data.test_seed)
            test_set.save(ts_path)  # atomic (temporary file + rename)

    train_model: nn.Module = model
    if d.enabled:
        from torch.nn.parallel import DistributedDataParallel as DDP

        train_model = DDP(model, device_ids=[device.index] if device.type == "cuda" else None)
    if tc.compile:
        train_model = torch.compile(train_model)
    use_amp = tc.amp and device.type == "cuda"

    def forward_loss(A: Tensor, F: Tensor) -> tuple[Tensor, int]:
        """Loss of one batch and its token count (0 for the MLP)."""
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=use_amp):
            if encoding is None:
                n2 = A.shape[-1] ** 2
                x = A.reshape(-1, n2).to(device, torch.float32)  # (B, n*n)
                y = F.reshape(-1, n2).to(device, torch.float32)  # (B, n*n)
                return mlp_loss(train_model(x), y), 0
            src, tgt_in, tgt_out = teacher_forcing_batch(encoding, A, F)
            src, tgt_in, tgt_out = src.to(device), tgt_in.to(device), tgt_out.to(device)
            logits = train_model(src, tgt_in)  # (B, T+1, V)
            return seq2seq_loss(logits, tgt_out, encoding.pad_id), src.numel() + tgt_out.numel()

    def save_checkpoint(finished: bool, elapsed: float) -> None:
        mine = {"stream": stream.state_dict(), "rng": _rng_state(device)}
        if d.enabled:
            ranks = [None] * d.world
            dist.all_gather_object(ranks, mine)
        else:
            ranks = [mine]
        if not is_main:
            return
        state = {
            "version": CHECKPOINT_VERSION,
            "step": step,
            "finished": finished,
            "elapsed_s": elapsed,
            "nonfinite_total": nonfinite_total,
            "nonfinite_consecutive": consecutive,
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "config": config.to_dict(),
            "ranks": ranks,
        }
        _atomic_write_bytes(run_dir / CHECKPOINT, lambda fh: torch.save(state, fh))

    metrics_fh = open(run_dir / "metrics.jsonl", "a") if is_main else None  # noqa: SIM115

    def log(row: dict) -> None:
        if metrics_fh is not None:
            metrics_fh.write(json.dumps(row) + "\n")
            metrics_fh.flush()

    bar = None
    if is_main and not quiet:
        from tqdm import tqdm

        # Under a wall-clock schedule the step count is an upper bound only; show no total.
        total = tc.steps if tc.decay_over == "steps" else None
        bar = tqdm(total=total, initial=step, desc=config.run_name, dynamic_ncols=True)

    budget_s = tc.max_minutes * 60 if tc.max_minutes is not None else math.inf
    started = utc_now()
    # The code that runs is the code at start; other work may commit while training.
    commit = git_commit() if is_main else (None, None)
    t_start = time.perf_counter()
    t_window, win_steps, win_tokens, win_losses = t_start, 0, 0, []
    losses: list[tuple[int, float]] = []
    last_acc = None
    stopped_by = "steps"
    model.train()
    try:
        while step < tc.steps:
            elapsed = elapsed0 + time.perf_counter() - t_start
            if math.isfinite(budget_s):
                elapsed = _rank0_elapsed(elapsed, d, device)
            if elapsed >= budget_s:
                stopped_by = "time"
                break
            batch = next(stream)
            lr = tc.lr_at(step, elapsed / budget_s)
            for group in optimizer.param_groups:
                group["lr"] = lr
            loss, tokens = forward_loss(batch.A, batch.F)
            finite = torch.isfinite(loss.detach()).to(torch.float32)
            if d.enabled:
                # Every rank must skip together, or DDP's gradient all-reduce would deadlock.
                dist.all_reduce(finite, op=dist.ReduceOp.MIN)
            ok = bool(finite.item())
            if ok:
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                gnorm = torch.nn.utils.clip_grad_norm_(model.parameters(), tc.grad_clip)
                # gnorm is the same on every rank (gradients are already all-reduced).
                ok = bool(torch.isfinite(gnorm))
                if ok:
                    optimizer.step()
            step += 1
            if ok:
                consecutive = 0
                win_losses.append(loss.detach())
            else:
                nonfinite_total += 1
                consecutive += 1
                optimizer.zero_grad(set_to_none=True)
                if consecutive >= tc.max_nonfinite:
                    raise NonFiniteLossError(
                        f"loss or gradient was not finite for {consecutive} steps in a row "
                        f"(steps {step - consecutive + 1}..{step}, lr={lr:.3g}); stopped. "
                        f"Try a smaller lr or grad_clip (now lr={tc.lr:g}, "
                        f"grad_clip={tc.grad_clip:g}); the last good checkpoint is kept"
                    )
            win_steps += 1
            win_tokens += tokens

            if step % tc.log_every == 0 or step == tc.steps:
                now = time.perf_counter()
                dt = max(now - t_window, 1e-9)
                mean_loss = float(torch.stack(win_losses).float().mean()) if win_losses else math.nan
                examples = win_steps * tc.batch_size * d.world
                row = {
                    "kind": "train",
                    "step": step,
                    "loss": mean_loss,
                    "lr": lr,
                    "examples_per_s": examples / dt,
                    "tokens_per_s": (win_tokens * d.world / dt) if encoding is not None else None,
                    "nonfinite_total": nonfinite_total,
                    "elapsed_s": elapsed0 + now - t_start,
                }
                losses.append((step, mean_loss))
                log(row)
                if bar is not None:
                    post = {"loss": f"{mean_loss:.4g}", "ex/s": f"{examples / dt:.0f}"}
                    if last_acc is not None:
                        post["acc5%"] = f"{last_acc:.3f}"
                    if math.isfinite(budget_s):
                        post["time"] = f"{row['elapsed_s']:.0f}/{budget_s:.0f}s"
                    bar.set_postfix(post, refresh=False)
                    bar.update(step - bar.n)
                t_window, win_steps, win_tokens, win_losses = time.perf_counter(), 0, 0, []

            if is_main and step % tc.eval_every == 0 and step < tc.steps:
                res = _eval_on(model, config, encoding, test_set, tc.eval_size, device)
                model.train()
                last_acc = res["accuracy"]["0.05"]["acc"]
                log({"kind": "eval", "step": step, "test": res})
                # Evaluation time is not charged to the throughput of the next window.
                t_window = time.perf_counter()

            if step % tc.checkpoint_every == 0 and step < tc.steps:
                save_checkpoint(False, elapsed0 + time.perf_counter() - t_start)
    except BaseException:
        if metrics_fh is not None:
            metrics_fh.close()
        raise
    finally:
        if bar is not None:
            bar.close()

    elapsed = elapsed0 + time.perf_counter() - t_start
    save_checkpoint(True, elapsed)
    final = None
    if is_main:
        final_all = {}
        pred, valid = predict(model, test_set.A, encoding=encoding, device=device)
        for norm in ("l1", "fro", "max"):
            final_all[norm] = evaluate_predictions(pred, valid, test_set.F, norm=norm).to_dict()
        final = final_all["l1"]
        log({"kind": "eval", "step": step, "test": final, "final": True})
        metrics_fh.close()
        record = collect_run_record(device, tc.seed, started, elapsed, world_size=d.world, commit=commit)
        _write_json(
            run_dir / "results.json",
            {
                "run": run_dir.name,
                "config_name": config.name,
                "model": config.model.kind,
                "function": config.data.function,
                "distribution": config.data.distribution,
                "n": config.data.n,
                "encoding": config.data.encoding if encoding is not None else None,
                "status": "finished",
                "stopped_by": stopped_by,
                "steps": step,
                "examples_seen": step * tc.batch_size * d.world,
                "nonfinite_steps": nonfinite_total,
                "parameters": sum(p.numel() for p in model.parameters()),
                "final": final_all,
                "record": record.to_dict(),
            },
        )
    return TrainResult(
        run_dir=run_dir if is_main else None,
        step=step,
        finished=True,
        stopped_by=stopped_by,
        losses=losses,
        nonfinite_steps=nonfinite_total,
        final=final,
        model=model,
    )
