"""Shared test set-up: one BLAS/OpenMP thread, float64 theory, fixed seeds.

One thread because the CI machine has two cores and BLAS oversubscription slowed small-batch
evaluation about 100x (THEORY.md section 11, item 11).
"""

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)


@pytest.fixture
def rng():
    """A seeded numpy generator, fresh per test."""
    return np.random.default_rng(20261129)
