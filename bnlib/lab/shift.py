r"""How far a layer's input distribution moves: under a perturbation of the network, and over training.

Lesson 01 asks two questions about the distribution of each unit's values over a batch, and this
module holds the measures it answers them with:

- :func:`relative_change`: how much every example's output of a layer moves when the network is
  perturbed, :math:`\lVert A' - A \rVert_F / \lVert A \rVert_F` per layer (per-example coupling);
- :func:`moment_shift`: how much each unit's batch mean and standard deviation move, location and
  scale separately (the coupling of the *moments*, which is what BN is designed to remove);
- :func:`drift`: how far a unit's percentiles over a probe batch were, during training, from where
  they end up, again split into location (the median) and scale (the 15-85 % width);
- :func:`random_direction` and :func:`module_outputs`: the plumbing of those experiments (a seeded
  perturbation of a given size; the outputs of every module of one type, caught with hooks).

Lesson that imports it: 01.
"""

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn


def random_direction(like: torch.Tensor, size: float, seed: int) -> torch.Tensor:
    r"""A random tensor :math:`\Delta` shaped and typed like ``like`` with :math:`\lVert \Delta \rVert_F = \text{size}`.

    Its direction is uniform on the sphere (a normalised standard Gaussian draw from a private
    generator seeded by ``seed``), so the same ``(like.shape, size, seed)`` always gives the same
    :math:`\Delta`, and the global torch random state is untouched.

    Raises:
        ValueError: ``size`` is negative.
    """
    if not size >= 0:
        raise ValueError(f"size must be non-negative, got {size!r}")
    draw = torch.randn(like.shape, generator=torch.Generator().manual_seed(seed), dtype=like.dtype)
    return draw * (size / draw.norm())


def relative_change(before: Sequence[torch.Tensor], after: Sequence[torch.Tensor]) -> np.ndarray:
    r"""Per layer, :math:`\lVert A'^{[l]} - A^{[l]} \rVert_F / \lVert A^{[l]} \rVert_F`.

    Args:
        before, after: ``L`` tensors each, ``(N, units)`` outputs of the same layers on the same
            batch, before and after a perturbation.
    Returns:
        ``(L,)`` relative changes.
    """
    _check_pairs(before, after)
    return np.array([((a1 - a0).norm() / a0.norm()).item() for a0, a1 in zip(before, after)])


def moment_shift(before: Sequence[torch.Tensor], after: Sequence[torch.Tensor]) -> tuple[np.ndarray, np.ndarray]:
    r"""Per layer, how much the units' batch means and standard deviations moved (medians over units).

    For unit :math:`j` of a layer, with batch mean :math:`\mu_j` and population standard deviation
    :math:`\sigma_j` over the ``N`` examples before the perturbation and :math:`\mu'_j, \sigma'_j` after:

    .. math:: \text{location}_j = \frac{|\mu'_j - \mu_j|}{\sigma_j}, \qquad
              \text{scale}_j = \bigl|\log(\sigma'_j / \sigma_j)\bigr| .

    Both are dimensionless (a shift of the mean in units of the unit's own spread, and a relative
    change of the spread), so layers with different scales can be compared.

    Args:
        before, after: ``L`` tensors each, ``(N, units)``.
    Returns:
        ``(location, scale)``, each ``(L,)``: the median over the units of each layer.
    Raises:
        ValueError: the lists differ in length or shapes, or a unit is constant before the perturbation.
    """
    _check_pairs(before, after)
    location, scale = [], []
    for a0, a1 in zip(before, after):
        sd0, sd1 = a0.std(dim=0, unbiased=False), a1.std(dim=0, unbiased=False)  # (units,)
        if bool((sd0 == 0).any()):
            raise ValueError("a unit is constant over the batch before the perturbation: its shift is undefined")
        location.append(((a1.mean(dim=0) - a0.mean(dim=0)).abs() / sd0).median().item())
        scale.append(torch.log(sd1 / sd0).abs().median().item())
    return np.array(location), np.array(scale)


def drift(unit_percentiles: np.ndarray, start: int = 0) -> tuple[np.ndarray, np.ndarray]:
    r"""Per unit, the largest distance of its distribution from where it ends, from step index ``start`` on.

    With :math:`p_{50}(t)` the median and :math:`w(t) = p_{85}(t) - p_{15}(t)` the width of a unit's
    values over the probe batch at recording ``t``, and :math:`T` the last recording:

    .. math:: D^\text{loc} = \max_{t \ge t_0} \frac{|p_{50}(t) - p_{50}(T)|}{w(T)}, \qquad
              D^\text{scale} = \max_{t \ge t_0} \frac{|w(t) - w(T)|}{w(T)} .

    Args:
        unit_percentiles: ``(steps, units, 3)``, the 15th, 50th and 85th percentiles of each unit
            at each recording (as :meth:`bnlib.lab.recorder.ActivationRecorder.unit_percentiles`).
        start: index of the first recording taken into account (0: all of them).
    Returns:
        ``(location, scale)``, each ``(units,)``.
    Raises:
        ValueError: wrong shape, ``start`` outside the recordings, or a unit with zero final width.
    """
    p = np.asarray(unit_percentiles, dtype=float)
    if p.ndim != 3 or p.shape[2] != 3:
        raise ValueError(f"unit_percentiles must be (steps, units, 3), got {p.shape}")
    if not 0 <= start < p.shape[0]:
        raise ValueError(f"start must index one of the {p.shape[0]} recordings, got {start}")
    width = p[:, :, 2] - p[:, :, 0]  # (steps, units)
    if np.any(width[-1] <= 0):
        raise ValueError("a unit has zero final width (85th = 15th percentile): drift is undefined")
    location = np.abs(p[start:, :, 1] - p[-1, :, 1]).max(axis=0) / width[-1]  # (units,)
    scale = np.abs(width[start:] - width[-1]).max(axis=0) / width[-1]  # (units,)
    return location, scale


@torch.no_grad()
def module_outputs(model: nn.Module, x: torch.Tensor, kind: type[nn.Module]) -> list[torch.Tensor]:
    """The outputs of every ``kind`` module of ``model`` (``model.modules()`` order) for the input ``x``.

    Hooks are attached for one forward pass and removed afterwards; the model's mode is left as it is.

    Raises:
        ValueError: ``model`` has no module of type ``kind``.
    """
    taps = [m for m in model.modules() if isinstance(m, kind)]
    if not taps:
        raise ValueError(f"the model has no {kind.__name__} module")
    caught: list[torch.Tensor] = []
    hooks = [m.register_forward_hook(lambda module, inputs, output: caught.append(output)) for m in taps]
    try:
        model(x)
    finally:
        for hook in hooks:
            hook.remove()
    return caught


def _check_pairs(before, after) -> None:
    if len(before) != len(after) or any(a.shape != b.shape for a, b in zip(before, after)):
        raise ValueError("before and after must hold the same number of layers with the same shapes")
