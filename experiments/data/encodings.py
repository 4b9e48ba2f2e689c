"""The four number encodings of Charton, "Linear algebra with transformers" (TMLR 2022).

Token semantics follow the paper and its code (facebookresearch/LAWT, ``src/envs/encoders.py``);
``precision`` is the number of significant digits (LAWT's ``float_precision`` plus one), 3 by
default. A number is rounded to ``precision`` significant digits, to nearest with ties to even on
its exact binary value (what LAWT's ``"%.{p}e"`` formatting does), giving an integer mantissa
``m`` (``10^(p-1) <= m < 10^p``, or 0) and a decimal exponent ``E`` with ``x ~ +-m 10^E``.

- ``P10``: sign token ``+``/``-``, ``p`` base-10 digit tokens ``0``..``9``, exponent token
  ``E-100``..``E100``: ``p + 2`` tokens (5 at p = 3). ``3.14159 -> + 3 1 4 E-2``.
- ``P1000``: sign, the mantissa in base 1000 (one token ``0``..``999`` for p <= 3), exponent:
  ``ceil(p/3) + 2`` tokens (3 at p = 3). ``3.14159 -> + 314 E-2``.
- ``B1999``: one signed mantissa token ``N-999``..``N999``, exponent ``E-100``..``E100``: 2
  tokens. ``-3.14159 -> N-314 E-2``.
- ``FP15``: one token per number, ``N{+-m}e{e}`` meaning ``+-m 10^(e - L)``, ``L = (p - 1 +
  max_exponent) // 2``, with ``0 <= e < max_exponent`` (default 16, so L = 9 and normal values
  span 1e-7 .. 9.99e8); below ``10^(p-1-L)`` the exponent stays at ``e = 0`` and ``m`` loses
  digits (as LAWT's ``N{i}e0`` tokens, ``|i| < 10^(p-1)``). ``3.14159 -> N314e7``.

Departures from LAWT, each forced by a fixed tokens-per-number contract or by clarity:
zero is written with ``p`` zero digits in P10 (``+ 0 0 0 E0``; LAWT writes one ``0``) and with
zero-padded base-1000 digits in P1000 for p > 3; FP15's overflow tokens, LAWT's ``NaN``/``-NaN``,
are named ``OVF``/``-OVF``; FP15 rounds like the others (LAWT's FP15 adds 0.5 and truncates).

Out-of-range values (documented clamping): in P10, P1000, B1999 a magnitude whose exponent
after rounding is below -100 is flushed to +0 (LAWT does the same), one above 100 (and +-inf) is
clamped to ``+-(10^p - 1) 10^100``. In FP15 a magnitude above ``10^L`` (or rounding to
``e >= max_exponent``; +-inf too) becomes ``OVF``/``-OVF``, which decodes to ``+-10^L``. Negative
zero and anything that rounds to zero encode as +0. NaN raises ValueError.

Sequences: a matrix is ``V{rows} V{cols}`` then its entries row by row. Every vocabulary starts
with ``<pad>`` (0), ``<bos>`` (1), ``<eos>`` (2), then ``V1``..``V32``. ``decode`` reads up to the
first ``<eos>`` or ``<pad>`` (one leading ``<bos>`` is skipped) and returns None unless exactly
two dimension tokens and ``rows * cols`` well-formed numbers are there; it never raises.
"""

from __future__ import annotations

import decimal
from typing import Any

import numpy as np
import torch
from torch import Tensor

from experiments.data.matfuncs import MaskedResult

__all__ = [
    "BOS",
    "ENCODINGS",
    "EOS",
    "MAX_DIM",
    "PAD",
    "Encoding",
    "get_encoding",
]

PAD, BOS, EOS = "<pad>", "<bos>", "<eos>"
SPECIALS = (PAD, BOS, EOS)
MAX_DIM = 32
EXP_MIN, EXP_MAX = -100, 100
_DIM_TOKENS = tuple(f"V{i}" for i in range(1, MAX_DIM + 1))
_DIM0 = len(SPECIALS)  # id of "V1"
_EPS = 2.0**-52
# Every float64 is a decimal of at most 767 significant digits, so 1100 digits are exact.
_EXACT = decimal.Context(prec=1100)


def _pow10(k: np.ndarray) -> np.ndarray:
    return np.power(10.0, k.astype(np.float64))


def _round_significant(a: np.ndarray, p: int) -> tuple[np.ndarray, np.ndarray]:
    """Round positive finite ``a`` (1e-200 <= a <= 1e200) to ``p`` significant digits.

    Returns integer ``m`` with ``10^(p-1) <= m < 10^p`` and exponent ``E`` with ``a ~ m 10^E``,
    rounded to nearest, ties to even on the exact value of ``a``: identical to
    ``f"{a:.{p-1}e}"``. The vectorised estimate is exact except within a few ulps of a tie or a
    power of ten; those few entries are redone with Python's correctly rounded formatting.
    """
    e10 = np.floor(np.log10(a)).astype(np.int64)
    k = e10 - (p - 1)
    y = a / _pow10(k)  # in [10^(p-1), 10^p) up to a few ulps
    m = np.rint(y)
    frac = y - np.floor(y)
    window = 64 * _EPS * 10.0**p
    carry = m == 10.0**p
    m = np.where(carry, 10.0 ** (p - 1), m)
    k = k + carry
    redo = (np.abs(frac - 0.5) <= window) | (m < 10.0 ** (p - 1)) | (m >= 10.0**p)
    m = m.astype(np.int64)
    for i in np.flatnonzero(redo):
        digits, exponent = f"{float(a[i]):.{p - 1}e}".split("e")
        m[i] = int(digits.replace(".", ""))
        k[i] = int(exponent) - (p - 1)
    return m, k


def _round_fixed(a: np.ndarray, L: int) -> np.ndarray:
    """``round(a 10^L)`` to nearest, ties to even on the exact value of ``a >= 0``."""
    y = a * 10.0**L
    m = np.rint(y)
    frac = y - np.floor(y)
    redo = np.abs(frac - 0.5) <= 64 * _EPS * np.maximum(y, 1.0)
    m = m.astype(np.int64)
    for i in np.flatnonzero(redo):
        exact = _EXACT.scaleb(decimal.Decimal(float(a[i])), L)  # no rounding at 1100 digits
        m[i] = int(exact.to_integral_value(rounding=decimal.ROUND_HALF_EVEN))
    return m


def _exact_value(m: np.ndarray, E: np.ndarray) -> np.ndarray:
    """``m 10^E`` correctly rounded to float64 (m integer with |m| < 2^53)."""
    mf = m.astype(np.float64)
    out = np.where(E >= 0, mf * _pow10(np.clip(E, 0, 22)), mf / _pow10(np.clip(-E, 0, 22)))
    # 10^E is exact for |E| <= 22 (5^22 < 2^53) and so is m, so one IEEE multiply or divide
    # rounds correctly; beyond that, Python's correctly rounded decimal parser does it.
    for i in np.flatnonzero(np.abs(E) > 22):
        out[i] = float(f"{int(m[i])}e{int(E[i])}")
    return out


class Encoding:
    """Base class: the vocabulary, the fixed-width number codec and the matrix sequences.

    Subclasses define ``_number_ids(x (N,)) -> ids (N, tokens_per_number)`` and
    ``_number_values(ids (N, tokens_per_number)) -> (value (N,), valid (N,))``.
    """

    name: str = ""
    precision: int
    vocab: list[str]
    token_to_id: dict[str, int]
    tokens_per_number: int
    limit: float  # largest magnitude a number can decode to
    pad_id, bos_id, eos_id = 0, 1, 2

    def _set_vocab(self, number_tokens: list[str]) -> None:
        self.vocab = [*SPECIALS, *_DIM_TOKENS, *number_tokens]
        self.token_to_id = {t: i for i, t in enumerate(self.vocab)}
        if len(self.token_to_id) != len(self.vocab):  # pragma: no cover - construction bug
            raise AssertionError("duplicate tokens in vocabulary")

    def __repr__(self) -> str:
        return f"{type(self).__name__}(precision={self.precision}, vocab={len(self.vocab)})"

    def __len__(self) -> int:
        return len(self.vocab)

    # ---- numbers -------------------------------------------------------------------------
    def _prepare(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64).reshape(-1)
        if np.isnan(x).any():
            raise ValueError(f"{self.name} cannot encode NaN")
        return x

    def encode_number(self, x: float) -> list[str]:
        """Tokens of one number (``tokens_per_number`` of them); NaN raises ValueError."""
        ids = self._number_ids(self._prepare(np.array([float(x)])))[0]
        return [self.vocab[i] for i in ids]

    def decode_number(self, tokens) -> float | None:
        """The value of exactly ``tokens_per_number`` tokens, or None if they are not a number."""
        try:
            if len(tokens) != self.tokens_per_number:
                return None
            ids = np.array([[self.token_to_id[t] for t in tokens]], dtype=np.int64)
        except (KeyError, TypeError):
            return None
        value, valid = self._number_values(ids)
        return float(value[0]) if bool(valid[0]) else None

    def number_values(self, ids) -> tuple[np.ndarray, np.ndarray]:
        """Values (N,) and validity (N,) of ``ids`` (N, tokens_per_number): the numbers they spell."""
        ids = np.asarray(ids, dtype=np.int64)
        if ids.ndim != 2 or ids.shape[1] != self.tokens_per_number:
            raise ValueError(f"number ids must have shape (N, {self.tokens_per_number}), got {ids.shape}")
        return self._number_values(np.clip(ids, 0, len(self.vocab) - 1))

    @property
    def number_roles(self) -> tuple[str, ...]:
        """What each of a number's ``tokens_per_number`` tokens carries, in order."""
        raise NotImplementedError  # pragma: no cover - abstract

    def mantissa_token(self) -> tuple[int, np.ndarray] | None:
        """Where one token carries a number's whole (signed) mantissa: its position within the
        number and the table id -> mantissa value (NaN for every other token); None otherwise."""
        return None

    # ---- matrices ------------------------------------------------------------------------
    def sequence_length(self, n_rows: int, n_cols: int) -> int:
        """Tokens in ``encode`` of an n_rows x n_cols matrix: 2 + n_rows n_cols tokens_per_number."""
        return 2 + n_rows * n_cols * self.tokens_per_number

    def _check_shape(self, r: int, c: int) -> None:
        if not (1 <= r <= MAX_DIM and 1 <= c <= MAX_DIM):
            raise ValueError(f"matrix dimensions must be in 1..{MAX_DIM}, got {r} x {c}")

    def encode_batch(self, A) -> Tensor:
        """Ids (B, L) of ``encode`` for each matrix of ``A`` (B, r, c); no BOS/EOS added."""
        if isinstance(A, Tensor):
            A = A.detach().cpu().to(torch.float64).numpy()
        A = np.asarray(A, dtype=np.float64)
        if A.ndim != 3:
            raise ValueError(f"encode_batch expects shape (B, rows, cols), got {A.shape}")
        B, r, c = A.shape
        self._check_shape(r, c)
        numbers = self._number_ids(self._prepare(A))  # (B*r*c, tpn)
        dims = np.broadcast_to(np.array([_DIM0 + r - 1, _DIM0 + c - 1], dtype=np.int64), (B, 2))
        ids = np.concatenate([dims, numbers.reshape(B, r * c * self.tokens_per_number)], axis=1)
        return torch.from_numpy(np.ascontiguousarray(ids))  # (B, 2 + r c tpn)

    def encode(self, M) -> list[str]:
        """Tokens of a 2-D matrix: ``V{rows} V{cols}`` then the entries row by row."""
        if isinstance(M, Tensor):
            M = M.detach().cpu().to(torch.float64).numpy()
        M = np.asarray(M, dtype=np.float64)
        if M.ndim != 2:
            raise ValueError(f"encode expects a 2-D matrix, got shape {M.shape}")
        ids = self.encode_batch(M[None])[0].tolist()
        return [self.vocab[i] for i in ids]

    def decode_batch(self, ids, shape: tuple[int, int]) -> MaskedResult:
        """Matrices from id rows (B, L): ``value`` (B, r, c) float64, NaN where invalid.

        Each row is read up to its first EOS or PAD (one leading BOS skipped); it is valid when
        that prefix is ``V{r} V{c}`` followed by exactly r c well-formed numbers. Never raises on
        the content of ``ids``; raises ValueError on a bad ``shape`` or a non-2-D ``ids``.
        """
        r, c = int(shape[0]), int(shape[1])
        self._check_shape(r, c)
        if isinstance(ids, Tensor):
            ids = ids.detach().cpu().numpy()
        ids = np.asarray(ids)
        if ids.ndim != 2:
            raise ValueError(f"decode_batch expects ids of shape (B, L), got {ids.shape}")
        ids = ids.astype(np.int64)
        B, L = ids.shape
        length = self.sequence_length(r, c)
        value = np.full((B, r, c), np.nan)
        valid = np.zeros(B, dtype=bool)
        if B == 0:
            return MaskedResult(torch.from_numpy(value), torch.from_numpy(valid))
        if L > 0:
            has_bos = ids[:, 0] == self.bos_id
            # Shift rows that start with BOS one place left, padding at the end.
            shifted = np.concatenate([ids[:, 1:], np.full((B, 1), self.pad_id)], axis=1)
            ids = np.where(has_bos[:, None], shifted, ids)
        if L < length:
            return MaskedResult(torch.from_numpy(value), torch.from_numpy(valid))
        stop = (ids == self.eos_id) | (ids == self.pad_id)
        end = np.where(stop.any(axis=1), stop.argmax(axis=1), L)  # (B,) first EOS/PAD
        ok = end == length
        ok &= (ids[:, 0] == _DIM0 + r - 1) & (ids[:, 1] == _DIM0 + c - 1)
        body = ids[:, 2:length].reshape(B * r * c, self.tokens_per_number)  # (B r c, tpn)
        inside = ((body >= 0) & (body < len(self.vocab))).all(axis=1)
        numbers, number_ok = self._number_values(np.where(body >= 0, body, 0) % len(self.vocab))
        number_ok &= inside
        ok &= number_ok.reshape(B, r * c).all(axis=1)
        value[ok] = numbers.reshape(B, r, c)[ok]
        return MaskedResult(torch.from_numpy(value), torch.from_numpy(ok))

    def decode(self, tokens) -> np.ndarray | None:
        """The matrix a token list encodes, or None when malformed. Never raises."""
        if isinstance(tokens, str):
            return None
        try:
            tokens = list(tokens)
            if tokens and isinstance(tokens[0], str) and tokens[0] == BOS:
                tokens = tokens[1:]
            for i, t in enumerate(tokens):
                if isinstance(t, str) and t in (EOS, PAD):
                    tokens = tokens[:i]
                    break
            ids = [self.token_to_id[t] for t in tokens]
        except (KeyError, TypeError):
            return None
        if len(ids) < 2:
            return None
        r, c = ids[0] - _DIM0 + 1, ids[1] - _DIM0 + 1
        if not (1 <= r <= MAX_DIM and 1 <= c <= MAX_DIM):
            return None
        result = self.decode_batch(np.array([ids], dtype=np.int64), (r, c))
        return result.value[0].numpy() if bool(result.valid[0]) else None

    # ---- per encoding ----------------------------------------------------------------------
    def _number_ids(self, x: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def _number_values(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover
        raise NotImplementedError


class _ExponentTokenEncoding(Encoding):
    """Shared rounding for P10, P1000, B1999: mantissa m, exponent token E in [-100, 100]."""

    def _sign_mantissa_exponent(self, x: np.ndarray):
        """(negative, m, E) per number, with LAWT's flush to zero and documented clamping."""
        p = self.precision
        a = np.abs(x)
        m = np.zeros(a.shape, dtype=np.int64)
        E = np.zeros(a.shape, dtype=np.int64)
        huge = a > 1e200  # includes inf: clamped below
        normal = (a >= 1e-200) & ~huge
        if normal.any():
            m[normal], E[normal] = _round_significant(a[normal], p)
        under = normal & (E < EXP_MIN)
        m[under], E[under] = 0, 0
        over = huge | (normal & (E > EXP_MAX))
        m[over], E[over] = 10**p - 1, EXP_MAX
        negative = (x < 0) & (m != 0)
        return negative, m, E

    def _exponent_tokens(self) -> list[str]:
        return [f"E{e}" for e in range(EXP_MIN, EXP_MAX + 1)]


class Positional(_ExponentTokenEncoding):
    """P10 / P1000: sign, mantissa digits in base ``base``, exponent token."""

    def __init__(self, base: int, precision: int = 3) -> None:
        max_precision = {10: 10, 1000: 9}[base]
        if not (1 <= precision <= max_precision):
            raise ValueError(f"P{base} precision must be in 1..{max_precision}, got {precision}")
        self.name = f"P{base}"
        self.base = base
        self.precision = precision
        digits_per_token = 1 if base == 10 else 3
        self.n_digits = -(-precision // digits_per_token)  # mantissa tokens
        self.tokens_per_number = self.n_digits + 2
        self.limit = float((10**precision - 1) * 10.0**EXP_MAX)
        self._set_vocab(["+", "-", *[str(d) for d in range(base)], *self._exponent_tokens()])
        self._sign0 = self.token_to_id["+"]
        self._digit0 = self.token_to_id["0"]
        self._exp0 = self.token_to_id[f"E{EXP_MIN}"]
        V = len(self.vocab)
        ids = np.arange(V)
        # Lookup tables id -> role value (-1: not a token of that role).
        self._sign_of = np.where((ids >= self._sign0) & (ids < self._sign0 + 2), ids - self._sign0, -1)
        self._digit_of = np.where((ids >= self._digit0) & (ids < self._digit0 + base), ids - self._digit0, -1)
        n_exp = EXP_MAX - EXP_MIN + 1
        self._exp_of = np.where((ids >= self._exp0) & (ids < self._exp0 + n_exp), ids - self._exp0, -1)

    @property
    def number_roles(self) -> tuple[str, ...]:
        if self.base == 10:
            digits = tuple(f"digit {i + 1}" for i in range(self.n_digits))
        elif self.n_digits == 1:
            digits = ("mantissa",)
        else:
            digits = tuple(f"mantissa {i + 1}" for i in range(self.n_digits))
        return ("sign", *digits, "exponent")

    def mantissa_token(self) -> tuple[int, np.ndarray] | None:
        if self.n_digits != 1:
            return None
        return 1, np.where(self._digit_of >= 0, self._digit_of, np.nan)

    def _number_ids(self, x: np.ndarray) -> np.ndarray:
        negative, m, E = self._sign_mantissa_exponent(x)
        powers = self.base ** np.arange(self.n_digits - 1, -1, -1, dtype=np.int64)  # (d,)
        digits = (m[:, None] // powers[None, :]) % self.base  # (N, d), most significant first
        return np.concatenate(
            [
                (self._sign0 + negative)[:, None],
                self._digit0 + digits,
                (self._exp0 + E - EXP_MIN)[:, None],
            ],
            axis=1,
        )

    def _number_values(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        sign = self._sign_of[ids[:, 0]]
        digits = self._digit_of[ids[:, 1:-1]]  # (N, d)
        e = self._exp_of[ids[:, -1]]
        valid = (sign >= 0) & (digits >= 0).all(axis=1) & (e >= 0)
        powers = self.base ** np.arange(self.n_digits - 1, -1, -1, dtype=np.int64)
        m = (np.maximum(digits, 0) * powers).sum(axis=1)
        # Non-canonical mantissas (leading zeros, more digits than precision) still decode to
        # the integer they spell; they only arise from a model's output.
        value = _exact_value(m, np.where(valid, e + EXP_MIN, 0))
        value = np.where(sign == 1, -value, value)
        return value, valid


class B1999(_ExponentTokenEncoding):
    """B1999: one signed mantissa token ``N-999``..``N999``, one exponent token."""

    def __init__(self, precision: int = 3) -> None:
        if not (1 <= precision <= 4):
            raise ValueError(f"B1999 precision must be in 1..4, got {precision}")
        self.name = "B1999"
        self.precision = precision
        self.tokens_per_number = 2
        self.limit = float((10**precision - 1) * 10.0**EXP_MAX)
        top = 10**precision - 1
        self._top = top
        self._set_vocab([*[f"N{i}" for i in range(-top, top + 1)], *self._exponent_tokens()])
        self._mant0 = self.token_to_id[f"N{-top}"]
        self._exp0 = self.token_to_id[f"E{EXP_MIN}"]
        ids = np.arange(len(self.vocab))
        n_mant = 2 * top + 1
        self._mant_of = np.where((ids >= self._mant0) & (ids < self._mant0 + n_mant), ids - self._mant0, -1)
        n_exp = EXP_MAX - EXP_MIN + 1
        self._exp_of = np.where((ids >= self._exp0) & (ids < self._exp0 + n_exp), ids - self._exp0, -1)

    number_roles = ("signed mantissa", "exponent")

    def mantissa_token(self) -> tuple[int, np.ndarray] | None:
        return 0, np.where(self._mant_of >= 0, self._mant_of - self._top, np.nan)

    def _number_ids(self, x: np.ndarray) -> np.ndarray:
        negative, m, E = self._sign_mantissa_exponent(x)
        signed = np.where(negative, -m, m)
        return np.stack([self._mant0 + signed + self._top, self._exp0 + E - EXP_MIN], axis=1)

    def _number_values(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mant = self._mant_of[ids[:, 0]]
        e = self._exp_of[ids[:, 1]]
        valid = (mant >= 0) & (e >= 0)
        signed = np.where(valid, mant - self._top, 0)
        value = _exact_value(np.abs(signed), np.where(valid, e + EXP_MIN, 0))
        return np.where(signed < 0, -value, value), valid


class FP15(Encoding):
    """FP15: one token ``N{+-m}e{e}`` per number, value ``+-m 10^(e - L)``, plus ``OVF``/``-OVF``.

    ``L = (precision - 1 + max_exponent) // 2`` and ``0 <= e < max_exponent`` (LAWT
    ``FPSymbol`` with ``"FP15,2,16"`` at the default precision 3). Numbers below the smallest
    normal ``10^(p-1-L)`` keep ``e = 0`` and are rounded to a multiple of ``10^-L``.
    """

    def __init__(self, precision: int = 3, max_exponent: int = 16) -> None:
        if not (1 <= precision <= 3):
            raise ValueError(f"FP15 precision must be in 1..3, got {precision}")
        if not (1 <= max_exponent <= 40):
            raise ValueError(f"FP15 max_exponent must be in 1..40, got {max_exponent}")
        self.name = "FP15"
        self.precision = p = precision
        self.max_exponent = max_exponent
        self.tokens_per_number = 1
        self.L = (p - 1 + max_exponent) // 2
        self.limit = 10.0**self.L
        lo, top = 10 ** (p - 1), 10**p - 1
        self._lo, self._top = lo, top
        self._per_e = top - lo + 1  # mantissas per sign for e >= 1
        tokens = [f"N{i}e0" for i in range(-top, top + 1)]
        for e in range(1, max_exponent):
            tokens += [f"N{m}e{e}" for m in range(lo, top + 1)]
            tokens += [f"N-{m}e{e}" for m in range(lo, top + 1)]
        tokens += ["OVF", "-OVF"]
        self._set_vocab(tokens)
        self._n0 = self.token_to_id[f"N{-top}e0"]
        self._ovf = self.token_to_id["OVF"]
        # id -> value table, exact (each entry is one correctly rounded decimal conversion).
        table = np.full(len(self.vocab), np.nan)
        for i, t in enumerate(self.vocab[self._n0 : self._ovf], start=self._n0):
            mant, e = t[1:].split("e")
            table[i] = float(f"{mant}e{int(e) - self.L}")
        table[self._ovf], table[self._ovf + 1] = self.limit, -self.limit
        self._value_of = table

    number_roles = ("number",)

    def _number_ids(self, x: np.ndarray) -> np.ndarray:
        p, L = self.precision, self.L
        a = np.abs(x)
        m = np.zeros(a.shape, dtype=np.int64)
        e = np.zeros(a.shape, dtype=np.int64)
        overflow = a > self.limit  # includes inf
        normal = (a >= 10.0 ** (p - 1 - L)) & ~overflow
        if normal.any():
            m[normal], E = _round_significant(a[normal], p)
            e[normal] = E + L
        sub = (a > 0) & (a < 10.0 ** (p - 1 - L))
        if sub.any():
            m[sub] = _round_fixed(a[sub], L)  # e stays 0; m = 10^(p-1) is the normal N100e0
        overflow |= e >= self.max_exponent
        negative = (x < 0) & (m != 0)
        signed = np.where(negative, -m, m)
        ids = np.where(
            e == 0,
            self._n0 + signed + self._top,
            self._n0
            + 2 * self._top
            + 1
            + (e - 1) * 2 * self._per_e
            + np.where(negative, self._per_e, 0)
            + (m - self._lo),
        )
        ids = np.where(overflow, self._ovf + (x < 0), ids)
        return ids[:, None]  # (N, 1)

    def _number_values(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        value = self._value_of[ids[:, 0]]
        return value, ~np.isnan(value)


ENCODINGS: tuple[str, ...] = ("P10", "P1000", "B1999", "FP15")
_CACHE: dict[tuple[str, int], Encoding] = {}


def get_encoding(name: str, precision: int = 3) -> Encoding:
    """The encoding registered as ``name`` at ``precision`` significant digits (cached).

    Raises ValueError listing the known names, or naming the allowed precisions.
    """
    if name not in ENCODINGS:
        raise ValueError(f"unknown encoding {name!r}; known: {', '.join(ENCODINGS)}")
    if isinstance(precision, bool) or not isinstance(precision, int):
        raise ValueError(f"precision must be an integer, got {precision!r}")
    key = (name, precision)
    if key not in _CACHE:
        factories: dict[str, Any] = {
            "P10": lambda: Positional(10, precision),
            "P1000": lambda: Positional(1000, precision),
            "B1999": lambda: B1999(precision),
            "FP15": lambda: FP15(precision),
        }
        _CACHE[key] = factories[name]()
    return _CACHE[key]
