"""bnlib.functional: parity with PyTorch, finite-difference gradients, invariants, bad input."""
import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from bnlib import batch_statistics, batchnorm_backward, batchnorm_forward, batchnorm_inference
from reference import SHAPES


def torch_batchnorm(x, gamma, beta, dy, eps=1e-5):
    """Output and gradients of torch.nn.functional.batch_norm in training mode, float64."""
    xt, gt, bt = (torch.tensor(a, requires_grad=True) for a in (x, gamma, beta))
    y = torch.nn.functional.batch_norm(xt, None, None, gt, bt, training=True, eps=eps)
    y.backward(torch.tensor(dy))
    return y.detach().numpy(), xt.grad.numpy(), gt.grad.numpy(), bt.grad.numpy()


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("eps", [1e-5, 1e-1])
def test_forward_and_backward_match_torch(shape, eps, rng):
    x = rng.normal(2.0, 3.0, size=shape)
    gamma, beta = rng.normal(size=shape[1]), rng.normal(size=shape[1])
    dy = rng.normal(size=shape)
    y, cache = batchnorm_forward(x, gamma, beta, eps)
    dx, dgamma, dbeta = batchnorm_backward(dy, cache)
    y_ref, dx_ref, dgamma_ref, dbeta_ref = torch_batchnorm(x, gamma, beta, dy, eps)
    np.testing.assert_allclose(y, y_ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dx, dx_ref, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dgamma, dgamma_ref, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dbeta, dbeta_ref, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("shape", SHAPES)
def test_inference_matches_torch_eval(shape, rng):
    x = rng.normal(size=shape)
    gamma, beta = rng.normal(size=shape[1]), rng.normal(size=shape[1])
    mean, var = rng.normal(size=shape[1]), rng.uniform(0.5, 2.0, size=shape[1])
    y = batchnorm_inference(x, gamma, beta, mean, var, eps=1e-3)
    ref = torch.nn.functional.batch_norm(*(torch.tensor(a) for a in (x, mean, var, gamma, beta)),
                                         training=False, eps=1e-3)
    np.testing.assert_allclose(y, ref.numpy(), rtol=1e-12, atol=1e-12)


def numerical_gradient(f, a, h=1e-6):
    """Central differences of the scalar function f with respect to every entry of a (in place)."""
    grad = np.zeros_like(a)
    for i in np.ndindex(a.shape):
        old = a[i]
        a[i] = old + h
        up = f()
        a[i] = old - h
        down = f()
        a[i] = old
        grad[i] = (up - down) / (2 * h)
    return grad


def relative_error(a, b):
    return np.max(np.abs(a - b)) / max(np.max(np.abs(a)), np.max(np.abs(b)))


@pytest.mark.parametrize("shape", [(5, 3), (3, 2, 2, 3)])
def test_backward_matches_finite_differences(shape, rng):
    x = rng.normal(size=shape)
    gamma, beta = rng.normal(size=shape[1]), rng.normal(size=shape[1])
    weights = rng.normal(size=shape)  # loss = sum(weights * y), so dL/dy = weights

    def loss():
        return np.sum(weights * batchnorm_forward(x, gamma, beta)[0])

    _, cache = batchnorm_forward(x, gamma, beta)
    dx, dgamma, dbeta = batchnorm_backward(weights, cache)
    assert relative_error(dx, numerical_gradient(loss, x)) < 1e-7
    assert relative_error(dgamma, numerical_gradient(loss, gamma)) < 1e-7
    assert relative_error(dbeta, numerical_gradient(loss, beta)) < 1e-7


# ---- invariants (hypothesis) -------------------------------------------------------------------

def batches(min_side=2):
    """Float64 arrays of shape (N, C) or (N, C, L) with moderate values."""
    shapes = st.tuples(st.integers(min_side, 8), st.integers(1, 4)) | st.tuples(
        st.integers(min_side, 5), st.integers(1, 3), st.integers(1, 4))
    return shapes.flatmap(lambda s: arrays(np.float64, s, elements=st.floats(-100, 100, width=64)))


def channel_std(x):
    return np.sqrt(batch_statistics(x)[1])


@settings(max_examples=60, deadline=None)
@given(batches())
def test_normalised_output_has_zero_mean_and_unit_variance(x):
    assume(channel_std(x).min() > 1e-3)
    eps = 1e-5
    C = x.shape[1]
    y, _ = batchnorm_forward(x, np.ones(C), np.zeros(C), eps)
    mean, var = batch_statistics(y)
    sigma2 = batch_statistics(x)[1]
    np.testing.assert_allclose(mean, 0.0, atol=1e-9)
    np.testing.assert_allclose(var, sigma2 / (sigma2 + eps), rtol=1e-9)  # exactly 1 up to eps


@settings(max_examples=60, deadline=None)
@given(batches(), st.floats(0.1, 100.0), st.floats(-1e3, 1e3))
def test_invariant_to_per_channel_shift_and_positive_scale(x, scale, shift):
    assume(channel_std(x).min() > 0.1)
    C = x.shape[1]
    scales = scale * np.linspace(1.0, 2.0, C)  # a different positive scale per channel
    shifts = shift * np.linspace(-1.0, 1.0, C)
    moved = x * scales.reshape((1, C) + (1,) * (x.ndim - 2)) + shifts.reshape((1, C) + (1,) * (x.ndim - 2))
    eps = 1e-12
    y, _ = batchnorm_forward(x, np.ones(C), np.zeros(C), eps)
    y_moved, _ = batchnorm_forward(moved, np.ones(C), np.zeros(C), eps)
    np.testing.assert_allclose(y_moved, y, atol=1e-6)


@settings(max_examples=60, deadline=None)
@given(batches())
def test_gamma_sqrt_var_eps_and_beta_mean_give_the_identity(x):
    eps = 1e-5
    mean, var = batch_statistics(x)
    y, _ = batchnorm_forward(x, np.sqrt(var + eps), mean, eps)
    np.testing.assert_allclose(y, x, atol=1e-9 * max(1.0, np.abs(x).max()))


# ---- numerically hard input ------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(256, 8, 16, 16), (4099, 8)])
def test_float32_with_large_offset_is_as_accurate_as_torch(shape, rng):
    x = (1e4 + rng.normal(size=shape)).astype(np.float32)
    x64 = x.astype(np.float64)
    axes = (0,) + tuple(range(2, x.ndim))
    exact = (x64 - x64.mean(axis=axes, keepdims=True)) / np.sqrt(x64.var(axis=axes, keepdims=True) + 1e-5)
    y, _ = batchnorm_forward(x, np.ones(8, np.float32), np.zeros(8, np.float32))
    y_torch = torch.nn.functional.batch_norm(torch.from_numpy(x), None, None, training=True).numpy()
    assert y.dtype == np.float32
    error, torch_error = np.abs(y - exact).max(), np.abs(y_torch - exact).max()
    assert error <= torch_error and error < 1e-4, (error, torch_error)
    # A one-pass E[x^2] - E[x]^2 in float32 would be off by O(1) here; rounding the mean to
    # float32 alone would cost about 5e-4.


def test_float32_gradients_match_float64(rng):
    x = rng.normal(5.0, 0.01, size=(64, 4, 6))
    dy = rng.normal(size=x.shape)
    g, b = np.full(4, 1.5), np.full(4, -0.5)
    dx64 = batchnorm_backward(dy, batchnorm_forward(x, g, b)[1])[0]
    dx32 = batchnorm_backward(dy.astype(np.float32), batchnorm_forward(x.astype(np.float32), g, b)[1])[0]
    assert dx32.dtype == np.float32
    np.testing.assert_allclose(dx32, dx64, atol=2e-3 * np.abs(dx64).max())


# ---- bad input ---------------------------------------------------------------------------------

def test_integer_input_is_a_type_error():
    with pytest.raises(TypeError, match="floating-point"):
        batchnorm_forward(np.ones((4, 2), dtype=np.int64), np.ones(2), np.zeros(2))


@pytest.mark.parametrize("shape", [(4,), ()])
def test_rank_below_two_is_a_value_error(shape):
    with pytest.raises(ValueError, match=r"\(N, C\)"):
        batchnorm_forward(np.ones(shape), np.ones(2), np.zeros(2))


def test_channel_mismatch_names_both_shapes():
    with pytest.raises(ValueError, match=r"3 channels.*\(4, 2\)"):
        batchnorm_forward(np.ones((4, 2)), np.ones(3), np.zeros(3))


def test_beta_of_wrong_shape():
    with pytest.raises(ValueError, match="beta"):
        batchnorm_forward(np.random.rand(4, 2), np.ones(2), np.zeros(3))


@pytest.mark.parametrize("shape", [(1, 3), (1, 3, 1), (1, 3, 1, 1)])
def test_one_value_per_channel_cannot_be_normalised(shape):
    with pytest.raises(ValueError, match="Expected more than 1 value per channel when training"):
        batchnorm_forward(np.ones(shape), np.ones(3), np.zeros(3))


@pytest.mark.parametrize("eps", [0.0, -1e-5])
def test_non_positive_eps(eps):
    with pytest.raises(ValueError, match="eps"):
        batchnorm_forward(np.random.rand(4, 2), np.ones(2), np.zeros(2), eps=eps)


def test_dy_of_another_shape(rng):
    _, cache = batchnorm_forward(rng.normal(size=(4, 2)), np.ones(2), np.zeros(2))
    with pytest.raises(ValueError, match=r"dy must have the shape.*\(4, 2\)"):
        batchnorm_backward(np.ones((4, 3)), cache)


def test_inference_accepts_a_single_sample(rng):
    y = batchnorm_inference(rng.normal(size=(1, 3)), np.ones(3), np.zeros(3), np.zeros(3), np.ones(3))
    assert y.shape == (1, 3)
