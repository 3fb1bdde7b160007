"""``torch.nn.Module``\\ s for BN and its relatives, written from scratch with torch tensor operations.

=====================  =============================================================  ======================
bnlib.nn               what it is                                                     module
=====================  =============================================================  ======================
``BatchNorm``          BN, ``torch.nn.BatchNorm1d/2d/3d``'s arguments and state_dict  ``batchnorm``
``LayerNorm``          LN, as ``torch.nn.LayerNorm``                                  ``norms``
``GroupNorm``          GN, as ``torch.nn.GroupNorm``                                  ``norms``
``SyncBatchNorm``      BN with statistics synchronised over a process group           ``sync``
``GhostBatchNorm``     per-process BN statistics, simulated in one process            ``ghost``
``BatchRenorm``        Batch Renormalization (Ioffe, 2017)                            ``renorm``
=====================  =============================================================  ======================

``common`` holds what they share (parameters, statistics, the affine step, the one running
update). The variants subclass ``BatchNorm`` and override only what differs; nothing here imports
in the other direction.
"""

from .batchnorm import BatchNorm
from .ghost import GhostBatchNorm
from .norms import GroupNorm, LayerNorm
from .renorm import BatchRenorm
from .sync import NaiveSyncBatchNorm, SyncBatchNorm, SyncStatistics, sync_batch_statistics

__all__ = [
    "BatchNorm",
    "BatchRenorm",
    "GhostBatchNorm",
    "GroupNorm",
    "LayerNorm",
    "NaiveSyncBatchNorm",
    "SyncBatchNorm",
    "SyncStatistics",
    "sync_batch_statistics",
]
