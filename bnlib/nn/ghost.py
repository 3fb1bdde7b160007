r"""``GhostBatchNorm``: per-process BN statistics, simulated in one process."""

import torch

from ..validation import check_batch_size, check_batch_splits, check_count
from .batchnorm import BatchNorm
from .common import BatchStatistics, statistics


class GhostBatchNorm(BatchNorm):
    r"""Per-process BN, simulated in one process: the batch is cut into ``num_splits`` equal chunks
    and each is normalised with its own statistics ("ghost batches").

    .. math:: \hat x_i = \frac{x_i - \mu_k}{\sqrt{\sigma^2_k + \epsilon}} \quad \text{for row } i \text{ in chunk } k

    Data-parallel training without synchronisation does exactly this: process :math:`k` normalises
    rows :math:`k\,n \ldots (k+1)\,n - 1` of the global batch with their statistics, and the
    averaged gradients are those of the mean loss over all chunks. The running estimates are
    updated from the first chunk only, as the copy of rank 0 (the one usually saved) would be.
    Eval mode uses the running estimates, like :class:`bnlib.nn.BatchNorm`; only the batch
    statistics differ from it.

    Args:
        num_features: number of channels ``C``.
        num_splits: chunks per batch (an integer >= 1); the batch size must be a multiple of it.
        others: as :class:`bnlib.nn.BatchNorm`.
    """

    def __init__(self, num_features, num_splits, *args, **kwargs):
        super().__init__(num_features, *args, **kwargs)
        self.num_splits = check_count(num_splits, "num_splits")

    def _batch_statistics(self, x: torch.Tensor) -> BatchStatistics:
        """Each chunk's statistics: ``centred`` ``(P, n, C, *spatial)``, ``var`` ``(P, 1, C, 1, ...)``; chunk 0's
        for the running update."""
        if not self.training:  # no running estimates: plain BN on the whole batch, as before
            return super()._batch_statistics(x)
        check_batch_splits(x.shape, self.num_splits)
        chunks = x.reshape(self.num_splits, x.shape[0] // self.num_splits, *x.shape[1:])  # (P, n, C, *spatial)
        check_batch_size(chunks.shape[1:])  # > 1 value per channel per chunk
        mean, centred, var = statistics(chunks, [1] + list(range(3, chunks.dim())))  # (P, 1, C, 1, ...) ...
        m = chunks[0].numel() // x.shape[1]
        return BatchStatistics(centred, var, mean[0].reshape(-1), var[0].reshape(-1), m)  # rank 0's estimates

    def extra_repr(self) -> str:
        return super().extra_repr() + f", num_splits={self.num_splits}"
