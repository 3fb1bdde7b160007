r"""The normalization core: normalise over given axes, forward and backward, the reference path.

Batch, Layer and Group Normalization compute the same thing and differ only in the axes the
statistics are taken over (and in the shape of :math:`\gamma, \beta`):

=================  ===========================  ==================================  ===============
layer              input                        statistics over                     γ, β shape
=================  ===========================  ==================================  ===============
BatchNorm          ``(N, C, *spatial)``         ``N`` and every spatial axis        ``(C,)``
LayerNorm          ``(*, *normalized_shape)``   the trailing ``normalized_shape``   normalized_shape
GroupNorm          ``(N, C, *spatial)`` viewed  each group's ``C/G`` channels and    ``(C,)``
                   as ``(N, G, C/G, *spatial)``  spatial axes
=================  ===========================  ==================================  ===============

For the ``m`` values that share one set of statistics (all entries with the same index on the
axes *not* normalised over):

.. math::

    \mu = \frac1m \sum x, \qquad \sigma^2 = \frac1m \sum (x-\mu)^2, \qquad
    \hat x = \frac{x-\mu}{\sqrt{\sigma^2+\epsilon}}, \qquad y = \gamma \hat x + \beta ,

and, with :math:`\partial\hat x = \gamma\,\partial y` and bars for means over the same ``m`` values,
the backward pass in compact form

.. math::

    \partial x = \frac{1}{\sqrt{\sigma^2+\epsilon}}\left(\partial\hat x - \overline{\partial\hat x}
                 - \hat x\,\overline{\partial\hat x\,\hat x}\right), \qquad
    \partial\gamma = \textstyle\sum \partial y\,\hat x, \qquad \partial\beta = \sum \partial y ,

where the sums for :math:`\partial\gamma, \partial\beta` run over the axes along which γ, β are
broadcast.

This module is the *reference path*: one equation per line, everything in float64 (the input is
converted once, the output rounded to the input's dtype at the end). It is what the tests take as
the truth; :mod:`bnlib.compiled_batchnorm` (numba) and :mod:`bnlib.fast_batchnorm` (numpy) compute
BN's case faster and are tested equal to it.
``bnlib.functional`` holds the thin wrappers in each paper's notation.
"""

from dataclasses import dataclass

import numpy as np

from .validation import check_axes, check_broadcast_parameter, check_eps, check_same_shape, float_array


@dataclass(frozen=True)
class NormCache:
    r"""What :func:`normalize_backward` needs from the forward pass.

    Attributes:
        x_hat: normalised input :math:`\hat x`, the input's shape.
        gamma: the scale :math:`\gamma`, broadcastable against the input (e.g. ``(1, C, 1, 1)``).
        inv_std: :math:`1/\sqrt{\sigma^2+\epsilon}`, float64, the input's shape with size 1 on ``axes``.
        mean: :math:`\mu`, float64, shaped like ``inv_std``.
        var: biased variance :math:`\sigma^2`, float64, shaped like ``inv_std``.
        axes: the axes the statistics were taken over, sorted.
    """

    x_hat: np.ndarray
    gamma: np.ndarray
    inv_std: np.ndarray
    mean: np.ndarray
    var: np.ndarray
    axes: tuple

    @property
    def shape(self) -> tuple:
        """The input's shape."""
        return self.x_hat.shape

    @property
    def m(self) -> int:
        """Number of values that share one mean and variance."""
        return values_per_statistic(self.x_hat.shape, self.axes)


def values_per_statistic(shape: tuple, axes: tuple) -> int:
    """How many values of an input of ``shape`` share one mean and variance: the product of its sizes on ``axes``."""
    return int(np.prod([shape[a] for a in axes], dtype=np.int64))


def parameter_axes(gamma_shape, ndim: int) -> tuple:
    """Axes of an ``ndim``-D input along which a parameter of ``gamma_shape`` is broadcast (size 1 or absent)."""
    padded = (1,) * (ndim - len(gamma_shape)) + tuple(gamma_shape)
    return tuple(a for a, size in enumerate(padded) if size == 1)


def normalize_forward(x, gamma, beta, axes, eps=1e-5):
    r"""Normalise ``x`` over ``axes``, then scale by ``gamma`` and shift by ``beta`` (reference path).

    Args:
        x: input of any rank, float32 or float64.
        gamma, beta: scale and shift of the same shape, broadcastable against ``x`` without
            growing it, e.g. ``(1, C, 1, 1)`` for BN on ``(N, C, H, W)``, ``(D,)`` for LN over the last axis.
        axes: the axes to take the statistics over (an int or a sequence of ints).
        eps: :math:`\epsilon > 0`, added to the variance.
    Returns:
        ``(y, cache)``: ``y`` the shape and dtype of ``x``; ``cache`` a :class:`NormCache`.
        With zero values per statistic (an empty axis) ``y`` is empty and the statistics are NaN.
    """
    x = float_array(x)
    axes = check_axes(axes, x.ndim)
    gamma, beta = float_array(gamma, "gamma"), float_array(beta, "beta")
    check_broadcast_parameter("gamma", gamma.shape, x.shape)
    check_same_shape("beta", beta.shape, gamma.shape, of="gamma")
    check_eps(eps)
    x64 = x.astype(np.float64)  # x in float64
    with np.errstate(invalid="ignore", divide="ignore"):  # empty axes give NaN statistics
        mu = _mean(x64, axes)  # μ = mean(x)
        centred = x64 - mu  # x - μ
        var = _mean(centred**2, axes)  # σ² = mean((x - μ)²)
        inv_std = 1.0 / np.sqrt(var + eps)  # 1 / sqrt(σ² + ε)
    x_hat = centred * inv_std  # x̂ = (x - μ) / sqrt(σ² + ε)
    y = gamma.astype(np.float64) * x_hat + beta  # y = γ x̂ + β
    cache = NormCache(x_hat=x_hat, gamma=gamma, inv_std=inv_std, mean=mu, var=var, axes=axes)
    return y.astype(x.dtype), cache


def normalize_backward(dy, cache: NormCache):
    r"""Backward pass of :func:`normalize_forward` in the compact form (reference path).

    Args:
        dy: upstream gradient :math:`\partial L/\partial y`, the shape of the forward input.
        cache: the :class:`NormCache` of the forward pass.
    Returns:
        ``(dx, dgamma, dbeta)``: ``dx`` like ``dy``; ``dgamma``, ``dbeta`` the shape of ``gamma``;
        all in ``dy``'s dtype, computed in float64.
    """
    dy = float_array(dy, "dy")
    check_same_shape("dy", dy.shape, cache.x_hat.shape)
    axes, x_hat = cache.axes, cache.x_hat
    sum_axes = parameter_axes(cache.gamma.shape, dy.ndim)  # where γ, β are broadcast
    dy64 = dy.astype(np.float64)  # ∂y in float64
    dbeta = np.sum(dy64, axis=sum_axes).reshape(cache.gamma.shape)  # ∂β = Σ ∂y
    dgamma = np.sum(dy64 * x_hat, axis=sum_axes).reshape(cache.gamma.shape)  # ∂γ = Σ ∂y x̂
    dx_hat = dy64 * cache.gamma  # ∂x̂ = γ ∂y
    mean_dx_hat = _mean(dx_hat, axes)  # mean(∂x̂)
    mean_dx_hat_x_hat = _mean(dx_hat * x_hat, axes)  # mean(∂x̂ x̂)
    dx = cache.inv_std * (dx_hat - mean_dx_hat - x_hat * mean_dx_hat_x_hat)  # ∂x, compact form
    return dx.astype(dy.dtype), dgamma.astype(dy.dtype), dbeta.astype(dy.dtype)


def _mean(a: np.ndarray, axes: tuple) -> np.ndarray:
    """Mean over ``axes`` with the reduced axes kept (size 1); NaN for an empty reduction, without a warning."""
    m = int(np.prod([a.shape[i] for i in axes], dtype=np.int64))
    total = np.sum(a, axis=axes, keepdims=True)
    return total / m if m else np.full_like(total, np.nan)
