"""bnlib.BatchNorm (numpy layer): exact parity with torch.nn.BatchNorm*d in float64, and bad input."""

import numpy as np
import pytest
import torch

from bnlib import BatchNorm

from conftest import BN_OPTIONS, EPS_VALUES, F32, F64, SHAPES, option_id
from reference import torch_reference


def assert_same_step(layer, ref, x, dy):
    """One forward + backward through the numpy layer and the torch reference: all results agree."""
    if ref.affine:
        ref.zero_grad()
    y = layer(x)
    dx = layer.backward(dy)
    xt = torch.tensor(x, requires_grad=True)
    yt = ref(xt)
    yt.backward(torch.tensor(dy))
    np.testing.assert_allclose(y, yt.detach().numpy(), **F64)
    np.testing.assert_allclose(dx, xt.grad.numpy(), **F64)
    for ours, theirs in [(layer.dgamma, ref.weight), (layer.dbeta, ref.bias)]:
        if theirs is None:
            assert ours is None
        else:
            np.testing.assert_allclose(ours, theirs.grad.numpy(), **F64)


@pytest.mark.parametrize("options", BN_OPTIONS, ids=option_id)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("eps", EPS_VALUES)
def test_parity_with_torch_over_training_and_eval(shape, options, eps, rng):
    layer, ref = BatchNorm(shape[1], eps=eps, **options), torch_reference(shape, eps=eps, **options)
    if options["affine"]:  # start from non-trivial gamma, beta in both
        layer.gamma = rng.normal(size=shape[1])
        with torch.no_grad():
            ref.weight.copy_(torch.tensor(layer.gamma))
    if options["affine"] and options["bias"]:
        layer.beta = rng.normal(size=shape[1])
        with torch.no_grad():
            ref.bias.copy_(torch.tensor(layer.beta))
    for step in range(4):
        assert_same_step(layer, ref, rng.normal(1.0, 2.0, size=shape), rng.normal(size=shape))
        if options["track_running_stats"]:
            np.testing.assert_allclose(layer.running_mean, ref.running_mean.numpy(), rtol=1e-12, atol=1e-14)
            np.testing.assert_allclose(layer.running_var, ref.running_var.numpy(), rtol=1e-12)
            assert layer.num_batches_tracked == ref.num_batches_tracked.item() == step + 1
        else:
            assert layer.running_mean is None and layer.running_var is None and layer.num_batches_tracked is None
    layer.eval(), ref.eval()
    assert_same_step(layer, ref, rng.normal(size=shape), rng.normal(size=shape))


def test_eval_leaves_running_statistics_alone(rng):
    layer = BatchNorm(3)
    layer(rng.normal(size=(8, 3)))
    mean, var = layer.running_mean.copy(), layer.running_var.copy()
    layer.eval()(rng.normal(size=(8, 3)))
    np.testing.assert_array_equal(layer.running_mean, mean)
    np.testing.assert_array_equal(layer.running_var, var)


def test_eval_handles_a_single_sample(rng):
    layer = BatchNorm(3).eval()
    x = rng.normal(size=(1, 3))
    np.testing.assert_allclose(layer(x), x / np.sqrt(1 + 1e-5), rtol=1e-15)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_output_dtype_follows_input(dtype, rng):
    layer = BatchNorm(2)
    x = rng.normal(size=(5, 2, 3)).astype(dtype)
    assert layer(x).dtype == dtype
    assert layer.backward(np.ones_like(x)).dtype == dtype
    assert layer.eval()(x).dtype == dtype


def test_train_and_eval_switch_modes():
    layer = BatchNorm(2)
    assert layer.training
    assert layer.eval() is layer and not layer.training
    assert layer.train() is layer and layer.training


# ---- bad input ---------------------------------------------------------------------------------


def test_momentum_edges_keep_or_replace_the_running_statistics(rng):
    x = rng.normal(3.0, 2.0, size=(10, 2))
    frozen, last = BatchNorm(2, momentum=0.0), BatchNorm(2, momentum=1.0)
    frozen(x), last(x)
    np.testing.assert_array_equal(frozen.running_mean, np.zeros(2))
    np.testing.assert_array_equal(frozen.running_var, np.ones(2))
    np.testing.assert_allclose(last.running_mean, x.mean(axis=0), rtol=1e-14)
    np.testing.assert_allclose(last.running_var, x.var(axis=0, ddof=1), rtol=1e-13)


@pytest.mark.parametrize("track", [True, False])
def test_empty_batch_like_torch(track, rng):
    layer = BatchNorm(3, track_running_stats=track)
    layer(rng.normal(size=(4, 3, 2)))
    before = (layer.running_mean, layer.running_var)
    y = layer(np.ones((0, 3, 2)))
    assert y.shape == (0, 3, 2)
    assert layer.backward(np.ones((0, 3, 2))).shape == (0, 3, 2)
    np.testing.assert_array_equal(layer.dgamma, np.zeros(3))
    if track:
        assert layer.running_mean is before[0] and layer.running_var is before[1]
        assert layer.num_batches_tracked == 2  # the empty batch still counts
    assert layer.eval()(np.ones((0, 3, 2))).shape == (0, 3, 2)


def test_float32_parity_with_torch(rng):
    layer, ref = BatchNorm(3), torch.nn.BatchNorm1d(3)
    for _ in range(2):
        x, dy = rng.normal(2.0, 3.0, size=(8, 3, 4)).astype(np.float32), rng.normal(size=(8, 3, 4)).astype(np.float32)
        xt = torch.tensor(x, requires_grad=True)
        yt = ref(xt)
        yt.backward(torch.tensor(dy))
        np.testing.assert_allclose(layer(x), yt.detach().numpy(), **F32)
        np.testing.assert_allclose(layer.backward(dy), xt.grad.numpy(), **F32)
        np.testing.assert_allclose(layer.running_mean, ref.running_mean.numpy(), **F32)
        np.testing.assert_allclose(layer.running_var, ref.running_var.numpy(), **F32)


def test_bias_false_has_gamma_but_no_beta():
    layer = BatchNorm(2, bias=False)
    assert layer.gamma is not None and layer.beta is None
    assert "bias=False" in repr(layer)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(num_features=0), ValueError, "num_features must be an integer >= 1, got 0"),
        (dict(num_features=2.5), TypeError, "num_features must be an integer, got 2.5"),
        (dict(num_features=2, eps=0.0), ValueError, "eps must be a positive finite number, got 0.0"),
        (dict(num_features=2, eps=-1.0), ValueError, "eps must be a positive finite number"),
        (dict(num_features=2, momentum=-0.1), ValueError, r"momentum must be a number in \[0, 1\] or None, got -0.1"),
        (dict(num_features=2, momentum=1.1), ValueError, r"momentum must be a number in \[0, 1\]"),
    ],
)
def test_invalid_hyperparameters(kwargs, error, match):
    with pytest.raises(error, match=match):
        BatchNorm(**kwargs)


def test_integer_input():
    with pytest.raises(TypeError, match="expected a floating-point input"):
        BatchNorm(2)(np.ones((4, 2), dtype=np.int32))


def test_rank_one_input():
    with pytest.raises(ValueError, match=r"got a 1-D input of shape \(4,\)"):
        BatchNorm(2)(np.ones(4))


def test_wrong_channel_count():
    with pytest.raises(ValueError, match=r"expected input with 2 channels.*\(4, 3\)"):
        BatchNorm(2)(np.ones((4, 3)))


@pytest.mark.parametrize("shape", [(1, 2), (1, 2, 1)])
def test_one_value_per_channel_in_training(shape):
    with pytest.raises(ValueError, match="Expected more than 1 value per channel when training"):
        BatchNorm(2)(np.ones(shape))


def test_backward_before_forward():
    with pytest.raises(RuntimeError, match="backward\\(\\) called before a forward pass"):
        BatchNorm(2).backward(np.ones((4, 2)))


@pytest.mark.parametrize("training", [True, False])
def test_dy_of_another_shape(training, rng):
    layer = BatchNorm(2).train(training)
    layer(rng.normal(size=(4, 2)))
    with pytest.raises(ValueError, match=r"dy must have the shape of the forward input \(4, 2\), got \(5, 2\)"):
        layer.backward(np.ones((5, 2)))
