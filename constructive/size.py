"""Size estimate of an explicit network before it is built, and the limit that refuses it.

``to_relu_network`` realises every weight as a Python affine form first (``NetworkBuilder``), then as
sparse COO tensors. Its peak memory grows linearly with the parameter count P, which the bounds
formulas give exactly before anything is built (``Choice.params``, ``SignChoice.params``).
"""

from __future__ import annotations

__all__ = ["EXPLICIT_BYTES_PER_PARAM", "MAX_EXPLICIT_BYTES", "explicit_bytes", "check_explicit_size"]

#: Peak memory of ``to_relu_network`` per parameter, in bytes: measured as the growth of the peak
#: resident set size while building Method-SS networks (n = 8 and n = 10 at eps = 1e-2, r = 1:
#: 142 and 138 bytes per parameter; forms and dicts of the builder, then the int64 COO indices and
#: the values), rounded up.
EXPLICIT_BYTES_PER_PARAM = 160

#: Default limit on the estimated peak memory of ``to_relu_network``: 2 GiB, about 13 million
#: parameters and a few minutes of building. Pass ``max_bytes=`` to raise it.
MAX_EXPLICIT_BYTES = 2 * 2**30


def explicit_bytes(params: int) -> int:
    """Estimated peak memory in bytes of building an explicit network with ``params`` parameters."""
    return int(params) * EXPLICIT_BYTES_PER_PARAM


def check_explicit_size(params: int, max_bytes: int | float | None, what: str = "explicit network") -> None:
    """ValueError (with the estimate and the limit) when building ``params`` parameters would need
    more than ``max_bytes`` bytes (None: :data:`MAX_EXPLICIT_BYTES`); nothing is built here."""
    limit = MAX_EXPLICIT_BYTES if max_bytes is None else max_bytes
    if isinstance(limit, bool) or not isinstance(limit, int | float) or not limit > 0:
        raise ValueError(f"max_bytes must be a number > 0, got {max_bytes!r}")
    need = explicit_bytes(params)
    if need > limit:
        source = "the default constructive.MAX_EXPLICIT_BYTES" if max_bytes is None else "given"
        raise ValueError(
            f"the {what} would have {int(params):,} parameters (bounds formula), about {need:.3g} bytes "
            f"({need / 2**30:.3g} GiB at {EXPLICIT_BYTES_PER_PARAM} bytes per parameter) to build, above "
            f"the limit max_bytes = {limit:.3g} ({source}); use the structured forward, a larger eps or "
            "a smaller n, or pass a larger max_bytes"
        )
