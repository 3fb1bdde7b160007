r"""Train many small MLPs side by side: K independent SGD runs in one set of batched tensor operations.

A sweep over learning rates, initial scales and seeds trains dozens of tiny networks. Trained one
after the other (:func:`bnlib.lab.training.train`) each step pays Python's and PyTorch's per-call
overhead for matrices of 60x64; trained side by side, the ``K`` runs share every call:

.. math:: z_k = u_k W_k^\top + b_k \quad (k = 1..K), \qquad \text{one } \texttt{torch.baddbmm} \text{ for all } k.

Each run keeps its own weights, its own learning rate ``lrs[k]`` and its own mini-batch order
(:func:`bnlib.lab.training.minibatches` seeded with ``seeds[k]``, as :func:`train` does), and the
loss is the sum of the K mean cross-entropies, so run ``k``'s gradient is exactly its own. The result
matches :func:`train` run by run up to float rounding (the tests check it).

:func:`train_side_by_side` can also record, per step and per weight row of every ``Linear`` layer,
the quantities a lesson on scale invariance needs (:class:`RowTrace`): the squared norm of the row
before and after the update, the squared norm of its gradient, the dot product of row and gradient,
and the cosine between the row before and after the update.

Supported models: ``nn.Sequential`` of ``Linear``, optionally followed by a batch-norm layer
(:class:`bnlib.nn.BatchNorm` or ``nn.BatchNorm1d``, affine, with running statistics and a numeric
momentum), then an element-wise activation; a final ``Linear``. That is what
:func:`bnlib.lab.models.build_mlp` builds with ``norm="none"`` or ``norm="bn"``.

Lesson that imports it: 05.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..nn import BatchNorm
from ..nn.common import statistics, update_running_stats
from .data import Dataset
from .training import minibatches

ELEMENTWISE = (nn.Sigmoid, nn.Tanh, nn.ReLU, nn.Identity)
"""Activation modules that act element by element, so they apply to a ``(K, N, C)`` tensor as is."""


@dataclass
class RowTrace:
    r"""Per-step, per-row record of one ``Linear`` layer over a side-by-side run.

    Every array is ``(steps, K, out_features)``, float64, for the ``K`` runs; step ``t`` is the
    ``t``-th update (0-based), the weight row is ``w`` = ``weight[k, r, :]`` and ``g`` its gradient.

    Attributes:
        norm2: :math:`\lVert w_t\rVert^2` before the update.
        grad_norm2: :math:`\lVert g_t\rVert^2` (the loss gradient, without weight decay).
        dot: :math:`\langle w_t, g_t\rangle`.
        norm2_after: :math:`\lVert w_{t+1}\rVert^2` after the update.
        cos_step: :math:`\cos\angle(w_t, w_{t+1})`, clipped to [-1, 1].
    """

    norm2: np.ndarray
    grad_norm2: np.ndarray
    dot: np.ndarray
    norm2_after: np.ndarray
    cos_step: np.ndarray


@dataclass
class SideBySideResult:
    """What :func:`train_side_by_side` returns.

    Attributes:
        test_accuracy: ``(K,)`` test accuracy of each run after the last step, in eval mode.
        train_loss: ``(steps, K)`` mini-batch cross-entropy of each step, before its update.
        traces: one :class:`RowTrace` per ``Linear`` layer, in order (empty unless ``trace=True``).
    """

    test_accuracy: np.ndarray
    train_loss: np.ndarray
    traces: list[RowTrace]


def _structure(model: nn.Sequential) -> list[tuple[str, nn.Module]]:
    """The model as a list of ("linear" | "bn" | "act", module), checked to be a supported MLP."""
    if not isinstance(model, nn.Sequential):
        raise TypeError(f"expected an nn.Sequential MLP, got {type(model).__name__}")
    blocks = []
    for layer in model:
        if isinstance(layer, nn.Linear):
            blocks.append(("linear", layer))
        elif isinstance(layer, (BatchNorm, nn.BatchNorm1d)):
            if not (layer.affine and layer.track_running_stats and layer.momentum is not None):
                raise ValueError("batch norm layers need affine=True, track_running_stats=True and a numeric momentum")
            blocks.append(("bn", layer))
        elif isinstance(layer, ELEMENTWISE):
            blocks.append(("act", layer))
        else:
            raise ValueError(
                f"unsupported layer {type(layer).__name__}: only Linear, batch norm and "
                f"element-wise activations {[c.__name__ for c in ELEMENTWISE]}"
            )
    if not blocks or blocks[-1][0] != "linear":
        raise ValueError("the last layer must be a Linear layer (the logits)")
    return blocks


def _signature(model: nn.Sequential) -> list:
    return [(type(layer).__name__, tuple(p.shape for p in layer.parameters())) for layer in model]


class _Stack:
    """The K models' parameters and running statistics, stacked along a new first axis."""

    def __init__(self, models: Sequence[nn.Sequential]):
        self.blocks = _structure(models[0])
        for model in models[1:]:
            _structure(model)
            if _signature(model) != _signature(models[0]):
                raise ValueError("all models must have the same architecture")
        self.params, self.running = [], []  # per block: tensors (K, ...)
        for i, (kind, _) in enumerate(self.blocks):
            if kind in ("linear", "bn"):
                for name in ("weight", "bias"):
                    stacked = torch.stack([getattr(m[i], name).detach() for m in models]).clone()
                    self.params.append(stacked.requires_grad_())
            if kind == "bn":
                self.running.append(
                    [
                        torch.stack([getattr(m[i], name) for m in models]).clone()
                        for name in ("running_mean", "running_var")
                    ]
                )

    def linear_indices(self) -> list[int]:
        """Positions in ``params`` of the Linear layers' stacked weights ``(K, out, in)``, in order."""
        out, p = [], 0
        for kind, _ in self.blocks:
            if kind == "linear":
                out.append(p)
            p += 2 if kind in ("linear", "bn") else 0
        return out

    def forward(self, x: torch.Tensor, training: bool) -> torch.Tensor:
        """Logits ``(K, N, classes)`` for inputs ``x (K, N, features)``; BN on batch statistics in
        training (and the running statistics updated), on the running ones otherwise."""
        p, r = 0, 0
        for kind, layer in self.blocks:
            if kind == "linear":
                weight, bias = self.params[p], self.params[p + 1]  # (K, out, in), (K, out)
                x = torch.baddbmm(bias.unsqueeze(1), x, weight.transpose(1, 2))  # (K, N, out)
                p += 2
            elif kind == "bn":
                gamma, beta = self.params[p], self.params[p + 1]  # (K, C), (K, C)
                running_mean, running_var = self.running[r]  # (K, C), (K, C)
                if training:
                    mean, centred, var = statistics(x, [1])  # (K, 1, C), like x, (K, 1, C) biased
                    update_running_stats(running_mean, running_var, mean[:, 0], var[:, 0], x.shape[1], layer.momentum)
                else:
                    centred, var = x - running_mean.unsqueeze(1), running_var.unsqueeze(1)
                x = centred / torch.sqrt(var + layer.eps) * gamma.unsqueeze(1) + beta.unsqueeze(1)
                p, r = p + 2, r + 1
            else:
                x = layer(x)
        return x

    @torch.no_grad()
    def write_back(self, models: Sequence[nn.Sequential], steps: int) -> None:
        p, r = 0, 0
        for i, (kind, _) in enumerate(self.blocks):
            if kind in ("linear", "bn"):
                for k, model in enumerate(models):
                    model[i].weight.copy_(self.params[p][k])
                    model[i].bias.copy_(self.params[p + 1][k])
                p += 2
            if kind == "bn":
                for k, model in enumerate(models):
                    model[i].running_mean.copy_(self.running[r][0][k])
                    model[i].running_var.copy_(self.running[r][1][k])
                    model[i].num_batches_tracked += steps
                r += 1


def _row_stats(weights, grads):
    """Per layer: ``(norm2, grad_norm2, dot)``, each ``(K, out)`` float64."""
    out = []
    for w, g in zip(weights, grads):
        w, g = w.detach().double(), g.double()
        out.append(((w * w).sum(-1), (g * g).sum(-1), (w * g).sum(-1)))
    return out


def train_side_by_side(
    models: Sequence[nn.Sequential],
    data: Dataset,
    lrs: Sequence[float],
    seeds: Sequence[int],
    steps: int,
    *,
    batch_size: int = 60,
    weight_decay: float = 0.0,
    trace: bool = False,
) -> SideBySideResult:
    r"""Train ``K = len(models)`` MLPs with plain mini-batch SGD on cross-entropy, side by side, in place.

    Run ``k`` is what :func:`bnlib.lab.training.train` does with
    ``TrainConfig(steps=steps, lr=lrs[k], seed=seeds[k], batch_size=batch_size,
    weight_decay=weight_decay)``: the update is :math:`p \leftarrow p - \eta_k (g + \lambda p)` for
    every parameter. The trained weights and running statistics are written back into ``models``,
    which are left in training mode.

    Args:
        models: K MLPs with the same architecture (see the module docstring).
        data: the data set; each run draws its own mini-batches ``(batch_size,)`` of ``data.x_train``.
        lrs: ``(K,)`` learning rates, > 0; seeds: ``(K,)`` seeds of each run's mini-batch order.
        steps: number of updates, >= 0.
        weight_decay: :math:`\lambda`, >= 0, the same for every run and every parameter.
        trace: record a :class:`RowTrace` of every Linear layer (costs time and memory).
    Returns:
        :class:`SideBySideResult`: final test accuracy ``(K,)``, losses ``(steps, K)``, traces.
    Raises:
        ValueError: mismatched lengths, no models, unsupported or differing architectures, or
            bad hyper-parameters.
    """
    K = len(models)
    if K == 0 or len(lrs) != K or len(seeds) != K:
        raise ValueError(f"need one lr and one seed per model; got {K} models, {len(lrs)} lrs, {len(seeds)} seeds")
    if steps < 0 or weight_decay < 0 or not all(lr > 0 for lr in lrs):
        raise ValueError(f"need steps >= 0, weight_decay >= 0 and lrs > 0; got {steps}, {weight_decay}, {lrs}")
    stack = _Stack(models)
    lr = torch.tensor(lrs, dtype=torch.float32)  # (K,)
    streams = [minibatches(len(data.y_train), batch_size, torch.Generator().manual_seed(s)) for s in seeds]
    losses = np.zeros((steps, K))
    linear = stack.linear_indices()
    n_linear = len(linear)
    record = {name: [[] for _ in range(n_linear)] for name in RowTrace.__dataclass_fields__}
    for t in range(steps):
        index = torch.stack([next(s) for s in streams])  # (K, batch_size)
        logits = stack.forward(data.x_train[index], training=True)  # (K, B, classes)
        loss = (
            F.cross_entropy(logits.flatten(0, 1), data.y_train[index].flatten(), reduction="none")
            .view(K, -1)
            .mean(dim=1)
        )  # (K,)
        grads = torch.autograd.grad(loss.sum(), stack.params)
        losses[t] = loss.detach().numpy()
        with torch.no_grad():
            weights = [stack.params[i] for i in linear]
            if trace:
                before = [w.detach().double().clone() for w in weights]
                for l, (n2, g2, dot) in enumerate(_row_stats(weights, [grads[i] for i in linear])):
                    record["norm2"][l].append(n2)
                    record["grad_norm2"][l].append(g2)
                    record["dot"][l].append(dot)
            for p, g in zip(stack.params, grads):
                p -= lr.view(-1, *[1] * (p.dim() - 1)) * (g + weight_decay * p)
            if trace:
                for l, (w0, w1) in enumerate(zip(before, (w.double() for w in weights))):
                    n0, n1 = (w0 * w0).sum(-1), (w1 * w1).sum(-1)
                    record["norm2_after"][l].append(n1)
                    record["cos_step"][l].append(((w0 * w1).sum(-1) / torch.sqrt(n0 * n1)).clamp(-1, 1))
    with torch.no_grad():
        x_test = data.x_test.expand(K, *data.x_test.shape)  # (K, N, features)
        predicted = stack.forward(x_test, training=False).argmax(dim=2)  # (K, N)
        test_accuracy = (predicted == data.y_test).double().mean(dim=1).numpy()  # (K,)
    stack.write_back(models, steps)
    for model in models:
        model.train()
    traces = (
        [
            RowTrace(
                **{name: torch.stack(record[name][l]).numpy() if steps else np.zeros((0, K, 0)) for name in record}
            )
            for l in range(n_linear)
        ]
        if trace
        else []
    )
    return SideBySideResult(test_accuracy, losses, traces)
