"""bnlib: Batch Normalization from first principles, the library behind the notebook series.

numpy (paper notation γ, β, x̂, μ, σ²):
    batchnorm_forward, batchnorm_backward, batchnorm_inference   pure functions (bnlib.functional)
    update_running_stats, population_statistics, unbiased_variance  (bnlib.running_stats)
    BatchNorm                                                    stateful layer (bnlib.layer)
    fold_batchnorm                                               BN folded into the layer before (bnlib.fold)
torch (PyTorch names weight, bias; ``import bnlib.nn``, which imports torch):
    bnlib.nn.BatchNorm                                           from-scratch nn.Module
lesson plumbing (``bnlib.lab``, imports torch): data, models, training loop, recorder, plots, claims

``import bnlib`` needs numpy only.
"""
from .functional import batch_statistics, batchnorm_backward, batchnorm_forward, batchnorm_inference
from .fold import fold_batchnorm
from .layer import BatchNorm
from .running_stats import population_statistics, unbiased_variance, update_running_stats

__all__ = [
    "BatchNorm", "batch_statistics", "batchnorm_backward", "batchnorm_forward", "batchnorm_inference",
    "fold_batchnorm", "population_statistics", "unbiased_variance", "update_running_stats",
]
