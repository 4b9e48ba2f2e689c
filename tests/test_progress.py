"""Progress reports: tqdm on a terminal, plain periodic lines anywhere else (logs, pipes)."""

import io

from tqdm import tqdm

from experiments.config import load_config
from experiments.progress import PlainProgress, progress_bar
from experiments.train import train


class FakeClock:
    def __init__(self):
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_terminal_gets_tqdm_and_a_file_gets_plain_lines():
    assert isinstance(progress_bar(total=3, file=Terminal()), tqdm)
    assert isinstance(progress_bar(total=3, file=io.StringIO()), PlainProgress)


def test_a_line_per_tenth_of_the_total():
    out, clock = io.StringIO(), FakeClock()
    bar = progress_bar(total=200, desc="run", file=out, clock=clock)
    for _ in range(200):
        clock.t += 0.01
        bar.update(1)
    bar.close()
    text = out.getvalue()
    lines = text.splitlines()
    assert "\r" not in text
    assert [line.split(",")[0] for line in lines] == [f"run: {k}/200 ({k // 2}%)" for k in range(20, 201, 20)]


def test_a_line_every_30_seconds_without_a_total_and_one_at_close():
    out, clock = io.StringIO(), FakeClock()
    bar = progress_bar(desc="run", file=out, clock=clock)
    for _ in range(20):  # 7 s per step: lines at 35, 70, 105 and 140 s
        clock.t += 7
        bar.update(1)
    assert [line.split(",")[0] for line in out.getvalue().splitlines()] == [
        "run: 5",
        "run: 10",
        "run: 15",
        "run: 20",
    ]
    clock.t += 1
    bar.update(1)
    bar.set_postfix({"loss": "0.5"})
    bar.close()
    bar.close()  # closing twice writes nothing more
    last = out.getvalue().splitlines()
    assert len(last) == 5 and last[-1].startswith("run: 21,") and last[-1].endswith("loss=0.5")


def test_wraps_an_iterable():
    out = io.StringIO()
    assert list(progress_bar(range(7), desc="grid", file=out)) == list(range(7))
    assert out.getvalue().splitlines()[-1].startswith("grid: 7/7 (100%)")
    assert list(progress_bar(range(3), disable=True, file=out)) == [0, 1, 2]


def test_training_progress_in_a_log_is_plain_lines(tmp_path, capsys):
    cfg = load_config("tiny-mlp", ["threads=1"])
    train(cfg, tmp_path / "run", quiet=False)
    err = capsys.readouterr().err  # pytest's captured stderr is not a terminal
    assert "\r" not in err
    lines = [line for line in err.splitlines() if line.startswith(cfg.run_name)]
    assert lines and lines[-1].startswith(f"{cfg.run_name}: 60/60 (100%)")
