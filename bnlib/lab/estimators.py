r"""Test-time BN statistics of a trained ``nn.Sequential``: exact, precise BN, and tracked over training.

For a network whose weights are fixed, every BN layer has exact test-time statistics: the mean and
(divide-by-``n``) variance of its input over the ``n`` training examples, with every *earlier* BN
layer already normalising with its own exact statistics (:func:`exact_statistics`).

Ioffe & Szegedy's Algorithm 2 estimates them from training mini-batches of size ``m`` of the
trained, frozen network (*precise BN*):

.. math:: \mathrm{E}[x] \approx \mathrm{E}_B[\mu_B], \qquad
          \mathrm{Var}[x] \approx \tfrac{m}{m-1}\,\mathrm{E}_B[\sigma^2_B] ,

:func:`calibration_statistics` returns the per-batch :math:`\mu_B, \sigma^2_B` of one shuffled pass,
either *jointly* (every BN layer in training mode, as ``torch.optim.swa_utils.update_bn`` does)
or *layer by layer* (earlier BN layers already in eval mode with their estimates).

:func:`train_and_track` trains like :func:`bnlib.lab.training.train` (same batches, same updates)
and records what the test-time estimators need: every step's batch statistics of every BN layer,
the exact and precise-BN statistics at checkpoints, and the running buffers of a
``torch.nn.BatchNorm1d`` fed the same inputs (PyTorch's own update, as a reference).

Statistics are lists with one ``(mean, var)`` pair per BN layer, in order, float64, shape ``(C,)``.
The models are ``nn.Sequential`` of ``Linear``, activations and BN layers (``bnlib.nn.BatchNorm``
or ``torch.nn.BatchNorm1d``), as :func:`bnlib.lab.models.build_mlp` builds them.

Lesson that imports it: 06.
"""

import copy
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..functional import batch_statistics
from ..nn import BatchNorm
from ..running_stats import population_statistics
from .data import Dataset
from .sgd import SGD
from .training import TrainConfig, minibatches, sgd_step

BN_TYPES = (BatchNorm, nn.modules.batchnorm._BatchNorm)


def bn_layers(model: nn.Module) -> list[nn.Module]:
    """The BN layers of ``model`` (``bnlib.nn.BatchNorm`` or ``torch.nn.BatchNorm*d``), in order."""
    return [layer for layer in model.modules() if isinstance(layer, BN_TYPES)]


def _normalise(layer: nn.Module, h: torch.Tensor, mean=None, var=None) -> torch.Tensor:
    """``layer``'s BN with the given statistics (numpy ``(C,)``), or with ``h``'s own batch statistics."""
    if mean is None:
        return F.batch_norm(h, None, None, layer.weight, layer.bias, training=True, eps=layer.eps)
    mean, var = (torch.as_tensor(v, dtype=h.dtype) for v in (mean, var))
    return F.batch_norm(h, mean, var, layer.weight, layer.bias, training=False, eps=layer.eps)


@torch.no_grad()
def exact_statistics(model: nn.Sequential, x: torch.Tensor) -> list[tuple[np.ndarray, np.ndarray]]:
    r"""Mean and biased variance :math:`\frac1n\sum_i (x_i - \mu)^2` of every BN layer's input over all of
    ``x (n, features)``, layer by layer: each earlier BN layer normalises with its own exact statistics.
    """
    stats, h = [], x
    for layer in model:
        if isinstance(layer, BN_TYPES):
            mean, var = batch_statistics(h.double().numpy())  # (C,), (C,)
            stats.append((mean, var))
            h = _normalise(layer, h, mean, var)
        else:
            h = layer(h)
    return stats


def _batches(x: torch.Tensor, batch_size: int, seed: int) -> list[torch.Tensor]:
    """One shuffled pass over ``x`` in batches of ``batch_size`` (the incomplete last batch dropped)."""
    if not 2 <= batch_size <= len(x):
        raise ValueError(f"batch_size must be in [2, {len(x)}], got {batch_size}")
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))  # (n,)
    return [x[order[s : s + batch_size]] for s in range(0, len(x) - batch_size + 1, batch_size)]


@torch.no_grad()
def calibration_statistics(
    model: nn.Sequential, x: torch.Tensor, batch_size: int, seed: int, layerwise: bool = False
) -> list[tuple[np.ndarray, np.ndarray]]:
    r"""Per-batch mean :math:`\mu_B` and biased variance :math:`\sigma^2_B` of every BN layer's input in one
    shuffled pass over ``x`` with frozen weights; each is ``(K, C)`` for ``K = n // batch_size`` batches.

    ``layerwise=False``: every BN layer normalises each batch with that batch's statistics (training
    mode), as one forward pass of the model in training mode does. ``layerwise=True``: each earlier
    BN layer already normalises with its Algorithm-2 estimate (eval mode), so a layer sees exactly
    the inputs it will see at test time.
    """
    hs, stats = _batches(x, batch_size, seed), []
    for layer in model:
        if not isinstance(layer, BN_TYPES):
            hs = [layer(h) for h in hs]
            continue
        means, variances = (np.stack(v) for v in zip(*(batch_statistics(h.double().numpy()) for h in hs)))
        stats.append((means, variances))  # (K, C) each
        if layerwise:
            mean, var = population_statistics(means, variances, batch_size)
            hs = [_normalise(layer, h, mean, var) for h in hs]
        else:
            hs = [_normalise(layer, h) for h in hs]
    return stats


def precise_statistics(
    model: nn.Sequential, x: torch.Tensor, batch_size: int, seed: int, layerwise: bool = False
) -> list[tuple[np.ndarray, np.ndarray]]:
    r"""Algorithm 2 over one calibration pass: :math:`\mathrm{E}_B[\mu_B]`, :math:`\frac{m}{m-1}\mathrm{E}_B[\sigma^2_B]`."""
    return [
        population_statistics(means, variances, batch_size)
        for means, variances in calibration_statistics(model, x, batch_size, seed, layerwise)
    ]


def stored_statistics(model: nn.Module) -> list[tuple[np.ndarray, np.ndarray]]:
    """The running buffers of every BN layer, as float64 numpy ``(C,)`` pairs."""
    return [(bn.running_mean.double().numpy(), bn.running_var.double().numpy()) for bn in bn_layers(model)]


def with_statistics(model: nn.Module, stats) -> nn.Module:
    """A copy of ``model`` in eval mode whose BN layers' running buffers hold ``stats``."""
    layers = bn_layers(model)
    if len(stats) != len(layers):
        raise ValueError(f"got statistics for {len(stats)} BN layers, the model has {len(layers)}")
    result = copy.deepcopy(model).eval()
    for bn, (mean, var) in zip(bn_layers(result), stats):
        bn.running_mean.copy_(torch.as_tensor(mean))
        bn.running_var.copy_(torch.as_tensor(var))
    return result


def to_torch_batchnorm(model: nn.Sequential) -> nn.Sequential:
    """A copy of ``model`` with every ``bnlib.nn.BatchNorm`` replaced by a ``torch.nn.BatchNorm1d``
    holding the same parameters, buffers and settings (so PyTorch's own tools apply to it)."""
    layers = []
    for layer in model:
        if isinstance(layer, BatchNorm):
            torch_bn = nn.BatchNorm1d(
                layer.num_features, eps=layer.eps, momentum=layer.momentum, dtype=layer.running_mean.dtype
            )
            torch_bn.load_state_dict(layer.state_dict())
            layer = torch_bn.train(layer.training)
        layers.append(copy.deepcopy(layer))
    return nn.Sequential(*layers).train(model.training)


@dataclass
class TrackedRun:
    """What :func:`train_and_track` recorded; ``L`` BN layers, ``T`` steps, ``K`` checkpoints.

    Attributes:
        batch_means, batch_vars: per BN layer, ``(T, C)``: :math:`\\mu_B` and biased :math:`\\sigma^2_B`
            of the batch of every training step, in order.
        checkpoints: ``(K,)`` the steps after which ``exact`` and ``precise`` were measured.
        exact: per checkpoint, :func:`exact_statistics` of the weights at that step.
        precise: per checkpoint, :func:`precise_statistics` (joint) of the weights at that step.
        torch_running: ``(running_mean, running_var)`` per BN layer of a ``torch.nn.BatchNorm1d``
            with ``torch_momentum`` that was fed every training batch's BN input.
    """

    batch_means: list[np.ndarray]
    batch_vars: list[np.ndarray]
    checkpoints: np.ndarray
    exact: list = field(default_factory=list)
    precise: list = field(default_factory=list)
    torch_running: list = field(default_factory=list)


def train_and_track(
    model: nn.Sequential, data: Dataset, config: TrainConfig, every: int, torch_momentum=0.1
) -> TrackedRun:
    """Train ``model`` in place exactly like :func:`bnlib.lab.training.train` (same batches, plain or
    momentum SGD) and record every step's BN batch statistics; every ``every`` steps also the exact
    and precise-BN statistics (calibration pass seeded by the step number). See :class:`TrackedRun`.
    """
    if every < 1:
        raise ValueError(f"every must be >= 1, got {every}")
    bns = bn_layers(model)
    shadows = [nn.BatchNorm1d(bn.num_features, eps=bn.eps, momentum=torch_momentum).double() for bn in bns]
    seen = [[] for _ in bns]  # per layer: [(mean, var)] per step

    def record(index):
        def hook(bn, inputs, output):
            if bn.training:
                h = inputs[0].detach()  # (m, C)
                seen[index].append(batch_statistics(h.double().numpy()))
                shadows[index](h.double())  # PyTorch's own running update

        return hook

    hooks = [bn.register_forward_hook(record(i)) for i, bn in enumerate(bns)]
    optimizer = SGD(model.parameters(), lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    batches = minibatches(len(data.y_train), config.batch_size, torch.Generator().manual_seed(config.seed))
    run = TrackedRun([], [], np.arange(every, config.steps + 1, every))
    model.train()
    try:
        for step in range(1, config.steps + 1):
            sgd_step(model, optimizer, data, next(batches))
            if step % every == 0:
                with torch.no_grad():
                    run.exact.append(exact_statistics(model, data.x_train))
                    run.precise.append(precise_statistics(model, data.x_train, config.batch_size, seed=step))
    finally:
        for hook in hooks:
            hook.remove()
    run.batch_means = [np.stack([mean for mean, _ in layer]) for layer in seen]  # (T, C) each
    run.batch_vars = [np.stack([var for _, var in layer]) for layer in seen]
    run.torch_running = [(s.running_mean.numpy().copy(), s.running_var.numpy().copy()) for s in shadows]
    return run
