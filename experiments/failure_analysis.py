"""Which test matrices a trained model gets wrong, and why: accuracy broken down by groups.

For a run folder with a checkpoint, the model is scored on the run's test set and the accuracy
within 5% (and the invalid-output rate) is reported per group of matrices:

- by the dynamic range of the target, ``max_ij |f(A)_ij|`` split at its quartiles: a number
  encoding with three significant digits and one exponent per entry loses the small entries of
  a matrix whose largest entry is much larger (relative l1 error counts them all);
- by the ratio ``max |f(A)_ij| / min |f(A)_ij|`` over the non-zero entries, quartiles;
- for sign: by the inertia, the number of eigenvalues with positive real part. sign(A) = I or
  -I exactly when every eigenvalue is on one side (inertia 0 or n); the other inertias give
  non-trivial projector-like outputs ``V diag(+-1) V^-1`` whose entries can be large.
- for log/sqrt: by the largest |arg lambda| (quartiles): the branch cut is the negative axis.

It also reports the share of target entries (above 1e-3 of the matrix's largest) whose sign the
model predicts correctly, which separates wrong-magnitude from wrong-sign failures, and, for a
transformer, where its teacher-forced token cross-entropy sits and what each role's top-1 misses
cost (``experiments.token_loss.token_breakdown``).

Nothing here changes a run; ``analyze_run`` writes ``analysis.json`` into the run folder.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

__all__ = ["analyze_run", "group_accuracy"]

TAU = 0.05


def _quartile_groups(values: torch.Tensor, name: str) -> list[tuple[str, torch.Tensor]]:
    qs = torch.quantile(values, torch.tensor([0.25, 0.5, 0.75], dtype=values.dtype))
    edges = [-float("inf"), *qs.tolist(), float("inf")]
    groups = []
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        mask = (values > lo) & (values <= hi)
        groups.append((f"{name} in ({lo:.3g}, {hi:.3g}]", mask))
    return groups


def group_accuracy(errors: torch.Tensor, valid: torch.Tensor, groups) -> list[dict]:
    """Per group: size, accuracy within 5% with its Wilson interval, invalid outputs."""
    from experiments.evaluate import wilson_interval

    rows = []
    for label, mask in groups:
        k = int(mask.sum())
        if k == 0:
            continue
        hits = int(((errors < TAU) & valid & mask).sum())
        lo, hi = wilson_interval(hits, k)
        rows.append(
            {
                "group": label,
                "n": k,
                "acc5": hits / k,
                "ci95": [lo, hi],
                "invalid": int((~valid & mask).sum()),
                "median_error": float(errors[mask & valid].median()) if bool((mask & valid).any()) else None,
            }
        )
    return rows


def analyze_run(run_dir: str | Path, write: bool = True) -> dict:
    """Accuracy within 5% of the run's checkpoint on its test set, per group (module docstring)."""
    from experiments.evaluate import load_trained, predict, relative_errors
    from experiments.run_folder import run_test_set
    from experiments.token_loss import position_errors, token_breakdown

    run_dir = Path(run_dir)
    model, encoding, config = load_trained(run_dir)
    test = run_test_set(run_dir, config)
    pred, valid = predict(model, test.A, encoding=encoding)
    errors = relative_errors(torch.nan_to_num(pred, nan=0.0), test.F, norm="l1")
    errors = torch.where(valid, errors, torch.full_like(errors, float("inf")))
    absF = test.F.abs().flatten(1)
    peak = absF.amax(1)
    nonzero = torch.where(absF > 1e-12 * peak[:, None], absF, torch.full_like(absF, float("inf")))
    spread = peak / nonzero.amin(1)
    groupings = {
        "max |f(A)_ij|": _quartile_groups(peak, "max |f(A)_ij|"),
        "max/min |f(A)_ij|": _quartile_groups(spread, "max/min |f(A)_ij|"),
    }
    f = config.data.function
    lam = torch.linalg.eigvals(test.A)
    if f == "sign":
        n = test.A.shape[-1]
        inertia = (lam.real > 0).sum(-1)
        groupings["inertia"] = [
            (f"{k} eigenvalue(s) with Re > 0" + (" (sign = +-I)" if k in (0, n) else ""), inertia == k)
            for k in range(n + 1)
        ]
    if f in ("log", "sqrt"):
        groupings["max |arg lambda|"] = _quartile_groups(lam.angle().abs().amax(-1), "max |arg lambda|")
    # Share of target entries (those above 1e-3 of the matrix's largest) whose sign the model
    # gets right, over valid outputs: separates "wrong magnitude" from "wrong sign" failures.
    big = absF.reshape_as(test.F) > 1e-3 * peak[:, None, None]
    agree = (torch.sign(pred) == torch.sign(test.F)) & big & valid[:, None, None]
    sign_agreement = int(agree.sum()) / max(int((big & valid[:, None, None]).sum()), 1)
    result = {
        "run": run_dir.name,
        "function": f,
        "n_test": len(errors),
        "acc5": float(((errors < TAU) & valid).float().mean()),
        "invalid": int((~valid).sum()),
        "entry_sign_agreement": sign_agreement,
        "groups": {name: group_accuracy(errors, valid, g) for name, g in groupings.items()},
    }
    if encoding is not None:
        result["tokens"] = token_breakdown(model, encoding, test.A, test.F)
        result["tokens"]["greedy_position_error"] = position_errors(pred, valid, test.F)
    if write:
        (run_dir / "analysis.json").write_text(json.dumps(result, indent=1) + "\n")
    return result


def format_analysis(result: dict) -> str:
    lines = [
        f"{result['run']}: {result['function']}, {result['n_test']} test matrices, "
        f"within 5%: {100 * result['acc5']:.1f}%, invalid outputs: {result['invalid']}, "
        f"entries with the right sign: {100 * result['entry_sign_agreement']:.1f}%"
    ]
    for name, rows in result["groups"].items():
        lines.append(f"  by {name}:")
        for r in rows:
            med = "-" if r["median_error"] is None else f"{r['median_error']:.3g}"
            lines.append(
                f"    {r['group']:<44} n={r['n']:<5} within 5%: {100 * r['acc5']:5.1f}% "
                f"[{100 * r['ci95'][0]:.1f}, {100 * r['ci95'][1]:.1f}]  "
                f"invalid {r['invalid']:<4} median err {med}"
            )
    if "tokens" in result:
        t = result["tokens"]
        lines.append(f"  teacher-forced token cross-entropy, {t['ce_per_token']:.3f} nats/token, by role:")
        for r in t["roles"]:
            cost = ""
            if r["miss_median_rel_error"] is not None:
                cost = (
                    f"  a miss costs its entry {100 * r['miss_median_rel_error']:.3g}% (median), "
                    f">5% in {100 * r['miss_share_above_5pct']:.0f}% of misses"
                )
            lines.append(
                f"    {r['role']:<16} {100 * r['ce_share']:5.1f}% of the CE, {r['mean_ce']:.3f} per token, "
                f"top-1 {100 * r['top1']:5.1f}%{cost}"
            )
        if "teacher_forced_acc5" in t:
            lines.append(
                f"    within 5% when each token is the top-1 given the true tokens before it: "
                f"{100 * t['teacher_forced_acc5']:.1f}% (greedy decoding: {100 * result['acc5']:.1f}%)"
            )
        if "greedy_position_error" in t:
            for name, key in (
                ("greedy", "greedy_position_error"),
                ("teacher-forced", "teacher_forced_position_error"),
            ):
                errs = " ".join(f"{e:.3f}" for e in t[key])
                lines.append(f"    median entry error / mean |f(A)_ij|, in writing order, {name}: {errs}")
        if "mantissa_loss" in t:
            lines.append(
                f"    expected relative error of the mantissa token (train.mantissa_loss's term): "
                f"{t['mantissa_loss']:.4f}"
            )
    return "\n".join(lines)
