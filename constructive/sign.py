"""A ReLU network for the matrix sign function: Newton-Schulz with Lemma 3 products.

Domain ``D(rho, alpha) = {A: ||I - A^2||_2 <= rho, ||A||_2 <= alpha}``, ``0 <= rho < 1``. The
Newton-Schulz iteration ``X_{j+1} = X_j (3I - X_j^2) / 2`` (Higham 2008, Functions of Matrices,
section 5.3, eq. (5.22)) uses only products, so k iterations become 2k product stages
(docs/sign_network.md): per iteration a squaring ``Y~_j = Pi_sq(X~_j)`` (range ``M_j``, X~_j carried
through it) and a product ``X~_{j+1} = Pi(X~_j, W~_j)``, ``W~_j = (3I - Y~_j)/2`` affine in the
squaring's last layer (ranges ``(M_j, N_j)``). Lemmas S1-S2 bound the error; ``bounds.choose_sign``
picks k and m.
"""

from __future__ import annotations

import math

import mpmath
import numpy as np
import scipy.linalg
import torch

from .builder import Carry, NetworkBuilder
from .check import CheckResult, mp_reference, result_from_errors
from .exp_nets import ExpNetworkBase
from .matmul import matmul_structured, product_stage
from .oracle import NORM_SLACK, DomainError, check_dtype, check_input
from .relu_network import ReluNetwork

__all__ = [
    "SignNetwork",
    "sign_network",
    "check_sign_domain",
    "in_sign_domain",
    "sign_domain_samples",
    "reference_sign",
    "check_sign_network",
]


def check_sign_domain(A, n: int, rho: float, alpha: float, dtype: torch.dtype) -> torch.Tensor:
    """A as a tensor (..., n, n), or DomainError: the checks of ``check_input`` with radius alpha,
    then ``||I - A^2||_2 <= rho (1 + NORM_SLACK) + NORM_SLACK`` (computed in floating point)."""
    A = check_input(A, n, alpha, dtype)
    if A.numel():
        eye = torch.eye(n, dtype=A.dtype, device=A.device)
        dev = torch.linalg.matrix_norm(eye - A @ A, ord=2)
        worst = float(dev.max())
        if worst > rho * (1.0 + NORM_SLACK) + NORM_SLACK:
            raise DomainError(
                f"||I - A^2||_2 = {worst:.6g} exceeds rho={rho:g} in {int((dev > rho).sum())} "
                "matrix/matrices; the guarantee holds only where Newton-Schulz provably converges"
            )
    return A


class SignNetwork(ExpNetworkBase):
    """ReLU network approximating sign(A) on ``D(rho, alpha)`` by k Newton-Schulz iterations.

    Args:
        n: matrix size.
        rho, alpha: the domain ``||I - A^2||_2 <= rho < 1``, ``||A||_2 <= alpha``.
        m: layers per product, ``(a_0, b_0, ..., a_{k-1}, b_{k-1})`` (k = len(m) / 2).
        M, N: per iteration j, the entry ranges of X~_j and of W~_j (Lemma S2).
        eps: the guaranteed error in ``norm`` (optional; ``certify`` needs it).

    k = 0 is the identity map ``A -> A`` (depth 0). ``forward`` checks the domain (DomainError);
    ``structured`` is the same arithmetic, batched; ``to_relu_network`` the explicit network.
    """

    function = "sign"

    def __init__(
        self,
        n: int,
        rho: float,
        alpha: float,
        m: tuple[int, ...] = (),
        M: tuple[float, ...] = (),
        N: tuple[float, ...] = (),
        *,
        eps: float | None = None,
        norm: str = "fro",
        dtype: torch.dtype = torch.float64,
        choice=None,
    ):
        super().__init__()
        k, rem = divmod(len(m), 2)
        if n < 1 or not 0 <= rho < 1 or alpha <= 0:
            raise ValueError(f"need n >= 1, 0 <= rho < 1, alpha > 0; got n={n}, rho={rho}, alpha={alpha}")
        if rem or any(v < 1 for v in m):
            raise ValueError(f"m must hold 2k integers >= 1 (a_0, b_0, ..., a_(k-1), b_(k-1)), got {m!r}")
        if len(M) != k or len(N) != k or any(not v > 0 for v in (*M, *N)):
            raise ValueError(f"need k = {k} positive ranges M_j and N_j, got {len(M)} and {len(N)}")
        self._setup(n, alpha, eps, norm, dtype, choice)
        self.rho, self.alpha, self.k = float(rho), float(alpha), k
        self.m = tuple(int(v) for v in m)
        self.M = tuple(float(v) for v in M)
        self.N = tuple(float(v) for v in N)

    def forward(self, A) -> torch.Tensor:
        """Phi(A) for A of shape (..., n, n) in D(rho, alpha) (DomainError otherwise)."""
        return self.structured(check_sign_domain(A, self.n, self.rho, self.alpha, self.dtype))

    def structured(self, A: torch.Tensor) -> torch.Tensor:
        """The network's output for A of shape (..., n, n), by batched tensor ops (no checks)."""
        X = A.to(self.dtype)
        eye = torch.eye(self.n, dtype=X.dtype, device=X.device)
        for j in range(self.k):
            a, b = self.m[2 * j], self.m[2 * j + 1]
            Y = matmul_structured(X, X, self.M[j], self.M[j], a)  # Pi_sq(X~_j)
            X = matmul_structured(X, 1.5 * eye - 0.5 * Y, self.M[j], self.N[j], b)
        return X

    def _build(self) -> ReluNetwork:
        n = self.n
        b = NetworkBuilder(n * n)
        X = [[b.input(i * n + j) for j in range(n)] for i in range(n)]
        for j in range(self.k):
            a, bj = self.m[2 * j], self.m[2 * j + 1]
            carry = [[Carry(X[i][l_]) for l_ in range(n)] for i in range(n)]
            Y = product_stage(b, X, None, self.M[j], self.M[j], a, [c for row in carry for c in row])
            W = [[-0.5 * Y[i][l_] + 1.5 * float(i == l_) for l_ in range(n)] for i in range(n)]
            Xc = [[c.value for c in row] for row in carry]
            X = product_stage(b, Xc, W, self.M[j], self.N[j], bj)
        return b.realise([f for row in X for f in row], dtype=self.dtype)

    def extra_repr(self) -> str:
        return f"n={self.n}, rho={self.rho:g}, alpha={self.alpha:g}, k={self.k}, m={self.m}, eps={self.eps}"


def sign_network(
    n: int,
    eps: float,
    rho: float,
    alpha: float | None = None,
    norm: str = "fro",
    dtype: torch.dtype = torch.float64,
) -> SignNetwork:
    """The network ``bounds.choose_sign(n, eps, rho, alpha, norm)`` describes, with its constants.

    Guarantee (docs/sign_network.md, Theorem S): ``sup ||Phi(A) - sign(A)|| <= eps`` over
    ``||I - A^2||_2 <= rho``, ``||A||_2 <= alpha`` (default sqrt(1 + rho)), in exact arithmetic.
    ``dtype`` must be torch.float64 or torch.float32 (ValueError otherwise, before the rule runs).
    """
    from bounds.sign import choose_sign  # bounds imports no torch

    check_dtype(dtype)  # before the rule runs: refuse at once
    c = choose_sign(n, eps, rho, alpha, norm)
    return SignNetwork(n, c.rho, c.alpha, c.m, c.M, c.N, eps=eps, norm=norm, dtype=dtype, choice=c)


# -- inputs of the domain and the worst-case search --------------------------------------------


def in_sign_domain(A: np.ndarray, rho: float, alpha: float) -> bool:
    """``||I - A^2||_2 <= rho`` and ``||A||_2 <= alpha`` for one matrix, with the relative slack
    ``NORM_SLACK`` of :func:`check_sign_domain` (the norms are computed in float64)."""
    eye = np.eye(A.shape[-1])
    return bool(
        np.linalg.norm(eye - A @ A, 2) <= rho * (1.0 + NORM_SLACK) + NORM_SLACK
        and np.linalg.norm(A, 2) <= alpha * (1.0 + NORM_SLACK)
    )


def _to_boundary(A0: np.ndarray, B: np.ndarray, rho: float, alpha: float, steps: int = 40) -> np.ndarray:
    """The last point of the segment A0 -> B (A0 in the domain) found feasible by bisection:
    B itself if feasible, else a point on the boundary of the domain (to bisection accuracy)."""
    if in_sign_domain(B, rho, alpha):
        return B
    lo, hi = 0.0, 1.0
    for _ in range(steps):
        mid = 0.5 * (lo + hi)
        if in_sign_domain(A0 + mid * (B - A0), rho, alpha):
            lo = mid
        else:
            hi = mid
    return A0 + lo * (B - A0)


def sign_domain_samples(n: int, rho: float, alpha: float, count: int, rng: np.random.Generator) -> dict:
    """Inputs of ``D(rho, alpha)`` by kind, each an array (k, n, n) of float64:

    * ``"symmetric"``: ``Q diag(+-sqrt(1 + rho u)) Q^T`` with u uniform in [-1, 1] (a quarter with
      u = +-1, on the boundary ``||I - A^2||_2 = rho``);
    * ``"nonnormal"``: a non-normal involution ``S_0 = V diag(+-1) V^-1`` (``||S_0||_2 <= alpha``) plus a
      random perturbation, pushed to the boundary of the domain along the segment;
    * ``"structured"``: ``+-sqrt(1 - rho) I`` (slowest Newton-Schulz convergence, where Lemma S1 is
      sharp), ``+-sqrt(1 + rho) I`` (if alpha allows), mixed-sign diagonals at the band edges,
      a scaled rotation with complex spectrum, a Jordan block ``lambda I + c J`` at the boundary, and
      ``+-sqrt(1 - rho) S_0`` with a non-normal involution S_0 of norm alpha / sqrt(1 - rho) (n >= 2),
      where Lemma S1's bound is attained.
    """
    half = count // 2
    lo, hi = math.sqrt(1.0 - rho), math.sqrt(1.0 + rho)
    c = min(1.0, alpha)  # c I and c S_0 (S_0 an involution) lie in the domain: lo <= c <= alpha
    sym = []
    for t in range(half):
        Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
        u = rng.uniform(-1.0, 1.0, n)
        if t < half // 4:
            u = np.sign(u)
        lam = np.sqrt(1.0 + rho * u) * rng.choice([-1.0, 1.0], n)
        A = (Q * lam) @ Q.T
        sym.append(_to_boundary(c * (Q * np.sign(lam)) @ Q.T, A, rho, alpha))
    nonnormal = []
    while len(nonnormal) < count - half:
        D = np.diag(rng.choice([-1.0, 1.0], n))
        G = rng.standard_normal((n, n))
        t = 0.5
        for _ in range(60):
            V = np.eye(n) + t * G / np.linalg.norm(G, 2)
            S0 = c * V @ D @ np.linalg.inv(V)
            if np.linalg.norm(S0, 2) <= alpha:
                break
            t *= 0.5
        E = rng.standard_normal((n, n))
        nonnormal.append(_to_boundary(S0, S0 + 2.0 * E / np.linalg.norm(E, 2), rho, alpha))
    eye = np.eye(n)
    mats = [lo * eye, -lo * eye]
    if hi <= alpha:
        mats += [hi * eye, -hi * eye]
    signs = np.where(np.arange(n) % 2 == 0, 1.0, -1.0)
    mats += [np.diag(signs * lo), np.diag(signs * min(hi, alpha))]
    if n >= 2:
        rot = np.eye(n)
        th = math.asin(0.999 * rho / 2)  # eigenvalues e^{+-i th}: ||I - A^2||_2 = 2 sin(th) < rho
        rot[:2, :2] = [[math.cos(th), -math.sin(th)], [math.sin(th), math.cos(th)]]
        mats.append(_to_boundary(c * eye, rot, rho, alpha))
        # sqrt(1 - rho) S_0 with the non-normal involution S_0 = [[1, t], [0, -1]] of norm
        # alpha / sqrt(1 - rho): sign = S_0 and ||X_j - sign(A)||_2 = g_j exactly (Lemma S1 is sharp).
        s0 = alpha / lo
        t = s0 - 1.0 / s0  # ||[[1, t], [0, -1]]||_2 = (t + sqrt(t^2 + 4)) / 2 = s0
        sharp = lo * np.eye(n)
        sharp[:2, :2] = lo * np.array([[1.0, t], [0.0, -1.0]])
        mats += [sharp, -sharp]
        J = np.diag(np.ones(n - 1), 1)
        mats.append(_to_boundary(c * eye, c * eye + 4.0 * J, rho, alpha))
        mats.append(_to_boundary(-lo * eye, -lo * eye + 4.0 * J, rho, alpha))
    structured = [A for A in mats if in_sign_domain(A, rho, alpha)]
    return {
        "symmetric": np.stack(sym) if sym else np.zeros((0, n, n)),
        "nonnormal": np.stack(nonnormal) if nonnormal else np.zeros((0, n, n)),
        "structured": np.stack(structured),
    }


def reference_sign(A: np.ndarray, digits: int | None = None) -> np.ndarray:
    """sign(A) = A (A^2)^(-1/2) (Higham 2008, eq. (5.2)) per matrix of (k, n, n): in float64 with
    ``scipy.linalg.sqrtm`` (Schur method; digits=None) or in mpmath at ``digits`` digits.

    Not ``scipy.linalg.signm``: it returned +I for A = -sqrt(0.1) I + 1e-12 J (J the nilpotent shift;
    sign(A) = -I), an error of 2 in the max norm, on inputs of this domain with rho = 0.9. The
    sqrtm form agreed with mpmath to 2e-15 on every input of ``sign_domain_samples`` (n <= 3)."""
    if digits is None:
        return np.stack([a @ np.linalg.inv(np.real(scipy.linalg.sqrtm(a @ a))) for a in A])
    return mp_reference(lambda Am: Am * mpmath.inverse(mpmath.sqrtm(Am * Am)), A, digits)


def _sign_errors(net: SignNetwork, A: np.ndarray, digits) -> np.ndarray:
    ord_ = "fro" if net.norm == "fro" else 2
    with torch.no_grad():
        phi = net.structured(torch.from_numpy(A)).numpy()
    return np.linalg.norm(phi - reference_sign(A, digits), ord=ord_, axis=(-2, -1))


def check_sign_network(
    net: SignNetwork,
    count: int = 100,
    seed: int = 0,
    adversarial_starts: int = 4,
    adversarial_steps: int = 15,
) -> CheckResult:
    """Worst error of ``net`` on :func:`sign_domain_samples` and a (1+8) random search from the
    worst inputs, each candidate moved back into the domain along the segment (``_to_boundary``).
    Reference: :func:`reference_sign` (``A sqrtm(A^2)^-1``), mpmath at 40 digits below eps = 1e-9."""
    if net.eps is None:
        raise ValueError("check_sign_network needs a network with a guaranteed eps")
    rng = np.random.default_rng(seed)
    digits = 40 if net.eps < 1e-9 else None
    kinds = sign_domain_samples(net.n, net.rho, net.alpha, count, rng)
    errs = {k: _sign_errors(net, A, digits) for k, A in kinds.items() if len(A)}
    if adversarial_starts > 0:
        pool = np.concatenate([kinds[k] for k in errs])
        pool_err = np.concatenate([errs[k] for k in errs])
        found = []
        for idx in np.argsort(pool_err)[::-1][:adversarial_starts]:
            A, e, step = pool[idx], pool_err[idx], 0.05
            for _ in range(adversarial_steps):
                cands = np.stack(
                    [
                        _to_boundary(A, A + step * rng.standard_normal(A.shape), net.rho, net.alpha)
                        for _ in range(8)
                    ]
                )
                ce = _sign_errors(net, cands, digits)
                if ce.max() > e:
                    A, e, step = cands[int(ce.argmax())], float(ce.max()), step * 1.5
                else:
                    step *= 0.6
            found.append(A)
        kinds["adversarial"] = np.stack(found)
        errs["adversarial"] = _sign_errors(net, kinds["adversarial"], digits)
    return result_from_errors(
        net.eps, kinds, errs, "mpmath (40 digits)" if digits else "A inv(scipy.linalg.sqrtm(A^2))"
    )
