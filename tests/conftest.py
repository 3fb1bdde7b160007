"""Fixtures shared by the unit tests."""
import numpy as np
import pytest


@pytest.fixture
def rng():
    """A seeded numpy generator: every test sees the same data on every run."""
    return np.random.default_rng(1234)
