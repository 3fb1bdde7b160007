r"""Layer and Group Normalization written from scratch with torch tensor operations.

Each is a ``torch.nn.Module`` with PyTorch 2.13's constructor arguments and ``state_dict`` keys
(``weight``, ``bias``), so a ``state_dict`` loads into ``nn.LayerNorm`` / ``nn.GroupNorm`` and back.
Unlike BN, both normalise each example on its own: the same in training and eval mode, no
running estimates.
"""

import math

import torch
from torch import nn

from ..validation import (
    check_channel_input,
    check_eps,
    check_float_dtype,
    check_groups,
    check_input_shape,
    check_normalized_shape,
    check_trailing_shape,
)
from .common import affine, channel_shape, register_parameters, statistics


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
        register_parameters(self, self.normalized_shape, elementwise_affine, bias, factory)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalise ``x`` of shape ``(*, *normalized_shape)``; returns a tensor of the same shape."""
        check_float_dtype(x.dtype)
        check_trailing_shape(x.shape, self.normalized_shape)
        dims = list(range(x.dim() - len(self.normalized_shape), x.dim()))
        _, centred, var = statistics(x, dims)  # like x, (*, 1, ..., 1)
        return affine(centred / torch.sqrt(var + self.eps), self.weight, self.bias)  # γ x_hat + β

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
        register_parameters(self, (self.num_channels,), affine, bias, factory)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalise ``x`` of shape ``(N, C, *spatial)``; returns a tensor of the same shape."""
        check_float_dtype(x.dtype)
        check_channel_input(x.shape)
        check_input_shape(x.shape, self.num_channels)
        groups = x.reshape(
            x.shape[0], self.num_groups, math.prod(x.shape[1:]) // self.num_groups
        )  # (N, G, C/G * spatial)
        _, centred, var = statistics(groups, [2])  # (N, G, L), (N, G, 1)
        x_hat = (centred / torch.sqrt(var + self.eps)).reshape(x.shape)  # like x
        return affine(x_hat, self.weight, self.bias, channel_shape(x))

    def extra_repr(self) -> str:
        return (
            f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}, "
            f"bias={self.bias is not None}"
        )
