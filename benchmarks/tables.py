"""Generators for benchmarks/README.md's blocks (see :mod:`experiments.readme_tables`).

They live here, not in experiments, so that the import arrow stays ``benchmarks -> experiments``:
experiments.readme_tables imports this module by name only when a block asks for ``bench*``.

* ``bench ALL_JSON``: the summary rows (:func:`benchmarks.run.markdown_table`, the writer behind
  ``python -m benchmarks --markdown``).
* ``bench-runs ALL_JSON``: when and how each group of that record ran (start, wall time, threads,
  load average before and after) and the machine.
* ``bench-bounds BOUNDS_JSON``: the item-5 numbers the README's prose discusses.
* ``bench-models MODELS_JSON``: the item-4 rows of a record written by ``bench_models`` alone.
* ``bench-lawt LAWT_JSON``: the side by side with LAWT's code (issue 13), a record written by
  ``python -m benchmarks --against-lawt`` (:mod:`benchmarks.against_lawt`).
* ``bench-precision-band BAND_JSON``: a faster training setting against its reference (bf16 against
  float32, bf16-compiled against bf16) on a training config (:mod:`benchmarks.precision_band`).
* ``bench-candidates CANDIDATES_JSON``: the speed-up candidates (:mod:`benchmarks.bench_candidates`).
"""

from __future__ import annotations

import json
from pathlib import Path

from experiments.readme_tables import GeneratorError, register

from .run import _fmt, markdown_table


def _read(args: list[str], root: Path, name: str) -> dict:
    if len(args) != 1:
        raise GeneratorError(f"generator {name!r} takes one JSON record; got {args}")
    p = Path(args[0])
    return json.loads((p if p.is_absolute() else root / p).read_text())


@register("bench")
def bench(args: list[str], root: Path) -> str:
    return markdown_table(_read(args, root, "bench"))


def _load(values) -> str:
    return "-" if not values else ", ".join(f"{v:.2f}" for v in values)


def _group_facts(res: dict) -> tuple[str, list | None, list | None]:
    """(start time, load before, load after) of a group's record, whichever form it has."""
    env = res.get("environment") or {}
    start = env.get("date_utc") or res.get("date_utc") or "-"
    before = env.get("load_average_1_5_15min") or res.get("load_average_before")
    return start.replace("T", " ").replace("Z", " UTC"), before, res.get("load_average_after")


@register("bench-runs")
def bench_runs(args: list[str], root: Path) -> str:
    combined = _read(args, root, "bench-runs")
    env = combined["environment"]
    lines = [
        f"Machine: **{env['cpu']}, {env['cpu_count']} cores ({env.get('torch_cpu_capability', '?')}), "
        f"Python {env['python']}, torch {env['torch']}, numpy {env['numpy']}** "
        f"({env['platform']}); {'quick sizes' if combined.get('quick') else 'full sizes'}.",
        "",
        "| group | started | wall time | threads | load average at start (1, 5, 15 min) | at end |",
        "|---|---|---:|---:|---|---|",
    ]
    for g, res in combined["groups"].items():
        start, before, after = _group_facts(res)
        lines.append(
            f"| {g} | {start} | {res['group_wall_s']:.0f} s | {combined['threads'].get(g)} "
            f"| {_load(before)} | {_load(after)} |"
        )
    if combined.get("errors"):
        lines += ["", f"Failed groups: {', '.join(combined['errors'])} (tracebacks in the record)."]
    return "\n".join(lines)


def _short(function: str) -> str:
    """``/path/rules.py:149(tau)`` -> ``tau``."""
    return function.rsplit("(", 1)[-1].rstrip(")")


@register("bench-bounds")
def bench_bounds(args: list[str], root: Path) -> str:
    res = _read(args, root, "bench-bounds")
    counts = res["counts"]
    ms = [1e3 * c["seconds_per_1e5_points"] for c in counts]
    cold = [c["cold_first_call_s"] for c in counts]
    rules = res["rules"]
    vr = res["vector_rules"]
    own = rules["profile"]["by_own_time"][:4]
    own_text = ", ".join(f"`{_short(e['function'])}` {100 * e['share_of_total']:.0f}%" for e in own)
    cum = rules["profile"]["bounds_by_cumulative_time"]
    top = cum[0]["cumtime_s"]
    inner = [e for e in cum if e["cumtime_s"] < 0.95 * top][:3]
    cum_text = ", ".join(f"`{_short(e['function'])}` {100 * e['cumtime_s'] / top:.0f}%" for e in inner)
    return (
        f"Counts: {min(ms):.1f}-{max(ms):.1f} ms per {counts[0]['points']:,} points (warm, "
        f"{', '.join(c['method'] for c in counts)}); the first call's lambdify "
        f"{min(cold):.2f}-{max(cold):.2f} s. Rules: `choose` (Method {rules['method']}) takes "
        f"{1e3 * rules['seconds_per_point']:.1f} ms per point over {rules['points']} points, "
        f"{_fmt(rules['extrapolated_seconds_per_1e5_points'])} s for 10^5 points; by own time its "
        f"profile ({cum[0]['calls']} calls of "
        f"`{_short(cum[0]['function'])}`) is led by {own_text}; by cumulative time, as shares of "
        f"`{_short(cum[0]['function'])}`: {cum_text}. `rule_grid` on {vr['horner']['points']:,} points: "
        f"{vr['horner']['timing']['wall_median_s']:.2f} s (Rule H), "
        f"{vr['scaling_squaring']['timing']['wall_median_s']:.2f} s (Rule SS)."
    )


@register("bench-models")
def bench_models(args: list[str], root: Path) -> str:
    """``bench-models MODELS_JSON``: the item-4 rows of a record written by bench_models alone."""
    from .run import _models_rows

    res = _read(args, root, "bench-models")
    head = (
        f"Standalone run of {res['date_utc'].replace('T', ' ').replace('Z', ' UTC')}, "
        f"{res['threads']} threads, load average (1, 5, 15 min) {_load(res['load_average_before'])} "
        f"before and {_load(res['load_average_after'])} after, {res['wall_s']:.0f} s:"
    )
    return head + "\n\n" + markdown_table({"rows": _models_rows(res)})


def _ratio(s: dict) -> str:
    return f"{s['median']:.2f} [{s['min']:.2f}, {s['max']:.2f}]"


def _share(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.0f}%"


def _commit(git: dict) -> str:
    if not git.get("commit"):
        return "unknown"
    return f"`{git['commit'][:10]}`" + (" (modified)" if git.get("dirty") else "")


@register("bench-lawt")
def bench_lawt(args: list[str], root: Path) -> str:
    """``bench-lawt LAWT_JSON``: one row per precision of our step and decoding against LAWT's
    (ratios as median [min, max] over the rounds), our GFLOP/s against both peaks, and the run;
    then one paragraph per missed target that the record explains (``summary.<precision>.missed``)."""
    res = _read(args, root, "bench-lawt")
    yes = {True: "yes", False: "**no**"}
    t = next(iter(res["summary"].values()))["targets"]
    lines = [
        "| precision | our step | LAWT step | training ratio (&ge; "
        f"{_fmt(t['train_ratio'])}) | our decoding | LAWT decoding | decoding ratio (&ge; "
        f"{_fmt(t['decode_ratio'])}) | our GFLOP/s | of nominal peak | of attained mm "
        "| met (training, decoding) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|:---:|",
    ]
    for prec, s in res["summary"].items():
        peaks = res["peaks"][prec]
        nominal = peaks["nominal_gflop_per_s"]
        lines.append(
            f"| {prec} | {s['ours_step_median_s']:.3f} s | {s['lawt_step_median_s']:.3f} s "
            f"| {_ratio(s['train_ratio'])} | {_fmt(s['ours_decode_matrices_per_s'])} mat/s "
            f"| {_fmt(s['lawt_decode_matrices_per_s'])} mat/s | {_ratio(s['decode_ratio'])} "
            f"| {s['ours_gflop_per_s']:.1f} "
            f"| {_share(s['fraction_of_nominal_peak'])} of {'-' if nominal is None else f'{nominal:.0f}'} "
            f"| {_share(s['fraction_of_attained_ceiling'])} of {peaks['attained_gflop_per_s']:.0f} "
            f"| {yes[s['met']['train_ratio']]}, {yes[s['met']['decode_ratio']]} |"
        )
    date = res["date_utc"].replace("T", " ").replace("Z", " UTC")
    lines += [
        "",
        f"Run of {date}: {res['rounds']} interleaved rounds, {res['threads']} threads"
        + (", quick sizes" if res.get("quick") else "")
        + (", **forced on a busy machine**" if res.get("forced") else "")
        + f", load average (1, 5, 15 min) {_load(res['load_average_before'])} before and "
        f"{_load(res['load_average_after'])} after; our commit {_commit(res['ours_git'])}, "
        f"LAWT commit {_commit(res['lawt_git'])}; LAWT runs float32 in both rows.",
    ]
    for prec, s in res["summary"].items():
        # Records written before the profiles were added have no "missed": no paragraph then.
        for part, m in (s.get("missed") or {}).items():
            lines += ["", _missed_paragraph(prec, part, m)]
    return "\n".join(lines)


def _missed_paragraph(prec: str, part: str, m: dict) -> str:
    """One missed target of a LAWT record: its profile's top operators (share, calls) and reason."""
    what = "training" if part == "train" else "decoding"
    top = ", ".join(f"`{r['op']}` {_share(r['share'])} ({r['calls']} calls)" for r in m.get("top", []))
    where = f"Top operators by self CPU time ({m['profile']}, last round): {top}. " if top else ""
    return f"**{prec}, {what} target missed.** {where}{m['reason']}"


@register("bench-precision-band")
def bench_precision_band(args: list[str], root: Path) -> str:
    """``bench-precision-band BAND_JSON``: the loss windows of a reference and a candidate training
    setting (float32 and bf16, or bf16 and bf16-compiled), their relative differences against the
    band, the speed-up and each run's whole wall time. Records written before pairs existed are
    float32 against bf16."""
    res = _read(args, root, "bench-precision-band")
    ref, cand = res.get("reference", "float32"), res.get("candidate", "bf16")
    lines = [
        f"| steps | {ref} mean loss | {cand} mean loss | relative difference |",
        "|---|---:|---:|---:|",
    ]
    for w in res["windows"]:
        lines.append(
            f"| {w['steps'][0]}-{w['steps'][1]} | {w[ref]:.4f} | {w[cand]:.4f} "
            f"| {w['relative_difference']:.2%} |"
        )
    speed = res["examples_per_s"]
    speedup = res.get("speedup", res.get("speedup_bf16"))
    wall = {name: f["wall_time_s"] for name, f in res["final"].items()}
    date = res["date_utc"].replace("T", " ").replace("Z", " UTC")
    lines += [
        "",
        f"Largest difference {res['max_relative_difference']:.2%}, band {res['band']:.0%}: "
        f"{'within' if res['within_band'] else '**outside**'}. Training speed of the two runs side by "
        f"side (median of the progress lines after the first): {speed[cand]:.0f} examples/s in {cand} "
        f"against {speed[ref]:.0f} in {ref}, **{speedup:.2f}x**; whole runs (start, compilation and "
        f"evaluation included) {wall[cand]:.0f} s against {wall[ref]:.0f} s. Run {date}, "
        f"{res['steps']} steps each of `{res.get('config', 'cpu-transformer')}`, commit "
        f"{str(res['commit'])[:10]}{' (dirty)' if res['dirty'] else ''}, "
        f"load average (1, 5, 15 min) {_load(res['load_average_before'])} before.",
    ]
    return "\n".join(lines)


@register("bench-candidates")
def bench_candidates(args: list[str], root: Path) -> str:
    """``bench-candidates CANDIDATES_JSON``: each speed-up candidate's median time and its ratio to
    float32 timed in the same rounds, the bf16 decodings' token agreement, and the profiles."""
    res = _read(args, root, "bench-candidates")
    lines = ["| part | candidate | median | [min, max] | speed-up vs float32 |", "|---|---|---:|---:|---:|"]
    for part in ("train", "decode"):
        for name, r in res[part].items():
            lines.append(
                f"| {'training step' if part == 'train' else 'decoding (128)'} | {name} "
                f"| {r['median_s']:.3f} s | [{r['min_s']:.3f}, {r['max_s']:.3f}] | {r['speedup']:.2f}x |"
            )
    agree = ", ".join(f"{k} {v:.2%}" for k, v in res["decode_token_agreement_with_float32"].items())
    compiled = res["train_first_call_s"].get("bf16 compiled")
    date = res["date_utc"].replace("T", " ").replace("Z", " UTC")
    lines += [
        "",
        f"Run {date}, {res['threads']} thread(s), {res['rounds']} rounds, commit "
        f"{str(res['commit'])[:10]}{' (dirty)' if res['dirty'] else ''}, load average (1, 5, 15 min) "
        f"{_load(res['load_average_before'])} before, {_load(res['load_average_after'])} after. "
        f"Tokens equal to float32's decoding: {agree}."
        + (f" The compiled step's first call (compilation) took {compiled:.0f} s." if compiled else ""),
    ]
    for what, rows in res["profiles"].items():
        top = ", ".join(f"{r['op']} {r['share']:.0%}" for r in rows[:6])
        lines += ["", f"Top operators by self CPU time, {what}: {top}."]
    return "\n".join(lines)
