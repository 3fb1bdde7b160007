"""bnlib.validation: eps and momentum checked one way by every public function, with the documented exception types."""

import numpy as np
import pytest
import torch

import bnlib
import bnlib.nn
from bnlib import fold_batchnorm, update_running_stats

X = np.arange(12.0).reshape(4, 3)
ONES, ZEROS = np.ones(3), np.zeros(3)

# Every public function or constructor that takes eps, as a function of eps.
TAKES_EPS = {
    "batchnorm_forward": lambda eps: bnlib.batchnorm_forward(X, ONES, ZEROS, eps),
    "batchnorm_inference": lambda eps: bnlib.batchnorm_inference(X, ONES, ZEROS, ZEROS, ONES, eps),
    "layernorm_forward": lambda eps: bnlib.layernorm_forward(X, ONES, ZEROS, eps),
    "groupnorm_forward": lambda eps: bnlib.groupnorm_forward(X, ONES, ZEROS, 3, eps),
    "normalize_forward": lambda eps: bnlib.normalize_forward(X, ONES, ZEROS, 0, eps),
    "fold_batchnorm": lambda eps: fold_batchnorm(np.ones((3, 2)), None, ONES, ZEROS, ZEROS, ONES, eps),
    "BatchNorm": lambda eps: bnlib.BatchNorm(3, eps=eps),
    "LayerNorm": lambda eps: bnlib.LayerNorm(3, eps=eps),
    "GroupNorm": lambda eps: bnlib.GroupNorm(3, 3, eps=eps),
    "nn.BatchNorm": lambda eps: bnlib.nn.BatchNorm(3, eps=eps),
    "nn.LayerNorm": lambda eps: bnlib.nn.LayerNorm(3, eps=eps),
    "nn.GroupNorm": lambda eps: bnlib.nn.GroupNorm(3, 3, eps=eps),
}
# Every public function or constructor that takes momentum.
TAKES_MOMENTUM = {
    "update_running_stats": lambda mo: update_running_stats(ZEROS, ONES, ZEROS, ONES, 4, mo),
    "BatchNorm": lambda mo: bnlib.BatchNorm(3, momentum=mo),
    "nn.BatchNorm": lambda mo: bnlib.nn.BatchNorm(3, momentum=mo),
}


@pytest.mark.parametrize("name", TAKES_EPS)
@pytest.mark.parametrize("eps", [1e-5, np.float32(1e-5), np.float64(1e-3), 1, np.int64(1), 1e-300])
def test_eps_accepted_where_pytorch_accepts_it(name, eps):
    TAKES_EPS[name](eps)


@pytest.mark.parametrize("name", TAKES_EPS)
@pytest.mark.parametrize(
    "eps, error, match",
    [
        (True, TypeError, "eps must be a real number, got True"),
        (np.True_, TypeError, "eps must be a real number"),
        ("1e-5", TypeError, "eps must be a real number, got '1e-5'"),
        (None, TypeError, "eps must be a real number"),
        (0.0, ValueError, "eps must be a positive finite number, got 0.0"),
        (-1e-5, ValueError, "eps must be a positive finite number, got -1e-05"),
        (float("inf"), ValueError, "eps must be a positive finite number, got inf"),
        (float("nan"), ValueError, "eps must be a positive finite number, got nan"),
    ],
)
def test_eps_rejected(name, eps, error, match):
    with pytest.raises(error, match=match):
        TAKES_EPS[name](eps)


@pytest.mark.parametrize("name", TAKES_MOMENTUM)
@pytest.mark.parametrize("momentum", [0, 0.0, 1, 1.0, 0.1, np.float32(0.1), np.int64(1), None])
def test_momentum_accepted(name, momentum):
    TAKES_MOMENTUM[name](momentum)


@pytest.mark.parametrize("name", TAKES_MOMENTUM)
@pytest.mark.parametrize(
    "momentum, error, match",
    [
        (True, TypeError, r"momentum must be a real number in \[0, 1\] or None, got True"),
        ("0.1", TypeError, "momentum must be a real number"),
        (-0.1, ValueError, r"momentum must be a number in \[0, 1\] or None, got -0.1"),
        (1.5, ValueError, r"momentum must be a number in \[0, 1\] or None, got 1.5"),
        (float("nan"), ValueError, r"momentum must be a number in \[0, 1\] or None, got nan"),
        (float("inf"), ValueError, r"momentum must be a number in \[0, 1\] or None, got inf"),
    ],
)
def test_momentum_rejected(name, momentum, error, match):
    with pytest.raises(error, match=match):
        TAKES_MOMENTUM[name](momentum)


@pytest.mark.parametrize(
    "make", [lambda: bnlib.BatchNorm(True), lambda: bnlib.nn.BatchNorm(True), lambda: bnlib.GroupNorm(True, 3)]
)
def test_bool_counts_are_type_errors(make):
    with pytest.raises(TypeError, match="must be an integer, got True"):
        make()
    with pytest.raises(TypeError, match="normalized_shape must be an int or a non-empty sequence of ints, got True"):
        bnlib.LayerNorm(True)


def test_update_running_stats_checks_m_and_shapes():
    with pytest.raises(TypeError, match="m must be an integer, got 4.0"):
        update_running_stats(ZEROS, ONES, ZEROS, ONES, 4.0)
    with pytest.raises(ValueError, match=r"one shape \(C,\), got \(3,\), \(3,\), \(2,\) and \(3,\)"):
        update_running_stats(ZEROS, ONES, np.zeros(2), ONES, 4)
    with pytest.raises(TypeError, match="expected batch_var to hold real numbers, got dtype <U1"):
        update_running_stats(ZEROS, ONES, ZEROS, np.array(["a", "b", "c"]), 4)


def test_integer_statistics_are_fine_where_they_are_not_the_input():
    """Integer vectors (gamma, running stats) are promoted; only the normalised input must be floating."""
    y = bnlib.batchnorm_inference(X, np.ones(3, int), np.zeros(3, int), np.zeros(3, int), np.ones(3, int), 1)
    np.testing.assert_allclose(y, X / np.sqrt(2.0), rtol=1e-15)


def test_torch_tensor_of_integers_is_a_type_error():
    with pytest.raises(TypeError, match="expected a floating-point input .* got dtype torch.int64"):
        bnlib.nn.LayerNorm(3)(torch.ones(2, 3, dtype=torch.long))


# ---- the input's dtype: exactly float32 or float64 -------------------------------------------------

X_FLOAT = np.arange(12.0).reshape(4, 3)
# Every public numpy entry point that takes an input array, as a function of it.
TAKES_INPUT = {
    "batchnorm_forward": lambda x: bnlib.batchnorm_forward(x, ONES, ZEROS),
    "batchnorm_inference": lambda x: bnlib.batchnorm_inference(x, ONES, ZEROS, ZEROS, ONES),
    "batch_statistics": lambda x: bnlib.batch_statistics(x),
    "layernorm_forward": lambda x: bnlib.layernorm_forward(x, ONES, ZEROS),
    "groupnorm_forward": lambda x: bnlib.groupnorm_forward(x, ONES, ZEROS, 3),
    "normalize_forward": lambda x: bnlib.normalize_forward(x, ONES, ZEROS, 0),
    "BatchNorm": lambda x: bnlib.BatchNorm(3)(x),
    "LayerNorm": lambda x: bnlib.LayerNorm(3)(x),
    "GroupNorm": lambda x: bnlib.GroupNorm(3, 3)(x),
}
OTHER_FLOATS = [np.float16] + ([np.longdouble] if np.dtype(np.longdouble) != np.dtype(np.float64) else [])


@pytest.mark.parametrize("name", TAKES_INPUT)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_float32_and_float64_inputs_are_accepted(name, dtype):
    y = TAKES_INPUT[name](X_FLOAT.astype(dtype))
    y = y[0] if isinstance(y, tuple) else y
    assert y.dtype == np.float64 if name == "batch_statistics" else y.dtype == dtype


@pytest.mark.parametrize("name", TAKES_INPUT)
@pytest.mark.parametrize("dtype", OTHER_FLOATS, ids=lambda d: np.dtype(d).name)
def test_other_floating_point_precisions_are_type_errors_that_name_the_dtype(name, dtype):
    """float16 and longdouble (float128 on x86-64 Linux) are floating point, but bnlib computes in float32 or float64."""
    with pytest.raises(
        TypeError, match=rf"expected a floating-point input of dtype float32 or float64, got dtype {np.dtype(dtype)}$"
    ):
        TAKES_INPUT[name](X_FLOAT.astype(dtype))


@pytest.mark.parametrize("name", TAKES_INPUT)
@pytest.mark.parametrize("dtype", [np.int64, np.int8, np.uint16, np.bool_, np.complex64, object], ids=str)
def test_non_floating_inputs_are_type_errors_that_name_the_dtype(name, dtype):
    with pytest.raises(
        TypeError, match=rf"expected a floating-point input of dtype float32 or float64, got dtype {np.dtype(dtype)}$"
    ):
        TAKES_INPUT[name](X_FLOAT.astype(dtype))


def test_the_gradient_is_checked_too():
    _, cache = bnlib.batchnorm_forward(X_FLOAT, ONES, ZEROS)
    with pytest.raises(TypeError, match="expected a floating-point dy of dtype float32 or float64, got dtype float16"):
        bnlib.batchnorm_backward(np.ones((4, 3), np.float16), cache)
    with pytest.raises(TypeError, match=r"expected a floating-point dy of dtype float32 or float64, got dtype int64$"):
        bnlib.batchnorm_backward(np.ones((4, 3), np.int64), cache)


@pytest.mark.parametrize(
    "dtype, match",
    [
        (torch.float16, "of dtype float32 or float64, got dtype torch.float16"),
        (torch.bfloat16, "of dtype float32 or float64, got dtype torch.bfloat16"),
        (torch.int32, "of dtype float32 or float64, got dtype torch.int32"),
        (torch.bool, "of dtype float32 or float64, got dtype torch.bool"),
    ],
)
def test_torch_dtypes_other_than_float32_and_float64_are_type_errors(dtype, match):
    tensor = torch.ones(4, 3, dtype=dtype)
    with pytest.raises(TypeError, match=match):
        bnlib.validation.check_float_dtype(tensor.dtype)
    with pytest.raises(TypeError, match=match):
        bnlib.nn.LayerNorm(3)(tensor)
    for ok in (torch.float32, torch.float64):
        bnlib.validation.check_float_dtype(ok)
