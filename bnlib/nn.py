r"""Batch, Layer and Group Normalization written from scratch with torch tensor operations.

Each class is a ``torch.nn.Module`` whose forward pass is the textbook formula in plain tensor
operations, so autograd derives the backward pass. Constructor arguments, parameters, buffers and
``state_dict`` keys are PyTorch 2.13's, so a ``state_dict`` loads into ``nn.BatchNorm1d/2d/3d``,
``nn.LayerNorm``, ``nn.GroupNorm`` and back:

=====================  ================================================  ==========================
bnlib.nn               constructor (as PyTorch)                          state_dict
=====================  ================================================  ==========================
``BatchNorm``          ``(num_features, eps, momentum, affine,           weight, bias, running_mean,
                       track_running_stats, device, dtype, *, bias)``    running_var, num_batches_tracked
``LayerNorm``          ``(normalized_shape, eps, elementwise_affine,     weight, bias
                       bias, device, dtype)``
``GroupNorm``          ``(num_groups, num_channels, eps, affine,         weight, bias
                       device, dtype, *, bias)``
=====================  ================================================  ==========================

(``weight`` = γ, ``bias`` = β; absent when ``affine``/``elementwise_affine`` is False, and
``bias`` absent when ``bias=False``.)

Accuracy in float32, deliberately like PyTorch's kernels and not like bnlib's numpy path: the
mean is accumulated in float64 but rounded to the input dtype before centring, and the variance
is a float32 mean of squares. On float32 data 10⁴ + N(0, 1) the output is off by about 5e-4,
the same order as ``torch.nn.BatchNorm2d``'s; the numpy functions are accurate to about 1e-6
there. The modules stay the textbook formula so that students can read them; use float64 (or
the numpy path) where that matters.
"""

import math

import torch
from torch import nn

from .validation import (
    check_batch_size,
    check_channel_input,
    check_eps,
    check_float_dtype,
    check_groups,
    check_hyperparameters,
    check_input_shape,
    check_normalized_shape,
    check_trailing_shape,
)


def _statistics(x: torch.Tensor, dims: list[int]) -> tuple:
    """Mean, centred input and biased variance over ``dims`` (kept with size 1).

    The mean is summed in float64 and rounded to ``x``'s dtype (see the module docstring).
    """
    mean = x.mean(dim=dims, keepdim=True, dtype=torch.float64).to(x.dtype)  # μ
    centred = x - mean  # x - μ
    var = (centred * centred).mean(dim=dims, keepdim=True)  # σ², biased
    return mean, centred, var


def _parameters(module: nn.Module, shape: tuple, affine: bool, bias: bool, factory: dict) -> None:
    """Register ``weight`` (ones) and ``bias`` (zeros) of ``shape``, or ``None`` where PyTorch has none."""
    weight = nn.Parameter(torch.ones(shape, **factory)) if affine else None
    module.register_parameter("weight", weight)
    module.register_parameter("bias", nn.Parameter(torch.zeros(shape, **factory)) if affine and bias else None)


class BatchNorm(nn.Module):
    r"""BN for inputs of shape ``(N, C)`` or ``(N, C, *spatial)``, with ``torch.nn.BatchNorm*d`` semantics.

    .. math:: y = \text{weight} \cdot \frac{x - \mu}{\sqrt{\sigma^2 + \epsilon}} + \text{bias}

    In training mode (or whenever ``track_running_stats=False``) :math:`\mu, \sigma^2` are the
    batch mean and biased variance over every axis except ``C``; in training mode the running
    estimates are updated as ``(1 - momentum) * running + momentum * batch`` with the *unbiased*
    batch variance (``momentum=None``: cumulative average). In eval mode the running estimates are
    used. An empty batch (``N = 0``) gives an empty output, leaves the running statistics
    unchanged and still counts in ``num_batches_tracked``, as PyTorch does.

    Args:
        num_features: number of channels ``C``.
        eps: added to the variance, > 0.
        momentum: weight of the new batch in the running estimates, in [0, 1], or ``None``.
        affine: learn ``weight`` (γ, init 1) and ``bias`` (β, init 0).
        track_running_stats: keep ``running_mean``, ``running_var``, ``num_batches_tracked``.
        device, dtype: where and in which dtype the parameters and running statistics live.
        bias: keyword-only; ``affine=True, bias=False`` learns ``weight`` only.
    """

    def __init__(
        self,
        num_features,
        eps=1e-5,
        momentum=0.1,
        affine=True,
        track_running_stats=True,
        device=None,
        dtype=None,
        *,
        bias=True,
    ):
        super().__init__()
        check_hyperparameters(num_features, eps, momentum)
        self.num_features, self.eps, self.momentum = int(num_features), eps, momentum
        self.affine, self.track_running_stats = bool(affine), bool(track_running_stats)
        factory = {"device": device, "dtype": dtype}
        _parameters(self, (num_features,), affine, bias, factory)  # weight (C,) γ, bias (C,) β
        if track_running_stats:
            self.register_buffer("running_mean", torch.zeros(num_features, **factory))  # (C,)
            self.register_buffer("running_var", torch.ones(num_features, **factory))  # (C,)
            self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long, device=device))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def reset_running_stats(self) -> None:
        """Running mean 0, running variance 1, no batches tracked."""
        if self.track_running_stats:
            self.running_mean.zero_()
            self.running_var.fill_(1.0)
            self.num_batches_tracked.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalise ``x`` (shape ``(N, C, *spatial)``); returns a tensor of the same shape."""
        check_float_dtype(x.dtype, x.is_floating_point())
        check_input_shape(x.shape, self.num_features)
        shape = (1, -1) + (1,) * (x.dim() - 2)  # broadcast a (C,) vector
        if self.training or not self.track_running_stats:
            if self.training:
                check_batch_size(x.shape)
            mean, centred, var = _statistics(x, [0] + list(range(2, x.dim())))  # (1, C, 1, ...), like x, (1, C, 1, ...)
            if self.training and self.track_running_stats:
                self._update_running_stats(mean.reshape(-1), var.reshape(-1), x.numel() // x.shape[1])
        else:
            centred = x - self.running_mean.reshape(shape)  # like x
            var = self.running_var.reshape(shape)  # (1, C, 1, ...)
        y = centred / torch.sqrt(var + self.eps)  # like x: x_hat
        if self.weight is not None:
            y = y * self.weight.reshape(shape)
        if self.bias is not None:
            y = y + self.bias.reshape(shape)
        return y

    @torch.no_grad()
    def _update_running_stats(self, mean: torch.Tensor, var: torch.Tensor, m: int) -> None:
        """Blend the batch statistics into the running ones (variance unbiased); an empty batch only counts."""
        self.num_batches_tracked += 1
        if m == 0:
            return
        momentum = 1.0 / self.num_batches_tracked.item() if self.momentum is None else self.momentum
        self.running_mean.mul_(1 - momentum).add_(momentum * mean)
        self.running_var.mul_(1 - momentum).add_(momentum * var * m / (m - 1))

    def extra_repr(self) -> str:
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
            f"bias={self.bias is not None}, track_running_stats={self.track_running_stats}"
        )


class LayerNorm(nn.Module):
    r"""Layer Normalization over the trailing ``normalized_shape`` axes, with ``torch.nn.LayerNorm`` semantics.

    .. math:: y = \text{weight} \odot \frac{x - \mu}{\sqrt{\sigma^2 + \epsilon}} + \text{bias}

    :math:`\mu, \sigma^2` (biased) per example over the last ``len(normalized_shape)`` axes; the
    same in training and eval mode.

    Args:
        normalized_shape: an int or a sequence of ints: the input is ``(*, *normalized_shape)``.
        eps: added to the variance, > 0.
        elementwise_affine: learn ``weight`` (init 1) and ``bias`` (init 0) of shape ``normalized_shape``.
        bias: with ``bias=False`` only ``weight`` is learnt.
        device, dtype: where and in which dtype the parameters live.
    """

    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, bias=True, device=None, dtype=None):
        super().__init__()
        self.normalized_shape = check_normalized_shape(normalized_shape)
        self.eps, self.elementwise_affine = check_eps(eps), bool(elementwise_affine)
        factory = {"device": device, "dtype": dtype}
        _parameters(self, self.normalized_shape, elementwise_affine, bias, factory)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalise ``x`` of shape ``(*, *normalized_shape)``; returns a tensor of the same shape."""
        check_float_dtype(x.dtype, x.is_floating_point())
        check_trailing_shape(x.shape, self.normalized_shape)
        dims = list(range(x.dim() - len(self.normalized_shape), x.dim()))
        _, centred, var = _statistics(x, dims)  # like x, (*, 1, ..., 1)
        y = centred / torch.sqrt(var + self.eps)  # x_hat
        if self.weight is not None:
            y = y * self.weight
        if self.bias is not None:
            y = y + self.bias
        return y

    def extra_repr(self) -> str:
        return (
            f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}, "
            f"bias={self.bias is not None}"
        )


class GroupNorm(nn.Module):
    r"""Group Normalization for ``(N, C)`` or ``(N, C, *spatial)`` inputs, with ``torch.nn.GroupNorm`` semantics.

    .. math:: y = \text{weight}_c \frac{x - \mu_{ng}}{\sqrt{\sigma^2_{ng} + \epsilon}} + \text{bias}_c

    :math:`\mu_{ng}, \sigma^2_{ng}` (biased) per example ``n`` over group ``g``'s ``C / num_groups``
    channels and all spatial axes; the same in training and eval mode.

    Args:
        num_groups: ``G``, a divisor of ``num_channels``.
        num_channels: ``C``.
        eps: added to the variance, > 0.
        affine: learn per-channel ``weight`` (init 1) and ``bias`` (init 0).
        device, dtype: where and in which dtype the parameters live.
        bias: keyword-only; with ``bias=False`` only ``weight`` is learnt.
    """

    def __init__(self, num_groups, num_channels, eps=1e-5, affine=True, device=None, dtype=None, *, bias=True):
        super().__init__()
        check_groups(num_groups, num_channels)
        self.num_groups, self.num_channels = int(num_groups), int(num_channels)
        self.eps, self.affine = check_eps(eps), bool(affine)
        factory = {"device": device, "dtype": dtype}
        _parameters(self, (self.num_channels,), affine, bias, factory)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalise ``x`` of shape ``(N, C, *spatial)``; returns a tensor of the same shape."""
        check_float_dtype(x.dtype, x.is_floating_point())
        check_channel_input(x.shape)
        check_input_shape(x.shape, self.num_channels)
        groups = x.reshape(
            x.shape[0], self.num_groups, math.prod(x.shape[1:]) // self.num_groups
        )  # (N, G, C/G * spatial)
        _, centred, var = _statistics(groups, [2])  # (N, G, L), (N, G, 1)
        y = (centred / torch.sqrt(var + self.eps)).reshape(x.shape)  # x_hat, like x
        shape = (1, -1) + (1,) * (x.dim() - 2)  # broadcast a (C,) vector
        if self.weight is not None:
            y = y * self.weight.reshape(shape)
        if self.bias is not None:
            y = y + self.bias.reshape(shape)
        return y

    def extra_repr(self) -> str:
        return (
            f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}, "
            f"bias={self.bias is not None}"
        )


def __getattr__(name):
    """``bnlib.nn.SyncBatchNorm`` and ``bnlib.nn.GhostBatchNorm`` live in :mod:`bnlib.distributed`
    (they build on :class:`BatchNorm` and ``torch.distributed``); they are loaded on first use."""
    if name in ("SyncBatchNorm", "GhostBatchNorm"):
        from . import distributed

        return getattr(distributed, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
