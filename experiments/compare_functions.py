"""Constructive networks beside trained models, for every function of the study, on its test set.

For each function f of the study (exp, sign, sin, cos, log; 3x3) the test set is the study's own
(regenerated from ``experiments/configs/study-transformer.json`` with ``function=f``: the same
distribution, size and ``test_seed`` the study's runs were scored on), and every model is scored on
the same matrices with the study's metric (:func:`experiments.evaluate.evaluate_predictions`:
relative l1 error, accuracy within 5/2/1/0.5% with 95% Wilson intervals):

* the certified networks ``constructive.network(f, 3, eps, **domain)`` at a few eps. Their
  guarantee holds on a norm ball: for f on ``||A||_2 <= r`` (exp, sin, cos) ``r`` is chosen so that
  the ball holds the whole test distribution (uniform entries in [-c, c]: ``||A||_2 <= ||A||_F <=
  c n``) and every matrix is checked to lie inside. For log (``||A - I||_2 <= rho``) and sign
  (``||I - A^2||_2 <= rho``, ``||A||_2 <= alpha``) the study's distributions (logsqrt_wellposed,
  sign_wellposed) reach far outside any such domain (rho < 1): the networks are scored only on the
  test matrices inside their domain, and the table says how many those are;
* every shipped model of f (``models/<name>/``, experiments.shipped) and, with ``--runs``, every
  study run folder with a checkpoint: on all test matrices and, where the domain leaves some out,
  also on the constructive networks' subset, so that the rows of one subset compare like with like.

Sizes: constructive params/depth/width are the exact counts of the chosen network
(``bounds.choose_for``; equal to the counts read off ``to_relu_network()``, checked by the
functions check of ``reproduce``), MLPs ``count_mlp``, transformers their parameter count.
``python -m experiments compare-functions`` writes ``compare_functions.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import json
import math
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from experiments.compare import throughput
from experiments.data import TestSet, make_test_set
from experiments.evaluate import TOLERANCES, EvalResult, evaluate_predictions

__all__ = [
    "STUDY_FUNCTIONS",
    "FunctionsCompareConfig",
    "study_test_set",
    "network_domain",
    "domain_mask",
    "compare_functions",
    "markdown",
    "write",
    "add_arguments",
    "run_cli",
]

REPO = Path(__file__).resolve().parent.parent
STUDY_FUNCTIONS = ("exp", "sign", "sin", "cos", "log")
DEFAULT_OUT = REPO / "runs" / "compare_functions"  # ignored by git; the reference: results/compare_functions
BALL_FUNCTIONS = ("exp", "sin", "cos", "sinh", "cosh")  # domain ||A||_2 <= r
NEAR_IDENTITY = ("log", "sqrt", "inverse")  # domain ||A - I||_2 <= rho


@dataclass(frozen=True)
class FunctionsCompareConfig:
    """Functions, the constructive eps, the test-set size (None: the study's), the rho of the
    near-identity domains, the study config the test sets come from."""

    functions: tuple[str, ...] = STUDY_FUNCTIONS
    eps: tuple[float, ...] = (1e-1, 1e-2, 1e-4)
    test_size: int | None = None
    rho: float = 0.9
    sign_alpha: float | None = 5.0  # ||A||_2 <= alpha of the sign domain (None: sqrt(1 + rho))
    study_config: str = "study-transformer"
    norm: str = "l1"
    repeats: int = 3  # timing repeats for the constructive throughput (median)

    def __post_init__(self):
        if not self.functions or not self.eps:
            raise ValueError("compare-functions needs at least one function and one eps")
        for e in self.eps:
            if not 0 < e < 1:
                raise ValueError(f"eps values must lie in (0, 1), got {e}")
        if not 0 < self.rho < 1:
            raise ValueError(f"rho must lie in (0, 1), got {self.rho}")
        if self.sign_alpha is not None and not self.sign_alpha > 0:
            raise ValueError(f"sign alpha must be > 0, got {self.sign_alpha}")
        if self.test_size is not None and self.test_size < 1:
            raise ValueError(f"test size must be >= 1, got {self.test_size}")
        if self.repeats < 1:
            raise ValueError("repeats must be >= 1")


def study_test_set(
    function: str, size: int | None = None, study_config: str = "study-transformer"
) -> TestSet:
    """The study's test set for ``function`` (its config's distribution, size and test seed); with
    ``size`` its first ``size`` matrices (the study's own matrices, not a new draw)."""
    from experiments.config import load_config

    dc = load_config(study_config, [f"function={function}"]).data
    test = make_test_set(dc.sampler_config(), dc.test_size, dc.test_seed)
    if size is not None and size < len(test.A):
        test = TestSet(A=test.A[:size], F=test.F[:size], config=test.config, seed=test.seed)
    return test


def network_domain(
    function: str, test: TestSet, rho: float, sign_alpha: float | None = None
) -> tuple[dict, str]:
    """The domain keywords of ``constructive.network(function, ...)`` for this test set, and why.

    Ball functions: uniform entries in [-c, c] give ``||A||_2 <= ||A||_F <= c n``, so r = c n holds the
    whole distribution; a ball distribution its own r; anything else the largest test norm rounded up
    to 0.5 (a data-dependent choice, said so). Near-identity functions: ``rho``; sign: ``rho`` and
    ``alpha`` (None: the rule's default sqrt(1 + rho), which leaves out the sign test matrices with
    ``||I - A^2||_2 <= rho`` but a larger norm: 51 of the 86 of 1000 at rho = 0.9, against 86 at
    alpha = 5, for a network 1.4x as large).
    """
    cfg, n = test.config, test.config.n
    if function in BALL_FUNCTIONS or function == "pow":
        if cfg.distribution == "uniform":
            r = float(cfg.params["c"]) * n
            why = f"r = c n = {r:g} (uniform entries in [-c, c]: ||A||_2 <= ||A||_F <= c n)"
        elif cfg.distribution == "ball":
            r = float(cfg.params["r"])
            why = f"r = {r:g}, the ball distribution's radius"
        else:
            top = float(torch.linalg.matrix_norm(test.A.double(), ord=2).max())
            r = math.ceil(2 * top) / 2
            why = f"r = {r:g}, the largest ||A||_2 of the test set rounded up to 0.5"
        return {"r": r}, why
    if function == "sign" and sign_alpha is not None:
        return {"rho": rho, "alpha": sign_alpha}, f"rho = {rho:g}, alpha = {sign_alpha:g}"
    if function in NEAR_IDENTITY or function == "sign":
        return {"rho": rho}, f"rho = {rho:g}"
    raise ValueError(f"compare-functions has no domain rule for {function!r}")


def domain_mask(function: str, A: torch.Tensor, domain: dict, choice=None) -> tuple[torch.Tensor, str]:
    """(B,) bool: which matrices lie in the network's domain (float64 spectral norms), and the domain
    in words. Sign needs the choice's alpha (``||A||_2 <= alpha``, default sqrt(1 + rho) rounded up)."""
    A = A.double()
    norm2 = torch.linalg.matrix_norm(A, ord=2)
    eye = torch.eye(A.shape[-1], dtype=A.dtype)
    if "r" in domain:
        return norm2 <= domain["r"], f"||A||_2 <= {domain['r']:g}"
    rho = domain["rho"]
    if function == "sign":
        alpha = float(choice.alpha)
        inside = (torch.linalg.matrix_norm(eye - A @ A, ord=2) <= rho) & (norm2 <= alpha)
        return inside, f"||I - A^2||_2 <= {rho:g}, ||A||_2 <= {alpha:.6g}"
    return torch.linalg.matrix_norm(A - eye, ord=2) <= rho, f"||A - I||_2 <= {rho:g}"


def _none_if_inf(x) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None


def _scores(res: EvalResult) -> dict:
    d = res.to_dict()
    return {
        "n_scored": d["n"],
        "accuracy": d["accuracy"],
        "median_rel_error": _none_if_inf(res.errors.median()),
        "worst_rel_error": _none_if_inf(res.errors.max()),
        "quantiles": d["quantiles"],
        "n_invalid": d["n_invalid"],
    }


def _constructive_rows(f, test, cfg, progress) -> tuple[list[dict], dict]:
    from constructive import PrecisionWarning
    from constructive.functions import network

    domain, why = network_domain(f, test, cfg.rho, cfg.sign_alpha)
    n = test.config.n
    rows, mask, words = [], None, None
    for eps in cfg.eps:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PrecisionWarning)
            net = network(f, n, eps, **domain)
        c = net.choice
        if mask is None:
            mask, words = domain_mask(f, test.A, domain, c)
            if not bool(mask.any()):
                break
        A, F = test.A[mask].double(), test.F[mask].double()
        with torch.no_grad():
            pred = net(A)  # the network's own domain check runs too (DomainError outside)
            tput = throughput(net.structured, A, cfg.repeats)
        res = evaluate_predictions(pred, torch.ones(len(A), dtype=torch.bool), F, norm=cfg.norm)
        fro = torch.linalg.matrix_norm(pred - F, ord="fro")
        rows.append(
            {
                "function": f,
                "name": f"constructive eps={eps:g}",
                "kind": "constructive",
                "matrices": "all" if bool(mask.all()) else "domain",
                "eps": eps,
                "domain": domain,
                "certified_error": float(c.certified_error),
                "worst_abs_error_fro": float(fro.max()),
                "params": int(c.params),
                "depth": int(c.depth),
                "width": int(c.width),
                "throughput": tput,
                **_scores(res),
            }
        )
        if progress:
            progress(f"{f}: {rows[-1]['name']}")
    info = {
        "domain": domain,
        "domain_text": words,
        "domain_choice": why,
        "inside": int(mask.sum()) if mask is not None else 0,
        "inside_indices": torch.nonzero(mask).flatten().tolist() if mask is not None else [],
    }
    return rows, info


def _model_rows(f, label, model, encoding, test, mask, cfg, **extra) -> list[dict]:
    """One row on all test matrices, and one on the domain subset when it is a proper subset."""
    from experiments.evaluate import predict

    with torch.no_grad():
        t0 = time.perf_counter()
        pred, valid = predict(model, test.A, encoding=encoding)
        tput = len(test.A) / max(time.perf_counter() - t0, 1e-12)
    if encoding is None:
        from experiments.models.mlp import count_mlp

        c = count_mlp(model)
        size = {"params": c.params, "depth": c.depth, "width": c.width}
    else:
        size = {"params": sum(p.numel() for p in model.parameters()), "depth": None, "width": None}
    kind = "mlp" if encoding is None else "transformer"
    base = {"function": f, "name": label, "kind": kind, **extra, **size, "throughput": tput}
    rows = [{**base, "matrices": "all", **_scores(evaluate_predictions(pred, valid, test.F, norm=cfg.norm))}]
    if mask is not None and bool(mask.any()) and not bool(mask.all()):
        res = evaluate_predictions(pred[mask], valid[mask], test.F[mask], norm=cfg.norm)
        rows.append({**base, "matrices": "domain", **_scores(res)})
    return rows


def _trained(f, n, shipped, run_dirs) -> list[tuple]:
    """(label, model, encoding, extra) of the shipped models and checkpointed runs of f at size n."""
    from experiments.evaluate import load_trained
    from experiments.run_index import run_summary
    from experiments.train import CHECKPOINT

    found = []
    for sm in shipped:
        dc = sm.config.data
        if dc.function != f or dc.n != n:
            continue
        kind = "MLP" if sm.encoding is None else f"transformer {dc.encoding}"
        found.append(
            (
                f"{kind} (shipped {sm.name}, {sm.meta['steps']} steps)",
                sm.model,
                sm.encoding,
                {"run": f"models/{sm.name}", "train_distribution": dc.distribution},
            )
        )
    for run_dir in run_dirs:
        s = run_summary(run_dir)
        if s is None or s["function"] != f or s["n"] != n:
            continue
        if not (Path(run_dir) / CHECKPOINT).is_file():
            print(f"compare-functions: skipped {run_dir}: no checkpoint")
            continue
        model, encoding, config = load_trained(run_dir)
        kind = "MLP" if encoding is None else f"transformer {config.data.encoding}"
        found.append(
            (
                f"{kind} (run {Path(run_dir).name}, {s['steps']} steps)",
                model,
                encoding,
                {"run": str(run_dir), "train_distribution": s["distribution"]},
            )
        )
    return found


def compare_functions(
    cfg: FunctionsCompareConfig,
    shipped: list | None = None,
    run_dirs: list[Path] | None = None,
    progress=None,
) -> dict:
    """Score, per function, the constructive networks, the shipped models (ShippedModel list) and the
    run folders of that function on the study's test set; returns the JSON-ready record."""
    functions = {}
    for f in cfg.functions:
        test = study_test_set(f, cfg.test_size, cfg.study_config)
        n, sc = test.config.n, test.config
        rows, info = _constructive_rows(f, test, cfg, progress)
        mask = torch.zeros(len(test.A), dtype=torch.bool)
        mask[info["inside_indices"]] = True
        for label, model, encoding, extra in _trained(f, n, shipped or [], run_dirs or []):
            rows += _model_rows(f, label, model, encoding, test, mask, cfg, **extra)
            if progress:
                progress(f"{f}: {label}")
        functions[f] = {
            "test_set": {
                "distribution": sc.distribution,
                "params": dict(sc.params),
                "n": n,
                "size": len(test.A),
                "seed": test.seed,
                "description": f"{f}, {len(test.A)} matrices {n}x{n} from {sc.distribution} "
                f"(the study's test set, seed {test.seed})",
            },
            **info,
            "rows": rows,
        }
    return {
        "config": asdict(cfg),
        "norm": cfg.norm,
        "tolerances": list(TOLERANCES),
        "functions": functions,
    }


def _fmt_err(x: float | None) -> str:
    return "inf (invalid)" if x is None else f"{x:.2e}"


def _domain_sentence(f: str, d: dict) -> str:
    size, inside = d["test_set"]["size"], d["inside"]
    if inside == size:
        return (
            f"Constructive domain {d['domain_text']} ({d['domain_choice']}): it holds all {size} test "
            "matrices (checked per matrix); every row is scored on all of them."
        )
    return (
        f"Constructive domain {d['domain_text']}: only **{inside} of {size}** test matrices lie inside "
        f"(the training distribution {d['test_set']['distribution']} reaches far outside it); the "
        f"constructive rows are scored on those {inside} only, the trained models on all {size} "
        f"(matrices = all) and on the same {inside} (matrices = domain)."
    )


def markdown(result: dict) -> str:
    """Per function: the test set, the domain sentence and one table (accuracy in % [95% Wilson])."""
    tols = [f"{t:g}" for t in result["tolerances"]]
    head = ["model", "matrices", *[f"within {float(t):.1%}" for t in tols]]
    head += ["median err", "worst err", "params", "depth", "width", "matrices/s"]
    out = []
    for f, d in result["functions"].items():
        out += [f"### {f}", "", f"Test set: {d['test_set']['description']}, norm {result['norm']}.", ""]
        out += [_domain_sentence(f, d), ""]
        out += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for r in d["rows"]:
            cells = [r["name"], f"{r['matrices']} ({r['n_scored']})"]
            for t in tols:
                a = r["accuracy"][t]
                cells.append(f"{100 * a['acc']:.1f} [{100 * a['ci95'][0]:.1f}, {100 * a['ci95'][1]:.1f}]")
            cells += [
                _fmt_err(r["median_rel_error"]),
                _fmt_err(r["worst_rel_error"]),
                f"{r['params']:,}",
                "-" if r["depth"] is None else str(r["depth"]),
                "-" if r["width"] is None else str(r["width"]),
                f"{r['throughput']:,.0f}",
            ]
            out.append("| " + " | ".join(cells) + " |")
        if not any(r["kind"] != "constructive" for r in d["rows"]):
            out += ["", f"No shipped model or run of {f} at this size was given."]
        out.append("")
    return "\n".join(out).rstrip("\n") + "\n"


def write(result: dict, out_dir: Path) -> list[Path]:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    j, m = out_dir / "compare_functions.json", out_dir / "compare_functions.md"
    j.write_text(json.dumps(result, indent=1))
    m.write_text(
        "Constructive networks and trained models per function, each on the study's test set "
        f"(relative {result['norm']} error; accuracy in % with 95% Wilson intervals).\n\n" + markdown(result)
    )
    return [j, m]


# ---------------------------------------------------------------------------------------------
# command line: python -m experiments compare-functions


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--functions",
        nargs="+",
        default=list(STUDY_FUNCTIONS),
        help=f"functions of the study (default {' '.join(STUDY_FUNCTIONS)})",
    )
    p.add_argument(
        "--eps",
        type=float,
        nargs="+",
        default=[1e-1, 1e-2, 1e-4],
        help="eps of the constructive networks (default 1e-1 1e-2 1e-4)",
    )
    p.add_argument(
        "--test-size", type=int, help="score the first N matrices of each study test set (default all)"
    )
    p.add_argument("--rho", type=float, default=0.9, help="rho of the log and sign domains (default 0.9)")
    p.add_argument(
        "--sign-alpha",
        type=float,
        default=5.0,
        help="alpha of the sign domain ||A||_2 <= alpha (default 5; 0: the rule's sqrt(1 + rho))",
    )
    p.add_argument(
        "--runs",
        nargs="*",
        default=[],
        metavar="DIR",
        help="run folders (or folders of them, e.g. results/study) whose checkpoints to score too",
    )
    p.add_argument("--models", metavar="DIR", help="folder of shipped models (default models/)")
    p.add_argument("--out", default=str(DEFAULT_OUT), help="output folder (default runs/compare_functions)")


def run_cli(args: argparse.Namespace) -> int:
    """Check the arguments, compare, write; raises ValueError on bad input (the CLI: exit 2)."""
    from experiments.config import load_config
    from experiments.run_index import find_runs
    from experiments.shipped import list_models, load_model

    cfg = FunctionsCompareConfig(
        functions=tuple(args.functions),
        eps=tuple(args.eps),
        test_size=args.test_size,
        rho=args.rho,
        sign_alpha=args.sign_alpha or None,
    )
    for f in cfg.functions:
        load_config(cfg.study_config, [f"function={f}"])  # an unknown function: ConfigError here
        network_domain(f, study_test_set(f, 1, cfg.study_config), cfg.rho, cfg.sign_alpha)
    for r in args.runs:
        if not Path(r).is_dir():
            raise ValueError(f"--runs {r!r}: no such folder")
    if args.models is not None and not Path(args.models).is_dir():
        raise ValueError(f"--models {args.models!r}: no such folder")
    models_dir = Path(args.models) if args.models else None
    shipped = [load_model(m["name"], models_dir) for m in list_models(models_dir)]
    runs = find_runs(*[Path(r) for r in args.runs]) if args.runs else []
    result = compare_functions(cfg, shipped, runs, progress=lambda s: print(f"scored {s}", flush=True))
    paths = write(result, Path(args.out))
    print(markdown(result))
    print("wrote " + ", ".join(map(str, paths)))
    return 0
