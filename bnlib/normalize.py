r"""The normalization core: normalise over given axes, forward and backward.

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
broadcast. Where γ is one number for all ``m`` values (BN), :math:`\overline{\partial\hat x} =
\gamma\,\partial\beta/m` and :math:`\overline{\partial\hat x\,\hat x} = \gamma\,\partial\gamma/m`,
which is CS231n's compact form :math:`\partial x = \frac{\gamma}{m\sqrt{\sigma^2+\epsilon}}
(m\,\partial y - \partial\beta - \hat x\,\partial\gamma)`.

**Precision.** Every step runs in the input's dtype (float32 stays float32, no float64 copy of the
data) and every sum is accumulated in float64 (``dtype=np.float64`` on numpy's reductions). The
statistics are taken in two passes, the mean and then the variance of the centred values, so an
offset far larger than the spread costs nothing: float32 data like 10⁴ + N(0, 1) normalises to
within 1e-6 of float64 arithmetic on the same float32 values, measured up to 2²⁰ values per
channel (PyTorch's float32 kernel, which sums in float32: 9e-4 on ``(32, 64, 14, 14)``, 4e-2 on
``(4096, 1024)``; ``benchmarks/bench_batchnorm.py`` prints both). That needs care in the centring:
see :func:`centred`. The cache holds arrays of its own (x − μ, γ and the statistics), so changing
the input in place after the forward pass does not change the gradient.

``bnlib.functional`` holds the thin wrappers in each paper's notation.
"""

import math
from dataclasses import dataclass

import numpy as np

from .validation import check_axes, check_broadcast_parameter, check_eps, check_same_shape, float_array, real_array


@dataclass(frozen=True)
class NormCache:
    r"""What :func:`normalize_backward` needs from the forward pass (arrays of its own, not views of the input).

    Attributes:
        x_centred: the centred input :math:`x - \mu`, the input's shape and dtype.
        gamma: the scale :math:`\gamma` in the input's dtype, the shape it was given in (e.g. ``(1, C, 1, 1)``).
        inv_std: :math:`1/\sqrt{\sigma^2+\epsilon}`, float64, the input's shape with size 1 on ``axes``.
        mean: :math:`\mu`, float64, shaped like ``inv_std``.
        var: biased variance :math:`\sigma^2`, float64, shaped like ``inv_std``.
        axes: the axes the statistics were taken over, sorted.
    Property ``x_hat``: :math:`\hat x = (x-\mu)/\sqrt{\sigma^2+\epsilon}`, computed when asked (a new array).
    """

    x_centred: np.ndarray
    gamma: np.ndarray
    inv_std: np.ndarray
    mean: np.ndarray
    var: np.ndarray
    axes: tuple

    @property
    def x_hat(self) -> np.ndarray:
        r""":math:`\hat x = (x - \mu) / \sqrt{\sigma^2 + \epsilon}` in the input's dtype, like x."""
        return self.x_centred * self.inv_std.astype(self.x_centred.dtype)

    @property
    def shape(self) -> tuple:
        """The input's shape."""
        return self.x_centred.shape

    @property
    def m(self) -> int:
        """Number of values that share one mean and variance."""
        return values_per_statistic(self.x_centred.shape, self.axes)


def values_per_statistic(shape: tuple, axes: tuple) -> int:
    """How many values of an input of ``shape`` share one mean and variance: the product of its sizes on ``axes``."""
    return math.prod(shape[a] for a in axes)


def parameter_axes(gamma_shape, ndim: int) -> tuple:
    """Axes of an ``ndim``-D input along which a parameter of ``gamma_shape`` is broadcast (size 1 or absent)."""
    padded = (1,) * (ndim - len(gamma_shape)) + tuple(gamma_shape)
    return tuple(a for a, size in enumerate(padded) if size == 1)


def total(a: np.ndarray, axes: tuple) -> np.ndarray:
    """``Σ a`` over ``axes``, accumulated in float64 (no float64 copy of ``a``), the reduced axes kept with size 1."""
    return np.add.reduce(a, axis=axes, dtype=np.float64, keepdims=True)


def centred(x: np.ndarray, mean: np.ndarray) -> np.ndarray:
    r""":math:`x - \mu` in ``x``'s dtype, for a float64 mean :math:`\mu` (broadcastable against ``x``); a new array.

    In float32, ``x - float32(μ)`` would carry the rounding of μ into every value: at 10⁴ a float32
    number is a multiple of 2⁻¹⁰ ≈ 1e-3, so the error is up to 5e-4, far more than the float32
    rounding of a centred value of size 1 (6e-8). So the float32-rounded mean is subtracted first,
    which is exact for every ``x`` within a factor 2 of it (Sterbenz's lemma), and then the small
    remainder :math:`\mu - \mathrm{float32}(\mu)`, which leaves each centred value within one
    rounding of the exact :math:`x - \mu`. In float64 it is one subtraction.
    """
    mean_rounded = mean.astype(x.dtype)  # round(μ), μ in x's dtype            like mean
    x_centred = x - mean_rounded  # x − round(μ), exact near μ                like x
    if mean_rounded.dtype != mean.dtype:
        x_centred -= (mean - mean_rounded).astype(x.dtype)  # − (μ − round(μ)), the small remainder
    return x_centred


def normalize_forward(x, gamma, beta, axes, eps=1e-5):
    r"""Normalise ``x`` over ``axes``, then scale by ``gamma`` and shift by ``beta``.

    .. math:: \mu = \tfrac1m\sum x,\quad \sigma^2 = \tfrac1m\sum (x-\mu)^2,\quad
              \hat x = \frac{x-\mu}{\sqrt{\sigma^2+\epsilon}},\quad y = \gamma\hat x + \beta

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
    gamma, beta = real_array(gamma, "gamma"), real_array(beta, "beta")  # integers are fine: cast to x's dtype
    check_broadcast_parameter("gamma", gamma.shape, x.shape)
    check_same_shape("beta", beta.shape, gamma.shape, of="gamma")
    check_eps(eps)
    gamma = np.array(gamma, dtype=x.dtype)  # γ in x's dtype, the cache's own copy
    m = values_per_statistic(x.shape, axes)
    with np.errstate(invalid="ignore", divide="ignore"):  # m = 0 (an empty axis) gives NaN statistics
        mu = total(x, axes) / m  # μ = Σ x / m                                  float64, size 1 on axes
        x_centred = centred(x, mu)  # x − μ                                      like x
        squares = np.square(x_centred)  # (x − μ)²                               like x
        var = total(squares, axes) / m  # σ² = Σ (x − μ)² / m                    float64, like μ
        inv_std = 1.0 / np.sqrt(var + eps)  # 1 / √(σ² + ε)                      float64, like μ
    scale = (gamma * inv_std).astype(x.dtype)  # γ / √(σ² + ε)                   like μ
    y = np.multiply(x_centred, scale, out=squares)  # γ x̂ = γ (x − μ) / √(σ² + ε), in the array of the squares
    y += beta.astype(x.dtype)  # y = γ x̂ + β                                     like x
    return y, NormCache(x_centred=x_centred, gamma=gamma, inv_std=inv_std, mean=mu, var=var, axes=axes)


def normalize_backward(dy, cache: NormCache):
    r"""Backward pass of :func:`normalize_forward` in the compact form (see the module docstring).

    .. math:: \partial x = \frac{1}{\sqrt{\sigma^2+\epsilon}}\left(\partial\hat x - \overline{\partial\hat x}
              - \hat x\,\overline{\partial\hat x\,\hat x}\right),\quad \partial\hat x = \gamma\,\partial y,\quad
              \partial\gamma = \textstyle\sum \partial y\,\hat x,\quad \partial\beta = \sum \partial y

    Args:
        dy: upstream gradient :math:`\partial L/\partial y`, the shape of the forward input.
        cache: the :class:`NormCache` of the forward pass.
    Returns:
        ``(dx, dgamma, dbeta)``: ``dx`` like ``dy``; ``dgamma``, ``dbeta`` the shape of ``gamma``;
        all in ``dy``'s dtype, every sum accumulated in float64.
    """
    dy = float_array(dy, "dy")
    check_same_shape("dy", dy.shape, cache.shape)
    x_centred, gamma, inv_std, axes, m = cache.x_centred, cache.gamma, cache.inv_std, cache.axes, cache.m
    sum_axes = parameter_axes(gamma.shape, dy.ndim)  # where γ, β are broadcast
    dbeta = total(dy, sum_axes)  # ∂β = Σ ∂y                                  float64, size 1 on sum_axes
    work = np.result_type(dy, x_centred)  # the dtype dx is computed in (dy's, or x's if wider)
    with np.errstate(invalid="ignore", divide="ignore"):  # m = 0: the means are NaN, dx is empty
        if sum_axes == axes:  # γ and 1/√(σ² + ε) are one number per m values (BN): CS231n's compact form
            dy_centred = dy * x_centred  # ∂y (x − μ)                           like x
            inv_std_or_0 = inv_std if m else np.zeros_like(inv_std)  # an empty batch has NaN σ; its ∂γ is 0
            dgamma = total(dy_centred, axes) * inv_std_or_0  # ∂γ = Σ ∂y x̂ = Σ ∂y (x − μ) / √(σ² + ε)   like ∂β
            mean_dy = (dbeta / m).astype(work)  # mean(∂y)                     like ∂β
            k = (dgamma / m * inv_std).astype(work)  # k = mean(∂y x̂) / √(σ² + ε), so that x̂ mean(∂y x̂) = (x − μ) k
            scale = (gamma * inv_std).astype(work)  # γ / √(σ² + ε)            like ∂β
            # ∂x = γ / √(σ² + ε) · (∂y − mean(∂y) − (x − μ) k), in the array of ∂y (x − μ)      like x
            dx = _compact_form(dy, x_centred, mean_dy, k, scale, out=dy_centred)
        else:  # γ or 1/√(σ² + ε) varies among the values summed (LN, GN): x̂ and ∂x̂ first
            x_hat = cache.x_hat  # x̂ = (x − μ) / √(σ² + ε)                     like x
            dy_x_hat = dy * x_hat  # ∂y x̂                                       like x
            dgamma = total(dy_x_hat, sum_axes)  # ∂γ = Σ ∂y x̂                   like ∂β
            dx_hat = gamma * dy  # ∂x̂ = γ ∂y                                   like x
            mean_dx_hat = (total(dx_hat, axes) / m).astype(work)  # mean(∂x̂)   size 1 on axes
            dx_hat_x_hat = np.multiply(dx_hat, x_hat, out=dy_x_hat)  # ∂x̂ x̂, in the array of ∂y x̂
            mean_dx_hat_x_hat = (total(dx_hat_x_hat, axes) / m).astype(work)  # mean(∂x̂ x̂)
            # ∂x = 1 / √(σ² + ε) · (∂x̂ − mean(∂x̂) − x̂ mean(∂x̂ x̂)), in the array of ∂x̂ x̂       like x
            dx = _compact_form(dx_hat, x_hat, mean_dx_hat, mean_dx_hat_x_hat, inv_std.astype(work), out=dy_x_hat)
    dgamma, dbeta = (g.reshape(gamma.shape).astype(dy.dtype) for g in (dgamma, dbeta))  # γ's shape
    return dx.astype(dy.dtype, copy=False), dgamma, dbeta


def _compact_form(g, v, mean_g, k, scale, out):
    r"""``scale · (g − mean(g) − v k)``, one pass per step, written into ``out`` (an array like x, not ``g``).

    With ``g = ∂x̂``, ``v = x̂``, ``k = mean(∂x̂ x̂)`` and ``scale = 1/√(σ²+ε)`` this is :math:`\partial x`;
    for BN, where γ and σ are one number per channel, so is it with ``g = ∂y``, ``v = x − μ``,
    ``k = mean(∂y x̂)/√(σ²+ε)`` and ``scale = γ/√(σ²+ε)``.
    """
    np.multiply(v, k, out=out)  # v k                                                  like x
    out += mean_g  # v k + mean(g)
    np.subtract(g, out, out=out)  # g − mean(g) − v k
    out *= scale  # scale · (g − mean(g) − v k)
    return out
