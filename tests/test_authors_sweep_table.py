"""experiments.authors_sweep.sweep_table and the ``authors-sweep`` README generator, on hand-made records.

The records hold only the fields the table reads, with numbers chosen so that every expected cell
can be written down by hand; the committed README block is checked against its regeneration by
tests/test_readme_tables.py (results/authors_sweep/README.md is one of its DEFAULT_FILES).
"""

from __future__ import annotations

import json

import pytest

from experiments import authors_sweep as sw
from experiments.readme_tables import DEFAULT_FILES, GeneratorError, check, generator, render


def _record(f, n, k, arm, acc, ci, seed=0, train=(0, 32), test=(0, 64), cap_epoch=None):
    """A record with the fields the table reads; ``train``/``test`` are (rejected, drawn)."""

    return {
        "schema": sw.SCHEMA,
        "key": {"function": f, "n": n, "train_size_log2": k, "arm": arm, "seed": seed},
        "data": {
            # Both arms of one (f, n, k, seed) share the training set, hence its hash.
            "train": {"rejected": train[0], "drawn": train[1], "sha256": f"train-{f}-{n}-{k}-{seed}"},
            "test": {"rejected": test[0], "drawn": test[1], "sha256": f"test-{f}-{n}"},
        },
        "training": {
            "max_steps": 1000,
            "cap_bit": cap_epoch is not None,
            "cap_bit_at": None if cap_epoch is None else {"step": 1000, "epoch": cap_epoch},
            "nonfinite_loss_at_step": None,
        },
        "test": {"n": 64, "accuracy": {"0.05": {"acc": acc, "ci95": list(ci)}}},
    }


def _write(folder, records):
    folder.mkdir(parents=True, exist_ok=True)
    for r in records:
        k = r["key"]
        name = sw.record_name(k["function"], k["n"], k["train_size_log2"], k["arm"], k["seed"])
        (folder / name).write_text(json.dumps(r))
    return folder


RECORDS = [
    _record("exp", 1, 5, "authors", 0.123, (0.101, 0.149)),
    _record("exp", 1, 5, "ours", 0.5, (0.4, 0.6)),
    _record("exp", 1, 6, "authors", 0.25, (0.2, 0.3)),
    _record("exp", 2, 6, "ours", 0.031, (0.01, 0.09)),
    _record("log", 2, 5, "authors", 0.0, (0.0, 0.057), train=(30, 62), test=(66, 130)),
    _record("log", 2, 5, "ours", 0.9, (0.8, 0.95), train=(30, 62), test=(66, 130)),
    _record("log", 2, 11, "ours", 0.95, (0.9, 0.98), train=(1000, 3048), test=(66, 130), cap_epoch=62.5),
]


def _rows(text, function):
    """The table rows (without header and rule) under ``**function**``."""
    lines = text.split("\n")
    start = lines.index(f"**{function}**") + 2
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            return lines[start], rows
        rows.append(line)
    return lines[start], rows


def test_cells_dashes_and_the_interval_at_the_largest_size():
    text = sw.sweep_table(RECORDS)
    head, rows = _rows(text, "exp")
    # Every k present in any record is a column, for every function.
    assert head == "| n | arm | 2^5 | 2^6 | 2^11 | 95% CI at largest N |"
    assert rows == [
        "| 1 | authors | 12.3 | 25.0 | - | 2^6: [20.0, 30.0] |",
        "| 1 | ours | 50.0 | - | - | 2^5: [40.0, 60.0] |",
        "| 2 | authors | - | - | - | - |",
        "| 2 | ours | - | 3.1 | - | 2^6: [1.0, 9.0] |",
    ]
    _, log_rows = _rows(text, "log")
    assert log_rows[-1] == "| 2 | ours | 90.0 | - | 95.0 | 2^11: [90.0, 98.0] |"


def test_function_line_counts_each_set_once_and_says_where_the_cap_bit():
    text = sw.sweep_table(RECORDS)
    (exp_line,) = [line for line in text.split("\n") if line.startswith("exp: ")]
    assert "n = 1: training sets 0 of 64 drawn, test set 0 of 64" in exp_line
    assert "Step cap 1,000 steps: never bit. Records: authors 2, ours 2." in exp_line
    (log_line,) = [line for line in text.split("\n") if line.startswith("log: ")]
    # 2^5's training set is shared by both arms (counted once); the test set is one per (f, n).
    assert "n = 2: training sets 1,030 of 3,110 drawn, test set 66 of 130" in log_line
    assert "Step cap 1,000 steps: bit at 2^11 (epoch 62.5). Records: authors 1, ours 2." in log_line


def test_plan_line_counts_present_records_and_those_outside_the_plan():
    plan = sw.plan_keys(("exp", "sin"), (1,), (5, 6), sw.ARMS, (0,))
    last = sw.sweep_table(RECORDS, plan).split("\n")[-1]
    assert last == (
        "Records: 3 of the 8 planned (exp, sin; n = 1; N = 2^5, 2^6; arms authors, ours; seed 0) exist, "
        "and 4 outside the plan. No records yet for sin."
    )


def test_default_plan_is_the_command_lines_default_sweep():
    plan = sw.plan_keys()
    assert len(plan) == len(set(plan)) == 5 * 3 * 14 * 2 == 420
    assert sw.sweep_table([]).endswith(
        "Records: 0 of the 420 planned (exp, sign, sin, cos, log; n = 1, 2, 3; N = 2^5..2^18; "
        "arms authors, ours; seed 0) exist. No records yet for exp, sign, sin, cos, log."
    )


def test_several_seeds_get_a_seed_column_and_a_repeated_key_is_refused():
    text = sw.sweep_table([RECORDS[0], _record("exp", 1, 5, "authors", 0.2, (0.1, 0.3), seed=1)])
    _, rows = _rows(text, "exp")
    assert rows == [
        "| 1 | authors | 0 | 12.3 | 2^5: [10.1, 14.9] |",
        "| 1 | authors | 1 | 20.0 | 2^5: [10.0, 30.0] |",
    ]
    with pytest.raises(ValueError, match="two records of exp-n1-k5-authors-s0.json"):
        sw.sweep_table([RECORDS[0], RECORDS[0]])


def test_generator_renders_the_folder_and_a_new_record_makes_the_block_stale(tmp_path):
    folder = _write(tmp_path / "sweep", RECORDS[:3])
    assert generator("authors-sweep")(["sweep"], tmp_path) == sw.sweep_table(RECORDS[:3])
    doc = tmp_path / "README.md"
    doc.write_text(
        "prose\n<!-- BEGIN GENERATED by: python -m experiments tables authors-sweep sweep -->\n"
        "<!-- END GENERATED -->\n"
    )
    doc.write_text(render(doc, tmp_path))
    assert "| 1 | authors | 12.3 | 25.0 | 2^6: [20.0, 30.0] |" in doc.read_text()
    assert check(doc, tmp_path) == []
    _write(folder, RECORDS[3:4])  # the sweep writes one more record
    assert [b.command for b in check(doc, tmp_path)] == ["authors-sweep sweep"]


def test_generator_refuses_a_missing_folder(tmp_path):
    with pytest.raises(GeneratorError, match="not a folder"):
        generator("authors-sweep")(["nosuch"], tmp_path)


def test_committed_readme_is_checked_by_default():
    assert "results/authors_sweep/README.md" in DEFAULT_FILES


def test_summary_row_per_function_and_n_at_largest_and_best_size():
    # exp n=1: authors at 2^6 = 25.0 [20.0, 30.0], best 25.0 at 2^6; ours only 2^5: 50.0 both.
    # exp n=2: no authors record ("-"); log n=2: ours best 95.0 at 2^11 (largest too).
    lines = sw.sweep_summary(RECORDS).split("\n")
    assert lines[0] == (
        "| f | n | authors: at largest N [95% CI] | authors: best (N) | ours: at largest N [95% CI] "
        "| ours: best (N) |"
    )
    assert lines[2:] == [
        "| exp | 1 | 2^6: 25.0 [20.0, 30.0] | 25.0 (2^6) | 2^5: 50.0 [40.0, 60.0] | 50.0 (2^5) |",
        "| exp | 2 | - | - | 2^6: 3.1 [1.0, 9.0] | 3.1 (2^6) |",
        "| log | 2 | 2^5: 0.0 [0.0, 5.7] | 0.0 (2^5) | 2^11: 95.0 [90.0, 98.0] | 95.0 (2^11) |",
    ]


def test_summary_best_is_not_the_largest_size_when_accuracy_falls():
    recs = [_record("sin", 1, 5, "ours", 0.8, (0.7, 0.9)), _record("sin", 1, 9, "ours", 0.2, (0.1, 0.3))]
    assert sw.sweep_summary(recs).split("\n")[2] == "| sin | 1 | 2^9: 20.0 [10.0, 30.0] | 80.0 (2^5) |"
    with pytest.raises(ValueError, match="no seed-0"):
        sw.sweep_summary([])
