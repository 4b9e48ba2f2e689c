"""Model throughput on CPU (issue 7, item 4): transformer training and greedy decoding, MLP training.

Measured side by side in one process, warm-up excluded, median of repeats, threads stated:

- transformer training tokens/s: one full step (forward, token cross-entropy, backward, gradient
  clipping at 1.0, AdamW) on a batch of teacher-forced pairs; tokens = source positions plus
  target positions (S + T + 1 per pair: the target with EOS);
- greedy decoding matrices/s with and without the KV cache (`Seq2SeqTransformer.greedy_decode`,
  encoder included): every row is forced to decode the full target, T = 2 + n*n*3 P1000 tokens plus
  the EOS position, by a forward hook on the output head that sets the EOS logit to -inf (a
  randomly initialised model would otherwise stop at a random step);
- MLP training examples/s: one step (forward, relative-L1 loss, backward, clipping, AdamW).

Configurations: "cpu" (the cpu-transformer config: 3x3, d_model 128, 2+2 layers, 4 heads, FFN 512)
and "reference" (comparable with Charton 2022's code: 5x5, P1000 in and out, d_model 256, 8 heads,
FFN 1024, 2+2 layers, learned positions, training batch 64, decoding batch 128, float32).
Targets (issue 7): KV cache >= 3x uncached for 5x5 outputs; reference >= 8,700 training tokens/s
and >= 116 decoded matrices/s on the 2-core machine.

    python benchmarks/bench_models.py [--threads 2] [--out benchmarks/results/models.json]
                                      [--configs cpu reference] [--quick] [--profile]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from benchmarks.timing import write_record  # noqa: E402
from experiments.data import get_encoding  # noqa: E402
from experiments.models import MLP, Seq2SeqTransformer  # noqa: E402

__all__ = [
    "TransformerBench",
    "CONFIGS",
    "PRECISIONS",
    "bench_transformer",
    "bench_mlp",
    "train_flop_per_step",
    "run",
    "main",
]

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "models.json"


@dataclass(frozen=True)
class TransformerBench:
    """One transformer configuration to time; sizes as in Seq2SeqTransformer."""

    name: str
    n: int
    encoding: str
    d_model: int
    n_heads: int
    enc_layers: int
    dec_layers: int
    d_ff: int
    train_batch: int
    decode_batch: int


CONFIGS = {
    "cpu": TransformerBench("cpu", 3, "P1000", 128, 4, 2, 2, 512, 64, 128),
    "reference": TransformerBench("reference", 5, "P1000", 256, 8, 2, 2, 1024, 64, 128),
}

# Issue 7 item 4; keyed by (config, metric).
TARGETS = {
    ("reference", "train_tokens_per_s"): 8700.0,
    ("reference", "decode_cached_matrices_per_s"): 116.0,
    ("reference", "kv_cache_speedup"): 3.0,
}


@dataclass(frozen=True)
class Timing:
    """Wall-clock seconds per call (median, min, max) and the median process CPU seconds per call.

    On a shared machine the wall time is what a user waits for; CPU time / threads near the wall
    time says the process had its cores, far above it says OpenMP threads spun waiting.
    """

    median_s: float
    min_s: float
    max_s: float
    median_cpu_s: float
    repeats: int
    warmup: int


def time_repeats(fn: Callable[[], object], warmup: int, repeats: int) -> Timing:
    """Call fn warmup times untimed, then `repeats` times timed; wall-clock seconds per call."""
    for _ in range(warmup):
        fn()
    times, cpu = [], []
    for _ in range(repeats):
        c0, t0 = time.process_time(), time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return Timing(statistics.median(times), min(times), max(times), statistics.median(cpu), repeats, warmup)


def _suppress_eos(model: Seq2SeqTransformer, eos_id: int):
    """Forward hook on the output head: EOS logit -> -inf, so decoding runs to max_len."""

    def hook(_module, _inputs, logits):
        logits[..., eos_id] = float("-inf")
        return logits

    return model.lm_head.register_forward_hook(hook)


def _matrices(batch: int, n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(batch, n, n, generator=g, dtype=torch.float64) * 2 - 1  # U[-1, 1]


def seeded_model(cfg: TransformerBench, enc) -> Seq2SeqTransformer:
    """The config's transformer, initialised from seed 0, position tables sized for n x n."""
    L = enc.sequence_length(cfg.n, cfg.n)  # tokens per matrix
    torch.manual_seed(0)
    return Seq2SeqTransformer(
        len(enc.vocab),
        d_model=cfg.d_model,
        n_heads=cfg.n_heads,
        enc_layers=cfg.enc_layers,
        dec_layers=cfg.dec_layers,
        d_ff=cfg.d_ff,
        max_src_len=L,
        max_tgt_len=L + 1,
        pad_id=enc.pad_id,
    )


def teacher_forced_pairs(cfg: TransformerBench, enc) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """src (B, L), tgt_in and tgt_out (B, L+1) of exp on U[-1, 1] matrices, built as the training
    loop builds them (experiments.token_loss.teacher_forcing_batch); B = cfg.train_batch."""
    A = _matrices(cfg.train_batch, cfg.n, seed=1)
    src = enc.encode_batch(A)  # (B, L)
    tgt = enc.encode_batch(torch.linalg.matrix_exp(A))  # (B, L)
    bos = torch.full((cfg.train_batch, 1), enc.bos_id)
    eos = torch.full((cfg.train_batch, 1), enc.eos_id)
    return src, torch.cat([bos, tgt], 1), torch.cat([tgt, eos], 1)


def training_step(
    model: Seq2SeqTransformer,
    opt: torch.optim.Optimizer,
    pairs: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    pad_id: int,
    bf16: bool = False,
    forward: Callable | None = None,
    context: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext,
) -> Callable[[], None]:
    """One full step on fixed teacher-forced pairs: forward (under CPU bf16 autocast when bf16;
    through `forward`, e.g. a compiled model, when given; inside `context()`), token
    cross-entropy in float32, backward, clipping at 1.0, optimizer step."""
    src, tgt_in, tgt_out = pairs
    run = model if forward is None else forward

    def step():
        with context(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            logits = run(src, tgt_in)  # (B, L+1, V)
        loss = F.cross_entropy(
            logits.float().reshape(-1, logits.shape[-1]), tgt_out.reshape(-1), ignore_index=pad_id
        )
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()

    return step


PRECISIONS = ("float32", "bf16", "bf16-compiled")


def bench_transformer(
    cfg: TransformerBench,
    quick: bool = False,
    profile: bool = False,
    precision: str = "float32",
    uncached_repeats: int | None = None,
) -> dict:
    """Training tokens/s and cached / uncached greedy-decoding matrices/s for one config.

    precision "bf16" runs the training forward and the decoding under
    ``torch.autocast("cpu", dtype=torch.bfloat16)``, as training with ``cpu_amp=true`` does
    (weights and optimizer stay float32); "bf16-compiled" also runs the training forward through
    ``torch.compile`` (default inductor), as ``cpu_amp=true`` with ``compile=true`` does. Its
    decoding is not compiled, so it times the same code as bf16's. uncached_repeats: timed
    uncached decodings (default 1 with quick, else 3; 1 skips the warm-up); the uncached decoding
    is the reference the cached tokens are checked against.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; allowed: {', '.join(PRECISIONS)}")
    bf16 = precision.startswith("bf16")
    enc = get_encoding(cfg.encoding)
    L = enc.sequence_length(cfg.n, cfg.n)  # tokens per matrix
    model = seeded_model(cfg, enc)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    forward = torch.compile(model) if precision == "bf16-compiled" else None
    train_step = training_step(model, opt, teacher_forced_pairs(cfg, enc), enc.pad_id, bf16, forward)

    model.train()
    train = time_repeats(train_step, warmup=2 if quick else 3, repeats=3 if quick else 10)
    tokens_per_step = cfg.train_batch * (L + L + 1)

    model.eval()
    dsrc = enc.encode_batch(_matrices(cfg.decode_batch, cfg.n, seed=2))  # (B, L)
    handle = _suppress_eos(model, enc.eos_id)
    outputs = {}

    def decode(use_cache: bool):
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            outputs[use_cache] = model.greedy_decode(dsrc, L + 1, enc.bos_id, enc.eos_id, use_cache=use_cache)

    cached = time_repeats(lambda: decode(True), warmup=1, repeats=2 if quick else 5)
    if uncached_repeats is None:
        uncached_repeats = 1 if quick else 3
    if uncached_repeats < 1:
        raise ValueError(f"uncached_repeats must be >= 1, got {uncached_repeats}")
    uncached = time_repeats(lambda: decode(False), warmup=int(uncached_repeats > 1), repeats=uncached_repeats)
    identical = bool(torch.equal(outputs[True], outputs[False]))
    full_length = outputs[True].shape == (cfg.decode_batch, L + 1)

    profiles = {}
    if profile:
        profiles["decode_cached"] = _profile(lambda: decode(True))
    handle.remove()
    if profile:
        model.train()
        profiles["train_step"] = _profile(train_step)
    return {
        "config": asdict(cfg),
        "precision": precision,
        "train_flop_per_step": train_flop_per_step(cfg, L, len(enc.vocab)),
        "vocab_size": len(enc.vocab),
        "tokens_per_matrix": L,
        "decode_steps": L + 1,
        "parameters": sum(p.numel() for p in model.parameters()),
        "train_tokens_per_step": tokens_per_step,
        "train_step_s": asdict(train),
        "train_tokens_per_s": tokens_per_step / train.median_s,
        "decode_cached_s": asdict(cached),
        "decode_uncached_s": asdict(uncached),
        "decode_cached_matrices_per_s": cfg.decode_batch / cached.median_s,
        "decode_uncached_matrices_per_s": cfg.decode_batch / uncached.median_s,
        "kv_cache_speedup": uncached.median_s / cached.median_s,
        "cached_equals_uncached": identical,
        "decoded_full_length": full_length,
        "profiles": profiles,
    }


def bench_mlp(n: int, width: int = 256, depth: int = 4, batch: int = 256, quick: bool = False) -> dict:
    """MLP training examples/s (the cpu-mlp config's sizes); relative-L1 loss as in training."""
    torch.manual_seed(0)
    model = MLP(n * n, n * n, width, depth)
    A = _matrices(batch, n, seed=3)
    x = A.reshape(batch, n * n).float()  # (B, n*n)
    y = torch.linalg.matrix_exp(A).reshape(batch, n * n).float()  # (B, n*n)
    model.set_normalisation(x, y)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)

    def step():
        pred = model(x)
        loss = ((pred - y).abs().sum(-1) / y.abs().sum(-1)).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()

    t = time_repeats(step, warmup=5, repeats=20 if quick else 100)
    return {
        "n": n,
        "width": width,
        "depth": depth,
        "batch": batch,
        "step_s": asdict(t),
        "train_examples_per_s": batch / t.median_s,
    }


def train_flop_per_step(cfg: TransformerBench, L: int, vocab: int) -> float:
    """Floating-point operations of one training step: 3x the forward's matmul FLOP.

    Counted per example with S = L source and T = L + 1 target positions, C = d_model, F = d_ff:
    encoder layer S (8C^2 + 4FC + 4SC) (QKV and output projections, FFN, scores and weighted sum);
    decoder layer T (8C^2 + 4FC + 4TC) for causal self-attention and FFN, plus cross-attention
    T (4C^2 + 4SC) + S 4C^2 (queries and output; keys and values of the memory); output head
    T 2CV. The backward pass costs twice the forward (Kaplan et al. 2020, "Scaling laws for
    neural language models", section 2.1), so a step is 3x the forward. Element-wise work
    (LayerNorm, GELU, softmax, AdamW) is left out: it is below 2% of this count here.
    """
    S, T, C, Ff = L, L + 1, cfg.d_model, cfg.d_ff
    enc = S * (8 * C * C + 4 * Ff * C + 4 * S * C)
    dec = T * (8 * C * C + 4 * Ff * C + 4 * T * C) + T * (4 * C * C + 4 * S * C) + S * 4 * C * C
    fwd = cfg.enc_layers * enc + cfg.dec_layers * dec + T * 2 * C * vocab
    return 3.0 * cfg.train_batch * fwd


def _profile(fn: Callable[[], object], rows: int = 12) -> list[dict]:
    """Top operators by self CPU time of one call of fn (torch.profiler)."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        fn()
    events = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    total = sum(e.self_cpu_time_total for e in events) or 1.0
    return [
        {
            "op": e.key,
            "self_cpu_ms": e.self_cpu_time_total / 1e3,
            "share": e.self_cpu_time_total / total,
            "calls": e.count,
        }
        for e in events[:rows]
    ]


def _machine() -> dict:
    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "logical_cpus": os.cpu_count(),
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "platform": platform.platform(),
    }


def run(
    configs: list[str],
    threads: int = 2,
    quick: bool = False,
    profile: bool = False,
    precisions: tuple[str, ...] = ("float32",),
    mlp: bool = True,
    uncached_repeats: int | None = None,
) -> dict:
    """All measurements as one JSON-ready dict (see module docstring).

    The transformer results are keyed by config name for float32 and ``<config>-<precision>``
    for the others.
    """
    unknown = [c for c in configs if c not in CONFIGS]
    if unknown:
        raise ValueError(f"unknown config(s) {unknown}; known: {sorted(CONFIGS)}")
    bad = [p for p in precisions if p not in PRECISIONS]
    if bad or not precisions:
        raise ValueError(f"unknown precision(s) {bad}; allowed: {', '.join(PRECISIONS)}")
    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    torch.set_num_threads(threads)
    load_before = os.getloadavg()
    t0 = time.time()
    transformer = {
        name + ("" if prec == "float32" else f"-{prec}"): bench_transformer(
            CONFIGS[name], quick, profile, prec, uncached_repeats
        )
        for name in configs
        for prec in precisions
    }
    mlp = {f"{n}x{n}": bench_mlp(n, quick=quick) for n in (3, 5)} if mlp else {}
    return {
        "benchmark": "models (issue 7 item 4)",
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": _machine(),
        "versions": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "numpy": np.__version__,
        },
        "threads": torch.get_num_threads(),
        "dtype": "float32",
        "precisions": list(precisions),
        "load_average_before": list(load_before),
        "load_average_after": list(os.getloadavg()),
        "wall_s": time.time() - t0,
        "quick": quick,
        "transformer": transformer,
        "mlp": mlp,
        "targets": [
            {"config": c, "metric": m, "target": v, "value": transformer[c][m], "met": transformer[c][m] >= v}
            for (c, m), v in TARGETS.items()
            if c in transformer
        ],
    }


def format_table(res: dict) -> str:
    tgt = {(t["config"], t["metric"]): t for t in res["targets"]}
    lines = [
        f"threads={res['threads']}  load average before/after: "
        + " / ".join(
            ", ".join(f"{x:.2f}" for x in res[k]) for k in ("load_average_before", "load_average_after")
        ),
        f"{'config':<10} {'metric':<34} {'value':>12} {'target':>10} {'met':>4}",
    ]
    for name, r in res["transformer"].items():
        for metric in (
            "train_tokens_per_s",
            "decode_cached_matrices_per_s",
            "decode_uncached_matrices_per_s",
            "kv_cache_speedup",
        ):
            t = tgt.get((name, metric))
            lines.append(
                f"{name:<10} {metric:<34} {r[metric]:>12.1f} "
                + (f"{t['target']:>10.1f} {'yes' if t['met'] else 'NO':>4}" if t else f"{'':>10} {'':>4}")
            )
        lines.append(f"{name:<10} {'cached == uncached tokens':<34} {str(r['cached_equals_uncached']):>12}")
    for name, r in res["mlp"].items():
        lines.append(f"mlp {name:<6} {'train_examples_per_s':<34} {r['train_examples_per_s']:>12.0f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--configs", nargs="+", default=list(CONFIGS), metavar="NAME", help=f"of {list(CONFIGS)}")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    p.add_argument("--quick", action="store_true", help="fewer repeats (smoke test)")
    p.add_argument("--profile", action="store_true", help="add torch.profiler top operators to the JSON")
    p.add_argument(
        "--precision",
        nargs="+",
        default=["float32"],
        choices=PRECISIONS,
        help="transformer precisions to time (bf16: CPU autocast, as training with cpu_amp=true)",
    )
    p.add_argument("--no-mlp", action="store_true", help="time the transformer configs only")
    p.add_argument(
        "--uncached-repeats",
        type=int,
        default=None,
        metavar="N",
        help="timed uncached decodings (reference for cached == uncached; default 3, 1 with --quick)",
    )
    args = p.parse_args(argv)
    try:
        res = run(
            args.configs,
            args.threads,
            args.quick,
            args.profile,
            tuple(args.precision),
            not args.no_mlp,
            args.uncached_repeats,
        )
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(format_table(res))
    if args.profile:
        for name, r in res["transformer"].items():
            for what, rows in r["profiles"].items():
                print(f"\nprofile {name} {what} (top by self CPU time)")
                for row in rows:
                    print(
                        f"  {row['op']:<55} {row['self_cpu_ms']:>9.1f} ms {row['share']:>6.1%}"
                        f" {row['calls']:>6} calls"
                    )
    write_record(args.out, res)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
