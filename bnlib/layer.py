"""A stateful numpy BN layer with the semantics of ``torch.nn.BatchNorm1d/2d/3d``.

The layer holds the learnable γ, β and the running statistics, and calls the pure functions of
:mod:`bnlib.functional` and :mod:`bnlib.running_stats`. Its backward pass is written by hand.
"""
import numpy as np

from .functional import batchnorm_backward, batchnorm_forward, batchnorm_inference, per_channel, reduction_axes
from .running_stats import update_running_stats
from .validation import check_hyperparameters


class BatchNorm:
    r"""Batch Normalization for inputs of shape ``(N, C)`` or ``(N, C, *spatial)``.

    .. math:: y = \gamma \frac{x - \mu}{\sqrt{\sigma^2 + \epsilon}} + \beta

    Training mode (``.train()``, the default) normalises with the batch mean and biased variance
    and updates the running estimates (variance entered unbiased). Eval mode (``.eval()``) uses the
    running estimates, or the batch statistics when ``track_running_stats=False``, exactly as
    PyTorch does. The output has the input's dtype.

    Args:
        num_features: number of channels ``C``.
        eps: added to the variance, > 0.
        momentum: weight of the new batch in the running estimates, in [0, 1]; ``None`` averages
            all batches seen (cumulative average).
        affine: learn ``gamma`` (init 1) and ``beta`` (init 0); if False they are ``None``.
        track_running_stats: keep ``running_mean`` (init 0), ``running_var`` (init 1) and
            ``num_batches_tracked``; if False they are ``None``.

    Attributes:
        gamma, beta: shape ``(C,)`` float64, or None.
        running_mean, running_var: shape ``(C,)`` float64, or None.
        num_batches_tracked: int, or None.
        dgamma, dbeta: gradients set by :meth:`backward` (None when ``affine=False``).
        training: True in training mode.
    """

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True):
        check_hyperparameters(num_features, eps, momentum)
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        self.gamma = np.ones(num_features) if affine else None              # (C,)
        self.beta = np.zeros(num_features) if affine else None              # (C,)
        self.running_mean = np.zeros(num_features) if track_running_stats else None  # (C,)
        self.running_var = np.ones(num_features) if track_running_stats else None    # (C,)
        self.num_batches_tracked = 0 if track_running_stats else None
        self.dgamma = self.dbeta = None
        self.training = True
        self._cache = None

    def train(self, mode: bool = True) -> "BatchNorm":
        """Switch to training mode (or eval mode with ``mode=False``); returns the layer."""
        self.training = bool(mode)
        return self

    def eval(self) -> "BatchNorm":
        """Switch to eval mode; returns the layer."""
        return self.train(False)

    def _scale_shift(self, dtype):
        """γ and β in the input dtype; ones and zeros when the layer has no affine parameters."""
        if self.affine:
            return self.gamma.astype(dtype), self.beta.astype(dtype)
        return np.ones(self.num_features, dtype), np.zeros(self.num_features, dtype)

    def __call__(self, x) -> np.ndarray:
        """Normalise ``x`` of shape ``(N, C, *spatial)``; returns ``y`` of the same shape and dtype."""
        x = np.asarray(x)                     # the functions below validate x against gamma's (C,)
        gamma, beta = self._scale_shift(x.dtype)                            # (C,), (C,)
        if self.training or not self.track_running_stats:
            y, cache = batchnorm_forward(x, gamma, beta, self.eps)          # like x
            if self.training and self.track_running_stats:
                self.running_mean, self.running_var, self.num_batches_tracked = update_running_stats(
                    self.running_mean, self.running_var, cache.mean, cache.var, cache.m,
                    self.momentum, self.num_batches_tracked)
            self._cache = (cache, None)
            return y
        self._cache = (None, (x, gamma))                                    # backward rebuilds x_hat if asked
        return batchnorm_inference(x, gamma, beta, self.running_mean, self.running_var, self.eps)  # like x

    def backward(self, dy) -> np.ndarray:
        """Gradient of the loss with respect to the last input, given ``dy`` = dL/dy (the input's shape).

        Sets ``self.dgamma`` and ``self.dbeta`` (shape ``(C,)``) when the layer is affine. After an
        eval-mode forward with running statistics the layer is a fixed affine map per channel, and
        ``dx = dy * gamma / sqrt(running_var + eps)``.
        """
        if self._cache is None:
            raise RuntimeError("backward() called before a forward pass: call the layer on an input first")
        batch_cache, eval_cache = self._cache
        if batch_cache is not None:
            dx, dgamma, dbeta = batchnorm_backward(dy, batch_cache)
        else:
            dy = np.asarray(dy)
            eval_input, gamma = eval_cache
            if dy.shape != eval_input.shape:
                raise ValueError(f"dy must have the shape of the forward input {eval_input.shape}, got {dy.shape}")
            inv_std = 1.0 / np.sqrt(self.running_var + self.eps)               # (C,)
            x_hat = (eval_input - per_channel(self.running_mean, dy.ndim)) * per_channel(inv_std, dy.ndim)  # like x
            axes = reduction_axes(dy.ndim)
            dx = (dy * per_channel(gamma * inv_std, dy.ndim)).astype(dy.dtype)  # like x
            dgamma = (dy * x_hat).sum(axis=axes).astype(dy.dtype)              # (C,)
            dbeta = dy.sum(axis=axes)                                          # (C,)
        self.dgamma, self.dbeta = (dgamma, dbeta) if self.affine else (None, None)
        return dx

    def __repr__(self) -> str:
        return (f"BatchNorm({self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, track_running_stats={self.track_running_stats})")
