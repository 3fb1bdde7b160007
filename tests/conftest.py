"""Fixtures shared by the unit tests."""
import numpy as np
import pytest
import torch


@pytest.fixture
def rng():
    """A seeded numpy generator: every test sees the same data on every run."""
    return np.random.default_rng(1234)


@pytest.fixture(autouse=True, scope="session")
def one_thread():
    """Run torch on one thread, as the notebooks do: small networks train fastest that way."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
