"""bnlib.fold: folding eval-mode BN into the preceding Linear / Conv layer equals the two-layer map."""

import numpy as np
import pytest
import torch
from torch import nn

from bnlib.fold import fold_batchnorm, fold_modules
from bnlib.nn import BatchNorm


def trained_like_bn(bn, rng):
    """Give a BN layer non-trivial gamma, beta and running statistics (as after training)."""
    c = bn.num_features
    with torch.no_grad():
        if bn.weight is not None:
            bn.weight.copy_(torch.tensor(rng.normal(1.0, 0.5, c)))
            bn.bias.copy_(torch.tensor(rng.normal(0.0, 0.5, c)))
        bn.running_mean.copy_(torch.tensor(rng.normal(0.0, 2.0, c)))
        bn.running_var.copy_(torch.tensor(rng.uniform(0.1, 5.0, c)))
    return bn.eval()


def bn_vectors(bn):
    return (bn.weight.detach().numpy(), bn.bias.detach().numpy(), bn.running_mean.numpy(), bn.running_var.numpy())


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("eps", [1e-5, 0.1])
def test_linear_batchnorm1d_matches_torch_eval(bias, eps, rng):
    torch.manual_seed(0)
    linear = nn.Linear(7, 5, bias=bias).double()
    bn = trained_like_bn(nn.BatchNorm1d(5, eps=eps).double(), rng)
    bias_arg = linear.bias.detach().numpy() if bias else None
    w, b = fold_batchnorm(linear.weight.detach().numpy(), bias_arg, *bn_vectors(bn), eps=eps)
    x = rng.normal(size=(11, 7))
    with torch.no_grad():
        expected = bn(linear(torch.tensor(x))).numpy()  # (11, 5)
    assert w.shape == (5, 7) and b.shape == (5,) and w.dtype == np.float64
    np.testing.assert_allclose(x @ w.T + b, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("groups", [1, 2])
def test_conv2d_batchnorm2d_matches_torch_eval(bias, groups, rng):
    torch.manual_seed(0)
    conv = nn.Conv2d(4, 6, kernel_size=3, padding=1, groups=groups, bias=bias).double()
    bn = trained_like_bn(nn.BatchNorm2d(6).double(), rng)
    bias_arg = conv.bias.detach().numpy() if bias else None
    w, b = fold_batchnorm(conv.weight.detach().numpy(), bias_arg, *bn_vectors(bn), eps=bn.eps)
    assert w.shape == (6, 4 // groups, 3, 3) and b.shape == (6,)
    x = torch.tensor(rng.normal(size=(3, 4, 5, 5)))
    with torch.no_grad():
        expected = bn(conv(x))  # (3, 6, 5, 5)
        actual = nn.functional.conv2d(x, torch.tensor(w), torch.tensor(b), padding=1, groups=groups)
    np.testing.assert_allclose(actual.numpy(), expected.numpy(), rtol=1e-12, atol=1e-12)


def test_matches_the_equation_by_hand(rng):
    w, b0 = rng.normal(size=(3, 2)), rng.normal(size=3)
    gamma, beta, mean, var = rng.normal(size=3), rng.normal(size=3), rng.normal(size=3), rng.uniform(1, 2, 3)
    w_f, b_f = fold_batchnorm(w, b0, gamma, beta, mean, var, eps=0.5)
    s = gamma / np.sqrt(var + 0.5)
    np.testing.assert_allclose(w_f, s[:, None] * w, rtol=1e-15)
    np.testing.assert_allclose(b_f, s * (b0 - mean) + beta, rtol=1e-14)


def test_bias_none_equals_zero_bias(rng):
    w = rng.normal(size=(4, 3))
    stats = [rng.normal(size=4), rng.normal(size=4), rng.normal(size=4), rng.uniform(0.5, 2, 4)]
    (w_none, b_none), (w_zero, b_zero) = fold_batchnorm(w, None, *stats), fold_batchnorm(w, np.zeros(4), *stats)
    assert np.array_equal(w_none, w_zero) and np.array_equal(b_none, b_zero)


def test_inputs_are_not_modified_and_float32_stays_float32(rng):
    w = rng.normal(size=(4, 3)).astype(np.float32)
    b = rng.normal(size=4).astype(np.float32)
    stats = [np.full(4, 2.0, np.float32), np.ones(4, np.float32), np.ones(4, np.float32), np.full(4, 3.0, np.float32)]
    w_copy, b_copy = w.copy(), b.copy()
    w_f, b_f = fold_batchnorm(w, b, *stats)
    assert w_f.dtype == np.float32 and b_f.dtype == np.float32
    assert np.array_equal(w, w_copy) and np.array_equal(b, b_copy)


@pytest.mark.parametrize("bad", ["bias", "gamma", "beta", "running_mean", "running_var"])
def test_mismatched_vector_shape_raises(bad, rng):
    args = {
        "weight": rng.normal(size=(4, 3)),
        "bias": np.zeros(4),
        "gamma": np.ones(4),
        "beta": np.zeros(4),
        "running_mean": np.zeros(4),
        "running_var": np.ones(4),
    }
    args[bad] = np.ones(3)  # C = 3, weight says 4
    with pytest.raises(ValueError, match=rf"expected {bad} of shape \(4,\) to match weight .* got shape \(3,\)"):
        fold_batchnorm(**args)
    args[bad] = np.ones((4, 1))  # right size, wrong rank
    with pytest.raises(ValueError, match=rf"expected {bad} of shape \(4,\) to match weight .* got shape \(4, 1\)"):
        fold_batchnorm(**args)


@pytest.mark.parametrize("weight", [np.ones(4), np.float64(1.0)])
def test_weight_needs_two_axes(weight):
    with pytest.raises(
        ValueError, match=r"expected weight of shape \(C, in\) or \(C, in / groups, \*kernel\), got a [01]-D array"
    ):
        fold_batchnorm(weight, None, np.ones(4), np.zeros(4), np.zeros(4), np.ones(4))


@pytest.mark.parametrize("eps", [0.0, -1e-5, float("nan")])
def test_bad_eps_raises(eps):
    with pytest.raises(ValueError, match="eps must be a positive finite number, got"):
        fold_batchnorm(np.ones((2, 2)), None, np.ones(2), np.zeros(2), np.zeros(2), np.ones(2), eps=eps)


def test_negative_variance_raises():
    with pytest.raises(ValueError, match="running_var must be non-negative"):
        fold_batchnorm(np.ones((2, 2)), None, np.ones(2), np.zeros(2), np.zeros(2), np.array([1.0, -1.0]))


def test_non_numeric_raises():
    with pytest.raises(TypeError, match="expected gamma to hold real numbers, got dtype <U1"):
        fold_batchnorm(np.ones((2, 2)), None, np.array(["a", "b"]), np.zeros(2), np.zeros(2), np.ones(2))


@pytest.mark.parametrize("bn_class", [nn.BatchNorm1d, BatchNorm])
@pytest.mark.parametrize("affine", [True, False])
def test_fold_modules_linear(bn_class, affine, rng):
    torch.manual_seed(1)
    linear = nn.Linear(6, 4)
    bn = trained_like_bn(bn_class(4, affine=affine), rng)
    folded = fold_modules(linear, bn)
    x = torch.tensor(rng.normal(size=(9, 6)), dtype=torch.float32)
    with torch.no_grad():
        torch.testing.assert_close(folded(x), bn(linear(x)), rtol=1e-5, atol=1e-5)
    assert type(folded) is nn.Linear and folded is not linear


def test_fold_modules_conv_without_bias_leaves_originals_alone(rng):
    torch.manual_seed(2)
    conv = nn.Conv2d(3, 5, kernel_size=3, bias=False).double()
    bn = trained_like_bn(nn.BatchNorm2d(5).double(), rng)
    before = conv.weight.detach().clone()
    folded = fold_modules(conv, bn)
    x = torch.tensor(rng.normal(size=(2, 3, 6, 6)))
    with torch.no_grad():
        torch.testing.assert_close(folded(x), bn(conv(x)), rtol=1e-12, atol=1e-12)
    assert conv.bias is None and folded.bias is not None
    assert torch.equal(conv.weight, before)


def test_fold_modules_rejects_bad_pairs():
    with pytest.raises(TypeError, match="ConvTranspose2d"):
        fold_modules(nn.ConvTranspose2d(3, 4, 3), nn.BatchNorm2d(4))
    with pytest.raises(ValueError, match="running statistics"):
        fold_modules(nn.Linear(3, 4), nn.BatchNorm1d(4, track_running_stats=False))
    with pytest.raises(ValueError, match="4"):
        fold_modules(nn.Linear(3, 4), nn.BatchNorm1d(5).eval())
