"""The argument checks every public function and layer of bnlib uses (numpy and torch alike).

One check per kind of mistake, so the same mistake gives the same exception and message
everywhere. Exception types:

* ``TypeError`` when an argument has the wrong *type*: an input array or tensor that is not
  float32 or float64 (integer, boolean, complex, object, float16, longdouble), a hyper-parameter
  that is not a real number (``True``, a string, ``None`` where a number is required), a
  non-integer count.
* ``ValueError`` when it has the right type but a wrong *value*: a shape that does not fit, one
  value per channel in training, ``eps`` that is not positive and finite, ``momentum`` outside
  [0, 1] or NaN, a count below 1, channels not divisible by groups.

PyTorch raises ``RuntimeError`` for several of these (e.g. an integer input to ``batch_norm``);
bnlib deliberately uses ``TypeError``/``ValueError`` so that the type says what kind of mistake
it is. Messages name the argument, what was expected and what was received.
"""

import math
import numbers
from collections.abc import Sequence

import numpy as np

# ---- hyper-parameters ----------------------------------------------------------------------------


def _is_real_number(value) -> bool:
    """Python or numpy int/float (e.g. ``np.float32(1e-5)``, ``np.int64(1)``), but not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def check_eps(eps) -> float:
    """``eps`` must be a real number, positive and finite (``np.float32`` and ``np.int64`` are fine).

    Returns it unchanged. Raises ``TypeError`` for ``True``, strings, None; ``ValueError`` for
    0, negative numbers, inf and NaN.
    """
    if not _is_real_number(eps):
        raise TypeError(f"eps must be a real number, got {eps!r} of type {type(eps).__name__}")
    if not (math.isfinite(eps) and eps > 0):
        raise ValueError(f"eps must be a positive finite number, got {eps!r}")
    return eps


def check_momentum(momentum, allow_none: bool = True):
    """``momentum`` must be a real number in [0, 1], or ``None`` (cumulative average) if allowed.

    Raises ``TypeError`` for ``True``, strings (and None when not allowed); ``ValueError`` for
    values outside [0, 1] and NaN.
    """
    if momentum is None and allow_none:
        return momentum
    if not _is_real_number(momentum):
        raise TypeError(f"momentum must be a real number in [0, 1] or None, got {momentum!r}")
    if not 0 <= momentum <= 1:  # also False for NaN
        raise ValueError(f"momentum must be a number in [0, 1] or None, got {momentum!r}")
    return momentum


def check_count(value, name: str, minimum: int = 1) -> int:
    """A whole number ``>= minimum`` (Python or numpy integer, not a bool); returned as ``int``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r} of type {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_nonnegative(value, name: str, positive: bool = False) -> float:
    """A finite real number >= 0 (> 0 with ``positive=True``), e.g. an optimiser's momentum (or its ``lr``).

    Returns it unchanged. Raises ``TypeError`` for ``True``, strings, None; ``ValueError`` for a
    negative value (or 0 when ``positive``), inf and NaN.
    """
    bound = "> 0" if positive else ">= 0"
    if not _is_real_number(value):
        raise TypeError(f"{name} must be a real number {bound}, got {value!r} of type {type(value).__name__}")
    if not (math.isfinite(value) and (value > 0 if positive else value >= 0)):
        raise ValueError(f"{name} must be a finite number {bound}, got {value!r}")
    return value


def check_hyperparameters(num_features, eps, momentum) -> None:
    """The constructor arguments of a BN layer: ``num_features >= 1``, ``eps``, ``momentum`` (or None)."""
    check_count(num_features, "num_features")
    check_eps(eps)
    check_momentum(momentum)


def check_normalized_shape(normalized_shape) -> tuple:
    """LayerNorm's ``normalized_shape``: an int or a non-empty sequence of positive ints; returned as a tuple."""
    if isinstance(normalized_shape, numbers.Integral) and not isinstance(normalized_shape, (bool, np.bool_)):
        normalized_shape = (normalized_shape,)
    if not isinstance(normalized_shape, Sequence) or isinstance(normalized_shape, str) or not normalized_shape:
        raise TypeError(f"normalized_shape must be an int or a non-empty sequence of ints, got {normalized_shape!r}")
    return tuple(check_count(n, "every entry of normalized_shape") for n in normalized_shape)


def check_groups(num_groups, num_channels) -> None:
    """GroupNorm: ``num_groups >= 1`` must divide ``num_channels``."""
    check_count(num_groups, "num_groups")
    check_count(num_channels, "num_channels")
    if num_channels % num_groups:
        raise ValueError(f"num_channels ({num_channels}) must be divisible by num_groups ({num_groups})")


# ---- arrays and tensors ----------------------------------------------------------------------


FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))  # the two precisions bnlib computes in
TORCH_FLOAT_DTYPES = ("torch.float32", "torch.float64")  # the same, named as torch prints them


def check_float_dtype(dtype, name: str = "input") -> None:
    """Accept exactly float32 and float64 (a numpy dtype, or a torch dtype, without importing torch).

    Raises ``TypeError`` naming the dtype it got: for integer, boolean, complex and object inputs
    (the normalised output is a real fraction), and for the other floating-point precisions
    (float16, bfloat16, longdouble), which bnlib does not compute in.
    """
    if dtype in FLOAT_DTYPES if isinstance(dtype, np.dtype) else str(dtype) in TORCH_FLOAT_DTYPES:
        return
    raise TypeError(f"expected a floating-point {name} of dtype float32 or float64, got dtype {dtype}")


def float_array(value, name: str = "input") -> np.ndarray:
    """``value`` as a numpy array of dtype float32 or float64 (no copy if it already is one)."""
    array = np.asarray(value)
    check_float_dtype(array.dtype, name)
    return array


def real_array(value, name: str) -> np.ndarray:
    """``value`` as a numpy array of real numbers (integers are fine: they are promoted later)."""
    array = np.asarray(value)
    if array.dtype.kind not in "fiu":  # floating, signed or unsigned integer; not bool, complex, object, text
        raise TypeError(f"expected {name} to hold real numbers, got dtype {array.dtype}")
    return array


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


def check_channel_input(shape: Sequence[int]) -> None:
    """An input shaped ``(N, C)`` or ``(N, C, *spatial)`` for any ``C`` (rank at least 2)."""
    shape = tuple(shape)
    if len(shape) < 2:
        raise ValueError(
            f"expected input of shape (N, C) or (N, C, *spatial), got a {len(shape)}-D input of shape {shape}"
        )


def check_vector(name: str, value, length: int, input_shape: Sequence[int] | None = None) -> None:
    """A per-channel vector must have shape ``(length,)``; ``input_shape``, if given, is named in the message."""
    if np.shape(value) != (length,):
        of_input = f" (one value per channel of the input of shape {tuple(input_shape)})" if input_shape else ""
        raise ValueError(f"expected {name} of shape ({length},){of_input}, got shape {np.shape(value)}")


def check_batch_size(shape: Sequence[int]) -> None:
    """Training needs more than one value per channel: the batch variance of one value is 0.

    Zero values per channel (an empty batch) is allowed, as in PyTorch: the output is empty.
    """
    shape = tuple(shape)
    values_per_channel = math.prod(shape) // shape[1] if shape[1] else 0
    if values_per_channel == 1:
        raise ValueError(f"Expected more than 1 value per channel when training, got input of shape {shape}")


def check_trailing_shape(shape: Sequence[int], normalized_shape: Sequence[int]) -> None:
    """LayerNorm: the input's trailing axes must equal ``normalized_shape``."""
    shape, normalized_shape = tuple(shape), tuple(normalized_shape)
    k = len(normalized_shape)
    if len(shape) < k or shape[len(shape) - k :] != normalized_shape:
        raise ValueError(
            f"expected input of shape (*, {', '.join(map(str, normalized_shape))}) "
            f"ending in normalized_shape {normalized_shape}, got shape {shape}"
        )


def check_same_shape(name: str, shape: Sequence[int], expected: Sequence[int], of: str = "the forward input") -> None:
    """An array that must have the shape of another (a gradient that of its forward input, β that of γ)."""
    if tuple(shape) != tuple(expected):
        raise ValueError(f"{name} must have the shape of {of} {tuple(expected)}, got {tuple(shape)}")


def check_axes(axes, ndim: int) -> tuple:
    """Distinct axes of an ``ndim``-D array (negative ones counted from the end); returned sorted, non-negative."""
    if isinstance(axes, numbers.Integral) and not isinstance(axes, (bool, np.bool_)):
        axes = (axes,)
    try:
        axes = tuple(int(check_count(a, "axis", minimum=-ndim)) for a in axes)
    except TypeError:
        raise TypeError(f"axes must be an int or a sequence of ints, got {axes!r}") from None
    normalised = tuple(sorted(a % ndim if ndim else a for a in axes))
    if not axes or any(a >= ndim for a in axes) or len(set(normalised)) != len(axes):
        raise ValueError(f"axes must be distinct axes of a {ndim}-D input, got {axes!r}")
    return normalised


def check_broadcast_parameter(name: str, shape: Sequence[int], x_shape: Sequence[int]) -> None:
    """A scale or shift must broadcast against the input without growing it."""
    shape, x_shape = tuple(shape), tuple(x_shape)
    aligned = x_shape[len(x_shape) - len(shape) :] if len(shape) <= len(x_shape) else None
    if aligned is None or any(s not in (1, n) for s, n in zip(shape, aligned)):
        raise ValueError(f"expected {name} of a shape that broadcasts against the input {x_shape}, got {shape}")


# ---- BN variants (bnlib.nn) ------------------------------------------------------------------


def check_batch_splits(shape: Sequence[int], num_splits: int) -> None:
    """Ghost BN: the batch (``shape[0]`` rows) must cut into ``num_splits`` equal chunks."""
    if shape[0] % num_splits:
        raise ValueError(
            f"expected a batch whose size is a multiple of num_splits = {num_splits}, got input of shape {tuple(shape)}"
        )


def check_at_least(value, name: str, minimum: float, why: str = "") -> float:
    """A real number ``>= minimum``, not NaN (``inf`` is allowed: no bound), e.g. Batch Renorm's ``r_max``.

    Returns it as a ``float``. Raises ``TypeError`` for ``True``, strings, None; ``ValueError``
    below ``minimum`` or NaN (``why`` is added to the message).
    """
    if not _is_real_number(value):
        raise TypeError(f"{name} must be a real number >= {minimum}, got {value!r} of type {type(value).__name__}")
    if not value >= minimum:  # also True for NaN
        raise ValueError(f"{name} must be a number >= {minimum}{why}, got {value!r}")
    return float(value)


def check_choice(value, name: str, choices: Sequence[str]) -> str:
    """One of ``choices`` (strings), e.g. the ``language`` of :mod:`bnlib.checks`; returned as given.

    Raises ``TypeError`` for a value that is not a string, ``ValueError`` for a string not among them.
    """
    listed = ", ".join(repr(c) for c in choices)
    if not isinstance(value, str):
        raise TypeError(f"{name} must be one of {listed}, got {value!r} of type {type(value).__name__}")
    if value not in choices:
        raise ValueError(f"{name} must be one of {listed}, got {value!r}")
    return value
