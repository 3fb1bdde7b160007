"""Argument checks shared by the numpy and torch implementations.

Each check raises the exception PyTorch would raise for the same mistake (``ValueError`` for
shapes and hyper-parameters, ``TypeError`` for dtypes), with a message that names the problem,
the expected value and the value received.
"""
import math
from collections.abc import Sequence


def check_hyperparameters(num_features, eps, momentum):
    """Validate the constructor arguments of a BN layer.

    ``num_features`` must be a positive integer, ``eps`` a positive number and ``momentum`` a
    number in [0, 1] or ``None`` (``None`` selects the cumulative moving average).
    """
    if isinstance(num_features, bool) or not isinstance(num_features, int) or num_features < 1:
        raise ValueError(f"num_features must be a positive integer, got {num_features!r}")
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not eps > 0 or not math.isfinite(eps):
        raise ValueError(f"eps must be a positive finite number, got {eps!r}")
    if momentum is not None:
        if isinstance(momentum, bool) or not isinstance(momentum, (int, float)) or not 0 <= momentum <= 1:
            raise ValueError(f"momentum must be a number in [0, 1] or None, got {momentum!r}")


def check_input_shape(shape: Sequence[int], num_features: int) -> None:
    """Require an input shaped ``(N, C)`` or ``(N, C, *spatial)`` with ``C == num_features``."""
    shape = tuple(shape)
    if len(shape) < 2:
        raise ValueError(
            f"expected input of shape (N, C) or (N, C, *spatial) with C = {num_features}, "
            f"got a {len(shape)}-D input of shape {shape}"
        )
    if shape[1] != num_features:
        raise ValueError(
            f"expected input with {num_features} channels, i.e. shape (N, {num_features}, ...), "
            f"got shape {shape} with {shape[1]} channels"
        )


def check_batch_size(shape: Sequence[int]) -> None:
    """Training needs more than one value per channel: the batch variance of one value is 0."""
    shape = tuple(shape)
    values_per_channel = math.prod(shape) // shape[1] if shape[1] else 0
    if values_per_channel <= 1:
        raise ValueError(
            f"Expected more than 1 value per channel when training, got input of shape {shape}"
        )


def check_float_dtype(dtype, is_float: bool) -> None:
    """Reject integer, boolean and complex inputs: the normalised output is a real fraction."""
    if not is_float:
        raise TypeError(f"expected a floating-point input (float32 or float64), got dtype {dtype}")
