"""bnlib: Batch Normalization from first principles, the library behind the notebook series.

numpy (paper notation γ, β, x̂, μ, σ²):
    normalize_forward, normalize_backward            the core: normalise over given axes (bnlib.normalize)
    batchnorm_forward, batchnorm_backward, batchnorm_inference,
    batchnorm_inference_forward, batchnorm_inference_backward, batch_statistics,
    layernorm_forward, layernorm_backward, groupnorm_forward, groupnorm_backward
                                                     thin wrappers in each paper's notation (bnlib.functional)
    update_running_stats, population_statistics, unbiased_variance  (bnlib.running_stats)
    BatchNorm, LayerNorm, GroupNorm                  stateful layers with a hand-written backward (bnlib.layer)
    fold_batchnorm                                   BN folded into the layer before (bnlib.fold)
torch (PyTorch names weight, bias; ``import bnlib.nn``, which imports torch):
    bnlib.nn.BatchNorm, bnlib.nn.LayerNorm, bnlib.nn.GroupNorm   from-scratch nn.Modules
    bnlib.nn.SyncBatchNorm, bnlib.nn.GhostBatchNorm   BN across processes (bnlib.nn.sync, bnlib.nn.ghost)
    bnlib.nn.BatchRenorm                              Batch Renormalization (bnlib.nn.renorm)
exercise feedback (``bnlib.checks``, numpy only): check_batchnorm_forward, check_running_update,
    check_batchnorm_backward, check_fold_batchnorm
    check_layernorm_forward, check_layernorm_backward (exercise 5)
lesson plumbing (``bnlib.lab``, imports torch): data, models, training loop, recorder, plots, claims

``import bnlib`` needs numpy only.
"""

from .fold import fold_batchnorm
from .functional import (
    batch_statistics,
    batchnorm_backward,
    batchnorm_forward,
    batchnorm_inference,
    batchnorm_inference_backward,
    batchnorm_inference_forward,
    groupnorm_backward,
    groupnorm_forward,
    layernorm_backward,
    layernorm_forward,
)
from .layer import BatchNorm, GroupNorm, LayerNorm
from .normalize import normalize_backward, normalize_forward
from .running_stats import population_statistics, unbiased_variance, update_running_stats

__all__ = [
    "BatchNorm",
    "GroupNorm",
    "LayerNorm",
    "batch_statistics",
    "batchnorm_backward",
    "batchnorm_forward",
    "batchnorm_inference",
    "batchnorm_inference_backward",
    "batchnorm_inference_forward",
    "fold_batchnorm",
    "groupnorm_backward",
    "groupnorm_forward",
    "layernorm_backward",
    "layernorm_forward",
    "normalize_backward",
    "normalize_forward",
    "population_statistics",
    "unbiased_variance",
    "update_running_stats",
]
