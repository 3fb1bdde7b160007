r"""Batch, Layer and Group Normalization as pure numpy functions, in each paper's notation.

Each function is a thin wrapper around the normalization core :mod:`bnlib.normalize`
(``normalize_forward(x, γ, β, axes, eps)`` / ``normalize_backward(dy, cache)``); only the axes and
the shape of γ, β differ:

* BN (Ioffe & Szegedy, 2015), input ``(N, C)`` or ``(N, C, *spatial)``: per channel over the
  batch and spatial axes, :math:`m = N\prod\text{spatial}` values;
* LN (Ba, Kiros & Hinton, 2016), input ``(*, *normalized_shape)``: per example over the trailing
  ``gamma.ndim`` axes;
* GN (Wu & He, 2018), input ``(N, C, *spatial)``: per example and group of ``C/G`` channels.

.. math:: \mu = \tfrac1m\sum x,\quad \sigma^2 = \tfrac1m\sum (x-\mu)^2,\quad
          \hat x = \frac{x-\mu}{\sqrt{\sigma^2+\epsilon}},\quad y = \gamma\hat x + \beta .

All of them compute in the input's dtype with every sum accumulated in float64 (see
:mod:`bnlib.normalize`). BN's eval mode is the pair :func:`batchnorm_inference_forward` /
:func:`batchnorm_inference_backward` (and :func:`batchnorm_inference`, its output alone).
"""

from dataclasses import dataclass

import numpy as np

from .normalize import NormCache, centred, normalize_backward, normalize_forward, total
from .validation import (
    check_batch_size,
    check_channel_input,
    check_eps,
    check_groups,
    check_same_shape,
    check_trailing_shape,
    check_vector,
    float_array,
    real_array,
)

__all__ = [
    "BatchNormCache",
    "InferenceCache",
    "LayerNormCache",
    "GroupNormCache",
    "batch_statistics",
    "batchnorm_forward",
    "batchnorm_backward",
    "batchnorm_inference",
    "batchnorm_inference_forward",
    "batchnorm_inference_backward",
    "layernorm_forward",
    "layernorm_backward",
    "groupnorm_forward",
    "groupnorm_backward",
]


def _checked_bn_input(x, **vectors) -> np.ndarray:
    """``x`` as a float array shaped ``(N, C)`` or ``(N, C, *spatial)``, every vector of shape ``(C,)``."""
    x = float_array(x)
    check_channel_input(x.shape)
    for name, v in vectors.items():
        real_array(v, name)
        check_vector(name, v, x.shape[1], x.shape)
    return x


def _per_channel(v, ndim: int) -> np.ndarray:
    """A ``(C,)`` vector reshaped to ``(1, C, 1, ..., 1)``, to broadcast against an ``ndim``-D input."""
    return np.reshape(v, (1, -1) + (1,) * (ndim - 2))


def _channel_axes(ndim: int) -> tuple:
    """BN's statistics axes: the batch axis and every spatial axis, all but the channel axis 1."""
    return (0,) + tuple(range(2, ndim))


# ---- Batch Normalization, training mode ---------------------------------------------------------


@dataclass(frozen=True)
class BatchNormCache:
    """What :func:`batchnorm_backward` needs, with BN's ``(C,)`` views.

    Attributes:
        norm: the core's :class:`~bnlib.normalize.NormCache`, statistics shaped ``(1, C, 1, ...)``.
    Properties ``x_hat`` (like x, computed when asked), ``gamma``, ``mean``, ``var``, ``inv_std``
    (``(C,)``, the last three float64), ``shape`` (the input's) and ``m`` (values per channel).
    """

    norm: NormCache

    @property
    def x_hat(self) -> np.ndarray:
        return self.norm.x_hat

    @property
    def shape(self) -> tuple:
        return self.norm.shape

    @property
    def gamma(self) -> np.ndarray:
        return self.norm.gamma.reshape(-1)

    @property
    def mean(self) -> np.ndarray:
        return self.norm.mean.reshape(-1)

    @property
    def var(self) -> np.ndarray:
        return self.norm.var.reshape(-1)

    @property
    def inv_std(self) -> np.ndarray:
        return self.norm.inv_std.reshape(-1)

    @property
    def m(self) -> int:
        return self.norm.m


def batch_statistics(x) -> tuple:
    r"""Per-channel batch mean :math:`\mu_B` and biased variance :math:`\sigma^2_B`.

    Args:
        x: input, shape ``(N, C)`` or ``(N, C, *spatial)``, float32 or float64, at least one value per channel.
    Returns:
        ``(mean, var)``, float64, each shape ``(C,)``, computed as in :func:`batchnorm_forward`.
    """
    x = float_array(x)
    check_channel_input(x.shape)
    if x.size == 0:
        raise ValueError(f"batch statistics need at least one value per channel, got input of shape {x.shape}")
    ones, zeros = (_per_channel(np.full(x.shape[1], value, x.dtype), x.ndim) for value in (1, 0))  # γ = 1, β = 0
    _, norm = normalize_forward(x, ones, zeros, _channel_axes(x.ndim), 1.0)  # one value per channel is fine here
    return norm.mean.reshape(-1), norm.var.reshape(-1)


def batchnorm_forward(x, gamma, beta, eps=1e-5):
    r"""Training-mode BN forward with batch statistics (biased variance).

    .. math:: y = \gamma \frac{x - \mu_B}{\sqrt{\sigma_B^2 + \epsilon}} + \beta

    ``normalize_forward(x, γ, β, axes=(0, 2, ..., ndim-1), eps)``: in the input's dtype, every sum
    accumulated in float64.

    Args:
        x: input, shape ``(N, C)`` or ``(N, C, *spatial)``, float32 or float64. An empty batch
            (``N = 0``) gives an empty output and NaN statistics, as in PyTorch.
        gamma: scale :math:`\gamma`, shape ``(C,)``.
        beta: shift :math:`\beta`, shape ``(C,)``.
        eps: :math:`\epsilon > 0`, added to the variance.
    Returns:
        ``(y, cache)``: ``y`` has the shape and dtype of ``x``; ``cache`` is a
        :class:`BatchNormCache` for :func:`batchnorm_backward`, holding arrays of its own (x − μ,
        γ, the statistics): changing ``x`` or ``gamma`` in place afterwards does not change the gradient.
    """
    x = _checked_bn_input(x, gamma=gamma, beta=beta)
    check_batch_size(x.shape)
    check_eps(eps)
    gamma, beta = (_per_channel(np.asarray(v, x.dtype), x.ndim) for v in (gamma, beta))  # (1, C, 1, ...)
    y, norm = normalize_forward(x, gamma, beta, _channel_axes(x.ndim), eps)
    return y, BatchNormCache(norm)


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
        ``(dx, dgamma, dbeta)``: ``dx`` like ``dy``; ``dgamma`` and ``dbeta`` shape ``(C,)``; all
        in ``dy``'s dtype (the sums accumulated in float64).
    """
    dx, dgamma, dbeta = normalize_backward(dy, cache.norm)
    return dx, dgamma.reshape(-1), dbeta.reshape(-1)


# ---- Batch Normalization, eval mode ---------------------------------------------------------------


@dataclass(frozen=True)
class InferenceCache:
    """What :func:`batchnorm_inference_backward` needs, fixed at forward time.

    Attributes:
        x_hat: :math:`(x - E[x]) / \\sqrt{Var[x] + \\epsilon}` with the statistics of the forward call, like x.
        scale: :math:`\\gamma / \\sqrt{Var[x] + \\epsilon}`, float64, shape ``(C,)``.
    """

    x_hat: np.ndarray
    scale: np.ndarray


def batchnorm_inference_forward(x, gamma, beta, running_mean, running_var, eps=1e-5):
    r"""Eval-mode BN forward with fixed (running or population) statistics, and its cache.

    .. math:: \hat x = \frac{x - \mathrm{E}[x]}{\sqrt{\mathrm{Var}[x] + \epsilon}}, \qquad y = \gamma\hat x + \beta

    An affine map per channel: one sample, or any batch size, gives the same per-sample output.
    Computed in the input's dtype; ``x - E[x]`` as in training (:func:`bnlib.normalize.centred`),
    so a float64 ``running_mean`` is not rounded to float32 before it is subtracted.

    Args:
        x: input, shape ``(N, C)`` or ``(N, C, *spatial)``, float32 or float64; ``N`` may be 1 or 0.
        gamma, beta, running_mean, running_var: shape ``(C,)``.
        eps: :math:`\epsilon > 0`.
    Returns:
        ``(y, cache)``: ``y`` the shape and dtype of ``x``; ``cache`` an :class:`InferenceCache`
        holding copies of what the backward needs, so later changes to the running statistics do
        not change the gradient.
    """
    x = _checked_bn_input(x, gamma=gamma, beta=beta, running_mean=running_mean, running_var=running_var)
    check_eps(eps)
    ndim = x.ndim
    inv_std = 1.0 / np.sqrt(np.asarray(running_var, np.float64) + eps)  # 1 / √(Var[x] + ε)      (C,)
    x_hat = centred(x, _per_channel(np.asarray(running_mean, np.float64), ndim))  # x − E[x]    like x
    x_hat *= _per_channel(inv_std, ndim).astype(x.dtype)  # x̂ = (x − E[x]) / √(Var[x] + ε)
    y = _per_channel(gamma, ndim).astype(x.dtype) * x_hat  # γ x̂                               like x
    y += _per_channel(beta, ndim).astype(x.dtype)  # y = γ x̂ + β
    scale = np.asarray(gamma, np.float64) * inv_std  # γ / √(Var[x] + ε)                          (C,), new array
    return y, InferenceCache(x_hat=x_hat, scale=scale)


def batchnorm_inference_backward(dy, cache: InferenceCache):
    r"""Backward pass of :func:`batchnorm_inference_forward`: the statistics are constants.

    .. math:: \frac{\partial L}{\partial x} = \frac{\gamma}{\sqrt{\mathrm{Var}[x]+\epsilon}}\,\partial y,\quad
              \frac{\partial L}{\partial \gamma} = \sum \partial y\,\hat x,\quad
              \frac{\partial L}{\partial \beta} = \sum \partial y .

    Returns:
        ``(dx, dgamma, dbeta)`` in ``dy``'s dtype: ``dx`` like ``dy``, the others shape ``(C,)``.
    """
    dy = float_array(dy, "dy")
    check_same_shape("dy", dy.shape, cache.x_hat.shape)
    axes = _channel_axes(dy.ndim)
    dx = dy * _per_channel(cache.scale, dy.ndim).astype(dy.dtype)  # γ / √(Var[x] + ε) ∂y         like x
    dgamma = total(dy * cache.x_hat, axes).reshape(-1)  # Σ ∂y x̂                                  (C,)
    dbeta = total(dy, axes).reshape(-1)  # Σ ∂y                                                    (C,)
    return dx, dgamma.astype(dy.dtype), dbeta.astype(dy.dtype)


def batchnorm_inference(x, gamma, beta, running_mean, running_var, eps=1e-5):
    r"""Eval-mode BN output alone: ``batchnorm_inference_forward(...)[0]``.

    .. math:: y = \gamma \frac{x - \mathrm{E}[x]}{\sqrt{\mathrm{Var}[x] + \epsilon}} + \beta
    """
    return batchnorm_inference_forward(x, gamma, beta, running_mean, running_var, eps)[0]


# ---- Layer Normalization --------------------------------------------------------------------------


@dataclass(frozen=True)
class LayerNormCache:
    """What :func:`layernorm_backward` needs: the core's :class:`NormCache` (statistics over the trailing axes)."""

    norm: NormCache


def layernorm_forward(x, gamma, beta, eps=1e-5):
    r"""Layer Normalization: normalise each example over the trailing ``gamma.ndim`` axes.

    .. math:: y = \gamma \odot \frac{x - \mu}{\sqrt{\sigma^2+\epsilon}} + \beta, \qquad
              \mu, \sigma^2 \text{ over the last } k = \texttt{gamma.ndim} \text{ axes of each example}

    ``normalize_forward(x, γ, β, axes=(ndim-k, ..., ndim-1), eps)``.

    Args:
        x: input of shape ``(*, *normalized_shape)``, float32 or float64.
        gamma, beta: element-wise scale and shift, both of shape ``normalized_shape`` (rank ≥ 1).
        eps: :math:`\epsilon > 0`.
    Returns:
        ``(y, cache)``: ``y`` the shape and dtype of ``x``; ``cache`` a :class:`LayerNormCache`.
    """
    x, gamma, beta = float_array(x), real_array(gamma, "gamma"), real_array(beta, "beta")
    if gamma.ndim == 0:
        raise ValueError("expected gamma of shape normalized_shape with at least one axis, got a scalar")
    check_same_shape("beta", beta.shape, gamma.shape, of="gamma")
    check_trailing_shape(x.shape, gamma.shape)
    axes = tuple(range(x.ndim - gamma.ndim, x.ndim))
    y, norm = normalize_forward(x, gamma, beta, axes, eps)
    return y, LayerNormCache(norm)


def layernorm_backward(dy, cache: LayerNormCache):
    r"""Backward pass of :func:`layernorm_forward` (compact form, see :mod:`bnlib.normalize`).

    Returns:
        ``(dx, dgamma, dbeta)``: ``dx`` like ``dy``; ``dgamma``, ``dbeta`` of shape
        ``normalized_shape``, summed over the leading axes.
    """
    return normalize_backward(dy, cache.norm)


# ---- Group Normalization --------------------------------------------------------------------------


@dataclass(frozen=True)
class GroupNormCache:
    """What :func:`groupnorm_backward` needs: the core's :class:`NormCache` on the ``(N, G, C/G, *spatial)`` view."""

    norm: NormCache
    num_groups: int


def _grouped_shape(shape: tuple, num_groups: int) -> tuple:
    return (shape[0], num_groups, shape[1] // num_groups) + tuple(shape[2:])


def groupnorm_forward(x, gamma, beta, num_groups, eps=1e-5):
    r"""Group Normalization: normalise each example over groups of ``C / num_groups`` channels and all spatial axes.

    .. math:: y_{nc\ldots} = \gamma_c \frac{x_{nc\ldots} - \mu_{ng}}{\sqrt{\sigma^2_{ng}+\epsilon}} + \beta_c,
              \qquad g = \lfloor c / (C/G) \rfloor

    ``normalize_forward`` on ``x`` viewed as ``(N, G, C/G, *spatial)`` over ``axes=(2, 3, ...)``.
    ``num_groups = 1`` is LN over ``(C, *spatial)``; ``num_groups = C`` is Instance Normalization.

    Args:
        x: input of shape ``(N, C)`` or ``(N, C, *spatial)``, float32 or float64.
        gamma, beta: per-channel scale and shift, shape ``(C,)``.
        num_groups: ``G``, a divisor of ``C``.
        eps: :math:`\epsilon > 0`.
    Returns:
        ``(y, cache)``: ``y`` the shape and dtype of ``x``; ``cache`` a :class:`GroupNormCache`.
    """
    x = float_array(x)
    check_channel_input(x.shape)
    check_groups(num_groups, x.shape[1])
    for name, v in (("gamma", gamma), ("beta", beta)):
        real_array(v, name)
        check_vector(name, v, x.shape[1], x.shape)
    grouped = _grouped_shape(x.shape, num_groups)  # (N, G, C/G, *spatial)
    param_shape = (1, num_groups, x.shape[1] // num_groups) + (1,) * (x.ndim - 2)
    axes = tuple(range(2, len(grouped)))
    y, norm = normalize_forward(
        x.reshape(grouped), np.reshape(gamma, param_shape), np.reshape(beta, param_shape), axes, eps
    )
    return y.reshape(x.shape), GroupNormCache(norm, int(num_groups))


def groupnorm_backward(dy, cache: GroupNormCache):
    r"""Backward pass of :func:`groupnorm_forward` (compact form, see :mod:`bnlib.normalize`).

    Returns:
        ``(dx, dgamma, dbeta)``: ``dx`` like ``dy``; ``dgamma``, ``dbeta`` shape ``(C,)``.
    """
    dy = float_array(dy, "dy")
    grouped = cache.norm.shape  # (N, G, C/G, *spatial)
    check_same_shape("dy", dy.shape, (grouped[0], grouped[1] * grouped[2]) + grouped[3:])
    dx, dgamma, dbeta = normalize_backward(dy.reshape(grouped), cache.norm)
    return dx.reshape(dy.shape), dgamma.reshape(-1), dbeta.reshape(-1)
