r"""Fold an inference-mode Batch Normalization into the linear or convolution layer before it.

At test time BN uses fixed statistics, so it is an affine map per channel ``c``:

.. math:: \mathrm{BN}(z)_c = \gamma_c \frac{z_c - \mathrm{E}[z_c]}{\sqrt{\mathrm{Var}[z_c] + \epsilon}} + \beta_c
          = s_c\, z_c + (\beta_c - s_c \mathrm{E}[z_c]), \qquad s_c = \frac{\gamma_c}{\sqrt{\mathrm{Var}[z_c] + \epsilon}} .

If ``z = W x + b`` comes from a linear (or convolution) layer, the two maps compose into one layer
with the same shape:

.. math:: W'_{c} = s_c\, W_{c}, \qquad b'_c = s_c\,(b_c - \mathrm{E}[z_c]) + \beta_c ,

where :math:`W_c` is everything that produces output channel ``c``: row ``c`` of a ``Linear``
weight ``(out, in)``, or filter ``c`` of a convolution weight ``(out, in / groups, k1, ...)``.
The folded network computes the same function as the eval-mode original with one layer less.

:func:`fold_batchnorm` is pure numpy. :func:`fold_modules` is a small convenience for a trained
``torch`` pair (``nn.Linear`` or ``nn.Conv1d/2d/3d`` followed by ``nn.BatchNorm*d`` or
``bnlib.nn.BatchNorm``); it imports torch only when called.
"""

import numpy as np

from .validation import check_eps, real_array


def fold_batchnorm(weight, bias, gamma, beta, running_mean, running_var, eps=1e-5):
    r"""Fold fixed-statistics BN into the weight and bias of the layer that feeds it.

    .. math:: W' = \frac{\gamma}{\sqrt{\mathrm{Var}+\epsilon}} \cdot W, \qquad
              b' = \frac{\gamma\,(b - \mathrm{E})}{\sqrt{\mathrm{Var}+\epsilon}} + \beta

    with the scale applied along the output axis (axis 0) of ``W``.

    Args:
        weight: ``(C, in)`` for a linear layer or ``(C, in / groups, *kernel)`` for a convolution;
            ``C`` is the number of output channels, which BN normalises.
        bias: ``(C,)``, or ``None`` for a layer without bias (treated as zeros).
        gamma, beta: BN scale and shift, ``(C,)`` each (pass ones and zeros for ``affine=False``).
        running_mean, running_var: the fixed statistics ``E`` and ``Var`` BN uses at test time, ``(C,)``.
        eps: the BN layer's :math:`\epsilon > 0`.
    Returns:
        ``(weight', bias')``: ``weight'`` has the shape of ``weight``, ``bias'`` has shape ``(C,)``;
        their dtype is numpy's promotion of float32 with the inputs' dtypes (float32 inputs give
        float32, any float64 input gives float64). The arithmetic is done in float64.
    Raises:
        ValueError: a weight with fewer than 2 axes, a per-channel vector whose shape is not
            ``(C,)``, a negative variance, or ``eps`` not positive and finite.
        TypeError: a non-numeric input, or ``eps`` not a real number.
    """
    weight = _as_float_array("weight", weight)
    if weight.ndim < 2:
        raise ValueError(
            f"expected weight of shape (C, in) or (C, in / groups, *kernel), "
            f"got a {weight.ndim}-D array of shape {weight.shape}"
        )
    num_channels = weight.shape[0]
    vectors = {"gamma": gamma, "beta": beta, "running_mean": running_mean, "running_var": running_var}
    if bias is not None:
        vectors = {"bias": bias, **vectors}
    vectors = {name: _as_float_array(name, v) for name, v in vectors.items()}
    for name, v in vectors.items():
        if v.shape != (num_channels,):
            raise ValueError(
                f"expected {name} of shape ({num_channels},) to match weight of shape "
                f"{weight.shape} ({num_channels} output channels), got shape {v.shape}"
            )
    check_eps(eps)
    if np.any(vectors["running_var"] < 0):
        raise ValueError("running_var must be non-negative")
    dtype = np.result_type(np.float32, weight, *vectors.values())  # float32 or float64
    b = vectors.get("bias", np.zeros(num_channels))  # (C,)
    scale = vectors["gamma"].astype(np.float64) / np.sqrt(vectors["running_var"].astype(np.float64) + eps)  # (C,)
    per_output = (-1,) + (1,) * (weight.ndim - 1)  # broadcast along axis 0
    folded_weight = weight.astype(np.float64) * scale.reshape(per_output)  # like weight
    folded_bias = scale * (b.astype(np.float64) - vectors["running_mean"]) + vectors["beta"]  # (C,)
    return folded_weight.astype(dtype), folded_bias.astype(dtype)


def _as_float_array(name, value) -> np.ndarray:
    """``value`` as a real floating-point (or integer, promoted later) numpy array."""
    if hasattr(value, "detach"):  # a torch tensor
        value = value.detach().cpu().numpy()
    return real_array(value, name)


def fold_modules(layer, bn):
    """A new torch layer equal to ``bn(layer(x))`` with ``bn`` in eval mode.

    Args:
        layer: ``torch.nn.Linear`` or a (non-transposed) ``torch.nn.Conv1d/2d/3d``; its output
            channels must equal the BN layer's ``num_features``.
        bn: ``torch.nn.BatchNorm1d/2d/3d`` or ``bnlib.nn.BatchNorm`` that tracks running
            statistics (``affine=False`` is fine).
    Returns:
        a deep copy of ``layer`` (same class, dtype and shapes, always with a bias) whose
        weight and bias are the folded ones. ``layer`` and ``bn`` are not modified.
    Raises:
        TypeError: an unsupported layer type (e.g. a transposed convolution, whose weight is
            laid out ``(in, out, ...)``).
        ValueError: a BN layer without running statistics, or mismatched channel counts.
    """
    import copy

    import torch
    from torch import nn

    is_conv = isinstance(layer, nn.modules.conv._ConvNd) and not layer.transposed
    if not (isinstance(layer, nn.Linear) or is_conv):
        raise TypeError(f"can fold BN into nn.Linear or nn.Conv1d/2d/3d, got {type(layer).__name__}")
    if getattr(bn, "running_mean", None) is None or getattr(bn, "running_var", None) is None:
        raise ValueError(
            "the BN layer has no running statistics (track_running_stats=False): there is no fixed affine map to fold"
        )
    channels = bn.running_mean.shape[0]
    gamma = bn.weight if bn.weight is not None else torch.ones(channels)  # (C,)
    beta = bn.bias if bn.bias is not None else torch.zeros(channels)  # (C,)
    weight, bias = fold_batchnorm(layer.weight, layer.bias, gamma, beta, bn.running_mean, bn.running_var, eps=bn.eps)
    folded = copy.deepcopy(layer)
    with torch.no_grad():
        if folded.bias is None:
            folded.bias = nn.Parameter(torch.empty(channels, dtype=layer.weight.dtype, device=layer.weight.device))
        folded.weight.copy_(torch.from_numpy(weight))
        folded.bias.copy_(torch.from_numpy(bias))
    return folded
