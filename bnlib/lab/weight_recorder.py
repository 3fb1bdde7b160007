r"""``WeightNormRecorder``: an :class:`~bnlib.lab.recorder.ActivationRecorder` that also tracks the weights' size.

At every recorded step it stores :math:`\|W^{[l]}\|_F` of every ``nn.Linear``, so a lesson can ask
"do the weights grow during training?" in two ways:

* the growth :math:`\|W^{[l]}_t\|_F / \|W^{[l]}_0\|_F`, and
* the **update-to-data ratio** of the latest plain-SGD step,

  .. math:: r^{[l]}_t = \frac{\|\Delta W^{[l]}_t\|_F}{\|W^{[l]}_t\|_F}
                      = \frac{\eta\,\|\partial L/\partial W^{[l]}\|_F}{\|W^{[l]}_t\|_F},

  which says how much one step changes a layer relative to its size (exact for SGD without
  momentum or weight decay, where :math:`\Delta W = -\eta\,\partial L/\partial W`).

Lesson that imports it: 02.
"""

import numpy as np
import torch
from torch import nn

from .recorder import ActivationRecorder


class WeightNormRecorder(ActivationRecorder):
    """:class:`ActivationRecorder` that also stores :math:`\\|W\\|_F` of every ``nn.Linear`` at each record.

    Use it like its parent (``with WeightNormRecorder(model) as rec: train(..., rec)``).
    """

    def __init__(self, model: nn.Module, **kwargs):
        super().__init__(model, **kwargs)
        self._weight_norm_rows: list[list[float]] = []

    @torch.no_grad()
    def record(self, step: int, x: torch.Tensor) -> None:
        """Record the parent's statistics for the probe batch ``x (N, features)``, and every weight norm."""
        super().record(step, x)
        self._weight_norm_rows.append([m.weight.norm().item() for m in self._linears])

    def weight_norms(self) -> np.ndarray:
        """``(steps, linears)`` Frobenius norm of every ``nn.Linear``'s weight at each recorded step."""
        return np.array(self._weight_norm_rows, dtype=float).reshape(len(self._steps), len(self._linears))

    def update_ratio(self, lr: float) -> np.ndarray:
        """``(steps, linears)`` update-to-data ratio :math:`\\eta\\|\\partial L/\\partial W\\|_F / \\|W\\|_F` of the
        step that led to each record (plain SGD with learning rate ``lr``); NaN where no gradient exists yet."""
        if not lr > 0:
            raise ValueError(f"lr must be positive, got {lr!r}")
        grads = np.stack([self.grad_norm(j) for j in range(len(self._linears))], axis=1)  # (steps, linears)
        return lr * grads / self.weight_norms()
