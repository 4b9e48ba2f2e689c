"""The constructive CLI: counts beside the bounds, --check, --json, and bad input (exit 2)."""

import json
import subprocess
import sys

import pytest

from constructive.__main__ import main


def test_table_with_check(capsys):
    assert main(["--n", "2", "--eps", "1e-2", "--radius", "1", "--check", "20"]) == 0
    out = capsys.readouterr().out
    assert "agree" in out and "DIFFER" not in out
    assert out.count("<= eps") == 2


def test_json_output(capsys):
    assert main(["--n", "1", "--eps", "1e-3", "--radius", "2", "--method", "horner", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["method"] for r in rows] == ["horner"]
    assert rows[0]["counts_agree"] is True
    assert rows[0]["certified_error"] <= 1e-3


@pytest.mark.parametrize(
    "argv",
    [
        ["--n", "0", "--eps", "1e-2", "--radius", "1"],
        ["--n", "2.5", "--eps", "1e-2", "--radius", "1"],
        ["--n", "2", "--eps", "abc", "--radius", "1"],
        ["--n", "2", "--eps", "1e-2", "--radius", "1", "--method", "pade"],
        ["--n", "2", "--eps", "nan", "--radius", "1"],
    ],
)
def test_argparse_errors_exit_2(argv):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2


@pytest.mark.parametrize(
    "argv",
    [
        ["--n", "2", "--eps", "2", "--radius", "1"],
        ["--n", "2", "--eps", "1e-2", "--radius", "-1"],
    ],
)
def test_value_errors_exit_2_with_one_line(argv, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "error" in err[0]


def test_module_entry_point():
    proc = subprocess.run(
        [sys.executable, "-m", "constructive", "--n", "1", "--eps", "1e-2", "--radius", "1"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "agree" in proc.stdout


def test_sign_network_counts_and_check(capsys):
    assert main(["--n", "2", "--eps", "1e-2", "--sign", "0.5", "--check", "20"]) == 0
    out = capsys.readouterr().out
    assert "sign (newton-schulz)" in out and "agree" in out and "<= eps" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--n", "2", "--eps", "1e-2"], "--radius is required"),
        (["--n", "2", "--eps", "1e-2", "--sign", "0.5", "--exact", "2"], "--exact is for the exp"),
        (["--n", "2", "--eps", "1e-2", "--sign", "1.5"], "rho"),
    ],
)
def test_sign_and_radius_errors_exit_2(argv, message, capsys):
    assert main(argv) == 2
    assert message in capsys.readouterr().err
