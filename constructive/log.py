"""A ReLU network for the principal matrix logarithm: its Taylor series by Horner with Lemma 3 products.

Domain ``{A: ||A - I||_2 <= rho}``, ``0 <= rho < 1``. With ``X = A - I`` and ``c_j = (-1)^(j+1)/j`` the
network computes ``T_K(X) = sum_{j <= K} c_j X^j`` by Horner's scheme in product form
(docs/log_network.md): ``S~_K = c_K X`` is affine (the product with ``c_K I`` is skipped, THEORY.md
pitfall 4); stage t = 1..K-1 forms ``S~_k = Pi(X, c_k I + S~_{k+1})``, k = K - t, a Lemma 3 product with
ranges ``(rho, mu_k)``, reading ``c_k I + S~_{k+1}`` directly (summation merged into the consumer); X is
carried through stages 1..K-2. The output is ``S~_1``. Lemmas L1-L2 bound the error;
``bounds.log.choose_log`` picks K and m.
"""

from __future__ import annotations

import mpmath
import numpy as np
import torch

from .builder import Carry, Form, NetworkBuilder
from .check import CheckResult
from .matmul import matmul_structured, product_stage
from .near_identity import check_near_identity, check_near_identity_network
from .network_base import ExpNetworkBase
from .relu_network import ReluNetwork

__all__ = ["LogNetwork", "log_network", "reference_log", "series_log", "check_log_network"]


def _coefficient(j: int) -> float:
    """c_j = (-1)^(j+1) / j (as ``bounds.log.log_coefficient``; bounds is not imported at module level)."""
    return (-1.0) ** (j + 1) / j


class LogNetwork(ExpNetworkBase):
    """ReLU network approximating the principal log A on ``||A - I||_2 <= rho`` by the Taylor
    polynomial of degree K of log(I + X), X = A - I, evaluated by Horner (Lemma L2).

    Args:
        n: matrix size.
        rho: the domain ``||A - I||_2 <= rho < 1``.
        K: Taylor degree (0: the zero map; 1: the affine map A - I).
        m: layers per Lemma 3 product (K >= 2).
        mu: the product ranges ``(mu_1, ..., mu_{K-1})`` (``bounds.log.LogConstants.mu``).
        eps: the guaranteed error in ``norm`` (optional; ``certify`` needs it).

    ``forward`` checks the domain (DomainError); ``structured`` is the same arithmetic, batched;
    ``to_relu_network`` the explicit network.
    """

    function = "log"

    def __init__(
        self,
        n: int,
        rho: float,
        K: int,
        m: int = 0,
        mu: tuple[float, ...] = (),
        *,
        eps: float | None = None,
        norm: str = "fro",
        dtype: torch.dtype = torch.float64,
        choice=None,
    ):
        super().__init__()
        if n < 1 or not 0 <= rho < 1 or K < 0:
            raise ValueError(f"need n >= 1, 0 <= rho < 1 and K >= 0; got n={n}, rho={rho}, K={K}")
        if K >= 2 and (m < 1 or len(mu) != K - 1 or rho <= 0):
            raise ValueError(f"K = {K} >= 2 needs m >= 1, rho > 0 and ranges mu_1..mu_(K-1), got {len(mu)}")
        self._setup(n, 1.0 + rho, eps, norm, dtype, choice)
        self.rho, self.K = float(rho), int(K)
        self.m = int(m) if K >= 2 else 0
        self.mu = tuple(float(v) for v in mu) if K >= 2 else ()

    def forward(self, A) -> torch.Tensor:
        """Phi(A) for A of shape (..., n, n) with ``||A - I||_2 <= rho`` (DomainError otherwise)."""
        return self.structured(check_near_identity(A, self.n, self.rho, self.dtype))

    def structured(self, A: torch.Tensor) -> torch.Tensor:
        """The network's output for A of shape (..., n, n), by batched tensor ops (no checks)."""
        A = A.to(self.dtype)
        eye = torch.eye(self.n, dtype=A.dtype, device=A.device)
        X = A - eye
        if self.K == 0:
            return torch.zeros_like(A)
        S = _coefficient(self.K) * X
        for k in range(self.K - 1, 0, -1):
            S = matmul_structured(X, _coefficient(k) * eye + S, self.rho, self.mu[k - 1], self.m)
        return S

    def _build(self) -> ReluNetwork:
        n, K = self.n, self.K
        b = NetworkBuilder(n * n)
        X = [[b.input(i * n + j) - float(i == j) for j in range(n)] for i in range(n)]
        if K == 0:
            return b.realise([Form.constant(0.0, 0) for _ in range(n * n)], self.dtype)
        S = [[_coefficient(K) * X[i][j] for j in range(n)] for i in range(n)]
        carries = [[Carry(X[i][j]) for j in range(n)] for i in range(n)] if K >= 3 else None
        for t in range(1, K):  # stage t forms S~_k, k = K - t
            k = K - t
            x = X if t == 1 else [[c.value for c in row] for row in carries]
            y = [[S[i][j] + _coefficient(k) * float(i == j) for j in range(n)] for i in range(n)]
            active = [c for row in carries for c in row] if (carries and t <= K - 2) else []
            S = product_stage(b, x, y, self.rho, self.mu[k - 1], self.m, active)
        return b.realise([f for row in S for f in row], dtype=self.dtype)

    def extra_repr(self) -> str:
        return f"n={self.n}, rho={self.rho:g}, K={self.K}, m={self.m}, eps={self.eps}"


def log_network(
    n: int, eps: float, rho: float, norm: str = "fro", dtype: torch.dtype = torch.float64
) -> LogNetwork:
    """The network ``bounds.log.choose_log(n, eps, rho, norm)`` describes, with its constants.

    Guarantee (docs/log_network.md, Theorem L): ``sup ||Phi(A) - log A|| <= eps`` (principal logarithm)
    over ``||A - I||_2 <= rho``, in exact arithmetic.
    """
    from bounds.log import choose_log  # bounds imports no torch

    c = choose_log(n, eps, rho, norm)
    m = c.m[0] if c.m else 0
    return LogNetwork(n, c.rho, c.K, m, c.constants.mu, eps=eps, norm=norm, dtype=dtype, choice=c)


def reference_log(A: np.ndarray, digits: int = 40) -> np.ndarray:
    """The principal logarithm per matrix of (k, n, n) by ``mpmath.logm`` at ``digits`` digits (not
    scipy.linalg.logm, which can lose accuracy on non-normal inputs)."""
    out = []
    with mpmath.workdps(digits):
        for a in A:
            L = mpmath.logm(mpmath.matrix(a.tolist()))
            out.append(
                np.array([[float(mpmath.re(L[i, j])) for j in range(a.shape[1])] for i in range(a.shape[0])])
            )
    return np.stack(out)


def series_log(A: torch.Tensor, terms: int = 200) -> torch.Tensor:
    """log(I + X), X = A - I, by its Taylor series in torch (differentiable; converges for
    ||A - I||_2 < 1). Used only to steer the adversarial ascent, never as the reference."""
    eye = torch.eye(A.shape[-1], dtype=A.dtype, device=A.device)
    X = A - eye
    S = torch.zeros_like(A)
    for j in range(terms, 0, -1):  # Horner: S = X (c_j I + S)
        S = X @ (_coefficient(j) * eye + S)
    return S


def check_log_network(
    net: LogNetwork,
    count: int = 100,
    seed: int = 0,
    adversarial_starts: int = 4,
    adversarial_steps: int = 20,
) -> CheckResult:
    """Worst error of ``net`` on random, boundary, symmetric, non-normal, structured and adversarial
    inputs of ``||A - I||_2 <= rho`` (``near_identity.check_near_identity_network``), against
    ``mpmath.logm`` at 40 digits."""
    return check_near_identity_network(
        net,
        reference_log,
        series_log,
        "mpmath.logm (40 digits)",
        count=count,
        seed=seed,
        adversarial_starts=adversarial_starts,
        adversarial_steps=adversarial_steps,
    )
