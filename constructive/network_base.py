"""The base class of every certified matrix-function network (exp, sign, powers, trigonometric, ...).

Kept apart from :mod:`constructive.exp_nets` so that the networks that subclass it (e.g.
:mod:`constructive.paterson_stockmeyer`) and ``exp_nets.exp_network``, which builds them, do not
import each other.
"""

from __future__ import annotations

import torch
from torch import nn

from .oracle import (
    certify_values,
    check_candidate,
    check_dtype,
    check_input,
    check_tol,
    warn_if_unresolvable,
)
from .relu_network import ReluNetwork
from .size import check_explicit_size

__all__ = ["ExpNetworkBase"]


class ExpNetworkBase(nn.Module):
    """What every certified matrix-function network shares: the checked ``forward``, the cached
    explicit network and the oracle's ``certify``. A subclass sets ``n, r, eps, norm, dtype, choice``
    (by ``_setup``) and implements ``structured`` (batched forward, no checks) and ``_build`` (the
    explicit network). Subclasses: :class:`ExpNetwork` (H, SS), ``PatersonStockmeyerNetwork`` (PS)
    and ``SignNetwork`` (f = sign, which also overrides ``forward`` for its domain check).
    """

    def _setup(self, n: int, r: float, eps, norm: str, dtype: torch.dtype, choice) -> None:
        if norm not in ("fro", "2"):
            raise ValueError(f"norm must be 'fro' or '2', got {norm!r}")
        dtype = check_dtype(dtype)
        self.n, self.r = n, float(r)
        self.eps, self.norm, self.dtype, self.choice = eps, norm, dtype, choice
        self._explicit: ReluNetwork | None = None
        if eps is not None:
            warn_if_unresolvable(n, eps, r, dtype)

    def structured(self, A: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _build(self) -> ReluNetwork:
        raise NotImplementedError

    def forward(self, A) -> torch.Tensor:
        """Phi(A) for A of shape (..., n, n) after the domain checks (DomainError on violation)."""
        return self.structured(check_input(A, self.n, self.r, self.dtype))

    def to_relu_network(self, max_bytes: int | float | None = None) -> ReluNetwork:
        """The explicit network (sparse COO weights): input vec(A) row-major, output vec(Phi(A)).

        Before building, the parameter count of the bounds formulas (``choice.params``) is turned into
        a memory estimate (:mod:`constructive.size`); above ``max_bytes`` (default
        ``MAX_EXPLICIT_BYTES`` = 2 GiB) it raises ValueError with the estimate and builds nothing. A
        network constructed without a ``choice`` is built unchecked."""
        if self._explicit is None:
            params = getattr(self.choice, "params", None)
            if params is not None:
                check_explicit_size(params, max_bytes)
            self._explicit = self._build()
        return self._explicit

    def certify(self, A, candidate, tol: float):
        """ "pass" / "fail" / "undecided" for ``||candidate - f(A)|| <= tol`` (batched; f = exp, or
        sign for the sign network).

        With ``||Phi(A) - f(A)|| <= eps`` guaranteed in the network's norm, "pass" means
        ``||candidate - Phi(A)|| <= tol - eps`` (certainly within tol of f(A)), "fail" means it exceeds
        ``tol + eps`` (certainly not). Returns a str for one matrix, an array of str for a batch.

        ``tol`` must be a finite real > 0 (else ValueError). ``candidate`` must be real (a complex one
        is a ValueError, never cast) with Phi(A)'s shape; a candidate with NaN entries is "fail".
        """
        if self.eps is None:
            raise ValueError("certify needs a network built with a guaranteed eps (use exp_network)")
        tol = check_tol(tol)
        phi = self.forward(A)
        cand = check_candidate(candidate, phi)
        ord_ = "fro" if self.norm == "fro" else 2
        return certify_values(torch.linalg.matrix_norm(cand - phi, ord=ord_), self.eps, tol)
