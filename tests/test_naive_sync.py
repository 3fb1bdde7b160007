"""bnlib.lab.naive_sync: lesson 09's bug simulated in one process, against the real one in a gloo group."""

import dataclasses

import numpy as np
import pytest
import torch

from bnlib.lab.data_parallel import DataParallelConfig, simulate, train_worker
from bnlib.lab.naive_sync import SimulatedNaiveSyncBatchNorm
from bnlib.lab.processes import call_each, gloo_available, run_in_processes, sync_bn_step
from bnlib.nn import BatchNorm


def _layer_step(layer, x, dy):
    xt = torch.from_numpy(x).requires_grad_()
    y = layer(xt)
    y.backward(torch.from_numpy(dy))
    return y.detach().numpy(), xt.grad.numpy()


def test_one_chunk_is_plain_batchnorm():
    g = np.random.default_rng(0)
    x, dy = g.normal(3.0, 2.0, size=(12, 4)), g.normal(size=(12, 4))
    y_naive, dx_naive = _layer_step(SimulatedNaiveSyncBatchNorm(4, 1).double(), x, dy)
    y_plain, dx_plain = _layer_step(BatchNorm(4).double(), x, dy)
    np.testing.assert_allclose(y_naive, y_plain, atol=1e-12)
    np.testing.assert_allclose(dx_naive, dx_plain, atol=1e-12)


def test_naive_gradient_formula_and_invariants():
    g = np.random.default_rng(1)
    x, dy = g.normal(size=(8, 3)), g.normal(size=(8, 3))
    layer = SimulatedNaiveSyncBatchNorm(3, 2).double()
    _, dx = _layer_step(layer, x, dy)
    mu, var = x.mean(0), x.var(0)
    r, x_hat = 1 / np.sqrt(var + layer.eps), (x - mu) / np.sqrt(var + layer.eps)
    expected = np.concatenate(
        [r * (dy[k] - dy[k].sum(0) / 8 - x_hat[k] * (dy[k] * x_hat[k]).sum(0) / 8) for k in (slice(0, 4), slice(4, 8))]
    )
    np.testing.assert_allclose(dx, expected, atol=1e-12)
    assert np.abs(dx.sum(0)).max() > 1e-3  # the whole batch's invariant sum dx = 0 is broken


def test_refuses_a_batch_that_does_not_split():
    with pytest.raises(ValueError, match="multiple of 3"):
        SimulatedNaiveSyncBatchNorm(2, 3)(torch.zeros(4, 2))
    with pytest.raises(ValueError, match="needs sync=True"):
        DataParallelConfig(processes=2, sync=False, naive=True)


@pytest.mark.skipif(not gloo_available()[0], reason="no gloo backend")
def test_simulation_equals_real_processes():
    g = np.random.default_rng(2)
    x, dy = g.normal(size=(10, 3)), g.normal(size=(10, 3))
    gamma, beta = g.uniform(0.5, 1.5, 3), g.normal(size=3)
    digits = [g.normal(size=(40, 64)), g.integers(0, 10, 40), g.normal(size=(20, 64)), g.integers(0, 10, 20)]
    config = DataParallelConfig(processes=2, global_batch=8, steps=5, double=True, naive=True)
    real = run_in_processes(
        call_each,
        2,
        [(sync_bn_step, (x, dy, [5, 5], gamma, beta, 0.1, True)), (train_worker, (*digits, config))],
        timeout=300,
    )
    layer = SimulatedNaiveSyncBatchNorm(3, 2).double()
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(gamma)), layer.bias.copy_(torch.from_numpy(beta))
    y, dx = _layer_step(layer, x, dy)
    np.testing.assert_allclose(y, np.concatenate([r[0]["y"] for r in real]), atol=1e-12)
    np.testing.assert_allclose(dx, np.concatenate([r[0]["dx"] for r in real]), atol=1e-12)
    one = simulate(*digits, config)
    for k, v in one["state"].items():
        np.testing.assert_allclose(real[0][1]["state"][k], v, atol=1e-9, err_msg=k)
    assert dataclasses.replace(config, naive=False).naive is False
