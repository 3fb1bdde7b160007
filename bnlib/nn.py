r"""Batch Normalization written from scratch with torch tensor operations.

:class:`BatchNorm` is a ``torch.nn.Module`` whose forward pass is the textbook formula in plain
tensor operations, so autograd derives the backward pass. Its parameters and buffers carry
PyTorch's names (``weight``, ``bias``, ``running_mean``, ``running_var``,
``num_batches_tracked``), so a ``state_dict`` loads into ``nn.BatchNorm1d/2d/3d`` and back.
"""
import torch
from torch import nn

from .validation import check_batch_size, check_float_dtype, check_hyperparameters, check_input_shape


class BatchNorm(nn.Module):
    r"""BN for inputs of shape ``(N, C)`` or ``(N, C, *spatial)``, with ``torch.nn.BatchNorm*d`` semantics.

    .. math:: y = \text{weight} \cdot \frac{x - \mu}{\sqrt{\sigma^2 + \epsilon}} + \text{bias}

    In training mode (or whenever ``track_running_stats=False``) :math:`\mu, \sigma^2` are the
    batch mean and biased variance over every axis except ``C``; in training mode the running
    estimates are updated as ``(1 - momentum) * running + momentum * batch`` with the *unbiased*
    batch variance (``momentum=None``: cumulative average). In eval mode the running estimates are
    used.

    Args:
        num_features: number of channels ``C``.
        eps: added to the variance, > 0.
        momentum: weight of the new batch in the running estimates, in [0, 1], or ``None``.
        affine: learn ``weight`` (γ, init 1) and ``bias`` (β, init 0).
        track_running_stats: keep ``running_mean``, ``running_var``, ``num_batches_tracked``.
    """

    _version = 2  # the state_dict layout of torch.nn.BatchNorm*d (with num_batches_tracked)

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True,
                 device=None, dtype=None):
        super().__init__()
        check_hyperparameters(num_features, eps, momentum)
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        factory = {"device": device, "dtype": dtype}
        if affine:
            self.weight = nn.Parameter(torch.ones(num_features, **factory))   # (C,)  gamma
            self.bias = nn.Parameter(torch.zeros(num_features, **factory))    # (C,)  beta
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", torch.zeros(num_features, **factory))  # (C,)
            self.register_buffer("running_var", torch.ones(num_features, **factory))    # (C,)
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
        use_batch_stats = self.training or not self.track_running_stats
        shape = (1, -1) + (1,) * (x.dim() - 2)                        # broadcast a (C,) vector
        if use_batch_stats:
            if self.training:
                check_batch_size(x.shape)
            dims = [0] + list(range(2, x.dim()))                      # every axis but C
            # The mean is accumulated in float64: float32 sums of large values lose digits.
            mean = x.mean(dim=dims, dtype=torch.float64).to(x.dtype)  # (C,)
            centred = x - mean.reshape(shape)                         # like x
            var = (centred ** 2).mean(dim=dims)                       # (C,)  biased
            if self.training and self.track_running_stats:
                self._update_running_stats(mean, var, x.numel() // x.shape[1])
        else:
            mean, var = self.running_mean, self.running_var           # (C,), (C,)
            centred = x - mean.reshape(shape)                         # like x
        x_hat = centred / torch.sqrt(var.reshape(shape) + self.eps)   # like x
        if self.affine:
            return x_hat * self.weight.reshape(shape) + self.bias.reshape(shape)
        return x_hat

    @torch.no_grad()
    def _update_running_stats(self, mean: torch.Tensor, var: torch.Tensor, m: int) -> None:
        """Blend the batch statistics into the running ones; the variance enters unbiased."""
        self.num_batches_tracked += 1
        momentum = 1.0 / self.num_batches_tracked.item() if self.momentum is None else self.momentum
        unbiased_var = var * m / (m - 1)                              # (C,)
        self.running_mean.mul_(1 - momentum).add_(momentum * mean)
        self.running_var.mul_(1 - momentum).add_(momentum * unbiased_var)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"track_running_stats={self.track_running_stats}")
