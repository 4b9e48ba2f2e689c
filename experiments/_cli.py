"""Exit statuses and the one-line error of ``python -m experiments``, shared by its modules.

Its own module so that ``experiments.__main__`` and the subcommand modules it registers
(``experiments.study_cli``) both import it, instead of importing each other.
"""

from __future__ import annotations

import sys

__all__ = ["EXIT_BAD_INPUT", "EXIT_FAILED", "fail"]

EXIT_BAD_INPUT = 2
EXIT_FAILED = 1


def fail(message: str, status: int = EXIT_BAD_INPUT) -> int:
    """Print ``experiments: error: <message>`` as one line on stderr; return ``status``."""
    first = " ".join(str(message).split())  # one line, whatever the exception text held
    print(f"experiments: error: {first}", file=sys.stderr)
    return status
