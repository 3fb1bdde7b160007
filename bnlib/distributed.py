r"""BN across processes: batch statistics synchronised with ``torch.distributed``.

In data-parallel training a global batch of :math:`m` values per channel is split over :math:`P`
processes; process :math:`k` sees :math:`m_k` of them. Plain BN in each process normalises with its
own share's statistics ("ghost" batches). Synchronised BN normalises every share with the
statistics of the whole batch. Each process contributes, per channel,

.. math:: m_k, \qquad s_k = \sum_{i \in k} x_i, \qquad q_k = \sum_{i \in k} x_i^2

and one all-reduce (a sum over the processes) of the vector :math:`(s, q, m)` (:math:`2C + 1`
numbers) gives every process

.. math:: \mu_B = \frac{\sum_k s_k}{\sum_k m_k}, \qquad
          \sigma^2_B = \frac{\sum_k q_k}{\sum_k m_k} - \mu_B^2 .

The sums are accumulated in float64, so that :math:`\mathrm{E}[x^2] - \mathrm{E}[x]^2` keeps its
digits for data whose offset is large against its spread (float64 leaves about
:math:`10^{-16}\,(\text{offset}/\text{spread})^2` of relative error in :math:`\sigma^2_B`). Unequal
shares are handled by the counts.

**The all-reduce must be differentiable.** :math:`\mu_B` and :math:`\sigma^2_B` depend on every
process's inputs, so the gradient that reaches process :math:`k`'s inputs through them includes
the other processes' losses. :class:`AllReduceSum` sums in forward *and* sums the incoming
gradients over the processes in backward. An all-reduce that autograd does not see
(:func:`naive_all_reduce_sum`, e.g. ``dist.all_reduce`` under ``torch.no_grad()``) gives the right
output and a silently wrong input gradient.

Parameter gradients stay per process, as in ``torch.nn.SyncBatchNorm``: each process's
``weight.grad`` is its own share's contribution, and data-parallel training sums (or averages)
them over the processes like every other parameter gradient.
"""

import torch
import torch.distributed as dist
from torch import nn

from .nn import BatchNorm
from .validation import check_batch_size, check_float_dtype, check_input_shape


def _world_size(group) -> int:
    """Processes in ``group``; 1 when torch.distributed is unavailable or not initialised."""
    if not (dist.is_available() and dist.is_initialized()):
        return 1
    return dist.get_world_size(group)


class AllReduceSum(torch.autograd.Function):
    """Sum a tensor over the processes of a group; the backward pass sums the gradients the same way.

    If every process ``j`` computes a loss :math:`L_j` from the summed tensor :math:`T = \\sum_k t_k`,
    the gradient of the total loss with respect to process ``k``'s part is
    :math:`\\sum_j \\partial L_j / \\partial T`: another all-reduce.
    """

    @staticmethod
    def forward(ctx, tensor: torch.Tensor, group) -> torch.Tensor:
        ctx.group = group
        total = tensor.clone()
        dist.all_reduce(total, op=dist.ReduceOp.SUM, group=group)
        return total

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        total = grad.contiguous().clone()
        dist.all_reduce(total, op=dist.ReduceOp.SUM, group=ctx.group)
        return total, None


def all_reduce_sum(tensor: torch.Tensor, group=None) -> torch.Tensor:
    """Differentiable sum of ``tensor`` over the processes of ``group`` (a copy when there is one process)."""
    if _world_size(group) == 1:
        return tensor.clone()
    return AllReduceSum.apply(tensor, group)


def naive_all_reduce_sum(tensor: torch.Tensor, group=None) -> torch.Tensor:
    """The bug, kept for the lesson: the sum's value, but autograd sees only this process's part.

    This is what ``dist.all_reduce`` under ``torch.no_grad()`` (or on a detached copy) amounts to:
    the other processes' contributions enter as a constant, so no gradient flows to or from them.
    """
    if _world_size(group) == 1:
        return tensor.clone()
    total = tensor.detach().clone()
    dist.all_reduce(total, op=dist.ReduceOp.SUM, group=group)
    return tensor + (total - tensor.detach())


def sync_batch_statistics(x: torch.Tensor, group=None, reduce=all_reduce_sum):
    r"""Mean and biased variance per channel over the whole batch, whose shares live in the processes.

    Args:
        x: this process's share, ``(n_k, C)`` or ``(n_k, C, *spatial)``.
        group: the process group (``None``: every process).
        reduce: the all-reduce, :func:`all_reduce_sum` (differentiable) or :func:`naive_all_reduce_sum`.
    Returns:
        ``(mean, var, m)``: float64 tensors of shape ``(C,)``, ``(C,)`` and ``()``; ``m`` is the number
        of values per channel in the whole batch.
    """
    dims = [0] + list(range(2, x.dim()))  # every axis but C
    wide = x.double()
    local = torch.cat(
        [
            wide.sum(dim=dims),  # s_k, (C,)
            (wide * wide).sum(dim=dims),  # q_k, (C,)
            wide.new_tensor([x.numel() // x.shape[1]]),
        ]
    )  # m_k, (1,)
    total = reduce(local, group)  # (2C + 1,)
    c = x.shape[1]
    m = total[2 * c]
    mean = total[:c] / m
    var = total[c : 2 * c] / m - mean * mean
    return mean, var, m


class SyncBatchNorm(BatchNorm):
    r"""BN whose training-mode statistics are those of the whole batch across a process group.

    Same parameters, buffers and ``state_dict`` as :class:`bnlib.nn.BatchNorm` (and so as
    ``torch.nn.BatchNorm*d`` and ``torch.nn.SyncBatchNorm``). Inputs ``(N, C, *spatial)``.

    In training mode, when ``torch.distributed`` is initialised and the group has more than one
    process, :math:`\mu_B, \sigma^2_B` come from :func:`sync_batch_statistics` (one differentiable
    all-reduce of :math:`2C+1` float64 numbers) and the running estimates take the *unbiased*
    :math:`\frac{m}{m-1}\sigma^2_B` of the whole batch, so every process keeps the same running
    statistics. Otherwise (eval mode, one process, no initialised group) it is plain BN: no
    process group is needed to use or test it.

    Args:
        num_features, eps, momentum, affine, track_running_stats, device, dtype, bias: as
            :class:`bnlib.nn.BatchNorm` (and ``torch.nn.SyncBatchNorm``).
        process_group: the group to synchronise over; ``None`` is every process.
    """

    def __init__(
        self,
        num_features,
        eps=1e-5,
        momentum=0.1,
        affine=True,
        track_running_stats=True,
        process_group=None,
        device=None,
        dtype=None,
        *,
        bias=True,
    ):
        super().__init__(
            num_features,
            eps=eps,
            momentum=momentum,
            affine=affine,
            track_running_stats=track_running_stats,
            device=device,
            dtype=dtype,
            bias=bias,
        )
        self.process_group = process_group

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalise this process's share ``x``; returns a tensor of the same shape."""
        if not self.training or _world_size(self.process_group) == 1:
            return super().forward(x)  # no synchronisation needed
        check_float_dtype(x.dtype, x.is_floating_point())
        check_input_shape(x.shape, self.num_features)
        mean, var, m = sync_batch_statistics(x, self.process_group)
        check_batch_size((int(m.item()), self.num_features))  # more than 1 value per channel
        if self.track_running_stats:
            self._update_synced_running_stats(mean, var, int(m.item()))
        shape = (1, -1) + (1,) * (x.dim() - 2)  # broadcast a (C,) vector
        x_hat = (x - mean.to(x.dtype).reshape(shape)) / torch.sqrt(var.to(x.dtype).reshape(shape) + self.eps)
        if self.weight is not None:
            x_hat = x_hat * self.weight.reshape(shape)
        if getattr(self, "bias", None) is not None:
            x_hat = x_hat + self.bias.reshape(shape)
        return x_hat

    @torch.no_grad()
    def _update_synced_running_stats(self, mean: torch.Tensor, var: torch.Tensor, m: int) -> None:
        """PyTorch's update with the whole batch's statistics; the variance enters unbiased."""
        self.num_batches_tracked += 1
        momentum = 1.0 / self.num_batches_tracked.item() if self.momentum is None else self.momentum
        self.running_mean.mul_(1 - momentum).add_(momentum * mean.to(self.running_mean.dtype))
        self.running_var.mul_(1 - momentum).add_(momentum * (var * m / (m - 1)).to(self.running_var.dtype))

    def extra_repr(self) -> str:
        return super().extra_repr() + (", process_group=…" if self.process_group is not None else "")

    @classmethod
    def convert_sync_batchnorm(cls, module: nn.Module, process_group=None) -> nn.Module:
        """Replace every BN layer of ``module`` (``torch.nn.BatchNorm1d/2d/3d`` or :class:`bnlib.nn.BatchNorm`)
        by a :class:`SyncBatchNorm` that carries its state: the same ``weight`` and ``bias``
        parameter objects (so an optimiser built earlier still updates them), the running
        statistics, ``num_batches_tracked`` and the train/eval mode.

        Returns ``module`` with its BN layers replaced, or a new layer if ``module`` itself is one.
        """
        output = module
        if isinstance(module, (nn.modules.batchnorm._BatchNorm, BatchNorm)) and not isinstance(module, cls):
            reference = module.weight if module.weight is not None else module.running_mean
            output = cls(
                module.num_features,
                module.eps,
                module.momentum,
                module.affine,
                module.track_running_stats,
                process_group,
                device=None if reference is None else reference.device,
                dtype=None if reference is None else reference.dtype,
                bias=getattr(module, "bias", None) is not None,
            )
            if module.affine:
                output.weight = module.weight
                output.bias = module.bias
            output.running_mean = module.running_mean
            output.running_var = module.running_var
            output.num_batches_tracked = module.num_batches_tracked
            output.train(module.training)
        for name, child in module.named_children():
            output.add_module(name, cls.convert_sync_batchnorm(child, process_group))
        return output


class GhostBatchNorm(BatchNorm):
    r"""Per-process BN, simulated in one process: the batch is cut into ``num_splits`` equal chunks
    and each is normalised with its own statistics ("ghost batches").

    Data-parallel training without synchronisation does exactly this: process :math:`k` normalises
    rows :math:`k\,n \ldots (k+1)\,n - 1` of the global batch with their statistics, and the
    averaged gradients are those of the mean loss over all chunks. The running estimates are
    updated from the first chunk only, as the copy of rank 0 (the one usually saved) would be.
    Eval mode uses the running estimates, like :class:`bnlib.nn.BatchNorm`.

    Args:
        num_features: number of channels ``C``.
        num_splits: chunks per batch; the batch size must be a multiple of it.
        others: as :class:`bnlib.nn.BatchNorm`.
    """

    def __init__(
        self,
        num_features,
        num_splits,
        eps=1e-5,
        momentum=0.1,
        affine=True,
        track_running_stats=True,
        device=None,
        dtype=None,
        *,
        bias=True,
    ):
        super().__init__(
            num_features,
            eps=eps,
            momentum=momentum,
            affine=affine,
            track_running_stats=track_running_stats,
            device=device,
            dtype=dtype,
            bias=bias,
        )
        if isinstance(num_splits, bool) or not isinstance(num_splits, int) or num_splits < 1:
            raise ValueError(f"num_splits must be a positive integer, got {num_splits!r}")
        self.num_splits = num_splits

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalise each of the ``num_splits`` chunks of ``x`` (shape ``(N, C, *spatial)``) on its own."""
        if not self.training or self.num_splits == 1:
            return super().forward(x)
        check_float_dtype(x.dtype, x.is_floating_point())
        check_input_shape(x.shape, self.num_features)
        if x.shape[0] % self.num_splits:
            raise ValueError(
                f"expected a batch whose size is a multiple of num_splits = {self.num_splits}, "
                f"got input of shape {tuple(x.shape)}"
            )
        chunks = x.reshape(self.num_splits, -1, *x.shape[1:])  # (P, n, C, *spatial)
        check_batch_size(chunks.shape[1:])  # > 1 value per channel per chunk
        dims = [1] + list(range(3, chunks.dim()))  # each chunk's batch and spatial axes
        mean = chunks.mean(dim=dims, keepdim=True)  # (P, 1, C, 1, ...)
        var = ((chunks - mean) ** 2).mean(dim=dims, keepdim=True)  # (P, 1, C, 1, ...) biased
        x_hat = ((chunks - mean) / torch.sqrt(var + self.eps)).reshape(x.shape)
        if self.training and self.track_running_stats:  # rank 0's estimates
            m = chunks[0].numel() // x.shape[1]
            with torch.no_grad():
                self.num_batches_tracked += 1
                k = 1.0 / self.num_batches_tracked.item() if self.momentum is None else self.momentum
                self.running_mean.mul_(1 - k).add_(k * mean[0].flatten())
                self.running_var.mul_(1 - k).add_(k * var[0].flatten() * m / (m - 1))
        shape = (1, -1) + (1,) * (x.dim() - 2)
        if self.weight is not None:
            x_hat = x_hat * self.weight.reshape(shape)
        if getattr(self, "bias", None) is not None:
            x_hat = x_hat + self.bias.reshape(shape)
        return x_hat

    def extra_repr(self) -> str:
        return super().extra_repr() + f", num_splits={self.num_splits}"
