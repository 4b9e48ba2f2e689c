"""The result of a choice rule: the integers of a certified network, its counts and constants."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

__all__ = ["Choice", "format_m", "latex_table"]

_METHOD_LATEX = {
    "horner": r"\text{Horner (H)}",
    "scaling_squaring": r"\text{scaling and squaring (SS)}",
    "paterson_stockmeyer": r"\text{Paterson--Stockmeyer (PS)}",
}


def _latex_float(x: float) -> str:
    """3 significant digits in scientific notation, e.g. 9.29 \\cdot 10^{-7}."""
    if x == 0:
        return "0"
    if not math.isfinite(x):
        return r"\infty"
    mantissa, exponent = f"{x:.2e}".split("e")
    exp = int(exponent)
    return mantissa if exp == 0 else rf"{mantissa} \cdot 10^{{{exp}}}"


def format_m(method: str, m: tuple[int, ...]) -> str:
    """Layers per product as THEORY.md section 10.3 writes them: ``13`` (H, PS) or
    ``13/14,13`` (SS: m_0 / m_1..m_s); ``-`` for an affine network."""
    if method == "scaling_squaring":
        if len(m) <= 1:
            return str(m[0]) if m and m[0] else "-"
        return f"{m[0] if m[0] else '-'}/" + ",".join(str(mj) for mj in m[1:])
    return ",".join(str(mj) for mj in m) if m else "-"


@dataclass(frozen=True)
class Choice:
    """A network of THEORY.md chosen by a rule (H: section 5, SS: section 6, PS: section 7).

    Guarantees sup_{||A||_2 <= r} ||Phi(A) - exp(A)|| <= certified_error <= eps in the Frobenius
    norm (``norm="fro"``) or the spectral norm (``norm="2"``), in exact arithmetic.

    Fields: ``K`` Taylor degree; ``s`` number of squarings (0 for H and PS); ``m`` layers per
    product: H and PS ``(m,)`` or ``()`` when K <= 1, SS ``(m_0, m_1, ..., m_s)`` with m_0 = 0
    when K <= 1; ``depth, width, params`` the exact counts; ``r_s = r / 2^s``; ``mu`` the entry
    bounds mu_k, k = 1..K-1, of the Taylor stage (Lemma 4 at radius r_s with m_0); ``M`` the
    entry bounds M_j = nu_{j-1} of squaring j = 1..s (Lemma 5); ``truncation_error`` the Taylor
    truncation term sqrt(n) tau_K(r_s) (tau_K(r_s) for the spectral norm). Extras: ``b0`` the
    Taylor-stage network error bound (Lemma 4), ``nu`` = (nu_0..nu_s) and ``d`` = (d_0..d_s) of
    Lemma 5, ``p`` the PS block size (None otherwise), ``ps_nu`` = (nu_1..nu_p) and
    ``ps_M`` = (M^(1)..M^(q-1)) of Lemma 6. Every constant is a float rounded up from its
    high-precision value (the smallest float >= it), since it is used as an upper bound.
    """

    method: str
    n: int
    eps: float
    r: float
    norm: str
    K: int
    s: int
    m: tuple[int, ...]
    depth: int
    width: int
    params: int
    certified_error: float
    r_s: float
    mu: dict[int, float]
    M: tuple[float, ...]
    truncation_error: float
    b0: float = 0.0
    nu: tuple[float, ...] = ()
    d: tuple[float, ...] = ()
    p: int | None = None
    ps_nu: tuple[float, ...] = ()
    ps_M: tuple[float, ...] = field(default=())

    @property
    def m0(self) -> int:
        """Layers per product of the Taylor stage (0 for an affine Taylor stage)."""
        return self.m[0] if self.m else 0

    @property
    def m_squarings(self) -> tuple[int, ...]:
        """Layers per squaring, (m_1, ..., m_s); empty for H and PS."""
        return self.m[1:] if self.method == "scaling_squaring" else ()

    def to_dict(self) -> dict:
        """JSON-ready dict: method, n, eps, radius, K, s, m (list), depth, width, params,
        certified_error, then norm, r_s, truncation_error, b0, mu (str keys), M, nu, d, p,
        ps_nu, ps_M."""
        return {
            "method": self.method,
            "n": self.n,
            "eps": self.eps,
            "radius": self.r,
            "K": self.K,
            "s": self.s,
            "m": list(self.m),
            "depth": self.depth,
            "width": self.width,
            "params": self.params,
            "certified_error": self.certified_error,
            "norm": self.norm,
            "r_s": self.r_s,
            "truncation_error": self.truncation_error,
            "b0": self.b0,
            "mu": {str(k): v for k, v in self.mu.items()},
            "M": list(self.M),
            "nu": list(self.nu),
            "d": list(self.d),
            "p": self.p,
            "ps_nu": list(self.ps_nu),
            "ps_M": list(self.ps_M),
        }

    def latex_row(self) -> str:
        """One row of :func:`latex_table`."""
        s_or_p = self.s if self.p is None else f"p={self.p}"
        return (
            f"{self.method.replace('_', ' ')} & {self.n} & ${_latex_float(self.eps)}$ & "
            f"{self.r:g} & {self.K} & {s_or_p} & {format_m(self.method, self.m)} & "
            f"{self.depth} & {self.width} & {self.params} & "
            f"${_latex_float(self.certified_error)}$ \\\\"
        )

    def _repr_latex_(self) -> str:
        sub = "F" if self.norm == "fro" else "2"
        error_norm = r"\|\Phi(A)-e^A\|_" + sub
        extra = f",\\ s={self.s}" if self.method == "scaling_squaring" else ""
        if self.p is not None:
            extra = f",\\ p={self.p}"
        return (
            f"${_METHOD_LATEX.get(self.method, self.method)}:\\ n={self.n},\\ "
            f"\\varepsilon={_latex_float(self.eps)},\\ r={self.r:g}\\ \\Rightarrow\\ "
            f"K={self.K}{extra},\\ m={format_m(self.method, self.m)},\\ L={self.depth},\\ "
            f"W={self.width},\\ P={self.params},\\ "
            f"\\sup_{{\\|A\\|_2\\le r}}{error_norm}"
            f"\\le {_latex_float(self.certified_error)}$"
        )


def latex_table(choices) -> str:
    """A LaTeX ``tabular`` with one row per choice (columns as the CLI's plain table)."""
    head = (
        "\\begin{tabular}{lrrrrlrrrrr}\n\\hline\n"
        "method & $n$ & $\\varepsilon$ & $r$ & $K$ & $s$ & $m$ & $L$ & $W$ & $P$ & "
        "certified error \\\\\n\\hline\n"
    )
    body = "\n".join(c.latex_row() for c in choices)
    return head + body + "\n\\hline\n\\end{tabular}"
