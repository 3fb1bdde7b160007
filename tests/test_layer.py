"""bnlib.BatchNorm (numpy layer): exact parity with torch.nn.BatchNorm*d in float64, and bad input."""
import itertools

import numpy as np
import pytest
import torch

from bnlib import BatchNorm
from reference import SHAPES, torch_reference

OPTIONS = [dict(momentum=mo, affine=af, track_running_stats=tr)
           for mo, af, tr in itertools.product([0.1, 0.5, None], [True, False], [True, False])]


def option_id(o):
    return f"momentum={o['momentum']}-affine={o['affine']}-track={o['track_running_stats']}"


def assert_same_step(layer, ref, x, dy):
    """One forward + backward through the numpy layer and the torch reference: all results agree."""
    if ref.affine:
        ref.zero_grad()
    y = layer(x)
    dx = layer.backward(dy)
    xt = torch.tensor(x, requires_grad=True)
    yt = ref(xt)
    yt.backward(torch.tensor(dy))
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-10, atol=1e-12)
    if ref.affine:
        np.testing.assert_allclose(layer.dgamma, ref.weight.grad.numpy(), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(layer.dbeta, ref.bias.grad.numpy(), rtol=1e-10, atol=1e-12)
    else:
        assert layer.dgamma is None and layer.dbeta is None


@pytest.mark.parametrize("options", OPTIONS, ids=option_id)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_parity_with_torch_over_training_and_eval(shape, options, rng):
    layer, ref = BatchNorm(shape[1], eps=1e-3, **options), torch_reference(shape, eps=1e-3, **options)
    if options["affine"]:  # start from non-trivial gamma, beta in both
        layer.gamma, layer.beta = rng.normal(size=shape[1]), rng.normal(size=shape[1])
        with torch.no_grad():
            ref.weight.copy_(torch.tensor(layer.gamma))
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
    assert layer(rng.normal(size=(1, 3))).shape == (1, 3)


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

@pytest.mark.parametrize("kwargs, match", [
    (dict(num_features=0), "num_features"),
    (dict(num_features=2, eps=0.0), "eps"), (dict(num_features=2, eps=-1.0), "eps"),
    (dict(num_features=2, momentum=-0.1), "momentum"), (dict(num_features=2, momentum=1.1), "momentum"),
])
def test_invalid_hyperparameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        BatchNorm(**kwargs)


def test_integer_input():
    with pytest.raises(TypeError, match="floating-point"):
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
    with pytest.raises(RuntimeError, match="before a forward"):
        BatchNorm(2).backward(np.ones((4, 2)))


@pytest.mark.parametrize("training", [True, False])
def test_dy_of_another_shape(training, rng):
    layer = BatchNorm(2).train(training)
    layer(rng.normal(size=(4, 2)))
    with pytest.raises(ValueError, match="dy must have the shape"):
        layer.backward(np.ones((5, 2)))
