"""Which speed-ups of the transformer pay on this CPU: each candidate timed against float32 (issue 13).

Every candidate runs a configuration of :mod:`benchmarks.bench_models` (``--config reference``,
the default: 5x5, P1000, d_model 256, 8 heads, 2+2 layers, FFN 1024; ``--config cpu``: 3x3, P1000,
d_model 128, 4 heads, 2+2 layers, FFN 512, close to the study's model; training batch 64, decoding
batch 128) from the same initial weights, in one process, in interleaved rounds (A B C ...,
B C ... A, ...), and reports the
median seconds per call and the ratio to the float32 baseline timed in the same rounds.

Training candidates (one full step: forward, cross-entropy, backward, clipping, AdamW):

* ``float32``: the default path (SDPA attention with the source padding mask, AdamW's
  per-tensor loop); the baseline;
* ``float32 unmasked``: no source mask (no source of one task is padded, so the mask is all
  True): what skipping the padding work would save;
* ``float32 foreach`` / ``float32 fused``: AdamW with ``foreach=True`` / ``fused=True``;
* ``float32 explicit``: attention forced through the two matmuls of ``explicit_attention``;
* ``bf16 sdpa``: CPU bf16 autocast with attention forced through SDPA;
* ``bf16``: CPU bf16 autocast with the default routing (explicit attention for bf16): what
  ``cpu_amp=true`` trains with;
* ``bf16 fused``: the same with fused AdamW;
* ``bf16 compiled`` (``--compile``): the same with ``torch.compile`` (default inductor); its
  compilation is excluded from the timing and reported apart.

Decoding candidates (KV-cached greedy decoding of 128 matrices, full length, EOS forbidden):
``float32`` (baseline), ``bf16 autocast``, and ``bf16 weights`` (a bfloat16 copy of the model, no
autocast); each bf16 candidate reports the fraction of tokens equal to float32's.

The record also holds the profiler's top operators of one bf16 training step and one bf16
decoding, which say where the remaining time goes.

    python -m benchmarks.bench_candidates [--config reference|cpu] [--threads 1] [--rounds 5]
                                          [--compile] [--quick] [--out benchmarks/results/candidates.json]
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import experiments.models.transformer as transformer_module  # noqa: E402
from benchmarks.bench_models import (  # noqa: E402
    CONFIGS,
    _matrices,
    _profile,
    _suppress_eos,
    seeded_model,
    teacher_forced_pairs,
    training_step,
)
from benchmarks.timing import environment, write_record  # noqa: E402
from experiments.data import get_encoding  # noqa: E402
from experiments.models import Seq2SeqTransformer  # noqa: E402
from experiments.runrecord import git_commit  # noqa: E402

__all__ = ["TRAIN_CANDIDATES", "DECODE_CANDIDATES", "forced_attention", "run", "main"]

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "candidates.json"
TRAIN_CANDIDATES = (
    "float32",
    "float32 unmasked",
    "float32 foreach",
    "float32 fused",
    "float32 explicit",
    "bf16 sdpa",
    "bf16",
    "bf16 fused",
)
DECODE_CANDIDATES = ("float32", "bf16 autocast", "bf16 weights")


@contextlib.contextmanager
def forced_attention(kernel: str | None):
    """Route every attention call of the transformer to one kernel ("sdpa" or "explicit")."""
    if kernel is None:
        yield
        return
    original = transformer_module.attention

    def sdpa(q, k, v, attn_mask=None, is_causal=False, dropout_p=0.0):
        return F.scaled_dot_product_attention(
            q, k, v, attn_mask=attn_mask, dropout_p=dropout_p, is_causal=is_causal
        )

    transformer_module.attention = sdpa if kernel == "sdpa" else transformer_module.explicit_attention
    try:
        yield
    finally:
        transformer_module.attention = original


def _train_steps(config: str, compile_: bool) -> dict[str, Callable[[], None]]:
    """One step function per training candidate, each with its own model and optimizer."""
    cfg = CONFIGS[config]
    enc = get_encoding(cfg.encoding)
    pairs = teacher_forced_pairs(cfg, enc)

    def make(name: str) -> Callable[[], None]:
        model = seeded_model(cfg, enc).train()
        opt_kw = {"foreach": True} if "foreach" in name else {"fused": True} if "fused" in name else {}
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4, **opt_kw)
        bf16 = name.startswith("bf16")
        kernel = "sdpa" if name.endswith("sdpa") else "explicit" if name.endswith("explicit") else None
        forward = torch.compile(model) if name.endswith("compiled") else model
        if name.endswith("unmasked"):
            # No source is padded, so the mask keeps every key: dropping it leaves the outputs
            # unchanged and removes only the masked kernel's work.
            model.source_mask = lambda src: None

        return training_step(
            model, opt, pairs, enc.pad_id, bf16, forward, context=lambda: forced_attention(kernel)
        )

    names = list(TRAIN_CANDIDATES) + (["bf16 compiled"] if compile_ else [])
    return {name: make(name) for name in names}


def _decoders(config: str) -> tuple[dict[str, Callable[[], None]], dict[str, torch.Tensor]]:
    cfg = CONFIGS[config]
    enc = get_encoding(cfg.encoding)
    L = enc.sequence_length(cfg.n, cfg.n)
    model = seeded_model(cfg, enc).eval()
    model_bf16 = copy.deepcopy(model).to(torch.bfloat16)
    for m in (model, model_bf16):
        _suppress_eos(m, enc.eos_id)
    src = enc.encode_batch(_matrices(cfg.decode_batch, cfg.n, seed=2))  # (B, L)
    out: dict[str, torch.Tensor] = {}

    def decode(name: str, m: Seq2SeqTransformer, autocast: bool):
        def run_once():
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
                out[name] = m.greedy_decode(src, L + 1, enc.bos_id, enc.eos_id)

        return run_once

    fns = {
        "float32": decode("float32", model, False),
        "bf16 autocast": decode("bf16 autocast", model, True),
        "bf16 weights": decode("bf16 weights", model_bf16, False),
    }
    return fns, out


def _interleaved(fns: dict[str, Callable[[], None]], rounds: int) -> tuple[dict[str, list[float]], dict]:
    """Warm each up once (timed apart), then `rounds` rotated rounds; seconds per call."""
    warm = {}
    for name, fn in fns.items():
        t0 = time.perf_counter()
        fn()
        warm[name] = time.perf_counter() - t0
    names = list(fns)
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            t0 = time.perf_counter()
            fns[name]()
            times[name].append(time.perf_counter() - t0)
    return times, warm


def _summary(times: dict[str, list[float]], baseline: str) -> dict:
    base = statistics.median(times[baseline])
    return {
        name: {
            "median_s": statistics.median(ts),
            "min_s": min(ts),
            "max_s": max(ts),
            "speedup": base / statistics.median(ts),
        }
        for name, ts in times.items()
    }


def run(
    threads: int = 1, rounds: int = 5, compile_: bool = False, quick: bool = False, config: str = "reference"
) -> dict:
    """Time every candidate on a config of bench_models.CONFIGS; returns the JSON-ready record."""
    if config not in CONFIGS:
        raise ValueError(f"unknown config {config!r}; allowed: {', '.join(CONFIGS)}")
    if threads < 1 or rounds < 1:
        raise ValueError(f"threads and rounds must be >= 1, got {threads} and {rounds}")
    torch.set_num_threads(threads)
    load_before = os.getloadavg()
    t0 = time.time()
    train_fns = _train_steps(config, compile_)
    train_times, train_warm = _interleaved(train_fns, 1 if quick else rounds)
    dec_fns, tokens = _decoders(config)
    dec_times, _ = _interleaved(dec_fns, 1 if quick else max(3, rounds // 2))
    agreement = {
        name: float((tokens[name] == tokens["float32"]).float().mean())
        for name in tokens
        if name != "float32"
    }
    profiles = {
        "train bf16": _profile(train_fns["bf16"]),
        "decode bf16 autocast": _profile(dec_fns["bf16 autocast"]),
    }
    commit, dirty = git_commit()
    return {
        "benchmark": "speed-up candidates, reference transformer (issue 13)",
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "environment": environment(),
        "commit": commit,
        "dirty": dirty,
        "config": config,
        "threads": threads,
        "rounds": 1 if quick else rounds,
        "quick": quick,
        "load_average_before": list(load_before),
        "load_average_after": list(os.getloadavg()),
        "wall_s": time.time() - t0,
        "train": _summary(train_times, "float32"),
        "train_first_call_s": train_warm,
        "decode": _summary(dec_times, "float32"),
        "decode_token_agreement_with_float32": agreement,
        "profiles": profiles,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.bench_candidates", description=__doc__.split("\n\n")[0]
    )
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default 5)")
    p.add_argument(
        "--compile", action="store_true", help="add torch.compile of the bf16 step (compiles 1-2 min)"
    )
    p.add_argument("--quick", action="store_true", help="one round (smoke test)")
    p.add_argument(
        "--config",
        default="reference",
        choices=sorted(CONFIGS),
        help="bench_models config: reference (5x5, d_model 256, default) or cpu (3x3, d_model 128)",
    )
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = p.parse_args(argv)
    try:
        res = run(args.threads, args.rounds, args.compile, args.quick, args.config)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for part in ("train", "decode"):
        for name, r in res[part].items():
            print(f"{part:<7}{name:<18}{r['median_s']:>8.3f} s  {r['speedup']:.2f}x")
    for name, a in res["decode_token_agreement_with_float32"].items():
        print(f"decode {name}: {a:.2%} of tokens equal to float32's")
    write_record(args.out, res)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
