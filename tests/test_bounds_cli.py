"""The bounds CLI: table, JSON and LaTeX output with THEORY.md section 10.3 values, one-line
errors with exit status 2, and one real ``python -m bounds`` subprocess."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bounds.__main__ import main

ROOT = Path(__file__).resolve().parents[1]


def test_plain_table(capsys):
    assert main(["--n", "5", "--eps", "1e-6", "--radius", "1"]) == 0
    out = capsys.readouterr().out.splitlines()
    header = out[1].split()
    assert header[:2] == ["method", "n"] and "depth" in header and "params" in header
    rows = {line.split()[0]: line.split() for line in out[2:]}
    assert set(rows) == {"horner", "scaling_squaring", "paterson_stockmeyer"}
    # THEORY.md 10.3: H K=10, m=13, L=117, W=1050, P=496565; SS s=2, 13/14,13, L=92, P=430525.
    assert rows["horner"][4:11] == ["10", "0", "-", "13", "117", "1050", "496565"]
    assert rows["scaling_squaring"][4:11] == ["6", "2", "-", "13/14,13", "92", "1050", "430525"]
    assert rows["paterson_stockmeyer"][4:11] == ["10", "0", "2", "12", "60", "1100", "289360"]


def test_json_keys_and_values(capsys):
    argv = ["--n", "5", "--eps", "1e-6", "--radius", "1", "--method", "horner", "--json"]
    assert main(argv) == 0
    data = json.loads(capsys.readouterr().out)
    assert isinstance(data, list) and len(data) == 1
    keys = {"method", "n", "eps", "radius", "K", "s", "m", "depth", "width", "params"}
    assert keys | {"certified_error"} <= set(data[0])
    assert data[0]["m"] == [13] and data[0]["params"] == 496565
    assert 0 < data[0]["certified_error"] <= 1e-6


def test_grid_of_points_and_spectral(capsys):
    argv = ["--n", "2", "3", "--eps", "1e-2", "--radius", "1", "4", "--method", "scaling_squaring"]
    assert main([*argv, "--norm", "2", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [(d["n"], d["radius"]) for d in data] == [(2, 1.0), (2, 4.0), (3, 1.0), (3, 4.0)]
    assert all(d["norm"] == "2" and d["certified_error"] <= 1e-2 for d in data)


def test_latex(capsys):
    assert main(["--n", "2", "--eps", "1e-2", "--radius", "1", "--latex"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("\\begin{tabular}") and "\\end{tabular}" in out
    assert "& 20 & 72 & 5530 &" in out  # THEORY.md 10.3, n = 2, r = 1, eps = 1e-2, H


def test_side_by_side_reproduces_section_10_3(capsys):
    argv = ["--n", "2", "10", "--eps", "1e-6", "--radius", "1", "4", "--side-by-side"]
    assert main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    # THEORY.md section 10.3, rows verbatim.
    assert lines[1:] == [
        "| 2 (72) | 1 | 1e-06 | 9, 12, 96, 19394 | 2, 6, 12 / 13,12, 85, 16970 | 3, 11, 44, 88, 10016 |",
        "| 2 (72) | 4 | 1e-06 | 20, 14, 266, 52354 | 3, 9, 15 / 15,15,14, 164, 31036 "
        "| 4, 14, 98, 96, 22320 |",
        "| 10 (8200) | 1 | 1e-06 | 10, 14, 126, 6013930 | 1, 8, 14 / 14, 112, 5745920 "
        "| 2, 13, 65, 8400, 3587840 |",
        "| 10 (8200) | 4 | 1e-06 | 20, 17, 323, 14148730 | 4, 8, 18 / 18,18,17,17, 196, 9929350 "
        "| 4, 17, 119, 8800, 5644280 |",
    ]


def test_best(capsys):
    argv = ["--n", "3", "--eps", "1e-4", "--radius", "1", "--method", "best", "--json"]
    assert main(argv) == 0
    data = json.loads(capsys.readouterr().out)
    assert data[0]["method"] == "paterson_stockmeyer" and data[0]["depth"] == 32


@pytest.mark.parametrize(
    "argv",
    [
        ["--n", "0", "--eps", "1e-3", "--radius", "1"],
        ["--n", "2.5", "--eps", "1e-3", "--radius", "1"],
        ["--n", "2", "--eps", "1", "--radius", "1"],
        ["--n", "2", "--eps", "nan", "--radius", "1"],
        ["--n", "2", "--eps", "1e-3", "--radius", "-1"],
        ["--n", "2", "--eps", "1e-3", "--radius", "inf"],
        ["--n", "2", "--eps", "1e-3", "--radius", "1", "--method", "taylor"],
        ["--n", "2", "--eps", "1e-3", "--radius", "1", "--norm", "1"],
        ["--n", "2", "--eps", "1e-3", "--radius", "1", "--json", "--latex"],
        ["--eps", "1e-3", "--radius", "1"],
    ],
)
def test_bad_input_one_line_exit_2(argv, capsys):
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert len(captured.err.strip().splitlines()) == 1 and "error" in captured.err


def test_help(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "Theorem" in out and "--norm" in out and "--json" in out


def test_subprocess():
    proc = subprocess.run(
        [sys.executable, "-m", "bounds", "--n", "2", "--eps", "1e-4", "--radius", "1", "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    h = next(d for d in data if d["method"] == "horner")
    assert (h["K"], h["m"], h["depth"], h["params"]) == (7, [8], 48, 11106)  # THEORY.md 10.3
