r"""Batch Normalization as pure numpy functions: forward, backward and inference.

Notation follows Ioffe & Szegedy (2015), Algorithm 1. For an input ``x`` of shape ``(N, C)`` or
``(N, C, *spatial)``, every channel ``c`` is normalised with statistics taken over the
:math:`m = N \cdot \prod \text{spatial}` values that share that channel:

.. math::

    \mu_c = \frac{1}{m}\sum_i x_{ic}, \qquad
    \sigma^2_c = \frac{1}{m}\sum_i (x_{ic} - \mu_c)^2, \qquad
    \hat x_{ic} = \frac{x_{ic} - \mu_c}{\sqrt{\sigma^2_c + \epsilon}}, \qquad
    y_{ic} = \gamma_c \hat x_{ic} + \beta_c .

Statistics are accumulated in float64 and the variance is computed from centred values (two
passes), so float32 data with a large offset and a small spread normalises accurately.
"""
from dataclasses import dataclass

import numpy as np

from .validation import check_batch_size, check_float_dtype, check_input_shape


@dataclass(frozen=True)
class BatchNormCache:
    """What ``batchnorm_backward`` needs from the forward pass.

    Attributes:
        x_hat: normalised input, same shape as ``x``.
        gamma: scale, shape ``(C,)``.
        inv_std: :math:`1/\\sqrt{\\sigma^2 + \\epsilon}`, float64, shape ``(C,)``.
        mean: batch mean :math:`\\mu`, float64, shape ``(C,)``.
        var: biased batch variance :math:`\\sigma^2`, float64, shape ``(C,)``.
    """

    x_hat: np.ndarray
    gamma: np.ndarray
    inv_std: np.ndarray
    mean: np.ndarray
    var: np.ndarray

    @property
    def m(self) -> int:
        """Number of values per channel the statistics were taken over."""
        return self.x_hat.size // self.x_hat.shape[1]


def reduction_axes(ndim: int) -> tuple:
    """Axes that hold the values of one channel: the batch axis and every spatial axis."""
    return (0,) + tuple(range(2, ndim))


def per_channel(v: np.ndarray, ndim: int) -> np.ndarray:
    """Reshape a ``(C,)`` vector to ``(1, C, 1, ..., 1)`` so it broadcasts against the input."""
    return np.reshape(v, (1, -1) + (1,) * (ndim - 2))


def _checked_input(x, **vectors) -> np.ndarray:
    """Return ``x`` as a float array after checking it and the per-channel vectors that go with it.

    Every vector must have shape ``(C,)``, and ``x`` shape ``(N, C)`` or ``(N, C, *spatial)``.
    """
    x = np.asarray(x)
    check_float_dtype(x.dtype, np.issubdtype(x.dtype, np.floating))
    first_name, first = next(iter(vectors.items()))
    if np.ndim(first) != 1:
        raise ValueError(f"expected {first_name} of shape (C,), got shape {np.shape(first)}")
    num_features = np.shape(first)[0]
    check_input_shape(x.shape, num_features)
    for name, v in vectors.items():
        if np.shape(v) != (num_features,):
            raise ValueError(f"expected {name} of shape ({num_features},), got shape {np.shape(v)}")
    return x


def _check_eps(eps) -> None:
    if not eps > 0:
        raise ValueError(f"eps must be positive, got {eps!r}")


SUM_BLOCK = 16  # rows added in the input dtype before the float64 accumulation


def channel_sum(x: np.ndarray) -> np.ndarray:
    """Per-channel sum over the batch and spatial axes, accumulated accurately. Shape ``(C,)``, float64.

    Casting every value to float64 is slow, and a plain float32 sum over the batch axis adds the
    rows one after the other and loses digits when the values have a large offset. Instead:
    with spatial axes, each sample's contiguous spatial block is summed in ``x``'s dtype (numpy
    sums a contiguous axis pairwise, so the error stays small) and the ``N`` partial sums are
    added in float64; for ``(N, C)`` input, rows are added in blocks of ``SUM_BLOCK`` in ``x``'s
    dtype and the block sums in float64. Either way only short or pairwise sums run in float32,
    so the result is close to a float64 sum, at a fraction of the cost of casting to float64.
    """
    if x.ndim > 2:
        per_sample = x.reshape(x.shape[0], x.shape[1], -1).sum(axis=2)                # (N, C)
        return per_sample.sum(axis=0, dtype=np.float64)                                # (C,)
    whole = x.shape[0] - x.shape[0] % SUM_BLOCK
    blocks = x[:whole].reshape(-1, SUM_BLOCK, x.shape[1]).sum(axis=1)                  # (N // SUM_BLOCK, C)
    return blocks.sum(axis=0, dtype=np.float64) + x[whole:].sum(axis=0, dtype=np.float64)  # (C,)


def _centre(x: np.ndarray) -> tuple:
    """Per-channel mean (float64, shape ``(C,)``) and the centred input ``x - mean`` (like x).

    Shifted data: first subtract one value per channel (the first sample's), then the mean of
    what is left. Values close to each other subtract exactly, so for float32 data with a large
    offset the sums add numbers the size of the spread, not of the offset, and nothing is lost
    to rounding the offset.
    """
    shift = x[(0, slice(None)) + (0,) * (x.ndim - 2)]              # (C,) one value per channel
    centred = x - per_channel(shift, x.ndim)                       # like x: x - shift
    offset = channel_sum(centred) / (x.size // x.shape[1])         # (C,) mean of x - shift
    centred -= per_channel(offset, x.ndim).astype(x.dtype)         # like x: x - mean
    return shift.astype(np.float64) + offset, centred


def _mean_square(centred: np.ndarray) -> np.ndarray:
    """Per-channel mean of squares of centred values: the biased variance. Shape ``(C,)``, float64.

    The values are centred, so they are of the order of the spread, and summing their squares in
    the input dtype loses nothing that matters (the large-offset cancellation is already gone).
    """
    m = centred.size // centred.shape[1]
    return np.einsum(_channel_dot(centred.ndim), centred, centred).astype(np.float64) / m


def batch_statistics(x) -> tuple:
    r"""Per-channel batch mean :math:`\mu` and biased variance :math:`\sigma^2`.

    Args:
        x: input, shape ``(N, C)`` or ``(N, C, *spatial)``.
    Returns:
        ``(mean, var)``, float64, each shape ``(C,)``.
    """
    x = np.asarray(x)
    mean, centred = _centre(x)                                       # (C,), like x
    return mean, _mean_square(centred)


def batchnorm_forward(x, gamma, beta, eps=1e-5):
    r"""Training-mode forward pass with batch statistics (biased variance).

    .. math:: y = \gamma \frac{x - \mu_B}{\sqrt{\sigma_B^2 + \epsilon}} + \beta

    Args:
        x: input, shape ``(N, C)`` or ``(N, C, *spatial)``, float32 or float64.
        gamma: scale :math:`\gamma`, shape ``(C,)``.
        beta: shift :math:`\beta`, shape ``(C,)``.
        eps: :math:`\epsilon > 0`, added to the variance.
    Returns:
        ``(y, cache)``: ``y`` has the shape and dtype of ``x``; ``cache`` is a
        :class:`BatchNormCache` for :func:`batchnorm_backward`.
    """
    x = _checked_input(x, gamma=gamma, beta=beta)
    check_batch_size(x.shape)
    _check_eps(eps)
    mean, centred = _centre(x)                                       # (C,), like x
    var = _mean_square(centred)                                      # (C,)
    inv_std = 1.0 / np.sqrt(var + eps)                               # (C,)
    x_hat = np.multiply(centred, per_channel(inv_std, x.ndim).astype(x.dtype), out=centred)  # like x, in place
    gamma = np.asarray(gamma, dtype=x.dtype)                         # (C,)
    y = x_hat * per_channel(gamma, x.ndim)                           # like x
    y += per_channel(np.asarray(beta, dtype=x.dtype), x.ndim)        # like x
    return y, BatchNormCache(x_hat=x_hat, gamma=gamma, inv_std=inv_std, mean=mean, var=var)


def batchnorm_backward(dy, cache: BatchNormCache):
    r"""Backward pass of :func:`batchnorm_forward`, in the compact closed form.

    With :math:`\partial\hat x = \gamma\,\partial y` and means taken per channel over the batch,

    .. math::
        \frac{\partial L}{\partial x} = \frac{1}{\sqrt{\sigma^2+\epsilon}}
            \left(\partial\hat x - \overline{\partial\hat x}
                  - \hat x\,\overline{\partial\hat x \cdot \hat x}\right),\quad
        \frac{\partial L}{\partial \gamma} = \sum \partial y\,\hat x,\quad
        \frac{\partial L}{\partial \beta} = \sum \partial y .

    Args:
        dy: upstream gradient :math:`\partial L/\partial y`, the shape of the forward input.
        cache: the :class:`BatchNormCache` returned by the forward pass.
    Returns:
        ``(dx, dgamma, dbeta)``: ``dx`` like ``dy``; ``dgamma`` and ``dbeta`` shape ``(C,)``.
    """
    dy = np.asarray(dy)
    check_float_dtype(dy.dtype, np.issubdtype(dy.dtype, np.floating))
    if dy.shape != cache.x_hat.shape:
        raise ValueError(f"dy must have the shape of the forward input {cache.x_hat.shape}, got {dy.shape}")
    ndim, m, x_hat = dy.ndim, cache.m, cache.x_hat
    dbeta = channel_sum(dy)                                                      # (C,)  sum of dy
    dgamma = np.einsum(_channel_dot(ndim), dy, x_hat).astype(np.float64)         # (C,)  sum of dy * x_hat
    dx = x_hat * per_channel(dgamma / m, ndim).astype(dy.dtype)                  # like x: x_hat * mean(dy * x_hat)
    dx += per_channel(dbeta / m, ndim).astype(dy.dtype)                          # like x: ... + mean(dy)
    np.subtract(dy, dx, out=dx)                                                  # like x: dy - mean(dy) - x_hat * mean(dy * x_hat)
    dx *= per_channel(cache.gamma * cache.inv_std, ndim).astype(dy.dtype)        # like x: dL/dx
    return dx, dgamma.astype(dy.dtype), dbeta.astype(dy.dtype)


def _channel_dot(ndim: int) -> str:
    """einsum signature summing a product over every axis except the channel axis."""
    letters = "abdefghijk"[: ndim - 1]
    operand = letters[0] + "c" + letters[1:]
    return f"{operand},{operand}->c"


def batchnorm_inference(x, gamma, beta, running_mean, running_var, eps=1e-5):
    r"""Eval-mode forward pass with fixed (running or population) statistics.

    .. math:: y = \gamma \frac{x - \mathrm{E}[x]}{\sqrt{\mathrm{Var}[x] + \epsilon}} + \beta

    An affine map per channel: one sample, or any batch size, gives the same per-sample output.

    Args:
        x: input, shape ``(N, C)`` or ``(N, C, *spatial)``, float32 or float64; ``N`` may be 1.
        gamma, beta, running_mean, running_var: shape ``(C,)``.
        eps: :math:`\epsilon > 0`.
    Returns:
        ``y``, the shape and dtype of ``x``.
    """
    x = _checked_input(x, gamma=gamma, beta=beta, running_mean=running_mean, running_var=running_var)
    _check_eps(eps)
    inv_std = 1.0 / np.sqrt(np.asarray(running_var, dtype=np.float64) + eps)    # (C,)
    scale = np.asarray(gamma, dtype=np.float64) * inv_std                       # (C,)
    centred = x - per_channel(running_mean, x.ndim).astype(x.dtype)             # like x
    return centred * per_channel(scale, x.ndim).astype(x.dtype) + per_channel(beta, x.ndim).astype(x.dtype)
