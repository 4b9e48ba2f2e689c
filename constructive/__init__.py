"""Explicit ReLU networks that approximate exp(A), with exact counts and a certified error.

Each construction has two realisations tested against each other: the structured forward
(batched tensor ops; what users run) and ``to_relu_network()``, the plain stack of affine maps with
ReLU between them that the theorem speaks of; :func:`count` reads depth, width and params off it.
"""

from .builder import Carry, Form, NetworkBuilder
from .exact import ExactCertificate, certify_exact
from .exp_nets import ALL_METHODS, METHODS, ExpNetwork, ExpNetworkBase, exp_network
from .functions import BUILDERS, CHECKERS, network
from .matmul import MatmulNet, matmul_structured
from .oracle import DTYPES, DomainError, PrecisionWarning, eps_floor
from .paterson_stockmeyer import PatersonStockmeyerNetwork
from .product import ProductNet, SquareNet, product_structured
from .relu_network import Counts, ReluNetwork, count
from .sign import SignNetwork, sign_network
from .size import EXPLICIT_BYTES_PER_PARAM, MAX_EXPLICIT_BYTES
from .squaring import SquaringNet, yarotsky_f

__all__ = [
    "DTYPES",
    "EXPLICIT_BYTES_PER_PARAM",
    "MAX_EXPLICIT_BYTES",
    "ALL_METHODS",
    "BUILDERS",
    "CHECKERS",
    "network",
    "METHODS",
    "Carry",
    "Counts",
    "DomainError",
    "ExactCertificate",
    "ExpNetwork",
    "ExpNetworkBase",
    "Form",
    "MatmulNet",
    "NetworkBuilder",
    "PatersonStockmeyerNetwork",
    "PrecisionWarning",
    "ProductNet",
    "ReluNetwork",
    "SignNetwork",
    "SquareNet",
    "SquaringNet",
    "certify_exact",
    "count",
    "eps_floor",
    "exp_network",
    "matmul_structured",
    "product_structured",
    "sign_network",
    "yarotsky_f",
]
