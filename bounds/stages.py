"""Exact parameter counts of the stages that the function networks chain (THEORY.md section 4).

A stage is one Lemma 3 product ``Pi(X, Y)`` or squaring ``Pi_sq(X)`` of m hidden layers. Its cost
depends on what its inputs read: ``Phi`` = total number of hidden units (or inputs) read by the
n^2 entries of a matrix, ``Phi_d`` the same over its diagonal. The composition rules of THEORY.md
section 4 give, with omega_2 = 6 + 2[m = 1], omega_1 = 3 + [m = 1], Delta = omega_2 - omega_1:

* network input: ``(Phi, Phi_d) = (n^2, n)``; a carried matrix: ``(2n^2, 2n)``;
* product output: ``(n^3 omega_2, n^2 omega_2)``; squaring output: ``(n^3 omega_2 - n Delta,
  n^2 omega_2 - n Delta)`` (a diagonal entry has one one-branch block).

Every helper works on Python integers and on sympy expressions (``bounds._symbols``).
"""

from __future__ import annotations

from ._symbols import iota1, iota2, omega1, omega2

__all__ = [
    "phi_input",
    "phi_carried",
    "phi_product",
    "phi_square",
    "square_first_layer",
    "product_first_layer",
    "square_tail",
    "product_tail",
    "carry_params",
]


def phi_input(n):
    """(Phi, Phi_d) of the network input (one weight per entry; a scale is folded into it)."""
    return n**2, n


def phi_carried(n):
    """(Phi, Phi_d) of a carried matrix: each entry is h+ - h- (THEORY.md section 4, "Carry")."""
    return 2 * n**2, 2 * n


def phi_product(n, m):
    """(Phi, Phi_d) of a product stage's output: each entry reads n omega_2(m) units."""
    return n**3 * omega2(m), n**2 * omega2(m)


def phi_square(n, m):
    """(Phi, Phi_d) of a squaring stage's output: block (i, i, i) is one-branch."""
    delta = omega2(m) - omega1(m)
    return n**3 * omega2(m) - n * delta, n**2 * omega2(m) - n * delta


def square_first_layer(n, phi, identity: bool):
    """Params of the first layer of ``Pi_sq(X)``: ``n^3 - n`` two-branch blocks (8 units reading
    x_il and x_lj, 4 biases -1/2) and n one-branch blocks (4 units reading x_ii, 2 biases).
    ``identity``: X carries the constant I (X = I + ... or 2P - I), which adds a bias to the
    unshifted units of the 2n(n - 1) blocks with i = l xor l = j (4 each) and of the n
    one-branch blocks (2 each)."""
    Phi, Phid = phi
    P = 16 * (n * Phi - Phid) + 4 * (n**3 - n) + 4 * Phid + 2 * n
    if identity:
        P += 8 * n * (n - 1) + 2 * n
    return P


def product_first_layer(n, phi_x, phi_y, bias_blocks=0, shared_diagonal=0):
    """Params of the first layer of ``Pi(X, Y)``: n^3 two-branch blocks, each of 8 units reading
    x_il and y_lj, and 4 biases -1/2. ``bias_blocks``: blocks whose s and d carry a constant
    (4 more biases each); ``shared_diagonal``: units read twice and merged, summed over the
    blocks where x and y read the same units (Y affine in X: blocks (i, i, i), Phi_d of X)."""
    return 8 * n * (phi_x[0] + phi_y[0]) - 8 * shared_diagonal + 4 * n**3 + 4 * bias_blocks


def square_tail(n, m):
    """Params of layers 2..m of a squaring stage."""
    return (n**3 - n) * iota2(m) + n * iota1(m)


def product_tail(n, m):
    """Params of layers 2..m of a product stage."""
    return n**3 * iota2(m)


def carry_params(n, phi, layers):
    """Params of carrying a matrix whose entries read ``phi[0]`` units in total through
    ``layers >= 1`` hidden layers: the first layer reads them (2 units per entry), each later
    layer copies each unit with one weight. No constant is carried (Carry of THEORY.md)."""
    return 2 * phi[0] + 2 * n**2 * (layers - 1)
