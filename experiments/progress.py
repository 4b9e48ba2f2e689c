"""Progress reports that suit a terminal and a log file alike.

On a terminal, :func:`progress_bar` is tqdm, redrawn in place. Anywhere else (a log file, a pipe,
a CI console) tqdm's carriage-return redraws pile up into one ever-longer line, so progress is
written instead as plain lines: one each time another tenth of the total is done, one every
``every_s`` seconds (the only trigger when there is no total), and a last one when it closes.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Iterable
from typing import IO

from tqdm import tqdm

__all__ = ["PlainProgress", "progress_bar"]


def _is_terminal(file) -> bool:
    isatty = getattr(file, "isatty", None)
    try:
        return bool(isatty()) if isatty is not None else False
    except (ValueError, OSError):  # a closed or detached stream
        return False


class PlainProgress:
    """tqdm's interface (iteration, ``update``, ``set_postfix``, ``n``, ``close``) as plain lines.

    A line ``desc: n/total (p%), elapsed, rate[, postfix]`` is written when ``n`` enters a new
    tenth of ``total`` (``lines_per_total`` tenths), or ``every_s`` seconds after the last line,
    and at ``close`` unless the last line already showed the final ``n``. Never writes a
    carriage return. ``clock`` (seconds) is injectable for tests.
    """

    def __init__(
        self,
        iterable: Iterable | None = None,
        *,
        total: int | None = None,
        initial: int = 0,
        desc: str = "",
        file: IO[str] | None = None,
        every_s: float = 30.0,
        lines_per_total: int = 10,
        clock: Callable[[], float] = time.monotonic,
    ):
        if total is None and iterable is not None and hasattr(iterable, "__len__"):
            total = len(iterable)
        self.iterable = iterable
        self.total = total
        self.n = initial
        self.desc = desc
        self.file = sys.stderr if file is None else file
        self.every_s = every_s
        self.lines_per_total = lines_per_total
        self.postfix = ""
        self._clock = clock
        self._t0 = self._last_t = clock()
        self._n0 = initial
        self._last_n = initial
        self._last_part = self._part(initial)
        self._closed = False

    def _part(self, n: int) -> int:
        """Index of the tenth (of lines_per_total parts) of the total that n lies in."""
        return n * self.lines_per_total // self.total if self.total else 0

    def __iter__(self):
        for item in self.iterable:
            yield item
            self.update(1)

    def __enter__(self) -> PlainProgress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def set_postfix(self, ordered_dict: dict | None = None, refresh: bool = True, **kwargs) -> None:
        items = {**(ordered_dict or {}), **kwargs}
        self.postfix = ", ".join(f"{k}={v}" for k, v in items.items())

    def update(self, k: int = 1) -> None:
        self.n += k
        now = self._clock()
        if self._part(self.n) > self._last_part or now - self._last_t >= self.every_s:
            self._write(now)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            if self.n != self._last_n:
                self._write(self._clock())

    def _write(self, now: float) -> None:
        self._last_t, self._last_n, self._last_part = now, self.n, self._part(self.n)
        elapsed = now - self._t0
        done = f"{self.n}/{self.total} ({100 * self.n / self.total:.0f}%)" if self.total else f"{self.n}"
        parts = [done, f"{tqdm.format_interval(elapsed)} elapsed"]
        if elapsed > 0:
            rate = (self.n - self._n0) / elapsed
            parts.append(f"{rate:.3g} it/s")
            if self.total and rate > 0:
                parts.append(f"{tqdm.format_interval(math.ceil((self.total - self.n) / rate))} left")
        if self.postfix:
            parts.append(self.postfix)
        prefix = f"{self.desc}: " if self.desc else ""
        print(prefix + ", ".join(parts), file=self.file, flush=True)


def progress_bar(
    iterable: Iterable | None = None,
    *,
    total: int | None = None,
    initial: int = 0,
    desc: str = "",
    disable: bool = False,
    file: IO[str] | None = None,
    every_s: float = 30.0,
    clock: Callable[[], float] = time.monotonic,
):
    """A progress report on ``file`` (default stderr): tqdm on a terminal, else PlainProgress.

    Both wrap ``iterable`` when given and support ``update``, ``set_postfix``, ``n`` and
    ``close``; ``disable=True`` gives a silent tqdm.
    """
    file = sys.stderr if file is None else file
    if disable or _is_terminal(file):
        return tqdm(
            iterable, total=total, initial=initial, desc=desc, file=file, disable=disable, dynamic_ncols=True
        )
    return PlainProgress(
        iterable, total=total, initial=initial, desc=desc, file=file, every_s=every_s, clock=clock
    )
