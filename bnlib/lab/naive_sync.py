r"""Lesson 09's bug, simulated in one process: synchronised BN whose backward forgets the all-reduce.

:class:`bnlib.nn.NaiveSyncBatchNorm` runs in real processes: its forward normalises every share
with the whole batch's :math:`\mu_B, \sigma^2_B`, but its backward uses only this process's
:math:`\sum g` and :math:`\sum g\,\hat x` (:math:`g = \gamma\,\partial L/\partial y`). For row
:math:`i` of share :math:`k`,

.. math:: \frac{\partial L}{\partial x_i} = \frac{1}{\sqrt{\sigma^2_B + \epsilon}}\Big(g_i
          - \frac1m \sum_{j \in k} g_j - \hat x_i\,\frac1m \sum_{j \in k} g_j \hat x_j\Big)

with the global :math:`m`: the sums run over the share, not the batch. :class:`SimulatedNaiveSyncBatchNorm`
does the same in one process on a batch cut into ``num_splits`` equal chunks (chunk :math:`k` = the
rows process :math:`k` would hold), so that a training run with the bug costs one process, like
:func:`bnlib.lab.data_parallel.simulate` for the other two variants. The trick is
:class:`ChunkedStatistics`: its forward returns the whole batch's mean and variance once *per
chunk* (``(P, C)`` copies), so autograd delivers each chunk's own :math:`\partial L/\partial\mu_B`
and :math:`\partial L/\partial\sigma^2_B` to its backward, which finishes each chunk's rows with
them, as each process does without the all-reduce. Summing the chunks' gradients before finishing
the rows would give plain BN on the whole batch.

Lessons that import it: none; data_parallel uses it (lesson 09 through `DataParallelConfig(naive=True)`).
"""

import torch

from ..nn import BatchNorm
from ..nn.common import BatchStatistics
from ..validation import check_batch_size, check_count


class ChunkedStatistics(torch.autograd.Function):
    """Whole-batch mean and biased variance of ``x`` ``(N, C)``, repeated for each of ``splits`` chunks.

    Forward: ``(mean (P, C), var (P, C))``, every row the same, in float64. Backward: chunk ``k``'s
    rows get ``grad_mean[k] / m + grad_var[k] * 2 (x - mean) / m``: only that chunk's gradients.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, splits: int):
        wide = x.detach().double()
        mean = wide.mean(dim=0)  # (C,)
        var = ((wide - mean) ** 2).mean(dim=0)  # (C,) biased, two-pass
        ctx.save_for_backward(x.detach(), mean)
        ctx.splits = splits
        return mean.expand(splits, -1).clone(), var.expand(splits, -1).clone()

    @staticmethod
    def backward(ctx, grad_mean: torch.Tensor, grad_var: torch.Tensor):
        x, mean = ctx.saved_tensors
        m, n = x.shape[0], x.shape[0] // ctx.splits
        rows_mean = grad_mean.repeat_interleave(n, dim=0)  # (N, C): chunk k's dL_k/dmu_B on its rows
        rows_var = grad_var.repeat_interleave(n, dim=0)
        dx = rows_mean / m + rows_var * 2 * (x.double() - mean) / m
        return dx.to(x.dtype), None


class SimulatedNaiveSyncBatchNorm(BatchNorm):
    """:class:`bnlib.nn.NaiveSyncBatchNorm` in ``num_splits`` simulated processes, for ``(N, C)`` input.

    Training mode: the output and the running estimates are plain BN's on the whole batch (global
    ``m``); the input gradient is the naive one of the module docstring. Eval mode: plain BN.
    """

    def __init__(self, num_features, num_splits, *args, **kwargs):
        super().__init__(num_features, *args, **kwargs)
        self.num_splits = check_count(num_splits, "num_splits")

    def _batch_statistics(self, x: torch.Tensor) -> BatchStatistics:
        if not self.training:
            return super()._batch_statistics(x)
        if x.dim() != 2 or x.shape[0] % self.num_splits:
            raise ValueError(
                f"expected (N, C) input with N a multiple of {self.num_splits}, got shape {tuple(x.shape)}"
            )
        check_batch_size(x.shape)
        mean, var = ChunkedStatistics.apply(x, self.num_splits)  # (P, C) each, float64
        n = x.shape[0] // self.num_splits
        chunks = x.reshape(self.num_splits, n, x.shape[1])  # (P, n, C)
        centred = chunks - mean.to(x.dtype)[:, None, :]  # (P, n, C)
        return BatchStatistics(centred, var.to(x.dtype)[:, None, :], mean[0], var[0], x.shape[0])

    def extra_repr(self) -> str:
        return super().extra_repr() + f", num_splits={self.num_splits}"


__all__ = ["ChunkedStatistics", "SimulatedNaiveSyncBatchNorm"]
