"""One entry for every matrix function: ``choose_for(function, n, eps, **domain)``.

``CHOOSERS`` maps a function's name to its choice rule, a callable ``(n, eps, **domain)`` that
returns a frozen choice with at least ``depth``, ``width``, ``params`` and ``certified_error``
(and the construction's constants). A new function is a new module plus one line here
(DESIGN.md, "Where the package goes next"); ``constructive.functions.BUILDERS`` is its twin.

Domains (keyword arguments):

* ``exp`` (THEORY.md, Methods H/SS/PS): ``r`` (``||A||_2 <= r``), ``method``, ``norm``, ``s``, ``p``,
  ``objective`` as in :func:`bounds.choose`.
* ``sign`` (docs/sign_network.md, Rule S): ``rho`` (``||I - A^2||_2 <= rho``), ``alpha``, ``norm``.
* ``inverse``, ``sqrt`` (docs/inverse_network.md, docs/sqrt_network.md): ``rho``
  (``||I - A||_2 <= rho``), ``norm``.
* ``log`` (docs/log_network.md, Rule L): ``rho`` (``||A - I||_2 <= rho``), ``norm``.
* ``pow`` (docs/power_network.md, Rule P): ``r``, ``k`` (the power, >= 2), ``norm``.
* ``cos``, ``cosh`` (docs/trig_network.md, Rule T): ``r``, ``norm``, ``s`` (double angles).
* ``sin``, ``sinh`` (docs/sin_network.md, Rule N): ``r``, ``norm``, ``s`` (double angles).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

from .inverse import choose_inverse
from .log import choose_log
from .power import choose_power
from .rules import choose
from .sign import choose_sign
from .sine import choose_sine
from .sqrt import choose_sqrt
from .trig import choose_trig

__all__ = ["CHOOSERS", "choose_for", "domain_parameters"]


def _choose_exp(n, eps, r, method="scaling_squaring", norm="fro", **options):
    """exp on ``||A||_2 <= r``: :func:`bounds.choose` (THEORY.md section 8)."""
    return choose(n, eps, r, method, norm, **options)


def _choose_sign(n, eps, rho, alpha=None, norm="fro"):
    """sign on ``||I - A^2||_2 <= rho, ||A||_2 <= alpha``: :func:`bounds.sign.choose_sign`."""
    return choose_sign(n, eps, rho, alpha, norm)


def _choose_pow(n, eps, r, k, norm="fro"):
    """A^k (k >= 2) on ``||A||_2 <= r``: :func:`bounds.power.choose_power` (docs/power_network.md)."""
    return choose_power(n, eps, r, k, norm)


def _choose_cos(n, eps, r, norm="fro", s=None):
    """cos on ``||A||_2 <= r``: :func:`bounds.trig.choose_trig` (docs/trig_network.md, Rule T)."""
    return choose_trig("cos", n, eps, r, norm, s=s)


def _choose_cosh(n, eps, r, norm="fro", s=None):
    """cosh on ``||A||_2 <= r``: :func:`bounds.trig.choose_trig` (docs/trig_network.md, Rule T)."""
    return choose_trig("cosh", n, eps, r, norm, s=s)


def _choose_sin(n, eps, r, norm="fro", s=None):
    """sin on ``||A||_2 <= r``: :func:`bounds.sine.choose_sine` (docs/sin_network.md, Rule N)."""
    return choose_sine("sin", n, eps, r, norm, s=s)


def _choose_sinh(n, eps, r, norm="fro", s=None):
    """sinh on ``||A||_2 <= r``: :func:`bounds.sine.choose_sine` (docs/sin_network.md, Rule N)."""
    return choose_sine("sinh", n, eps, r, norm, s=s)


def _choose_inverse(n, eps, rho, norm="fro"):
    """A^-1 on ``||I - A||_2 <= rho``: :func:`bounds.inverse.choose_inverse` (docs/inverse_network.md)."""
    return choose_inverse(n, eps, rho, norm)


def _choose_sqrt(n, eps, rho, norm="fro"):
    """A^(1/2) on ``||I - A||_2 <= rho``: :func:`bounds.sqrt.choose_sqrt` (docs/sqrt_network.md)."""
    return choose_sqrt(n, eps, rho, norm)


def _choose_log(n, eps, rho, norm="fro"):
    """log A on ``||A - I||_2 <= rho``: :func:`bounds.log.choose_log` (docs/log_network.md, Rule L)."""
    return choose_log(n, eps, rho, norm)


#: function name -> choice rule ``(n, eps, **domain) -> frozen choice``.
CHOOSERS: dict[str, Callable[..., object]] = {
    "exp": _choose_exp,
    "inverse": _choose_inverse,
    "sqrt": _choose_sqrt,
    "log": _choose_log,
    "sign": _choose_sign,
    "pow": _choose_pow,
    "cos": _choose_cos,
    "cosh": _choose_cosh,
    "sin": _choose_sin,
    "sinh": _choose_sinh,
}


def domain_parameters(function: str) -> tuple[str, ...]:
    """The keyword names ``choose_for(function, ...)`` accepts besides n and eps."""
    chooser = _chooser(function)
    params = list(inspect.signature(chooser).parameters.values())[2:]
    return tuple(p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY))


def _chooser(function: str):
    if not isinstance(function, str) or function not in CHOOSERS:
        raise ValueError(f"unknown function {function!r}; known: {', '.join(sorted(CHOOSERS))}")
    return CHOOSERS[function]


def choose_for(function: str, n: int, eps: float, **domain):
    """The certified network the rule of ``function`` picks for matrix size n and tolerance eps.

    Guarantee: ``sup_{A in domain} ||Phi(A) - f(A)|| <= certified_error <= eps`` in exact
    arithmetic, for the network whose exact ``depth``, ``width`` and ``params`` the choice holds
    (the lemma is named in the docstring of each rule in ``CHOOSERS``).

    Raises:
        ValueError: unknown function, a domain keyword the function does not take or lacks,
            or any value the rule rejects (n, eps, radius, ...).
    """
    chooser = _chooser(function)
    try:
        inspect.signature(chooser).bind(n, eps, **domain)
    except TypeError as exc:
        raise ValueError(
            f"{function}: {exc}; domain keywords: {', '.join(domain_parameters(function))}"
        ) from None
    return chooser(n, eps, **domain)
