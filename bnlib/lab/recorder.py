"""Record the distribution of each layer's pre-activations, and its gradient norm, over training.

An :class:`ActivationRecorder` watches every activation module (``nn.Sigmoid``, ``nn.Tanh``,
``nn.ReLU``) of a model; "layer ``k``" is the ``k``-th such module in ``model.modules()`` order, and
its pre-activation ``z`` is that module's input. :func:`bnlib.training.train` calls
:meth:`ActivationRecorder.record` at each evaluation step.

Lessons that import it: 01, 02.
"""

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

ACTIVATIONS = (nn.Sigmoid, nn.Tanh, nn.ReLU)
SATURATION_THRESHOLD = 0.97  # tanh saturated: |tanh z| > 0.97; sigmoid: sigmoid z outside [0.03, 0.97]


def saturated_fraction(activation: nn.Module, z: torch.Tensor) -> float:
    r"""Share of the entries of ``z`` (any shape) where ``activation`` is saturated.

    tanh: :math:`|\tanh z| > 0.97`; sigmoid: :math:`\sigma(z) \notin [0.03, 0.97]`; ReLU has no
    saturating side in this sense, so NaN. NaN entries count as not saturated.
    """
    if isinstance(activation, nn.Tanh):
        return (torch.tanh(z).abs() > SATURATION_THRESHOLD).float().mean().item()
    if isinstance(activation, nn.Sigmoid):
        s = torch.sigmoid(z)
        return ((s < 1 - SATURATION_THRESHOLD) | (s > SATURATION_THRESHOLD)).float().mean().item()
    return float("nan")


class ActivationRecorder:
    r"""Forward hooks that summarise each activation's input on a probe batch, step after step.

    Per layer ``k`` and recording step, with ``z`` the ``(N, units)`` pre-activations of the probe:

    - :meth:`percentiles` ``(steps, P)``: percentiles of all ``N * units`` values pooled;
      :meth:`unit_percentiles` ``(steps, units, P)``: the same per unit (over the ``N`` examples).
      Percentiles use numpy's default linear interpolation.
    - :meth:`mean`, :meth:`std` ``(steps,)``: pooled mean and population standard deviation.
    - :meth:`saturation` ``(steps,)``: see :func:`saturated_fraction` (NaN for ReLU).
    - :meth:`histogram` ``(steps, bins)``: share of the values in each bin of ``bin_edges`` (each
      row sums to 1). Values outside the edges are clipped into the first or last bin, so the end
      bins also count everything beyond them; NaN values are left out (a row is all NaN if every
      value is NaN).

    Per ``nn.Linear`` layer ``j`` (``model.modules()`` order, output layer included),
    :meth:`grad_norm` ``(steps,)`` is the Frobenius norm :math:`\|\partial L / \partial W_j\|` of the
    weight gradient currently in ``.grad`` (the latest training step), NaN if there is none.

    Recording runs under ``torch.no_grad()`` and restores the model's train/eval mode and every
    buffer (e.g. BN running statistics), so it does not change training. With
    ``batch_statistics=True`` (default) the probe goes through the model in training mode, so BN
    normalises with the probe batch's own statistics, as a layer sees its input during training;
    with ``False`` it goes through in eval mode (BN uses its running estimates).

    Use as a context manager, or call :meth:`remove` to take the hooks off.

    Args:
        model: the network to watch; must contain at least one activation module.
        percentiles: the percentile levels to record, in [0, 100].
        bin_edges: ``(bins + 1,)`` increasing histogram edges.
        batch_statistics: probe forward in training mode (True) or eval mode (False).
    """

    def __init__(
        self,
        model: nn.Module,
        percentiles: Sequence[float] = (15, 50, 85),
        bin_edges: np.ndarray = np.linspace(-8, 8, 81),
        batch_statistics: bool = True,
    ):
        self.model = model
        self.percentile_levels = np.asarray(percentiles, dtype=float)  # (P,)
        self.bin_edges = np.asarray(bin_edges, dtype=float)  # (bins + 1,)
        if self.bin_edges.ndim != 1 or len(self.bin_edges) < 2 or np.any(np.diff(self.bin_edges) <= 0):
            raise ValueError("bin_edges must be a 1-D increasing array with at least two edges")
        if np.any((self.percentile_levels < 0) | (self.percentile_levels > 100)):
            raise ValueError(f"percentiles must lie in [0, 100], got {percentiles!r}")
        self.batch_statistics = batch_statistics
        named = list(model.named_modules())
        self.layer_names = [name for name, m in named if isinstance(m, ACTIVATIONS)]
        self.linear_names = [name for name, m in named if isinstance(m, nn.Linear)]
        self._activations = [m for _, m in named if isinstance(m, ACTIVATIONS)]
        self._linears = [m for _, m in named if isinstance(m, nn.Linear)]
        if not self._activations:
            raise ValueError("the model has no nn.Sigmoid, nn.Tanh or nn.ReLU module to record")
        self._captured: list[torch.Tensor | None] = [None] * len(self._activations)
        self._capturing = False
        self._handles = [m.register_forward_pre_hook(self._hook(k)) for k, m in enumerate(self._activations)]
        self._steps: list[int] = []
        self._stats: list[dict[str, list]] = [
            {key: [] for key in ("percentiles", "unit_percentiles", "mean", "std", "saturation", "histogram")}
            for _ in self._activations
        ]
        self._grad_norms: list[list[float]] = [[] for _ in self._linears]

    @property
    def num_layers(self) -> int:
        """Number of watched activation modules."""
        return len(self._activations)

    @property
    def steps(self) -> np.ndarray:
        """``(steps,)`` the training steps at which statistics were recorded."""
        return np.array(self._steps, dtype=int)

    def _hook(self, k: int):
        def hook(module, inputs):  # runs before the activation, so an in-place ReLU cannot alter z
            if self._capturing:
                self._captured[k] = inputs[0].detach().clone()

        return hook

    @torch.no_grad()
    def record(self, step: int, x: torch.Tensor) -> None:
        """Run the probe batch ``x (N, features)`` through the model and store one row of every statistic."""
        if not self._handles:
            raise RuntimeError("the recorder's hooks were removed; create a new ActivationRecorder")
        was_training = self.model.training
        buffers = {name: b.clone() for name, b in self.model.named_buffers()}
        self.model.train(self.batch_statistics)
        self._capturing = True
        try:
            self.model(x)
        finally:
            self._capturing = False
            self.model.train(was_training)
            for name, b in self.model.named_buffers():
                b.copy_(buffers[name])
        self._steps.append(step)
        for k, activation in enumerate(self._activations):
            self._summarise(k, activation, self._captured[k])
            self._captured[k] = None
        for j, linear in enumerate(self._linears):
            grad = linear.weight.grad
            self._grad_norms[j].append(float("nan") if grad is None else grad.norm().item())

    def _summarise(self, k: int, activation: nn.Module, z: torch.Tensor) -> None:
        # Percentiles and histogram come from sorted copies (NaN sorts last): np.percentile of sorted
        # data selects the same values, and the histogram's counts are searches in the sorted values,
        # as np.histogram itself counts them for explicit edges, only without sorting again.
        stats = self._stats[k]
        z_units = z.reshape(z.shape[0], -1).double().numpy()  # (N, units)
        values = z_units.ravel()  # (N * units,)
        ordered = np.sort(values)  # (N * units,)
        stats["percentiles"].append(np.percentile(ordered, self.percentile_levels))  # (P,)
        stats["unit_percentiles"].append(
            np.percentile(np.sort(z_units, axis=0), self.percentile_levels, axis=0).T
        )  # (units, P)
        stats["mean"].append(values.mean())
        stats["std"].append(values.std())
        stats["saturation"].append(saturated_fraction(activation, z))
        finite = np.clip(ordered[: np.count_nonzero(~np.isnan(values))], self.bin_edges[0], self.bin_edges[-1])
        below = np.append(np.searchsorted(finite, self.bin_edges[:-1], side="left"), len(finite))  # (bins + 1,)
        counts = np.diff(below)  # (bins,) last bin closed
        stats["histogram"].append(counts / len(finite) if len(finite) else np.full(len(counts), np.nan))

    def _get(self, layer: int, key: str) -> np.ndarray:
        if not -self.num_layers <= layer < self.num_layers:
            raise IndexError(f"layer {layer} out of range for {self.num_layers} recorded layers")
        return np.array(self._stats[layer][key], dtype=float)

    def percentiles(self, layer: int) -> np.ndarray:
        """``(steps, P)`` pooled pre-activation percentiles at ``percentile_levels``."""
        return self._get(layer, "percentiles").reshape(len(self._steps), len(self.percentile_levels))

    def unit_percentiles(self, layer: int) -> np.ndarray:
        """``(steps, units, P)`` per-unit pre-activation percentiles over the probe examples."""
        return self._get(layer, "unit_percentiles")

    def mean(self, layer: int) -> np.ndarray:
        """``(steps,)`` pooled pre-activation mean."""
        return self._get(layer, "mean")

    def std(self, layer: int) -> np.ndarray:
        """``(steps,)`` pooled pre-activation standard deviation (population)."""
        return self._get(layer, "std")

    def saturation(self, layer: int) -> np.ndarray:
        """``(steps,)`` fraction of saturated activations (NaN for ReLU)."""
        return self._get(layer, "saturation")

    def histogram(self, layer: int) -> np.ndarray:
        """``(steps, bins)`` share of pre-activations per bin of ``bin_edges`` (rows sum to 1)."""
        return self._get(layer, "histogram").reshape(len(self._steps), len(self.bin_edges) - 1)

    def grad_norm(self, linear: int) -> np.ndarray:
        """``(steps,)`` Frobenius norm of the weight gradient of the ``linear``-th ``nn.Linear``."""
        return np.array(self._grad_norms[linear], dtype=float)

    def remove(self) -> None:
        """Detach the hooks; the recorded statistics stay available."""
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def __enter__(self) -> "ActivationRecorder":
        return self

    def __exit__(self, *exc) -> None:
        self.remove()
