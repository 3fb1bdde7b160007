"""bnlib.nn.BatchRenorm against a float64 oracle written here from Ioffe (2017), Algorithm 1.

The oracle is numpy: r and d from the running estimates before the step, clipped; the backward
is the paper's (r and d constants, so BN's backward through (x - mu_B)/sigma_B, times r); the
running estimates are PyTorch's (unbiased variance).
"""

import math

import numpy as np
import pytest
import torch
from torch import nn

from bnlib.nn import BatchNorm, BatchRenorm

EPS, MOMENTUM = 1e-5, 0.3


def oracle_step(x, dy, gamma, beta, running_mean, running_var, r_max, d_max):
    """One training step of Batch Renorm over every axis but 1. Returns y, dx, dgamma, dbeta, the new
    running mean and variance, and r, d (all float64 numpy)."""
    axes = (0,) + tuple(range(2, x.ndim))
    view = (1, -1) + (1,) * (x.ndim - 2)
    m = x.size // x.shape[1]
    mu = x.mean(axis=axes)
    var = ((x - mu.reshape(view)) ** 2).mean(axis=axes)  # biased sigma_B^2
    sigma_b = np.sqrt(var + EPS)
    sigma = np.sqrt(running_var + EPS)
    r = np.clip(sigma_b / sigma, 1 / r_max, r_max)
    d = np.clip((mu - running_mean) / sigma, -d_max, d_max)
    x_bn = (x - mu.reshape(view)) / sigma_b.reshape(view)
    x_hat = x_bn * r.reshape(view) + d.reshape(view)
    y = gamma.reshape(view) * x_hat + beta.reshape(view)
    g = dy * gamma.reshape(view) * r.reshape(view)  # dL/d x_bn
    dx = (g - g.mean(axis=axes).reshape(view) - x_bn * (g * x_bn).mean(axis=axes).reshape(view)) / sigma_b.reshape(view)
    new_mean = running_mean + MOMENTUM * (mu - running_mean)
    new_var = running_var + MOMENTUM * (var * m / (m - 1) - running_var)
    return y, dx, (dy * x_hat).sum(axis=axes), dy.sum(axis=axes), new_mean, new_var, r, d


@pytest.mark.parametrize("shape", [(16, 3), (4, 3, 5), (3, 3, 4, 2)], ids=str)
def test_renorm_matches_the_oracle_over_steps_with_clipping(shape):
    rng = np.random.default_rng(0)
    r_max, d_max = 1.5, 0.5
    layer = BatchRenorm(3, r_max=r_max, d_max=d_max, eps=EPS, momentum=MOMENTUM).double()
    gamma, beta = rng.uniform(0.5, 1.5, 3), rng.normal(size=3)
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(gamma)), layer.bias.copy_(torch.from_numpy(beta))
    running_mean, running_var = np.zeros(3), np.ones(3)
    clipped_r = clipped_d = free = 0  # channel-steps at a bound of r, of d, and with r strictly inside
    for step in range(6):  # the data drifts: offset 4, spread 3, then closer to the running estimates
        x = rng.normal(4.0 / (1 + step), 3.0 / (1 + 0.5 * step), size=shape)
        dy = rng.normal(size=shape)
        want = oracle_step(x, dy, gamma, beta, running_mean, running_var, r_max, d_max)
        running_mean, running_var, r, d = want[4:]
        clipped_r += int(np.isclose(np.maximum(r, 1 / r), r_max).sum())
        clipped_d += int(np.isclose(np.abs(d), d_max).sum())
        free += int(((r < r_max) & (r > 1 / r_max)).sum())
        layer.zero_grad()
        xt = torch.from_numpy(x).requires_grad_()
        y = layer(xt)
        y.backward(torch.from_numpy(dy))
        for got, expected in zip((y, xt.grad, layer.weight.grad, layer.bias.grad), want[:4]):
            np.testing.assert_allclose(got.detach().numpy(), expected, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(layer.running_mean.numpy(), running_mean, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(layer.running_var.numpy(), running_var, rtol=1e-12)
    assert clipped_r and clipped_d and free > 0, "the data must exercise both clips and the unclipped range"
    layer.eval()  # eval mode is BN's with the running estimates
    x = rng.normal(size=shape)
    view = (1, -1) + (1,) * (len(shape) - 2)
    expected = gamma.reshape(view) * (x - running_mean.reshape(view)) / np.sqrt(running_var.reshape(view) + EPS)
    np.testing.assert_allclose(layer(torch.from_numpy(x)).detach().numpy(), expected + beta.reshape(view), rtol=1e-12)


def test_unclipped_renorm_normalises_with_the_running_estimates():
    """With r and d inside their bounds, x_hat = (x - mu) / sigma: training does what eval mode does."""
    layer = BatchRenorm(2, r_max=math.inf, d_max=math.inf).double()
    mean, var = torch.tensor([1.0, -2.0], dtype=torch.float64), torch.tensor([4.0, 0.25], dtype=torch.float64)
    with torch.no_grad():
        layer.running_mean.copy_(mean), layer.running_var.copy_(var)
    x = torch.randn(8, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(1)) * 3
    expected = (x - mean) / torch.sqrt(var + 1e-5)
    torch.testing.assert_close(layer(x), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("options", [dict(momentum=0.1), dict(momentum=None), dict(affine=False), dict(bias=False)])
def test_r_max_1_and_d_max_0_is_batchnorm_and_matches_torch(options):
    gen = torch.Generator().manual_seed(2)
    renorm = BatchRenorm(3, r_max=1.0, d_max=0.0, **options).double()
    plain, theirs = BatchNorm(3, **options).double(), nn.BatchNorm2d(3, **options).double()
    for _ in range(3):
        x = torch.randn(4, 3, 2, 2, generator=gen, dtype=torch.float64) * 2 + 5
        dy = torch.randn(x.shape, generator=gen, dtype=torch.float64)
        outs = []
        for module in (renorm, plain, theirs):
            module.zero_grad()
            xt = x.clone().requires_grad_()
            y = module(xt)
            y.backward(dy)
            outs.append((y, xt.grad, *(p.grad for p in module.parameters())))
        for ours, other in [(outs[0], outs[1]), (outs[0], outs[2])]:
            for a, b in zip(ours, other, strict=True):
                torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(renorm.state_dict(), theirs.state_dict(), rtol=1e-12, atol=1e-14)


def test_limits_can_change_between_steps_for_the_warm_up():
    x = torch.randn(6, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(3)) * 4 + 3
    renorm, plain = BatchRenorm(2, r_max=1, d_max=0).double(), BatchNorm(2).double()
    torch.testing.assert_close(renorm(x), plain(x))  # step 1 as BN
    renorm.r_max, renorm.d_max = 3, 5  # relaxed, as in the paper's schedule
    assert renorm.r_max == 3.0 and "r_max=3.0, d_max=5.0" in repr(renorm)
    assert not torch.allclose(renorm(x), plain(x))  # now the running estimates correct the batch's


def test_state_dict_loads_into_torch_batchnorm1d_and_back():
    ours = BatchRenorm(4)
    for seed in range(3):
        ours(torch.randn(10, 4, generator=torch.Generator().manual_seed(seed)) * 2 + 1)
    theirs = nn.BatchNorm1d(4)
    theirs.load_state_dict(ours.state_dict())
    back = BatchRenorm(4)
    back.load_state_dict(theirs.state_dict())
    torch.testing.assert_close(back.state_dict(), ours.state_dict())
    x = torch.randn(5, 4, generator=torch.Generator().manual_seed(9))
    torch.testing.assert_close(back.eval()(x), theirs.eval()(x))


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(r_max=0.5), ValueError, r"r_max must be a number >= 1 \(r_max = 1 is plain BN's scale\), got 0.5"),
        (dict(r_max=float("nan")), ValueError, "r_max must be a number >= 1"),
        (dict(d_max=-0.1), ValueError, r"d_max must be a number >= 0 \(d_max = 0 is plain BN's shift\), got -0.1"),
        (dict(r_max="3"), TypeError, "r_max must be a real number >= 1, got '3' of type str"),
        (dict(d_max=True), TypeError, "d_max must be a real number >= 0, got True"),
        (dict(d_max=None), TypeError, "d_max must be a real number >= 0, got None"),
        (dict(track_running_stats=False), ValueError, "BatchRenorm needs track_running_stats=True"),
        (dict(eps=0.0), ValueError, "eps must be a positive finite number"),
    ],
)
def test_bad_arguments_are_named(kwargs, error, message):
    with pytest.raises(error, match=message):
        BatchRenorm(3, **kwargs)


def test_bad_limits_set_later_are_refused_and_the_old_ones_kept():
    layer = BatchRenorm(3, r_max=2.0, d_max=1.0)
    with pytest.raises(ValueError, match="r_max must be a number >= 1"):
        layer.r_max = 0.9
    with pytest.raises(TypeError, match="d_max must be a real number"):
        layer.d_max = "1"
    assert (layer.r_max, layer.d_max) == (2.0, 1.0)
