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
