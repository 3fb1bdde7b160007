r"""``BatchNorm``: BN as a ``torch.nn.Module`` written from scratch, the base of every BN variant.

Its ``forward`` is the textbook formula in plain tensor operations, so autograd derives the
backward pass, in steps a variant can replace one at a time:

1. the checks (dtype, shape);
2. ``_batch_statistics(x)`` (training, or no running estimates): :math:`x - \mu_B` and
   :math:`\sigma^2_B`, and what the running estimates take in (:class:`~bnlib.nn.common.BatchStatistics`);
   :class:`~bnlib.nn.SyncBatchNorm` gathers them over processes, :class:`~bnlib.nn.GhostBatchNorm`
   takes them per chunk;
3. ``_normalize(x, stats)``: :math:`\hat x = (x - \mu_B)/\sqrt{\sigma^2_B + \epsilon}`
   (:class:`~bnlib.nn.BatchRenorm` corrects it with the running estimates, before they move);
4. the running update (:func:`bnlib.nn.common.update_running_stats`, in training);
5. the affine step :math:`y = \gamma \hat x + \beta`.

In eval mode (with running estimates) steps 2-4 become :math:`\hat x = (x - \hat\mu)/\sqrt{\hat\sigma^2 + \epsilon}`.
"""

import torch
from torch import nn

from ..validation import check_batch_size, check_float_dtype, check_hyperparameters, check_input_shape
from .common import BatchStatistics, affine, channel_shape, register_parameters, statistics, update_running_stats


class BatchNorm(nn.Module):
    r"""BN for inputs of shape ``(N, C)`` or ``(N, C, *spatial)``, with ``torch.nn.BatchNorm*d`` semantics.

    .. math:: y = \text{weight} \cdot \frac{x - \mu}{\sqrt{\sigma^2 + \epsilon}} + \text{bias}

    In training mode (or whenever ``track_running_stats=False``) :math:`\mu, \sigma^2` are the
    batch mean and biased variance over every axis except ``C``; in training mode the running
    estimates are updated as ``(1 - momentum) * running + momentum * batch`` with the *unbiased*
    batch variance (``momentum=None``: cumulative average). In eval mode the running estimates are
    used. An empty batch (``N = 0``) gives an empty output, leaves the running statistics
    unchanged and still counts in ``num_batches_tracked``, as PyTorch does.

    Constructor arguments, parameters, buffers and ``state_dict`` keys are PyTorch 2.13's
    (``weight``, ``bias``, ``running_mean``, ``running_var``, ``num_batches_tracked``), so a
    ``state_dict`` loads into ``nn.BatchNorm1d/2d/3d`` and back. One difference: given an input
    of another float dtype than its parameters (float32 data into a ``.double()`` module), PyTorch
    raises "mixed dtype", while this module lets torch promote and returns the wider dtype.

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
        register_parameters(self, (num_features,), affine, bias, factory)  # weight (C,) γ, bias (C,) β
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
        check_float_dtype(x.dtype)
        check_input_shape(x.shape, self.num_features)
        shape = channel_shape(x)  # broadcast a (C,) vector
        if self.training or not self.track_running_stats:
            stats = self._batch_statistics(x)
            x_hat = self._normalize(x, stats)  # like x
            if self.training and self.track_running_stats:
                update_running_stats(
                    self.running_mean,
                    self.running_var,
                    stats.mean,
                    stats.batch_var,
                    stats.m,
                    self.momentum,
                    self.num_batches_tracked,
                )
        else:
            x_hat = (x - self.running_mean.reshape(shape)) / torch.sqrt(self.running_var.reshape(shape) + self.eps)
        return affine(x_hat, self.weight, self.bias, shape)

    def _batch_statistics(self, x: torch.Tensor) -> BatchStatistics:
        r""":math:`x - \mu_B` (like ``x``), :math:`\sigma^2_B` (``(1, C, 1, ...)``) over every axis but ``C``;
        ``mean``, ``batch_var`` ``(C,)`` and ``m = N \cdot \prod \text{spatial}`` for the running update.
        More than one value per channel is required (in eval mode too, when there are no running
        estimates: the batch's own statistics are used then, as in PyTorch)."""
        check_batch_size(x.shape)
        mean, centred, var = statistics(x, [0] + list(range(2, x.dim())))  # (1, C, 1, ...), like x, (1, C, 1, ...)
        return BatchStatistics(centred, var, mean.reshape(-1), var.reshape(-1), x.numel() // x.shape[1])

    def _normalize(self, x: torch.Tensor, stats: BatchStatistics) -> torch.Tensor:
        r""":math:`\hat x = (x - \mu_B) / \sqrt{\sigma^2_B + \epsilon}`, shaped like ``x``."""
        return (stats.centred / torch.sqrt(stats.var + self.eps)).reshape(x.shape)

    def extra_repr(self) -> str:
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
            f"bias={self.bias is not None}, track_running_stats={self.track_running_stats}"
        )
