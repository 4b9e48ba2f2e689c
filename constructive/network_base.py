"""The base class of every certified matrix-function network (exp, sign, powers, trigonometric, ...).

Kept apart from :mod:`constructive.exp_nets` so that the networks that subclass it (e.g.
:mod:`constructive.paterson_stockmeyer`) and ``exp_nets.exp_network``, which builds them, do not
import each other.
"""

from __future__ import annotations

import torch
from torch import nn

from .oracle import certify_values, check_input, warn_if_unresolvable
from .relu_network import ReluNetwork

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

    def to_relu_network(self) -> ReluNetwork:
        """The explicit network (sparse COO weights): input vec(A) row-major, output vec(Phi(A))."""
        if self._explicit is None:
            self._explicit = self._build()
        return self._explicit

    def certify(self, A, candidate, tol: float):
        """ "pass" / "fail" / "undecided" for ``||candidate - f(A)|| <= tol`` (batched; f = exp, or
        sign for the sign network).

        With ``||Phi(A) - f(A)|| <= eps`` guaranteed in the network's norm, "pass" means
        ``||candidate - Phi(A)|| <= tol - eps`` (certainly within tol of f(A)), "fail" means it exceeds
        ``tol + eps`` (certainly not). Returns a str for one matrix, an array of str for a batch.
        """
        if self.eps is None:
            raise ValueError("certify needs a network built with a guaranteed eps (use exp_network)")
        if tol <= 0:
            raise ValueError(f"tol must be positive, got {tol}")
        phi = self.forward(A)
        cand = torch.as_tensor(candidate, dtype=self.dtype, device=phi.device)
        if cand.shape != phi.shape:
            raise ValueError(f"candidate has shape {tuple(cand.shape)}, expected {tuple(phi.shape)}")
        ord_ = "fro" if self.norm == "fro" else 2
        return certify_values(torch.linalg.matrix_norm(cand - phi, ord=ord_), self.eps, tol)
