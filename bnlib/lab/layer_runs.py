r"""``feed``: run a BN layer over a sequence of batches and record what a test compares.

Lesson 03 checks hand-written BN layers against ``torch.nn.BatchNorm2d`` step by step. Every
comparison needs the same three things after each training step :math:`t`: the output
:math:`y_t`, the running mean :math:`\hat\mu_t` and the running variance :math:`\hat\sigma^2_t`.
:func:`feed` collects them for a torch module or for any numpy layer that has ``running_mean``
and ``running_var`` attributes (arrays of shape ``(C,)``, or one shared scalar, which is
broadcast to ``(C,)`` so that a buggy layer can be compared with a correct one).

Lesson that imports it: 03.
"""

from dataclasses import dataclass

import numpy as np


@dataclass
class Trace:
    """What a layer produced over ``T`` steps.

    Attributes:
        outputs: ``(T, *batch_shape)``, the layer's output at every step.
        running_mean, running_var: ``(T, C)``, the running statistics after every step.
    """

    outputs: np.ndarray
    running_mean: np.ndarray
    running_var: np.ndarray


def _as_numpy(v) -> np.ndarray:
    return v.detach().cpu().numpy() if hasattr(v, "detach") else np.asarray(v, dtype=float)


def feed(layer, batches, num_features: int | None = None) -> Trace:
    """Call ``layer`` on every batch in order and record outputs and running statistics.

    Args:
        layer: a ``torch.nn.Module`` (called on ``torch.tensor(batch)``; use a float64 module for
            1e-12 comparisons) or a numpy layer ``layer(x) -> y`` with ``running_mean`` and
            ``running_var`` attributes.
        batches: a non-empty sequence of numpy arrays ``(N, C, ...)``.
        num_features: ``C``; by default ``batches[0].shape[1]``. A scalar running statistic is
            broadcast to ``(C,)``.
    Returns:
        A :class:`Trace` with ``T = len(batches)`` steps.
    Raises:
        ValueError: no batches, or a running statistic that is neither a scalar nor ``(C,)``.
    """
    batches = list(batches)
    if not batches:
        raise ValueError("feed needs at least one batch")
    c = batches[0].shape[1] if num_features is None else num_features
    is_torch = hasattr(layer, "parameters") and hasattr(layer, "state_dict")
    outputs, means, variances = [], [], []
    for x in batches:
        if is_torch:
            import torch

            y = layer(torch.as_tensor(x))
        else:
            y = layer(x)
        outputs.append(_as_numpy(y).copy())
        for store, stat in ((means, layer.running_mean), (variances, layer.running_var)):
            v = _as_numpy(stat)
            if v.shape not in ((), (c,)):
                raise ValueError(f"a running statistic must be a scalar or shape ({c},), got {v.shape}")
            store.append(np.broadcast_to(v, (c,)).astype(float).copy())
    return Trace(np.array(outputs), np.array(means), np.array(variances))
