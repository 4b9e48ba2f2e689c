"""Data layer: reference matrix functions, input distributions, number encodings.

Three modules, each importing only downward (sampling uses matfuncs; encodings uses only its
MaskedResult):

- ``matfuncs``: batched float64 reference f(A) for exp, sign, sin, cos, log, sqrt, pow<k>.
- ``sampling``: named, seeded input distributions and (A, f(A)) batches with explicit rejection.
- ``encodings``: the P10, P1000, B1999 and FP15 tokenisations of Charton (TMLR 2022).
"""

from experiments.data.encodings import (
    BOS,
    ENCODINGS,
    EOS,
    MAX_DIM,
    PAD,
    Encoding,
    get_encoding,
)
from experiments.data.matfuncs import (
    FUNCTIONS,
    MaskedResult,
    OutOfDomainError,
    check_function_name,
    known_functions,
    matrix_function,
    matrix_function_masked,
)
from experiments.data.sampling import (
    DISTRIBUTION_PARAMS,
    DISTRIBUTIONS,
    Batch,
    MatrixStream,
    SamplerConfig,
    TestSet,
    default_distribution,
    draw_matrices,
    make_test_set,
    sample,
)

__all__ = [
    "BOS",
    "ENCODINGS",
    "EOS",
    "MAX_DIM",
    "PAD",
    "Encoding",
    "get_encoding",
    "DISTRIBUTIONS",
    "DISTRIBUTION_PARAMS",
    "Batch",
    "MatrixStream",
    "SamplerConfig",
    "TestSet",
    "default_distribution",
    "draw_matrices",
    "make_test_set",
    "sample",
    "FUNCTIONS",
    "MaskedResult",
    "OutOfDomainError",
    "check_function_name",
    "known_functions",
    "matrix_function",
    "matrix_function_masked",
]
