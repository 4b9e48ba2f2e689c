"""Generalisation: shipped models trained on one distribution, tested on every matrix class.

For every shipped model (function f, size n, training distribution D; ``experiments.shipped``) and
every distribution c of the sampling registry (``experiments.data.sampling.DISTRIBUTIONS``: the
package's own distributions and the matrix classes of the LAWT generator, all with their default
parameters), two seeded test sets of ``size`` n x n matrices are drawn and scored:

* **unscaled**: ``make_test_set(SamplerConfig(f, c, n), size, seed_c)``, i.e. the class as defined,
  filtered only by f's well-posedness rule (``matrix_function_masked``; no output or condition
  caps). ``seed_c = seed + k`` with k the index of c in ``DISTRIBUTIONS``, so a class always gets
  the same matrices, whichever classes are asked for.
* **scaled**: the same matrices, each rescaled to a spectral norm drawn from the training
  distribution. Precisely: ``REFERENCE_SIZE`` = 4096 training matrices are drawn with
  ``sample(D's SamplerConfig, 4096, Generator(REFERENCE_SEED = 0))`` (the envelope draw of
  ``experiments.predict.training_domain``) and their float64 spectral norms ``t_1..t_4096`` kept;
  each class matrix ``A`` becomes ``A' = (t_J / ||A||_2) A`` with ``J`` uniform on {1..4096}
  (a separate generator seeded ``seed_c + SCALE_SEED_OFFSET``). So ``||A'||_2`` is an iid draw
  from the empirical training norm distribution and lies in ``[min t, max t]``; the class's shape
  (direction ``A / ||A||_2``) is kept. f(A') is recomputed and the well-posedness rule applied
  again (positive scaling keeps the domains of sign, log and sqrt in exact arithmetic, but their
  rule has an absolute floor of ``1e-10 max(1, ||A||_F)``, and exp may overflow): a scaled matrix
  that fails it (or a zero matrix) is dropped and replaced by the next class draw (of ``seed_c``'s
  generator, scaled the same way); the drops are counted (``dropped_after_scaling``).
  Scaling matches the spectral norm only, not the entry range: a rescaled matrix may have entries
  beyond any training draw's (e.g. > c for uniform training entries in [-c, c]).

A class is skipped for f, and the output says why, when it yields no well-posed matrix: none of
``PROBE_SIZE`` candidates passes the rule, or ``sample`` gives up (fewer than 1 in 1000
accepted), or (scaled only) more than ``1000 size`` scaled matrices were dropped.

On each test set the model is scored with ``experiments.evaluate.evaluate_predictions`` (relative
l1 error, accuracy within 5/2/1/0.5% with 95% Wilson intervals, invalid outputs, median error),
and so is the certified network ``constructive.network(f, n, eps, **domain)`` on the matrices
that lie inside its domain:

* ``||A||_2 <= r`` functions (exp, sin, cos, sinh, cosh): ``r`` = the largest spectral norm of the
  test set rounded up to a multiple of 0.5, capped at ``bounds.MAX_RADIUS`` (32; the cap leaves
  the matrices beyond it out, and the row says so);
* log, sqrt, inverse: ``||A - I||_2 <= rho``; sign: ``||I - A^2||_2 <= rho``, ``||A||_2 <= alpha``
  (``experiments.compare_functions.domain_mask``; rho = 0.9, alpha = 5 as there). These
  near-identity domains rarely hold class matrices: only the subset inside is scored and its
  size reported (``inside``, and ``inside_indices`` when it is a proper subset);
* other functions (pow, whose k the model config does not fix): no constructive row.

``python -m experiments generalisation [--models NAME ...] [--classes C ...] [--test-size N]
[--out DIR]`` writes ``generalisation.json`` and ``generalisation.md`` into DIR (default
``runs/generalisation``, ignored by git; the committed reference is ``results/generalisation``).
"""

from __future__ import annotations

import argparse
import json
import math
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch

from experiments.data import DISTRIBUTIONS, SamplerConfig, draw_matrices, sample
from experiments.data.matfuncs import matrix_function_masked
from experiments.evaluate import TOLERANCES, EvalResult, evaluate_predictions

__all__ = [
    "DEFAULT_SEED",
    "REFERENCE_SIZE",
    "REFERENCE_SEED",
    "SCALE_SEED_OFFSET",
    "VARIANTS",
    "ClassSet",
    "NotWellPosed",
    "class_seed",
    "training_norms",
    "class_test_set",
    "constructive_domain",
    "generalisation",
    "markdown",
    "heatmap_grid",
    "figure_heatmap",
    "write",
    "add_arguments",
    "run_cli",
]

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO / "runs" / "generalisation"  # ignored by git; the reference: results/generalisation
DEFAULT_SEED = 20261129
REFERENCE_SIZE = 4096
REFERENCE_SEED = 0
SCALE_SEED_OFFSET = 1_000_003
PROBE_SIZE = 2000
VARIANTS = ("unscaled", "scaled")
BALL_FUNCTIONS = ("exp", "sin", "cos", "sinh", "cosh")
NEAR_IDENTITY = ("log", "sqrt", "inverse")


class NotWellPosed(ValueError):
    """A class that yields no (or too few) well-posed matrices for the function."""


@dataclass
class ClassSet:
    """Test matrices of one class and variant: A, F = f(A) (size, n, n), the seed, the class
    candidates examined and rejected by the rule, and (scaled) the scaled matrices dropped."""

    A: torch.Tensor
    F: torch.Tensor
    seed: int
    drawn: int
    rejected: int
    dropped_after_scaling: int = 0


def class_seed(distribution: str, seed: int = DEFAULT_SEED) -> int:
    """The seed of a class's test set: ``seed`` + its index in ``DISTRIBUTIONS``."""
    return int(seed) + DISTRIBUTIONS.index(distribution)


def training_norms(sampler_config: SamplerConfig) -> torch.Tensor:
    """(REFERENCE_SIZE,) float64 spectral norms of training draws (seed REFERENCE_SEED)."""
    g = torch.Generator().manual_seed(REFERENCE_SEED)
    A = sample(sampler_config, REFERENCE_SIZE, g).A
    return torch.linalg.matrix_norm(A.double(), ord=2)


def _probe(cfg: SamplerConfig, seed: int) -> None:
    g = torch.Generator().manual_seed(seed + 7)
    A = draw_matrices(cfg.distribution, cfg.n, PROBE_SIZE, dict(cfg.params), g)
    if not bool(matrix_function_masked(cfg.function, A).valid.any()):
        raise NotWellPosed(
            f"none of {PROBE_SIZE} {cfg.distribution} candidates ({cfg.n}x{cfg.n}) has a well-posed "
            f"{cfg.function}"
        )


def _scale(A: torch.Tensor, norms: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    target = norms[torch.randint(len(norms), (A.shape[0],), generator=g)]
    own = torch.linalg.matrix_norm(A, ord=2)
    factor = torch.where(own > 0, target / torch.where(own > 0, own, 1.0), math.nan)
    return A * factor[:, None, None]


def class_test_set(
    function: str,
    n: int,
    distribution: str,
    size: int,
    seed: int = DEFAULT_SEED,
    norms: torch.Tensor | None = None,
) -> ClassSet:
    """The unscaled test set of a class (``norms`` None), or the scaled one (``norms``: the
    training spectral norms, ``training_norms``); see the module docstring for the definition.

    Raises:
        NotWellPosed: the class yields no well-posed matrix for ``function`` (or scaling drops
            more than 1000 ``size`` matrices).
    """
    cfg = SamplerConfig(function, distribution, n)
    s = class_seed(distribution, seed)
    _probe(cfg, s)
    g = torch.Generator().manual_seed(s)
    try:
        batch = sample(cfg, size, g)
    except RuntimeError as e:  # fewer than 1 in 1000 candidates accepted
        raise NotWellPosed(str(e)) from None
    if norms is None:  # what make_test_set(cfg, size, s) returns: one generator seeded s
        return ClassSet(batch.A, batch.F, s, batch.drawn, batch.rejected)
    gs = torch.Generator().manual_seed(s + SCALE_SEED_OFFSET)
    drawn, rejected, dropped = batch.drawn, batch.rejected, 0
    A_parts, F_parts, kept = [], [], 0
    A = batch.A
    while True:
        As = _scale(A, norms.double(), gs)
        Fs, ok = matrix_function_masked(function, As)
        A_parts.append(As[ok])
        F_parts.append(Fs[ok])
        kept += int(ok.sum())
        dropped += int((~ok).sum())
        if kept >= size:
            break
        if dropped > 1000 * size:
            raise NotWellPosed(
                f"scaling to the training norms dropped {dropped} {distribution} matrices "
                f"(kept {kept} of {size})"
            )
        try:
            more = sample(cfg, size - kept, g)
        except RuntimeError as e:
            raise NotWellPosed(str(e)) from None
        A, drawn, rejected = more.A, drawn + more.drawn, rejected + more.rejected
    return ClassSet(torch.cat(A_parts)[:size], torch.cat(F_parts)[:size], s, drawn, rejected, dropped)


def constructive_domain(
    function: str, A: torch.Tensor, rho: float = 0.9, sign_alpha: float = 5.0
) -> tuple[dict, str] | None:
    """The domain keywords of ``constructive.network(function, ...)`` for the matrices A and why,
    or None when there is no rule (see the module docstring)."""
    from bounds import MAX_RADIUS

    if function in BALL_FUNCTIONS:
        top = float(torch.linalg.matrix_norm(A.double(), ord=2).max())
        r = math.ceil(2 * top) / 2
        if r > MAX_RADIUS:
            return {"r": float(MAX_RADIUS)}, (
                f"r = {MAX_RADIUS:g} = bounds.MAX_RADIUS (the largest ||A||_2, {top:.3g}, is beyond it)"
            )
        return {"r": r}, f"r = {r:g}, the largest ||A||_2 of the test set rounded up to 0.5"
    if function == "sign":
        return {"rho": rho, "alpha": sign_alpha}, f"rho = {rho:g}, alpha = {sign_alpha:g}"
    if function in NEAR_IDENTITY:
        return {"rho": rho}, f"rho = {rho:g}"
    return None


def _none_if_inf(x) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None


def _scores(res: EvalResult) -> dict:
    d = res.to_dict()
    return {
        "n_scored": d["n"],
        "accuracy": d["accuracy"],
        "median_rel_error": _none_if_inf(res.errors.median()),
        "quantiles": d["quantiles"],
        "n_invalid": d["n_invalid"],
        "n_nonfinite": d["n_nonfinite"],
    }


def _constructive(function, n, A, F, eps, cache) -> dict:
    from constructive import PrecisionWarning
    from constructive.functions import BUILDERS, network
    from experiments.compare_functions import domain_mask

    rule = constructive_domain(function, A)
    if rule is None or function not in BUILDERS:
        return {"reason": f"no certified-network domain rule for {function}"}
    domain, why = rule
    key = (function, n, eps, tuple(sorted(domain.items())))
    if key not in cache:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", PrecisionWarning)
            net = network(function, n, eps, **domain)
        notes = [str(w.message) for w in caught if issubclass(w.category, PrecisionWarning)]
        cache[key] = (net, notes)
    net, notes = cache[key]
    mask, words = domain_mask(function, A, domain, net.choice)
    out = {
        "eps": eps,
        "domain": domain,
        "domain_text": words,
        "domain_choice": why,
        "inside": int(mask.sum()),
        "size": len(A),
        "params": int(net.choice.params),
        "certified_error": float(net.choice.certified_error),
        "precision_warning": notes[0] if notes else None,
        "scores": None,
    }
    if 0 < out["inside"] < len(A):
        out["inside_indices"] = torch.nonzero(mask).flatten().tolist()
    if out["inside"]:
        with torch.no_grad():
            pred = net(A[mask].double())  # the network's own domain check runs too
        ok = torch.ones(out["inside"], dtype=torch.bool)
        out["scores"] = _scores(evaluate_predictions(pred, ok, F[mask].double()))
    return out


def _norm_summary(t: torch.Tensor) -> dict:
    """min, 5%, median, 95%, max of spectral norms t."""
    q = torch.quantile(t, torch.tensor([0.0, 0.05, 0.5, 0.95, 1.0], dtype=torch.float64))
    return {k: float(v) for k, v in zip(("min", "q05", "median", "q95", "max"), q, strict=True)}


def generalisation(
    shipped: list,
    classes: tuple[str, ...] = DISTRIBUTIONS,
    size: int = 1000,
    seed: int = DEFAULT_SEED,
    eps: float = 1e-2,
    progress=None,
) -> dict:
    """Score every shipped model (ShippedModel list) and its function's certified network on every
    class, unscaled and scaled; returns the JSON-ready record (``rows``, ``skipped``, ``models``)."""
    from experiments.evaluate import predict

    t_start = time.perf_counter()
    rows, skipped, models, cache = [], [], {}, {}
    for sm in shipped:
        dc = sm.config.data
        f, n = dc.function, dc.n
        norms = training_norms(dc.sampler_config())
        models[sm.name] = {
            "function": f,
            "n": n,
            "kind": "mlp" if sm.encoding is None else "transformer",
            "encoding": None if sm.encoding is None else dc.encoding,
            "train_distribution": dc.distribution,
            "train_params": dict(dc.params),
            "train_norms": {
                "reference_size": REFERENCE_SIZE,
                "reference_seed": REFERENCE_SEED,
                **_norm_summary(norms),
            },
        }
        for c in classes:
            for variant in VARIANTS:
                try:
                    cs = class_test_set(f, n, c, size, seed, norms if variant == "scaled" else None)
                except NotWellPosed as e:
                    skipped.append(
                        {"model": sm.name, "function": f, "class": c, "variant": variant, "reason": str(e)}
                    )
                    if variant == "unscaled":  # the scaled set rescales the unscaled one
                        skipped.append(
                            {
                                "model": sm.name,
                                "function": f,
                                "class": c,
                                "variant": "scaled",
                                "reason": str(e),
                            }
                        )
                        break
                    continue
                pred, valid = predict(sm.model, cs.A, encoding=sm.encoding)
                rows.append(
                    {
                        "model": sm.name,
                        "function": f,
                        "n": n,
                        "class": c,
                        "training_class": c == dc.distribution,
                        "variant": variant,
                        "test_set": {
                            "size": len(cs.A),
                            "seed": cs.seed,
                            "drawn": cs.drawn,
                            "rejected": cs.rejected,
                            "dropped_after_scaling": cs.dropped_after_scaling,
                            "norm2": _norm_summary(torch.linalg.matrix_norm(cs.A.double(), ord=2)),
                        },
                        "model_scores": _scores(evaluate_predictions(pred, valid, cs.F)),
                        "constructive": _constructive(f, n, cs.A, cs.F, eps, cache),
                    }
                )
                if progress:
                    progress(f"{sm.name} on {c} ({variant})")
    return {
        "description": "shipped models and certified networks on every matrix class, unscaled and "
        "scaled to the training spectral-norm distribution (experiments.generalisation)",
        "seed": seed,
        "size": size,
        "eps": eps,
        "norm": "l1",
        "tolerances": list(TOLERANCES),
        "classes": list(classes),
        "models": models,
        "rows": rows,
        "skipped": skipped,
        "wall_time_s": time.perf_counter() - t_start,
    }


def _cell(scores: dict | None) -> str:
    if scores is None:
        return "-"
    a = scores["accuracy"]["0.05"]
    return f"{100 * a['acc']:.1f} [{100 * a['ci95'][0]:.1f}, {100 * a['ci95'][1]:.1f}]"


def _constructive_cell(c: dict | None) -> str:
    if c is None:
        return "-"
    if "reason" in c:
        return "no network"
    return f"{_cell(c['scores'])} ({c['inside']}/{c['size']})"


def markdown(result: dict) -> str:
    """One table: rows function x model x class, columns accuracy within 5% [95% Wilson] of the
    model and of the certified network (matrices inside its domain / test-set size), unscaled and
    scaled; the skipped classes below it."""
    by_key: dict[tuple, dict] = {}
    for r in result["rows"]:
        by_key.setdefault((r["function"], r["model"], r["class"]), {})[r["variant"]] = r
    head = [
        "f",
        "model",
        "class",
        "model unscaled",
        "model scaled",
        "certified unscaled (inside)",
        "certified scaled (inside)",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for (f, model, c), v in by_key.items():
        u, s = v.get("unscaled"), v.get("scaled")
        name = f"**{c}** (training)" if (u or s)["training_class"] else c
        cells = [
            f,
            model,
            name,
            _cell(u and u["model_scores"]),
            _cell(s and s["model_scores"]),
            _constructive_cell(u and u["constructive"]),
            _constructive_cell(s and s["constructive"]),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    out = [
        f"Accuracy within 5% in % [95% Wilson interval], {result['size']} matrices per class and variant "
        f"(relative {result['norm']} error; seed {result['seed']}); scaled: each matrix rescaled to a "
        "spectral norm drawn from the model's training distribution; certified: "
        f"`constructive.network(f, n, {result['eps']:g}, ...)` on the matrices inside its domain "
        "(count in brackets).",
        "",
        *lines,
    ]
    if result["skipped"]:
        out += ["", "Skipped (no well-posed matrices for the function):", ""]
        for s in result["skipped"]:
            out.append(f"- {s['model']} ({s['function']}), {s['class']} {s['variant']}: {s['reason']}")
    return "\n".join(out) + "\n"


def heatmap_grid(result: dict, variant: str) -> tuple[list[str], list[str], list[list[float | None]]]:
    """(row labels "f: model", classes, accuracy within 5% per row and class; None where skipped)."""
    labels = [f"{m['function']}: {name}" for name, m in result["models"].items()]
    acc = {
        (r["model"], r["class"]): r["model_scores"]["accuracy"]["0.05"]["acc"]
        for r in result["rows"]
        if r["variant"] == variant
    }
    grid = [[acc.get((name, c)) for c in result["classes"]] for name in result["models"]]
    return labels, list(result["classes"]), grid


def figure_heatmap(result: dict):
    """Accuracy within 5%, rows function: model, columns the classes, unscaled and scaled panels;
    the training class framed, skipped classes hatched grey. Returns the matplotlib figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    classes = list(result["classes"])
    rows = len(result["models"])
    fig, axes = plt.subplots(
        2,
        1,
        layout="constrained",
        figsize=(max(6.0, 0.62 * len(classes) + 2.5), 1.3 + 2 * (0.45 * rows + 0.9)),
    )
    for ax, variant in zip(axes, VARIANTS, strict=True):
        labels, _, grid = heatmap_grid(result, variant)
        values = np.array([[np.nan if v is None else 100 * v for v in row] for row in grid], dtype=float)
        ax.set_facecolor("0.85")
        im = ax.imshow(np.ma.masked_invalid(values), vmin=0, vmax=100, cmap="viridis", aspect="auto")
        for i, row in enumerate(values):
            for j, v in enumerate(row):
                text = "skip" if np.isnan(v) else f"{v:.0f}"
                color = "black" if np.isnan(v) or v > 60 else "white"
                ax.text(j, i, text, ha="center", va="center", fontsize=7, color=color)
        for i, m in enumerate(result["models"].values()):
            if m["train_distribution"] in classes:
                j = classes.index(m["train_distribution"])
                ax.add_patch(plt.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="red", lw=1.5))
        ax.set_xticks(range(len(classes)), classes, rotation=40, ha="right")
        ax.set_yticks(range(len(labels)), labels)
        ax.grid(False)
        how = "as defined" if variant == "unscaled" else "rescaled to the training spectral-norm distribution"
        ax.set_title(f"{variant}: class {how} ({result['size']} matrices each)")
    fig.colorbar(im, ax=list(axes), label="accuracy within 5% (%)", shrink=0.8)
    fig.suptitle("Trained on one distribution (red frame), tested on every class")
    return fig


def write(result: dict, out_dir: Path) -> list[Path]:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    j, m = out_dir / "generalisation.json", out_dir / "generalisation.md"
    j.write_text(json.dumps(result, indent=1))
    m.write_text("# Generalisation across matrix classes\n\n" + markdown(result))
    return [j, m]


# ---------------------------------------------------------------------------------------------
# command line: python -m experiments generalisation


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--models", nargs="+", metavar="NAME", help="shipped models to test (default: all)")
    p.add_argument("--models-dir", metavar="DIR", help="folder of shipped models (default models/)")
    p.add_argument(
        "--classes",
        nargs="+",
        metavar="C",
        help=f"distributions to test on (default all: {' '.join(DISTRIBUTIONS)})",
    )
    p.add_argument(
        "--test-size", type=int, default=1000, help="matrices per class and variant (default 1000)"
    )
    p.add_argument("--eps", type=float, default=1e-2, help="eps of the certified networks (default 1e-2)")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"base seed (default {DEFAULT_SEED})")
    p.add_argument("--out", default=str(DEFAULT_OUT), help="output folder (default runs/generalisation)")


def run_cli(args: argparse.Namespace) -> int:
    """Check the arguments, score, write; raises ValueError on bad input (the CLI: exit 2)."""
    from experiments.shipped import list_models, load_model

    if args.test_size < 1:
        raise ValueError(f"--test-size must be >= 1, got {args.test_size}")
    if not 0 < args.eps < 1:
        raise ValueError(f"--eps must lie in (0, 1), got {args.eps}")
    classes = tuple(args.classes or DISTRIBUTIONS)
    unknown = [c for c in classes if c not in DISTRIBUTIONS]
    if unknown:
        raise ValueError(f"unknown class(es) {unknown}; allowed: {', '.join(DISTRIBUTIONS)}")
    if args.models_dir is not None and not Path(args.models_dir).is_dir():
        raise ValueError(f"--models-dir {args.models_dir!r}: no such folder")
    models_dir = Path(args.models_dir) if args.models_dir else None
    names = args.models or [m["name"] for m in list_models(models_dir)]
    if not names:
        raise ValueError("no shipped models to test; allowed: a folder with models/<name>/model.json")
    shipped = [load_model(name, models_dir) for name in names]  # unknown name: ModelNotFoundError
    result = generalisation(
        shipped,
        classes,
        args.test_size,
        args.seed,
        args.eps,
        progress=lambda s: print(f"scored {s}", flush=True),
    )
    paths = write(result, Path(args.out))
    print(markdown(result))
    print(f"wrote {', '.join(map(str, paths))} ({result['wall_time_s']:.0f} s)")
    return 0
