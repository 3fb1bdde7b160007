"""bnlib.normalize, the one normalization core: against float64 oracles and finite differences, float32
against float64 on the same data, a cache of its own, the centring at an offset, bad input."""

import numpy as np
import pytest
import torch

from bnlib import (
    batchnorm_backward,
    batchnorm_forward,
    groupnorm_backward,
    groupnorm_forward,
    layernorm_backward,
    layernorm_forward,
    normalize_backward,
    normalize_forward,
)
from bnlib.normalize import centred

from conftest import EPS_VALUES, F64
from reference import numerical_gradient, oracle_normalize, relative_error, torch_batchnorm

# (input shape, axes, parameter shape): BN-, LN-, GN-like and odd layouts
CASES = [
    ((6, 3), (0,), (1, 3)),
    ((4, 3, 5), (0, 2), (1, 3, 1)),
    ((4, 3, 5), (2,), (5,)),
    ((4, 3, 5), (1, 2), (3, 5)),
    ((2, 3, 4, 2), (0, 2, 3), (1, 3, 1, 1)),
    ((2, 2, 3, 2), (2, 3), (1, 2, 3, 1)),
    ((3, 4, 2), (1,), (1, 4, 1)),
    ((2, 3, 2, 2, 2), (-1, -2), (2, 2)),
]


@pytest.mark.parametrize("shape, axes, param_shape", CASES, ids=str)
@pytest.mark.parametrize("eps", EPS_VALUES)
def test_forward_equals_the_oracle(shape, axes, param_shape, eps, rng):
    x = rng.normal(3.0, 2.0, size=shape)
    gamma, beta = rng.normal(size=param_shape), rng.normal(size=param_shape)
    y, cache = normalize_forward(x, gamma, beta, axes, eps)
    np.testing.assert_allclose(y, oracle_normalize(x, axes, eps, gamma, beta), rtol=1e-12, atol=1e-12)
    assert cache.m == np.prod([shape[a] for a in axes])


@pytest.mark.parametrize("shape, axes, param_shape", CASES, ids=str)
def test_backward_matches_finite_differences(shape, axes, param_shape, rng):
    x = rng.normal(size=shape)
    gamma, beta = rng.normal(size=param_shape), rng.normal(size=param_shape)
    weights = rng.normal(size=shape)

    def loss():
        return np.sum(weights * normalize_forward(x, gamma, beta, axes, 1e-3)[0])

    dx, dgamma, dbeta = normalize_backward(weights, normalize_forward(x, gamma, beta, axes, 1e-3)[1])
    assert dgamma.shape == dbeta.shape == param_shape
    for analytic, wrt in [(dx, x), (dgamma, gamma), (dbeta, beta)]:
        assert relative_error(analytic, numerical_gradient(loss, wrt)) < 1e-7


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_output_dtype_follows_input(dtype, rng):
    x = rng.normal(size=(4, 3)).astype(dtype)
    y, cache = normalize_forward(x, np.ones(3), np.zeros(3), axes=1)
    assert y.dtype == dtype and cache.mean.dtype == np.float64
    assert normalize_backward(np.ones_like(x), cache)[0].dtype == dtype


# ---- float32: computed in float32, summed in float64, against float64 on the same data --------------

FLOAT32_SHAPES = [(5, 3), (16, 2), (37, 4), (4, 3, 7), (3, 2, 4, 5), (2, 3, 2, 2, 3), (2, 2, 4103), (5, 3, 1, 1)]


@pytest.mark.parametrize("shape", FLOAT32_SHAPES, ids=str)
@pytest.mark.parametrize("offset", [0.0, 1e4])
def test_float32_bn_equals_float64_torch_on_the_same_data(shape, offset, rng):
    """Output and every gradient within 1e-6 of PyTorch's float64 result on the same float32 numbers.

    Measured: at most 1.6e-7 relative to the largest magnitude, at offset 0 and 1e4 alike."""
    x = (offset + rng.normal(size=shape)).astype(np.float32)
    dy = rng.normal(size=shape).astype(np.float32)
    gamma, beta = rng.normal(size=shape[1]).astype(np.float32), rng.normal(size=shape[1]).astype(np.float32)
    y, cache = batchnorm_forward(x, gamma, beta, 1e-3)
    ours = (y, *batchnorm_backward(dy, cache))
    for name, a, ref in zip(
        ["y", "dx", "dgamma", "dbeta"], ours, torch_batchnorm(x, gamma, beta, dy, 1e-3, torch.float64)
    ):
        assert a.dtype == np.float32, name
        assert relative_error(a, ref) < 1e-6, name


# ---- the cache is the library's own ------------------------------------------------------------


def _forward_and_backward(kind, x, gamma, dy):
    """``(forward, backward)`` of one layer kind on x with scale gamma (shift 0)."""
    forward, backward = {
        "batchnorm": (batchnorm_forward, batchnorm_backward),
        "layernorm": (layernorm_forward, layernorm_backward),
        "groupnorm": (lambda *a: groupnorm_forward(*a, num_groups=2), groupnorm_backward),
    }[kind]
    _, cache = forward(x, gamma, np.zeros_like(gamma))
    return cache, lambda: backward(dy, cache)


@pytest.mark.parametrize("kind", ["batchnorm", "layernorm", "groupnorm"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_changing_x_or_gamma_in_place_after_the_forward_does_not_change_the_gradients(kind, dtype, rng):
    """The cache holds x - mu, gamma and the statistics of its own, never a view of the caller's arrays."""
    x = rng.normal(2.0, 3.0, size=(8, 4, 5)).astype(dtype)
    dy = rng.normal(size=x.shape).astype(dtype)
    gamma = rng.normal(size=5 if kind == "layernorm" else 4).astype(dtype)
    cache, backward = _forward_and_backward(kind, x, gamma, dy)
    before = [g.copy() for g in backward()]
    x *= -3.0  # both changed in place after the forward pass
    x += 1.0
    gamma *= 2.0
    for a, b in zip(backward(), before):
        np.testing.assert_array_equal(a, b)
    assert not np.shares_memory(cache.norm.x_centred, x) and not np.shares_memory(cache.norm.gamma, gamma)


@pytest.mark.parametrize("layout", ["fortran", "strided", "transposed channels"])
def test_any_memory_layout_gives_the_same_result(layout, rng):
    """Non-contiguous inputs: output and gradients match PyTorch in float64; x changed afterwards leaves dx unchanged."""
    base = rng.normal(1.0, 2.0, size=(12, 6, 5))
    x = {
        "fortran": np.asfortranarray(base),
        "strided": base[:, ::2],  # (12, 3, 5), every other channel
        "transposed channels": base.transpose(0, 2, 1),  # (12, 5, 6)
    }[layout]
    C = x.shape[1]
    dy, gamma, beta = rng.normal(size=x.shape), rng.normal(size=C), rng.normal(size=C)
    y, cache = batchnorm_forward(x, gamma, beta)
    dx, dgamma, dbeta = batchnorm_backward(dy, cache)
    for ours, theirs in zip((y, dx, dgamma, dbeta), torch_batchnorm(x, gamma, beta, dy, dtype=torch.float64)):
        np.testing.assert_allclose(ours, theirs, **F64)
    x[...] = 0.0
    np.testing.assert_array_equal(batchnorm_backward(dy, cache)[0], dx)


def test_normalize_forward_does_not_keep_the_callers_arrays(rng):
    x, gamma = rng.normal(size=(6, 3)), rng.normal(size=(1, 3))
    _, cache = normalize_forward(x, gamma, np.zeros((1, 3)), axes=0)
    assert not np.shares_memory(cache.x_centred, x) and not np.shares_memory(cache.gamma, gamma)


# ---- centring at a large offset ------------------------------------------------------------------


@pytest.mark.parametrize("offset, roundings", [(1e4, 1), (-3e5, 1), (0.75, 2)])
def test_centred_float32_is_within_a_rounding_of_the_exact_difference(offset, roundings, rng):
    """x - mu in float32 for a float64 mu that no float32 number equals. One subtraction of float32(mu)
    would err by up to half the float32 spacing at the offset (4.9e-4 at 1e4); the two steps are within
    one rounding of the exact value (6e-8 relative) where x is within a factor 2 of mu (the first step is
    exact), within two where x spans 0; plus the rounding of the small remainder itself."""
    x = (offset + rng.normal(size=(1000, 3))).astype(np.float32)
    mu = x.astype(np.float64).mean(axis=0, keepdims=True) + np.array([[1e-4, -3e-5, 2.5e-4]])  # not float32 numbers
    result = centred(x, mu)
    exact = x.astype(np.float64) - mu
    assert result.dtype == np.float32 and not np.shares_memory(result, x)
    half_eps = np.finfo(np.float32).eps / 2
    remainder = np.abs(mu - mu.astype(np.float32))  # rounded to float32 too: at most half_eps * remainder off
    assert np.all(np.abs(result - exact) <= roundings * half_eps * np.abs(exact) + half_eps * remainder)
    float64_mu = rng.normal(size=(1, 3))
    np.testing.assert_array_equal(centred(x.astype(np.float64), float64_mu), x.astype(np.float64) - float64_mu)


# ---- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "axes, error, match",
    [
        ((0, 0), ValueError, "distinct axes"),
        ((3,), ValueError, "distinct axes"),
        ((-4,), ValueError, "axis"),
        ((), ValueError, "distinct axes"),
        ((0.5,), TypeError, "axes must be an int"),
        ("a", TypeError, "axes must be an int"),
    ],
)
def test_bad_axes(axes, error, match):
    with pytest.raises(error, match=match):
        normalize_forward(np.ones((2, 3, 4)), np.ones(4), np.zeros(4), axes)


def test_parameter_that_does_not_broadcast():
    with pytest.raises(
        ValueError, match=r"expected gamma of a shape that broadcasts against the input \(2, 3\), got \(2,\)"
    ):
        normalize_forward(np.ones((2, 3)), np.ones(2), np.zeros(2), axes=0)
    with pytest.raises(ValueError, match=r"beta must have the shape of gamma \(3,\), got \(1, 3\)"):
        normalize_forward(np.ones((2, 3)), np.ones(3), np.zeros((1, 3)), axes=0)


def test_dy_of_another_shape():
    _, cache = normalize_forward(np.arange(6.0).reshape(2, 3), np.ones(3), np.zeros(3), axes=0)
    with pytest.raises(ValueError, match=r"dy must have the shape of the forward input \(2, 3\), got \(3, 2\)"):
        normalize_backward(np.ones((3, 2)), cache)
