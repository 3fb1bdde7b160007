"""bnlib.lab.estimators: each statistic against a direct computation."""

import numpy as np
import pytest
import torch
from torch import nn

from bnlib.lab.data import Dataset
from bnlib.lab.estimators import (
    bn_layers,
    calibration_statistics,
    exact_statistics,
    precise_statistics,
    stored_statistics,
    to_torch_batchnorm,
    train_and_track,
    with_statistics,
)
from bnlib.lab.models import MLPConfig, build_mlp
from bnlib.lab.training import TrainConfig, train
from bnlib.nn import BatchNorm
from bnlib.running_stats import update_running_stats


def two_bn_model(seed=0):
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(5, 4), BatchNorm(4), nn.Tanh(), nn.Linear(4, 3), BatchNorm(3), nn.Tanh())
    with torch.no_grad():  # non-trivial gamma and beta
        for bn in bn_layers(model):
            bn.weight.uniform_(0.5, 2.0)
            bn.bias.uniform_(-1.0, 1.0)
    return model.double()


def normalise(z, mean, var, bn):
    return (z - mean) / torch.sqrt(var + bn.eps) * bn.weight + bn.bias


def x_data(n=40, seed=1):
    return torch.from_numpy(np.random.default_rng(seed).normal(2.0, 3.0, size=(n, 5)))


@torch.no_grad()
def test_exact_statistics_layer_by_layer():
    model, x = two_bn_model(), x_data()
    (m1, v1), (m2, v2) = exact_statistics(model, x)
    z1 = model[0](x)
    np.testing.assert_allclose(m1, z1.mean(0).numpy(), rtol=1e-12)
    np.testing.assert_allclose(v1, z1.var(0, unbiased=False).numpy(), rtol=1e-12)
    z2 = model[3](torch.tanh(normalise(z1, z1.mean(0), z1.var(0, unbiased=False), model[1])))
    np.testing.assert_allclose(m2, z2.mean(0).numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(v2, z2.var(0, unbiased=False).numpy(), rtol=1e-12)


@torch.no_grad()
@pytest.mark.parametrize("layerwise", [False, True])
def test_calibration_statistics_per_batch(layerwise):
    model, x, m = two_bn_model(), x_data(), 8
    stats = calibration_statistics(model, x, batch_size=m, seed=3, layerwise=layerwise)
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(3))
    batches = [x[order[s : s + m]] for s in range(0, len(x) - m + 1, m)]
    z1 = [model[0](b) for b in batches]
    assert stats[0][0].shape == (len(batches), 4) and stats[1][1].shape == (len(batches), 3)
    np.testing.assert_allclose(stats[0][0], torch.stack([z.mean(0) for z in z1]).numpy(), rtol=1e-12)
    np.testing.assert_allclose(stats[0][1], torch.stack([z.var(0, unbiased=False) for z in z1]).numpy(), rtol=1e-12)
    if layerwise:  # layer 1 in eval mode with its Algorithm-2 estimate
        mean = torch.stack([z.mean(0) for z in z1]).mean(0)
        var = torch.stack([z.var(0, unbiased=False) for z in z1]).mean(0) * m / (m - 1)
        z2 = [model[3](torch.tanh(normalise(z, mean, var, model[1]))) for z in z1]
    else:  # layer 1 with each batch's own statistics
        z2 = [model[3](torch.tanh(normalise(z, z.mean(0), z.var(0, unbiased=False), model[1]))) for z in z1]
    np.testing.assert_allclose(stats[1][0], torch.stack([z.mean(0) for z in z2]).numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(stats[1][1], torch.stack([z.var(0, unbiased=False) for z in z2]).numpy(), rtol=1e-10)


def test_precise_statistics_equal_torch_update_bn():
    model, x = two_bn_model(), x_data(n=43)
    ours = precise_statistics(model, x, batch_size=6, seed=5)
    reference = to_torch_batchnorm(model)
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(5))
    loader = [x[order[s : s + 6]] for s in range(0, len(x) - 6 + 1, 6)]
    torch.optim.swa_utils.update_bn(loader, reference)
    for (mean, var), (t_mean, t_var) in zip(ours, stored_statistics(reference)):
        np.testing.assert_allclose(mean, t_mean, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(var, t_var, rtol=1e-10)


def test_batch_size_checked():
    with pytest.raises(ValueError, match="batch_size must be in"):
        calibration_statistics(two_bn_model(), x_data(), batch_size=1, seed=0)


def test_with_statistics_and_to_torch_batchnorm():
    model, x = two_bn_model(), x_data()
    stats = exact_statistics(model, x)
    fixed = with_statistics(model, stats)
    assert not fixed.training and model.training
    for (mean, var), (s_mean, s_var) in zip(stats, stored_statistics(fixed)):
        np.testing.assert_array_equal(mean, s_mean)
        np.testing.assert_array_equal(var, s_var)
    with pytest.raises(ValueError, match="statistics for 1 BN layers, the model has 2"):
        with_statistics(model, stats[:1])
    torch_model = to_torch_batchnorm(fixed)
    assert [type(b) for b in bn_layers(torch_model)] == [nn.BatchNorm1d, nn.BatchNorm1d]
    with torch.no_grad():
        torch.testing.assert_close(torch_model.eval()(x), fixed(x), rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(torch_model.train()(x), model.train()(x), rtol=1e-10, atol=1e-12)


def small_data(seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(90, 6, generator=g)
    y = (x[:, 0] > 0).long() + (x[:, 1] > 0).long()
    return Dataset(x[:70], y[:70], x[70:], y[70:])


def test_train_and_track_trains_like_train_and_records_every_step():
    data, config = small_data(), TrainConfig(steps=30, lr=0.2, batch_size=10, seed=4)
    net_config = MLPConfig(in_features=6, hidden=(8, 8), out_features=3, norm="bn")
    tracked, reference = build_mlp(net_config, seed=2), build_mlp(net_config, seed=2)
    run = train_and_track(tracked, data, config, every=10)
    train(reference, data, config)
    for p, q in zip(tracked.parameters(), reference.parameters()):
        torch.testing.assert_close(p, q, rtol=0, atol=0)
    for bn, q in zip(bn_layers(tracked), bn_layers(reference)):
        torch.testing.assert_close(bn.running_mean, q.running_mean, rtol=0, atol=0)
    np.testing.assert_array_equal(run.checkpoints, [10, 20, 30])
    assert len(run.exact) == len(run.precise) == 3 and run.batch_means[0].shape == (30, 8)
    last = exact_statistics(tracked, data.x_train)
    for (mean, var), (r_mean, r_var) in zip(last, run.exact[-1]):
        np.testing.assert_allclose(r_mean, mean, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(r_var, var, rtol=1e-12)
    for i, bn in enumerate(bn_layers(tracked)):  # replay the recorded batches through the update
        mean, var, count = np.zeros(8), np.ones(8), 0
        for b_mean, b_var in zip(run.batch_means[i], run.batch_vars[i]):
            mean, var, count = update_running_stats(mean, var, b_mean, b_var, 10, 0.1, count)
        np.testing.assert_allclose(run.torch_running[i][0], mean, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(run.torch_running[i][1], var, rtol=1e-10)
        np.testing.assert_allclose(bn.running_mean.numpy(), mean, rtol=1e-4, atol=1e-6)  # the float32 model
    with pytest.raises(ValueError, match="every must be >= 1"):
        train_and_track(tracked, data, config, every=0)
