"""LayerNorm and GroupNorm: functions, numpy layers and torch modules against torch.nn.LayerNorm/GroupNorm and the oracle."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import bnlib
import bnlib.nn
from bnlib import groupnorm_backward, groupnorm_forward, layernorm_backward, layernorm_forward

from conftest import EPS_VALUES, F32, F64, GN_CASES, GN_OPTIONS, LN_CASES, LN_OPTIONS, option_id
from reference import numerical_gradient, oracle_normalize, relative_error


def torch_step(module, x, dy):
    """Output, input gradient and parameter gradients (None where absent) of a torch module."""
    xt = torch.tensor(x, requires_grad=True)
    y = module(xt)
    y.backward(torch.tensor(dy))
    grads = [None if p is None else p.grad.numpy() for p in (module.weight, module.bias)]
    return y.detach().numpy(), xt.grad.numpy(), *grads


def random_parameters(module, rng):
    """Non-trivial weight and bias in a torch module (where it has them); returns them as numpy arrays."""
    with torch.no_grad():
        for p in (module.weight, module.bias):
            if p is not None:
                p.copy_(torch.tensor(rng.normal(size=tuple(p.shape))))
    return [None if p is None else p.detach().numpy().copy() for p in (module.weight, module.bias)]


def ones_zeros(shape, gamma, beta):
    return (np.ones(shape) if gamma is None else gamma), (np.zeros(shape) if beta is None else beta)


# ---- functions and numpy layers against torch, float64 ----------------------------------------


@pytest.mark.parametrize("options", LN_OPTIONS, ids=option_id)
@pytest.mark.parametrize("shape, normalized_shape", LN_CASES, ids=str)
@pytest.mark.parametrize("eps", EPS_VALUES)
def test_layernorm_matches_torch(shape, normalized_shape, options, eps, rng):
    ref = torch.nn.LayerNorm(normalized_shape, eps=eps, **options).double()
    gamma, beta = random_parameters(ref, rng)
    x, dy = rng.normal(1.0, 2.0, size=shape), rng.normal(size=shape)
    y_ref, dx_ref, dgamma_ref, dbeta_ref = torch_step(ref, x, dy)
    # the function
    y, cache = layernorm_forward(x, *ones_zeros(normalized_shape, gamma, beta), eps=eps)
    dx, dgamma, dbeta = layernorm_backward(dy, cache)
    np.testing.assert_allclose(y, y_ref, **F64)
    # dx carries 1/sqrt(var + eps): with one value per statistic that is 1/sqrt(eps), and so is torch's rounding
    dx_tol = dict(F64, atol=F64["atol"] * max(1.0, float(np.max(cache.norm.inv_std))))
    np.testing.assert_allclose(dx, dx_ref, **dx_tol)
    # the numpy layer
    layer = bnlib.LayerNorm(normalized_shape, eps=eps, **options)
    if gamma is not None:
        layer.gamma = gamma
    if beta is not None:
        layer.beta = beta
    np.testing.assert_allclose(layer(x), y_ref, **F64)
    np.testing.assert_allclose(layer.backward(dy), dx_ref, **dx_tol)
    for ours, fn, theirs in [(layer.dgamma, dgamma, dgamma_ref), (layer.dbeta, dbeta, dbeta_ref)]:
        if theirs is None:
            assert ours is None
        else:
            np.testing.assert_allclose(ours, theirs, **F64)
            np.testing.assert_allclose(fn, theirs, **F64)


@pytest.mark.parametrize("options", GN_OPTIONS, ids=option_id)
@pytest.mark.parametrize("shape, num_groups", GN_CASES, ids=str)
@pytest.mark.parametrize("eps", EPS_VALUES)
def test_groupnorm_matches_torch(shape, num_groups, options, eps, rng):
    ref = torch.nn.GroupNorm(num_groups, shape[1], eps=eps, **options).double()
    gamma, beta = random_parameters(ref, rng)
    x, dy = rng.normal(1.0, 2.0, size=shape), rng.normal(size=shape)
    y_ref, dx_ref, dgamma_ref, dbeta_ref = torch_step(ref, x, dy)
    y, cache = groupnorm_forward(x, *ones_zeros(shape[1], gamma, beta), num_groups, eps=eps)
    dx, dgamma, dbeta = groupnorm_backward(dy, cache)
    # one value per group (num_groups = C, no spatial axes): torch's x - mean is rounding noise times 1/sqrt(eps)
    dx_tol = dict(F64, atol=F64["atol"] * max(1.0, float(np.max(cache.norm.inv_std))))
    np.testing.assert_allclose(y, y_ref, **dx_tol)
    np.testing.assert_allclose(dx, dx_ref, **dx_tol)
    layer = bnlib.GroupNorm(num_groups, shape[1], eps=eps, **options)
    if gamma is not None:
        layer.gamma = gamma
    if beta is not None:
        layer.beta = beta
    np.testing.assert_allclose(layer(x), y_ref, **dx_tol)
    np.testing.assert_allclose(layer.eval().backward(dy), dx_ref, **dx_tol)  # eval mode: the same computation
    for ours, fn, theirs in [(layer.dgamma, dgamma, dgamma_ref), (layer.dbeta, dbeta, dbeta_ref)]:
        if theirs is None:
            assert ours is None
        else:
            np.testing.assert_allclose(ours, theirs, **dx_tol)
            np.testing.assert_allclose(fn, theirs, **dx_tol)


@pytest.mark.parametrize(
    "make",
    [
        lambda: (torch.nn.LayerNorm((3, 4)), bnlib.LayerNorm((3, 4)), (6, 3, 4)),
        lambda: (torch.nn.GroupNorm(2, 4), bnlib.GroupNorm(2, 4), (6, 4, 3)),
    ],
    ids=["LayerNorm", "GroupNorm"],
)
def test_float32_parity(make, rng):
    ref, layer, shape = make()
    x, dy = rng.normal(2.0, 3.0, size=shape).astype(np.float32), rng.normal(size=shape).astype(np.float32)
    y_ref, dx_ref, dgamma_ref, dbeta_ref = torch_step(ref, x, dy)
    y = layer(x)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, y_ref, **F32)
    np.testing.assert_allclose(layer.backward(dy), dx_ref, **F32)
    np.testing.assert_allclose(layer.dgamma, dgamma_ref, **F32)
    np.testing.assert_allclose(layer.dbeta, dbeta_ref, **F32)


# ---- gradients against finite differences ----------------------------------------------------


@pytest.mark.parametrize("which", ["layernorm", "groupnorm-1", "groupnorm-2", "groupnorm-C"])
def test_backward_matches_finite_differences(which, rng):
    x, weights = rng.normal(size=(3, 4, 3)), rng.normal(size=(3, 4, 3))
    if which == "layernorm":
        gamma, beta = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
        forward, backward = (lambda: layernorm_forward(x, gamma, beta, eps=1e-3)), layernorm_backward
    else:
        groups = {"1": 1, "2": 2, "C": 4}[which.split("-")[1]]
        gamma, beta = rng.normal(size=4), rng.normal(size=4)
        forward, backward = (lambda: groupnorm_forward(x, gamma, beta, groups, eps=1e-3)), groupnorm_backward

    def loss():
        return np.sum(weights * forward()[0])

    dx, dgamma, dbeta = backward(weights, forward()[1])
    for analytic, wrt in [(dx, x), (dgamma, gamma), (dbeta, beta)]:
        assert relative_error(analytic, numerical_gradient(loss, wrt)) < 1e-7


# ---- invariants against the float64 oracle (hypothesis) ---------------------------------------


def inputs(dtype):
    shapes = st.tuples(st.integers(1, 4), st.integers(1, 3), st.integers(1, 6))
    unit = shapes.flatmap(lambda s: arrays(np.float64, s, elements=st.floats(-1, 1)))
    offsets = st.sampled_from([0.0, 1e3, 1e4]) | st.floats(-1e4, 1e4)
    return st.builds(lambda u, o, s: (o + s * u).astype(dtype), unit, offsets, st.floats(1e-2, 1e2))


@settings(max_examples=60, deadline=None)
@given(st.sampled_from([np.float32, np.float64]).flatmap(inputs), st.integers(1, 2), st.sampled_from(EPS_VALUES))
def test_layernorm_equals_the_oracle(x, k, eps):
    normalized_shape = x.shape[x.ndim - k :]
    y, cache = layernorm_forward(x, np.ones(normalized_shape), np.zeros(normalized_shape), eps)
    axes = tuple(range(x.ndim - k, x.ndim))
    exact = oracle_normalize(x, axes, eps)
    var = np.asarray(x, np.float64).var(axis=axes, keepdims=True)
    oracle_rounding = 1e-14 * np.abs(x).max() / np.sqrt(var + eps)
    tol = 1e-9 if x.dtype == np.float64 else 5e-6
    assert np.all(np.abs(y - exact) <= tol * (1 + np.abs(exact)) + oracle_rounding)
    # float32: the centred values and their squares are rounded to float32 (6e-8 each) before the float64 sum
    rtol = 1e-9 if x.dtype == np.float64 else 1e-6
    np.testing.assert_allclose(cache.norm.var, var, rtol=rtol, atol=1e-15 * (1 + np.abs(x).max()) ** 2)


@settings(max_examples=60, deadline=None)
@given(st.sampled_from([np.float32, np.float64]).flatmap(inputs), st.sampled_from([1, 2, 3]))
def test_groupnorm_equals_the_oracle(x, groups_per_channel):
    C = x.shape[1]
    num_groups = max(1, C // groups_per_channel) if C % max(1, C // groups_per_channel) == 0 else 1
    y, _ = groupnorm_forward(x, np.ones(C), np.zeros(C), num_groups, 1e-5)
    grouped = np.asarray(x, np.float64).reshape(x.shape[0], num_groups, -1)
    exact = oracle_normalize(grouped, (2,), 1e-5).reshape(x.shape)
    var = grouped.var(axis=2, keepdims=True)
    oracle_rounding = (1e-14 * np.abs(x).max() / np.sqrt(var + 1e-5)).max()
    tol = 1e-9 if x.dtype == np.float64 else 5e-6
    assert np.all(np.abs(y - exact) <= tol * (1 + np.abs(exact)) + oracle_rounding)


@settings(max_examples=40, deadline=None)
@given(inputs(np.float64), st.floats(0.1, 10.0), st.floats(-100.0, 100.0))
def test_layernorm_ignores_a_per_example_shift_and_scale(x, scale, shift):
    """LN of a*x + b (one a > 0, b per example) is LN of x, with eps scaled by a^2."""
    var = x.reshape(x.shape[0], -1).var(axis=1)
    if var.min() < 1e-6:
        return
    a = scale * np.linspace(1.0, 2.0, x.shape[0]).reshape(-1, 1, 1)
    b = shift * np.linspace(-1.0, 1.0, x.shape[0]).reshape(-1, 1, 1)
    y, _ = layernorm_forward(x, np.ones(x.shape[1:]), np.zeros(x.shape[1:]), 1e-14)
    y_moved, _ = layernorm_forward(a * x + b, np.ones(x.shape[1:]), np.zeros(x.shape[1:]), 1e-14)
    np.testing.assert_allclose(y_moved, y, atol=1e-6)


def test_groupnorm_with_one_group_is_layernorm_and_with_c_groups_instance_norm(rng):
    x = rng.normal(size=(3, 4, 5))
    ones, zeros = np.ones(4), np.zeros(4)
    np.testing.assert_allclose(
        groupnorm_forward(x, ones, zeros, 1)[0],
        layernorm_forward(x, np.ones((4, 5)), np.zeros((4, 5)))[0],
        rtol=1e-12,
        atol=1e-12,
    )
    np.testing.assert_allclose(
        groupnorm_forward(x, ones, zeros, 4)[0],
        layernorm_forward(x, np.ones(5), np.zeros(5))[0],
        rtol=1e-12,
        atol=1e-12,
    )


# ---- torch modules: parity, state_dict, constructor arguments -------------------------------


@pytest.mark.parametrize("options", LN_OPTIONS, ids=option_id)
@pytest.mark.parametrize("shape, normalized_shape", LN_CASES, ids=str)
def test_torch_layernorm_module_matches_and_state_dict_loads_both_ways(shape, normalized_shape, options, rng):
    ours = bnlib.nn.LayerNorm(normalized_shape, eps=1e-3, **options).double()
    theirs = torch.nn.LayerNorm(normalized_shape, eps=1e-3, **options).double()
    random_parameters(theirs, rng)
    ours.load_state_dict(theirs.state_dict())
    assert list(ours.state_dict()) == list(theirs.state_dict())
    x, dy = rng.normal(size=shape), rng.normal(size=shape)
    for a, b in zip(torch_step(ours, x, dy), torch_step(theirs, x, dy)):
        assert (a is None) == (b is None)
        if a is not None:
            np.testing.assert_allclose(a, b, **F64)
    random_parameters(ours, rng)
    theirs.load_state_dict(ours.state_dict())
    for key, value in ours.state_dict().items():
        assert torch.equal(theirs.state_dict()[key], value)


@pytest.mark.parametrize("options", GN_OPTIONS, ids=option_id)
@pytest.mark.parametrize("shape, num_groups", GN_CASES, ids=str)
def test_torch_groupnorm_module_matches_and_state_dict_loads_both_ways(shape, num_groups, options, rng):
    ours = bnlib.nn.GroupNorm(num_groups, shape[1], eps=1e-3, **options).double()
    theirs = torch.nn.GroupNorm(num_groups, shape[1], eps=1e-3, **options).double()
    random_parameters(theirs, rng)
    ours.load_state_dict(theirs.state_dict())
    assert list(ours.state_dict()) == list(theirs.state_dict())
    x, dy = rng.normal(size=shape), rng.normal(size=shape)
    for a, b in zip(torch_step(ours, x, dy), torch_step(theirs, x, dy)):
        assert (a is None) == (b is None)
        if a is not None:
            np.testing.assert_allclose(a, b, **F64)
    random_parameters(ours, rng)
    theirs.load_state_dict(ours.state_dict())
    for key, value in ours.state_dict().items():
        assert torch.equal(theirs.state_dict()[key], value)


def test_torch_modules_take_device_and_dtype_and_print_like_torch():
    ln = bnlib.nn.LayerNorm([2, 3], eps=1e-3, elementwise_affine=True, bias=False, device="cpu", dtype=torch.float64)
    gn = bnlib.nn.GroupNorm(2, 4, 1e-3, True, "cpu", torch.float16, bias=False)
    assert ln.weight.dtype == torch.float64 and ln.bias is None and ln.normalized_shape == (2, 3)
    assert gn.weight.dtype == torch.float16 and gn.weight.device.type == "cpu" and gn.bias is None
    assert ln.extra_repr() == torch.nn.LayerNorm([2, 3], eps=1e-3, bias=False).extra_repr()
    assert gn.extra_repr() == torch.nn.GroupNorm(2, 4, 1e-3, bias=False).extra_repr()


def test_empty_batches(rng):
    ln, gn = bnlib.nn.LayerNorm(5), bnlib.nn.GroupNorm(2, 4)
    assert ln(torch.ones(0, 5)).shape == (0, 5)
    assert gn(torch.ones(0, 4, 3)).shape == (0, 4, 3)
    layer = bnlib.LayerNorm(5)
    assert layer(np.ones((0, 5))).shape == (0, 5)
    assert layer.backward(np.ones((0, 5))).shape == (0, 5)
    np.testing.assert_array_equal(layer.dgamma, np.zeros(5))


# ---- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [
        lambda: bnlib.GroupNorm(4, 6),
        lambda: bnlib.nn.GroupNorm(4, 6),
        lambda: groupnorm_forward(np.ones((2, 6)), np.ones(6), np.zeros(6), 4),
    ],
)
def test_channels_not_divisible_by_groups(make):
    with pytest.raises(ValueError, match=r"num_channels \(6\) must be divisible by num_groups \(4\)"):
        make()


@pytest.mark.parametrize("make", [lambda: bnlib.GroupNorm(0, 6), lambda: bnlib.nn.GroupNorm(0, 6)])
def test_zero_groups(make):
    with pytest.raises(ValueError, match="num_groups must be an integer >= 1, got 0"):
        make()


@pytest.mark.parametrize("module", [bnlib.LayerNorm((3, 4)), bnlib.nn.LayerNorm((3, 4))], ids=["numpy", "torch"])
def test_wrong_normalized_shape(module):
    x = np.ones((2, 4, 3))
    with pytest.raises(ValueError, match=r"expected input of shape \(\*, 3, 4\).*got shape \(2, 4, 3\)"):
        module(torch.tensor(x) if isinstance(module, torch.nn.Module) else x)


def test_layernorm_function_checks_gamma_and_beta():
    with pytest.raises(ValueError, match=r"got shape \(2, 4\)"):
        layernorm_forward(np.ones((2, 4)), np.ones(3), np.zeros(3))
    with pytest.raises(ValueError, match=r"beta must have the shape of gamma \(4,\), got \(3,\)"):
        layernorm_forward(np.ones((2, 4)), np.ones(4), np.zeros(3))
    with pytest.raises(ValueError, match="at least one axis"):
        layernorm_forward(np.ones((2, 4)), np.float64(1.0), np.float64(0.0))


@pytest.mark.parametrize(
    "normalized_shape, error, match",
    [
        ((), TypeError, "non-empty sequence"),
        ((3, 0), ValueError, ">= 1, got 0"),
        ("ab", TypeError, "non-empty sequence"),
        ((2.5,), TypeError, "must be an integer"),
    ],
)
def test_bad_normalized_shape(normalized_shape, error, match):
    for cls in (bnlib.LayerNorm, bnlib.nn.LayerNorm):
        with pytest.raises(error, match=match):
            cls(normalized_shape)


def test_groupnorm_wrong_channels_and_integer_input():
    with pytest.raises(ValueError, match=r"expected input with 4 channels"):
        bnlib.GroupNorm(2, 4)(np.ones((2, 6)))
    with pytest.raises(ValueError, match=r"expected input with 4 channels"):
        bnlib.nn.GroupNorm(2, 4)(torch.ones(2, 6))
    with pytest.raises(TypeError, match="floating-point input"):
        bnlib.nn.GroupNorm(2, 4)(torch.ones(2, 4, dtype=torch.long))
    with pytest.raises(TypeError, match="floating-point input"):
        bnlib.LayerNorm(4)(np.ones((2, 4), dtype=np.int32))


def test_groupnorm_dy_of_another_shape(rng):
    _, cache = groupnorm_forward(rng.normal(size=(2, 4, 3)), np.ones(4), np.zeros(4), 2)
    with pytest.raises(ValueError, match=r"dy must have the shape of the forward input \(2, 4, 3\), got \(2, 4\)"):
        groupnorm_backward(np.ones((2, 4)), cache)


@pytest.mark.parametrize("norm, cls", [("ln", bnlib.nn.LayerNorm), ("gn", bnlib.nn.GroupNorm)])
def test_mlp_config_uses_bnlib_modules(norm, cls):
    """MLPConfig(norm="ln"/"gn") builds bnlib.nn's modules, equal to torch's on the same input."""
    from bnlib.lab.models import MLPConfig, build_mlp

    model = build_mlp(MLPConfig(in_features=3, hidden=(8,), out_features=2, norm=norm, num_groups=2), seed=0)
    assert type(model[1]) is cls
    ref = torch.nn.LayerNorm(8) if norm == "ln" else torch.nn.GroupNorm(2, 8)
    ref.load_state_dict(model[1].state_dict())
    z = torch.randn(5, 8, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(model[1](z), ref(z), rtol=1e-5, atol=1e-5)
