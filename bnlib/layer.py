"""Stateful numpy layers with the semantics of ``torch.nn.BatchNorm1d/2d/3d``, ``LayerNorm`` and ``GroupNorm``.

Each layer holds its learnable γ, β (and BN its running statistics), calls the pure functions of
:mod:`bnlib.functional` and :mod:`bnlib.running_stats`, and has a hand-written ``backward``.
Where they deliberately differ from PyTorch's modules:

* parameters and statistics are float64 numpy arrays named in the papers' notation (``gamma``,
  ``beta``), and the output has the *input's* dtype; there is no ``device`` or ``dtype`` argument;
* ``backward(dy)`` returns dL/dx and stores dL/dγ, dL/dβ in ``dgamma``, ``dbeta`` (no autograd).
"""

import numpy as np

from .functional import (
    batchnorm_backward,
    batchnorm_forward,
    batchnorm_inference_backward,
    batchnorm_inference_forward,
    groupnorm_backward,
    groupnorm_forward,
    layernorm_backward,
    layernorm_forward,
)
from .running_stats import update_running_stats
from .validation import (
    check_eps,
    check_groups,
    check_hyperparameters,
    check_input_shape,
    check_normalized_shape,
    float_array,
)


class _Layer:
    """Training/eval switch and the cache bookkeeping the three layers share."""

    training: bool
    _cache = None
    _backward = None

    def train(self, mode: bool = True):
        """Switch to training mode (or eval mode with ``mode=False``); returns the layer."""
        self.training = bool(mode)
        return self

    def eval(self):
        """Switch to eval mode; returns the layer."""
        return self.train(False)

    def backward(self, dy) -> np.ndarray:
        """Gradient of the loss with respect to the last input, given ``dy`` = dL/dy (the input's shape).

        Sets ``self.dgamma`` and ``self.dbeta`` (the shape of ``gamma``) for the parameters the layer
        has, ``None`` for the others.
        """
        if self._cache is None:
            raise RuntimeError("backward() called before a forward pass: call the layer on an input first")
        dx, dgamma, dbeta = self._backward(dy, self._cache)
        self.dgamma = dgamma if self.gamma is not None else None
        self.dbeta = dbeta if self.beta is not None else None
        return dx

    def _scale_shift(self, shape, dtype):
        """γ and β in the input dtype; ones and zeros for a parameter the layer does not have."""
        gamma = np.ones(shape, dtype) if self.gamma is None else self.gamma.astype(dtype)
        beta = np.zeros(shape, dtype) if self.beta is None else self.beta.astype(dtype)
        return gamma, beta


class BatchNorm(_Layer):
    r"""Batch Normalization for inputs of shape ``(N, C)`` or ``(N, C, *spatial)``.

    .. math:: y = \gamma \frac{x - \mu}{\sqrt{\sigma^2 + \epsilon}} + \beta

    Training mode (``.train()``, the default) normalises with the batch mean and biased variance
    and updates the running estimates (variance entered unbiased). Eval mode (``.eval()``) uses the
    running estimates, or the batch statistics when ``track_running_stats=False``, exactly as
    PyTorch does. An empty batch (``N = 0``) gives an empty output, leaves the running statistics
    unchanged and still counts in ``num_batches_tracked``, as in PyTorch. The output has the
    input's dtype.

    Args:
        num_features: number of channels ``C``.
        eps: added to the variance, > 0.
        momentum: weight of the new batch in the running estimates, in [0, 1]; ``None`` averages
            all batches seen (cumulative average).
        affine: learn ``gamma`` (init 1) and ``beta`` (init 0); if False both are ``None``.
        track_running_stats: keep ``running_mean`` (init 0), ``running_var`` (init 1) and
            ``num_batches_tracked``; if False they are ``None``.
        bias: keyword-only, as in PyTorch; with ``affine=True, bias=False`` there is a ``gamma``
            but ``beta`` is ``None`` (a shift of 0).

    Attributes:
        gamma, beta: shape ``(C,)`` float64, or None.
        running_mean, running_var: shape ``(C,)`` float64, or None.
        num_batches_tracked: int, or None.
        dgamma, dbeta: gradients set by :meth:`backward` (None for a missing parameter).
        training: True in training mode.
    """

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True, *, bias=True):
        check_hyperparameters(num_features, eps, momentum)
        self.num_features, self.eps, self.momentum = int(num_features), eps, momentum
        self.affine, self.track_running_stats = bool(affine), bool(track_running_stats)
        self.gamma = np.ones(num_features) if affine else None  # (C,)
        self.beta = np.zeros(num_features) if affine and bias else None  # (C,)
        self.running_mean = np.zeros(num_features) if track_running_stats else None  # (C,)
        self.running_var = np.ones(num_features) if track_running_stats else None  # (C,)
        self.num_batches_tracked = 0 if track_running_stats else None
        self.dgamma = self.dbeta = None
        self.training = True

    def __call__(self, x) -> np.ndarray:
        """Normalise ``x`` of shape ``(N, C, *spatial)``; returns ``y`` of the same shape and dtype."""
        x = float_array(x)
        check_input_shape(x.shape, self.num_features)
        gamma, beta = self._scale_shift(self.num_features, x.dtype)  # (C,), (C,)
        if self.training or not self.track_running_stats:
            y, cache = batchnorm_forward(x, gamma, beta, self.eps)  # like x
            if self.training and self.track_running_stats:
                self._count_batch(cache)
            self._cache, self._backward = cache, batchnorm_backward
            return y
        y, cache = batchnorm_inference_forward(x, gamma, beta, self.running_mean, self.running_var, self.eps)
        self._cache, self._backward = cache, batchnorm_inference_backward
        return y

    def _count_batch(self, cache) -> None:
        """Blend the batch statistics into the running ones (skipped for an empty batch, which still counts)."""
        if cache.m == 0:
            self.num_batches_tracked += 1
            return
        self.running_mean, self.running_var, self.num_batches_tracked = update_running_stats(
            self.running_mean, self.running_var, cache.mean, cache.var, cache.m, self.momentum, self.num_batches_tracked
        )

    def __repr__(self) -> str:
        return (
            f"BatchNorm({self.num_features}, eps={self.eps}, momentum={self.momentum}, "
            f"affine={self.affine}, bias={self.beta is not None}, "
            f"track_running_stats={self.track_running_stats})"
        )


class LayerNorm(_Layer):
    r"""Layer Normalization over the trailing ``normalized_shape`` axes of each example.

    .. math:: y = \gamma \odot \frac{x - \mu}{\sqrt{\sigma^2 + \epsilon}} + \beta

    The same computation in training and eval mode (no running statistics).

    Args:
        normalized_shape: an int or a tuple: the input is ``(*, *normalized_shape)``.
        eps: added to the variance, > 0.
        elementwise_affine: learn ``gamma`` (init 1) and ``beta`` (init 0), each of shape
            ``normalized_shape``; if False both are ``None``.
        bias: keyword-only, as in PyTorch: with ``bias=False`` there is no ``beta``.
    """

    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, *, bias=True):
        self.normalized_shape = check_normalized_shape(normalized_shape)
        self.eps, self.elementwise_affine = check_eps(eps), bool(elementwise_affine)
        self.gamma = np.ones(self.normalized_shape) if elementwise_affine else None
        self.beta = np.zeros(self.normalized_shape) if elementwise_affine and bias else None
        self.dgamma = self.dbeta = None
        self.training = True

    def __call__(self, x) -> np.ndarray:
        """Normalise ``x`` of shape ``(*, *normalized_shape)``; returns ``y`` of the same shape and dtype."""
        x = float_array(x)
        gamma, beta = self._scale_shift(self.normalized_shape, x.dtype)
        y, self._cache = layernorm_forward(x, gamma, beta, self.eps)
        self._backward = layernorm_backward
        return y

    def __repr__(self) -> str:
        return (
            f"LayerNorm({self.normalized_shape}, eps={self.eps}, "
            f"elementwise_affine={self.elementwise_affine}, bias={self.beta is not None})"
        )


class GroupNorm(_Layer):
    r"""Group Normalization for inputs of shape ``(N, C)`` or ``(N, C, *spatial)``.

    .. math:: y = \gamma_c \frac{x - \mu_{ng}}{\sqrt{\sigma^2_{ng} + \epsilon}} + \beta_c

    with statistics per example ``n`` and group ``g`` of ``C / num_groups`` channels. The same
    computation in training and eval mode.

    Args:
        num_groups: ``G``, a divisor of ``num_channels``.
        num_channels: ``C``.
        eps: added to the variance, > 0.
        affine: learn ``gamma`` (init 1) and ``beta`` (init 0) of shape ``(C,)``; if False both are ``None``.
        bias: keyword-only, as in PyTorch: with ``bias=False`` there is no ``beta``.
    """

    def __init__(self, num_groups, num_channels, eps=1e-5, affine=True, *, bias=True):
        check_groups(num_groups, num_channels)
        self.num_groups, self.num_channels = int(num_groups), int(num_channels)
        self.eps, self.affine = check_eps(eps), bool(affine)
        self.gamma = np.ones(self.num_channels) if affine else None
        self.beta = np.zeros(self.num_channels) if affine and bias else None
        self.dgamma = self.dbeta = None
        self.training = True

    def __call__(self, x) -> np.ndarray:
        """Normalise ``x`` of shape ``(N, C, *spatial)``; returns ``y`` of the same shape and dtype."""
        x = float_array(x)
        check_input_shape(x.shape, self.num_channels)
        gamma, beta = self._scale_shift(self.num_channels, x.dtype)
        y, self._cache = groupnorm_forward(x, gamma, beta, self.num_groups, self.eps)
        self._backward = groupnorm_backward
        return y

    def __repr__(self) -> str:
        return (
            f"GroupNorm({self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}, "
            f"bias={self.beta is not None})"
        )
