"""One entry for every matrix function: ``network(function, n, eps, **domain)``.

``BUILDERS`` maps a function's name to a callable ``(n, eps, **domain, dtype=...) -> nn.Module``
that builds the network ``bounds.choose_for(function, n, eps, **domain)`` describes, with the oracle
API of :class:`~constructive.exp_nets.ExpNetworkBase` (``forward`` with domain checks,
``structured``, ``to_relu_network``, ``certify``; ``count(net.to_relu_network())`` equals the
choice's counts). ``CHECKERS`` maps the name to the worst-case error search
``(net, count, seed) -> CheckResult``. A new function is a new module plus one line in each.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

import torch

from .check import CheckResult, check_network
from .exp_nets import exp_network
from .inverse import check_inverse_network, inverse_network
from .log import check_log_network, log_network
from .power import check_power_network, power_network
from .sign import check_sign_network, sign_network
from .sine import check_sine_network, sine_network
from .sqrt import check_sqrt_network, sqrt_network
from .trig import check_trig_network, trig_network

__all__ = ["BUILDERS", "CHECKERS", "network", "check"]


def _build_exp(n, eps, r, method="scaling_squaring", norm="fro", dtype=torch.float64):
    return exp_network(n, eps, r, method=method, norm=norm, dtype=dtype)


def _build_sign(n, eps, rho, alpha=None, norm="fro", dtype=torch.float64):
    return sign_network(n, eps, rho, alpha, norm=norm, dtype=dtype)


def _build_pow(n, eps, r, k, norm="fro", dtype=torch.float64):
    return power_network(n, eps, r, k, norm=norm, dtype=dtype)


def _build_cos(n, eps, r, norm="fro", dtype=torch.float64):
    return trig_network("cos", n, eps, r, norm=norm, dtype=dtype)


def _build_cosh(n, eps, r, norm="fro", dtype=torch.float64):
    return trig_network("cosh", n, eps, r, norm=norm, dtype=dtype)


def _build_sin(n, eps, r, norm="fro", dtype=torch.float64):
    return sine_network("sin", n, eps, r, norm=norm, dtype=dtype)


def _build_sinh(n, eps, r, norm="fro", dtype=torch.float64):
    return sine_network("sinh", n, eps, r, norm=norm, dtype=dtype)


def _build_inverse(n, eps, rho, norm="fro", dtype=torch.float64):
    return inverse_network(n, eps, rho, norm=norm, dtype=dtype)


def _build_sqrt(n, eps, rho, norm="fro", dtype=torch.float64):
    return sqrt_network(n, eps, rho, norm=norm, dtype=dtype)


def _build_log(n, eps, rho, norm="fro", dtype=torch.float64):
    return log_network(n, eps, rho, norm=norm, dtype=dtype)


#: function name -> builder ``(n, eps, **domain, dtype=torch.float64) -> nn.Module``.
BUILDERS: dict[str, Callable[..., torch.nn.Module]] = {
    "exp": _build_exp,
    "inverse": _build_inverse,
    "sqrt": _build_sqrt,
    "log": _build_log,
    "sign": _build_sign,
    "pow": _build_pow,
    "cos": _build_cos,
    "cosh": _build_cosh,
    "sin": _build_sin,
    "sinh": _build_sinh,
}

#: function name -> worst-case search ``(net, count, seed) -> CheckResult``.
CHECKERS: dict[str, Callable[..., CheckResult]] = {
    "exp": lambda net, count=200, seed=0: check_network(net, count=count, seed=seed),
    "sign": lambda net, count=100, seed=0: check_sign_network(net, count=count, seed=seed),
    "inverse": lambda net, count=100, seed=0: check_inverse_network(net, count=count, seed=seed),
    "sqrt": lambda net, count=100, seed=0: check_sqrt_network(net, count=count, seed=seed),
    "log": lambda net, count=100, seed=0: check_log_network(net, count=count, seed=seed),
    "pow": lambda net, count=200, seed=0: check_power_network(net, count=count, seed=seed),
    "cos": lambda net, count=200, seed=0: check_trig_network(net, count=count, seed=seed),
    "cosh": lambda net, count=200, seed=0: check_trig_network(net, count=count, seed=seed),
    "sin": lambda net, count=200, seed=0: check_sine_network(net, count=count, seed=seed),
    "sinh": lambda net, count=200, seed=0: check_sine_network(net, count=count, seed=seed),
}


def network(
    function: str, n: int, eps: float, dtype: torch.dtype = torch.float64, **domain
) -> torch.nn.Module:
    """The certified ReLU network for ``function`` (``bounds.choose_for`` picks its integers).

    Guarantee: ``sup_{A in domain} ||Phi(A) - f(A)|| <= eps`` in exact arithmetic (the lemma is
    named by each builder's network class). Raises ValueError for an unknown function or domain.
    """
    if not isinstance(function, str) or function not in BUILDERS:
        raise ValueError(f"unknown function {function!r}; known: {', '.join(sorted(BUILDERS))}")
    builder = BUILDERS[function]
    try:
        inspect.signature(builder).bind(n, eps, dtype=dtype, **domain)
    except TypeError as exc:
        raise ValueError(f"{function}: {exc}") from None
    return builder(n, eps, dtype=dtype, **domain)


def check(net, count: int = 200, seed: int = 0) -> CheckResult:
    """Worst error of ``net`` (its ``function`` attribute, "exp" if absent) by ``CHECKERS``."""
    function = getattr(net, "function", "exp").split(":")[0]  # "pow:k" -> "pow"
    if function not in CHECKERS:
        raise ValueError(f"no worst-case search for {function!r}; known: {', '.join(sorted(CHECKERS))}")
    return CHECKERS[function](net, count=count, seed=seed)
