"""P10, P1000, B1999, FP15 against hand-worked tokens and an independent rounding reference.

The reference rounding below uses Python's correctly rounded ``%e`` formatting and exact
``decimal`` arithmetic, one number at a time; the encoders under test are vectorised numpy.
"""

import decimal
import math

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from experiments.data import BOS, ENCODINGS, EOS, MAX_DIM, PAD, get_encoding

# ---- independent reference ------------------------------------------------------------------


def ref_exponent_token_value(x: float, p: int) -> float:
    """x rounded as P10/P1000/B1999 define it: p significant digits, exponent in [-100, 100],
    flush to +0 below, clamp to +-(10^p - 1) 10^100 above."""
    if math.isinf(x):
        return math.copysign(float(f"{10**p - 1}e100"), x)
    if x == 0:
        return 0.0
    mant, exp = f"{abs(x):.{p - 1}e}".split("e")
    m, E = int(mant.replace(".", "")), int(exp) - (p - 1)
    if E < -100:
        return 0.0
    if E > 100:
        m, E = 10**p - 1, 100
    return math.copysign(float(f"{m}e{E}"), x)


def ref_fp15_value(x: float, p: int = 3, max_exponent: int = 16) -> float:
    """x as FP15 defines it: m 10^(e - L), 0 <= e < max_exponent, overflow to +-10^L."""
    L = (p - 1 + max_exponent) // 2
    a = decimal.Decimal(abs(x)) if math.isfinite(x) else decimal.Decimal("Infinity")
    limit = decimal.Decimal(10) ** L
    if a > limit:
        return math.copysign(10.0**L, x)
    if a >= decimal.Decimal(10) ** (p - 1 - L):
        mant, exp = f"{abs(x):.{p - 1}e}".split("e")
        m, E = int(mant.replace(".", "")), int(exp) - (p - 1)
        if E + L >= max_exponent:
            return math.copysign(10.0**L, x)
    else:
        ctx = decimal.Context(prec=1100)
        m = int(ctx.scaleb(a, L).to_integral_value(rounding=decimal.ROUND_HALF_EVEN))
        E = -L
    if m == 0:
        return 0.0
    return math.copysign(float(f"{m}e{E}"), x)


def reference(name: str, x: float, p: int = 3) -> float:
    return ref_fp15_value(x, p) if name == "FP15" else ref_exponent_token_value(x, p)


def same_float(a: float, b: float) -> bool:
    return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)


# ---- registry and vocabularies --------------------------------------------------------------


def test_registry_and_errors():
    assert ENCODINGS == ("P10", "P1000", "B1999", "FP15")
    with pytest.raises(ValueError, match="known: P10, P1000, B1999, FP15"):
        get_encoding("P100")
    with pytest.raises(ValueError, match="precision"):
        get_encoding("FP15", precision=4)
    with pytest.raises(ValueError, match="precision"):
        get_encoding("P10", precision=0)


@pytest.mark.parametrize(
    "name, tokens_per_number, vocab_numbers",
    [
        ("P10", 5, 2 + 10 + 201),
        ("P1000", 3, 2 + 1000 + 201),
        ("B1999", 2, 1999 + 201),
        ("FP15", 1, 1999 + 15 * 2 * 900 + 2),
    ],
)
def test_vocabulary_layout(name, tokens_per_number, vocab_numbers):
    enc = get_encoding(name)
    assert enc.name == name and enc.precision == 3
    assert enc.vocab[:3] == [PAD, BOS, EOS]
    assert (enc.pad_id, enc.bos_id, enc.eos_id) == (0, 1, 2)
    assert enc.vocab[3 : 3 + MAX_DIM] == [f"V{i}" for i in range(1, 33)]
    assert len(enc.vocab) == 3 + MAX_DIM + vocab_numbers
    assert all(enc.token_to_id[t] == i for i, t in enumerate(enc.vocab))
    assert enc.tokens_per_number == tokens_per_number
    assert enc.sequence_length(4, 3) == 2 + 12 * tokens_per_number


# ---- hand-worked tokens (from the definitions in Charton 2022 / LAWT) -------------------------

HAND_WORKED = [
    # P10: sign, three digits, exponent; 3.14159 = 314e-2 after rounding.
    ("P10", 3, 3.14159, ["+", "3", "1", "4", "E-2"]),
    ("P10", 3, -0.000123456, ["-", "1", "2", "3", "E-6"]),
    ("P10", 3, 1234567.0, ["+", "1", "2", "3", "E4"]),
    ("P10", 3, 999.6, ["+", "1", "0", "0", "E1"]),  # rounds up to 1.00e3
    ("P10", 3, 0.0, ["+", "0", "0", "0", "E0"]),
    ("P10", 3, -0.0, ["+", "0", "0", "0", "E0"]),
    ("P10", 3, 1e150, ["+", "9", "9", "9", "E100"]),  # clamped
    ("P10", 3, 1.234e-98, ["+", "1", "2", "3", "E-100"]),  # smallest exponent
    ("P10", 3, 1.234e-99, ["+", "0", "0", "0", "E0"]),  # 123e-101: flushed
    ("P10", 2, 0.125, ["+", "1", "2", "E-2"]),  # tie 12.5 -> even 12
    ("P10", 2, 0.375, ["+", "3", "8", "E-2"]),  # tie 37.5 -> even 38
    ("P1000", 3, -2.5, ["-", "250", "E-2"]),
    ("P1000", 3, 1e-5, ["+", "100", "E-7"]),
    ("P1000", 3, 0.0, ["+", "0", "E0"]),
    ("P1000", 4, 12345.0, ["+", "1", "234", "E1"]),  # tie 1234.5 -> 1234; base-1000 digits
    ("P1000", 4, -0.0, ["+", "0", "0", "E0"]),
    ("B1999", 3, 1234567.0, ["N123", "E4"]),
    ("B1999", 3, -0.5, ["N-500", "E-3"]),
    ("B1999", 3, 0.0, ["N0", "E0"]),
    ("B1999", 3, -math.inf, ["N-999", "E100"]),
    # FP15 at precision 3, max_exponent 16: L = 9, token N{m}e{e} = m 10^(e - 9).
    ("FP15", 3, 3.14159, ["N314e7"]),
    ("FP15", 3, 1.0, ["N100e7"]),
    ("FP15", 3, -123456.0, ["N-123e12"]),
    ("FP15", 3, 5e8, ["N500e15"]),
    ("FP15", 3, 2.5e-8, ["N25e0"]),  # below 1e-7: fixed exponent, fewer digits
    ("FP15", 3, -3e-9, ["N-3e0"]),
    ("FP15", 3, 1e-12, ["N0e0"]),
    ("FP15", 3, 9.996e8, ["OVF"]),  # rounds to 1.00e9, exponent 16 is out of range
    ("FP15", 3, 2e9, ["OVF"]),
    ("FP15", 3, -1e10, ["-OVF"]),
    ("FP15", 3, -0.0, ["N0e0"]),
]


@pytest.mark.parametrize("name, p, x, tokens", HAND_WORKED)
def test_hand_worked_numbers(name, p, x, tokens):
    enc = get_encoding(name, p)
    assert enc.encode_number(x) == tokens
    assert same_float(enc.decode_number(tokens), reference(name, x, p))


def test_hand_worked_matrices():
    M = np.array([[1.0, -2.0], [0.5, 1234.0]])
    assert get_encoding("P1000").encode(M) == (
        ["V2", "V2", "+", "100", "E-2", "-", "200", "E-2", "+", "500", "E-3", "+", "123", "E1"]
    )
    assert get_encoding("B1999").encode(torch.tensor(M)) == (
        ["V2", "V2", "N100", "E-2", "N-200", "E-2", "N500", "E-3", "N123", "E1"]
    )
    col = np.array([[1.0], [2.0], [3.0]])
    assert get_encoding("FP15").encode(col) == ["V3", "V1", "N100e7", "N200e7", "N300e7"]
    np.testing.assert_array_equal(
        get_encoding("P10").decode(["V1", "V2", "+", "1", "2", "3", "E0", "-", "4", "5", "6", "E-3"]),
        [[123.0, -0.456]],
    )


def test_fp15_overflow_tokens_decode_to_the_limit():
    enc = get_encoding("FP15")
    assert enc.decode_number(["OVF"]) == 1e9 and enc.decode_number(["-OVF"]) == -1e9


# ---- round trip -------------------------------------------------------------------------------

decimal_spread = st.builds(
    lambda mant, e: mant * 10.0**e,
    st.floats(-10, 10, allow_nan=False),
    st.integers(-112, 112),
)
exact_ties = st.integers(-(10**7), 10**7).map(lambda k: k / 8)
numbers = st.one_of(
    st.floats(allow_nan=False, allow_infinity=True),
    decimal_spread,
    exact_ties,
    st.sampled_from([0.0, -0.0, 1e-7, 9.995e8, 1e9, 9.995e102, 1e103, 5e-324]),
)


@pytest.mark.parametrize(
    "name, p", [(n, 3) for n in ENCODINGS] + [("P10", 5), ("P1000", 4), ("B1999", 2), ("FP15", 2)]
)
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(x=numbers)
def test_round_trip_equals_reference_rounding(name, p, x):
    enc = get_encoding(name, p)
    tokens = enc.encode_number(x)
    assert len(tokens) == enc.tokens_per_number
    assert all(t in enc.token_to_id for t in tokens)
    assert same_float(enc.decode_number(tokens), reference(name, x, p))


@pytest.mark.parametrize("name", ENCODINGS)
def test_batch_agrees_with_one_by_one(name, rng):
    enc = get_encoding(name)
    # Entries spread over 24 decades, plus exact zeros and ties.
    A = rng.uniform(-1, 1, (40, 3, 4)) * 10.0 ** rng.integers(-12, 12, (40, 3, 4))
    A[0, 0, 0], A[1, 1, 1], A[2, 2, 2] = 0.0, -0.0, 0.125
    ids = enc.encode_batch(torch.from_numpy(A))
    assert ids.dtype == torch.int64 and ids.shape == (40, enc.sequence_length(3, 4))
    for i in range(40):
        assert [enc.vocab[j] for j in ids[i].tolist()] == enc.encode(A[i])
    decoded = enc.decode_batch(ids, (3, 4))
    assert decoded.valid.all()
    expected = np.vectorize(lambda v: reference(name, float(v)))(A)
    assert np.array_equal(decoded.value.numpy(), expected)
    np.testing.assert_array_equal(enc.decode(enc.encode(A[5])), expected[5])


@pytest.mark.parametrize("name", ENCODINGS)
def test_encode_rejects_nan_and_bad_shapes(name):
    enc = get_encoding(name)
    with pytest.raises(ValueError, match="NaN"):
        enc.encode(np.array([[1.0, math.nan]]))
    with pytest.raises(ValueError, match="2-D"):
        enc.encode(np.zeros((2, 2, 2)))
    with pytest.raises(ValueError, match="1..32"):
        enc.encode(np.zeros((33, 1)))
    with pytest.raises(ValueError, match=r"\(B, rows, cols\)"):
        enc.encode_batch(torch.zeros(2, 2))


# ---- sequences: BOS/EOS/PAD and malformed input ----------------------------------------------


@pytest.mark.parametrize("name", ENCODINGS)
def test_decode_batch_reads_up_to_eos_or_pad(name):
    enc = get_encoding(name)
    M = np.array([[1.5, -2.0], [0.0, 7.0]])
    body = enc.encode_batch(torch.from_numpy(M[None]))[0].tolist()
    number = body[2 : 2 + enc.tokens_per_number]
    rows = [
        [enc.bos_id, *body, enc.eos_id, enc.pad_id],  # valid
        [*body, enc.eos_id, *number],  # valid: anything after EOS is ignored
        [*body, enc.pad_id, enc.pad_id],  # valid: PAD terminates too
        [*body, *number, enc.eos_id],  # trailing number before EOS: invalid
        [*body[:-1], enc.eos_id, enc.pad_id],  # truncated: invalid
        [body[1], body[0], *body[2:], enc.eos_id],  # 2 x 2 dims fine, swap is a no-op
        [enc.token_to_id["V3"], *body[1:], enc.eos_id],  # wrong row count: invalid
        [enc.bos_id, enc.bos_id, *body[:-1]],  # second BOS is not a number: invalid
    ]
    width = max(map(len, rows))
    ids = torch.tensor([r + [enc.pad_id] * (width - len(r)) for r in rows])
    result = enc.decode_batch(ids, (2, 2))
    assert result.valid.tolist() == [True, True, True, False, False, True, False, False]
    assert torch.isnan(result.value[~result.valid]).all()
    expected = torch.tensor([[1.5, -2.0], [0.0, 7.0]], dtype=torch.float64)
    assert torch.equal(result.value[0], expected)
    # Sequences shorter than the expected length are invalid, not an error.
    assert not enc.decode_batch(ids[:, :5], (2, 2)).valid.any()


@pytest.mark.parametrize("name", ENCODINGS)
def test_decode_returns_none_on_malformed_lists(name):
    enc = get_encoding(name)
    good = enc.encode(np.array([[1.0, 2.0]]))
    assert enc.decode([BOS, *good, EOS, "junk"]) is not None
    for bad in (
        [],
        ["V1"],
        good[:-1],
        [*good, good[-1]],
        ["V0", *good[1:]],
        ["V2", *good[1:]],
        [*good[:2], "nonsense", *good[3:]],
        None,
        "V1V2",
        [1, 2, 3],
        [["V1"]],
    ):
        assert enc.decode(bad) is None
    assert enc.decode_number(["+"]) is None
    assert enc.decode_number(None) is None


def vocab_token(enc):
    return st.integers(0, len(enc.vocab) - 1).map(enc.vocab.__getitem__)


def token_lists(enc):
    junk = st.text(max_size=4)
    token = st.one_of(vocab_token(enc), st.sampled_from([PAD, BOS, EOS, "V1", "V2"]), junk)
    return st.lists(token, max_size=40)


def mutated_encodings(enc):
    """Random lists, and a valid encoding truncated, extended, or with its dims replaced."""
    good = enc.encode(np.arange(6, dtype=float).reshape(2, 3) - 2.5)
    return st.one_of(
        token_lists(enc),
        st.integers(0, len(good)).map(lambda k: good[:k]),
        token_lists(enc).map(lambda extra: good + extra),
        st.tuples(vocab_token(enc), vocab_token(enc)).map(lambda d: list(d) + good[2:]),
    )


MUTATED = {name: mutated_encodings(get_encoding(name)) for name in ENCODINGS}


@pytest.mark.parametrize("name", ENCODINGS)
@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_decode_never_raises(name, data):
    enc = get_encoding(name)
    result = enc.decode(data.draw(MUTATED[name]))
    assert result is None or (
        isinstance(result, np.ndarray) and result.ndim == 2 and np.isfinite(result).all()
    )


@pytest.mark.parametrize("name", ENCODINGS)
@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_decode_batch_never_raises_and_agrees_with_decode(name, data):
    enc = get_encoding(name)
    B = data.draw(st.integers(1, 4))
    L = data.draw(st.integers(0, 12))
    shape = data.draw(st.tuples(st.integers(1, 2), st.integers(1, 2)))
    ids = np.array(
        data.draw(st.lists(st.integers(-3, len(enc.vocab) + 3), min_size=B * L, max_size=B * L)),
        dtype=np.int64,
    ).reshape(B, L)
    result = enc.decode_batch(torch.from_numpy(ids), shape)
    assert result.value.shape == (B, *shape) and result.valid.shape == (B,)
    for row, ok, value in zip(ids, result.valid, result.value, strict=True):
        if ok:
            tokens = [enc.vocab[i] for i in row]
            np.testing.assert_array_equal(enc.decode(tokens), value.numpy())
