import numpy as np
import pytest

from bnlib.lab.timing import interleaved_times, median_speedups


class FakeClock:
    """Advances by the cost of whatever ran since the last reading."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_times_are_per_call_and_interleaved():
    clock, order = FakeClock(), []

    def make(name, cost):
        def f():
            order.append(name)
            clock.now += cost

        return f

    times = interleaved_times({"slow": make("slow", 3.0), "fast": make("fast", 1.0)}, rounds=4, calls=2, clock=clock)
    assert set(times) == {"slow", "fast"} and times["slow"].shape == (4,)
    assert np.allclose(times["slow"], 3.0) and np.allclose(times["fast"], 1.0)
    assert order == ["slow", "slow", "fast", "fast"] * 4  # every round times both


def test_median_ignores_a_slow_round():
    times = {"base": np.array([2.0, 2.0, 50.0]), "new": np.array([1.0, 1.0, 1.0])}
    speed = median_speedups(times, "base")
    assert speed == {"base": 1.0, "new": 2.0}


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="at least one candidate"):
        interleaved_times({})
    with pytest.raises(ValueError, match="at least 1"):
        interleaved_times({"a": lambda: None}, rounds=0)
    with pytest.raises(KeyError, match="baseline"):
        median_speedups({"a": np.ones(2)}, "b")
