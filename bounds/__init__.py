"""Certified sizes of ReLU networks for exp(A) on {A : ||A||_2 <= r} (THEORY.md).

``bounds`` knows the theorem: exact depth, width and parameter counts of the constructions
(sympy formulas, one function per lemma), the choice rules H, SS and PS decided in
high-precision arithmetic, vectorised grid evaluation and a CLI (``python -m bounds``).
It imports no torch.
"""

from .choice import Choice, format_m, latex_table
from .counts import (
    Counts,
    horner_exp,
    horner_hidden,
    matmul_net,
    matmul_square_net,
    one_branch_square_net,
    paterson_stockmeyer_exp,
    paterson_stockmeyer_exp_closed,
    product_net,
    scaling_squaring_exp,
    scaling_squaring_exp_uniform,
    square_first,
    square_first_from_taylor,
    squaring_net,
)
from .functions import CHOOSERS, choose_for
from .grid import GridChoice, GridCounts, choose_grid, evaluate_counts_grid
from .grid_rules import RuleGrid, rule_grid
from .rules import (
    ALL_METHODS,
    DPS,
    MAX_N,
    MAX_RADIUS,
    MAX_SQUARINGS,
    METHODS,
    NORMS,
    OBJECTIVES,
    HornerConstants,
    PatersonStockmeyerConstants,
    SquaringConstants,
    choose,
    horner_b0_closed_form,
    horner_constants,
    max_squarings,
    paterson_stockmeyer_constants,
    squaring_constants,
    taylor_tail,
)
from .sign import SignChoice, choose_sign, sign_counts

__all__ = [
    "ALL_METHODS",
    "CHOOSERS",
    "choose_for",
    "SignChoice",
    "choose_sign",
    "sign_counts",
    "DPS",
    "MAX_N",
    "MAX_RADIUS",
    "MAX_SQUARINGS",
    "METHODS",
    "NORMS",
    "OBJECTIVES",
    "Choice",
    "Counts",
    "GridChoice",
    "GridCounts",
    "HornerConstants",
    "PatersonStockmeyerConstants",
    "RuleGrid",
    "SquaringConstants",
    "choose",
    "choose_grid",
    "evaluate_counts_grid",
    "format_m",
    "horner_b0_closed_form",
    "horner_constants",
    "horner_exp",
    "horner_hidden",
    "latex_table",
    "matmul_net",
    "matmul_square_net",
    "max_squarings",
    "one_branch_square_net",
    "paterson_stockmeyer_constants",
    "paterson_stockmeyer_exp",
    "paterson_stockmeyer_exp_closed",
    "product_net",
    "rule_grid",
    "scaling_squaring_exp",
    "scaling_squaring_exp_uniform",
    "square_first",
    "square_first_from_taylor",
    "squaring_constants",
    "squaring_net",
    "taylor_tail",
]
