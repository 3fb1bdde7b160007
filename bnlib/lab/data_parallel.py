"""Data-parallel training of an MLP with BN, for real in several processes or simulated in one.

In data-parallel training each of ``P`` processes takes ``n = global_batch / P`` rows of every
global batch, computes its mean loss and gradients, and the gradients are averaged over the
processes (one all-reduce) before every process takes the same SGD step. With equal shares the
averaged gradient is the gradient of the mean loss over the global batch, so:

- with synchronised BN (:class:`bnlib.nn.SyncBatchNorm`) the run equals plain BN on the
  global batch in one process;
- with per-process BN it equals :class:`bnlib.nn.GhostBatchNorm` with ``P`` splits.

:func:`train_worker` is the real thing (run it with :func:`bnlib.lab.processes.run_in_processes`);
:func:`simulate` is the one-process equivalent, cheap enough for a sweep over seeds. Both return
the same :class:`dict` so a lesson can compare them.

Lesson that imports it: 09.
"""

from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from ..nn import BatchNorm, GhostBatchNorm, NaiveSyncBatchNorm, SyncBatchNorm
from .models import MLPConfig, build_mlp
from .naive_sync import SimulatedNaiveSyncBatchNorm
from .sgd import SGD
from .training import minibatches


@dataclass(kw_only=True)
class DataParallelConfig:
    """One data-parallel run: ``processes`` shares of each ``global_batch``; synchronised BN or not."""

    processes: int  # P
    global_batch: int = 64  # rows per step over all processes; a multiple of P
    sync: bool = True  # synchronised statistics (else per-process, "ghost")
    naive: bool = False  # with sync: bnlib.nn.NaiveSyncBatchNorm, the backward without its all-reduce (lesson 09's bug)
    steps: int = 300
    lr: float = 0.1
    seed: int = 0  # model initialisation and batch order
    hidden: tuple[int, ...] = (100, 100)
    activation: type[nn.Module] = nn.ReLU
    double: bool = False  # float64, to compare the real and simulated runs exactly
    eval_every: int = 0  # also record test accuracy every this many steps (0: at the end only)

    def __post_init__(self):
        if self.processes < 1 or self.global_batch % self.processes:
            raise ValueError(
                f"global_batch {self.global_batch} must be a positive multiple of processes {self.processes}"
            )
        if self.global_batch // self.processes < 2 and self.sync is False:
            raise ValueError("per-process BN needs at least 2 rows per process")
        if self.naive and not self.sync:
            raise ValueError("naive=True is a variant of synchronised BN: it needs sync=True")


def _model(config: DataParallelConfig, bn_layer) -> nn.Sequential:
    model = build_mlp(MLPConfig(hidden=config.hidden, activation=config.activation, norm="bn"), config.seed)
    for i, layer in enumerate(model):
        if isinstance(layer, BatchNorm):
            model[i] = bn_layer(layer.num_features)
    return model.double() if config.double else model


@torch.no_grad()
def _accuracy(model, x, y) -> float:
    model.eval()
    correct = (model(x).argmax(1) == y).double().mean().item()
    model.train()
    return correct


def _run(config, model, x_train, y_train, x_test, y_test, rows, average) -> dict:
    """The loop both versions share; ``rows(index)`` picks this process's rows of a global batch,
    ``average(model)`` averages the gradients over the processes."""
    dtype = torch.float64 if config.double else torch.float32
    x_train, x_test = torch.as_tensor(x_train, dtype=dtype), torch.as_tensor(x_test, dtype=dtype)
    y_train, y_test = torch.as_tensor(y_train), torch.as_tensor(y_test)
    optimizer = SGD(model.parameters(), lr=config.lr)
    batches = minibatches(len(y_train), config.global_batch, torch.Generator().manual_seed(config.seed))
    losses, curve = [], []
    model.train()
    for step in range(1, config.steps + 1):
        index = rows(next(batches))
        loss = F.cross_entropy(model(x_train[index]), y_train[index])
        optimizer.zero_grad()
        loss.backward()
        average(model)
        optimizer.step()
        losses.append(loss.item())
        if config.eval_every and step % config.eval_every == 0:
            curve.append(_accuracy(model, x_test, y_test))
    return {
        "losses": np.array(losses),
        "test_accuracy": _accuracy(model, x_test, y_test),
        "train_accuracy": _accuracy(model, x_train, y_train),
        "curve": np.array(curve),
        "state": {k: v.detach().cpu().numpy().copy() for k, v in model.state_dict().items()},
    }


def train_worker(rank, world_size, x_train, y_train, x_test, y_test, config: DataParallelConfig) -> dict:
    """Process ``rank``'s part of a real data-parallel run (``world_size`` must be ``config.processes``).

    Also records what crosses between the processes in step 1: ``"collectives"``, one
    ``(operation, bytes)`` pair per collective call of that step, in call order, with the bytes
    this process contributes (``"all_gather"``: BN's statistics in forward; ``"all_reduce"``: their
    gradients in backward, then one per parameter gradient).
    """
    if world_size != config.processes:
        raise ValueError(f"config.processes = {config.processes} but {world_size} processes are running")
    sync_layer = NaiveSyncBatchNorm if config.naive else SyncBatchNorm
    layer = (lambda c: sync_layer(c)) if config.sync else (lambda c: BatchNorm(c))
    model = _model(config, layer)
    share = config.global_batch // world_size
    log, originals = [], {name: getattr(dist, name) for name in ("all_reduce", "all_gather")}

    def counting(name):  # record what crosses the network
        def collective(*args, **kwargs):
            tensor = args[0] if name == "all_reduce" else args[1]  # all_gather(tensor_list, tensor)
            log.append((name, tensor.numel() * tensor.element_size()))
            return originals[name](*args, **kwargs)

        return collective

    def average(model):
        for p in model.parameters():  # the data-parallel gradient sum
            dist.all_reduce(p.grad)
            p.grad /= world_size
        if not collectives:
            collectives.extend(log)

    collectives: list[tuple[str, int]] = []
    for name in originals:
        setattr(dist, name, counting(name))
    try:
        result = _run(
            config,
            model,
            x_train,
            y_train,
            x_test,
            y_test,
            lambda index: index[rank * share : (rank + 1) * share],
            average,
        )
    finally:
        for name, original in originals.items():
            setattr(dist, name, original)
    result["collectives"] = collectives
    return result


def simulate(x_train, y_train, x_test, y_test, config: DataParallelConfig) -> dict:
    """The same run in one process: plain BN on the global batch (sync), ghost BN with P splits (not
    sync), or the naive backward's bug with P simulated processes (:class:`bnlib.lab.naive_sync.SimulatedNaiveSyncBatchNorm`)."""
    if config.naive:
        layer = lambda c: SimulatedNaiveSyncBatchNorm(c, config.processes)  # noqa: E731
    elif config.sync:
        layer = lambda c: BatchNorm(c)  # noqa: E731
    else:
        layer = lambda c: GhostBatchNorm(c, config.processes)  # noqa: E731
    model = _model(config, layer)
    return _run(config, model, x_train, y_train, x_test, y_test, lambda index: index, lambda model: None)
