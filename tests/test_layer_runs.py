import numpy as np
import pytest
import torch

import bnlib
from bnlib.lab.layer_runs import Trace, feed


def batches(n=4, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.normal(1.0, 2.0, size=(2, 3, 2, 2)) for _ in range(n)]


def test_torch_and_numpy_layers_give_the_same_trace():
    bs = batches()
    ref = feed(torch.nn.BatchNorm2d(3).double(), bs)
    ours = feed(bnlib.BatchNorm(3), bs)
    assert isinstance(ref, Trace) and ref.outputs.shape == (4, 2, 3, 2, 2) and ref.running_mean.shape == (4, 3)
    assert np.allclose(ours.outputs, ref.outputs, atol=1e-12)
    assert np.allclose(ours.running_mean, ref.running_mean) and np.allclose(ours.running_var, ref.running_var)


def test_running_statistics_are_recorded_after_every_step():
    bs = batches(2)
    trace = feed(torch.nn.BatchNorm2d(3).double(), bs)
    first_mean = 0.1 * bs[0].mean(axis=(0, 2, 3))
    assert np.allclose(trace.running_mean[0], first_mean)
    assert np.allclose(trace.running_mean[1], 0.9 * first_mean + 0.1 * bs[1].mean(axis=(0, 2, 3)))


class ScalarStats:
    def __init__(self):
        self.running_mean, self.running_var = 0.0, 1.0

    def __call__(self, x):
        self.running_mean += 1.0
        return x


def test_a_scalar_statistic_is_broadcast_to_every_channel():
    trace = feed(ScalarStats(), batches(3))
    assert np.array_equal(trace.running_mean, [[1.0] * 3, [2.0] * 3, [3.0] * 3])
    assert np.array_equal(trace.running_var, np.ones((3, 3)))


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="at least one batch"):
        feed(ScalarStats(), [])
    layer = ScalarStats()
    layer.running_var = np.ones(5)
    with pytest.raises(ValueError, match=r"scalar or shape \(3,\)"):
        feed(layer, batches(1))
