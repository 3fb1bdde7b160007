"""A small, seeded SGD training loop for classifiers, with test accuracy tracked over training.

Lessons that import it: 00, 01, 02, 03, 05, 06, 07, 08.
"""

import random
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .data import Dataset
from .sgd import SGD


@dataclass(kw_only=True)
class TrainConfig:
    """Settings of :func:`train` (keyword-only)."""

    steps: int  # number of SGD updates
    lr: float  # learning rate
    batch_size: int = 60  # examples per mini-batch
    eval_every: int = 50  # evaluate test accuracy every this many steps (and at 0 and the end)
    seed: int = 0  # seed of the mini-batch order
    momentum: float = 0.0  # SGD momentum (0: plain SGD)
    weight_decay: float = 0.0  # L2 penalty added by the optimiser

    def __post_init__(self):
        if self.steps < 0 or self.batch_size < 1 or self.eval_every < 1:
            raise ValueError(f"need steps >= 0, batch_size >= 1, eval_every >= 1; got {self}")
        if not self.lr > 0:
            raise ValueError(f"lr must be positive, got {self.lr!r}")


@dataclass
class History:
    """What happened during :func:`train`.

    Attributes:
        eval_steps: steps at which test accuracy was measured (0, eval_every, 2 * eval_every, ..., steps).
        test_accuracy: test accuracy in [0, 1] at each of ``eval_steps``.
        train_loss: mini-batch cross-entropy of every step, ``train_loss[t]`` is the loss of the
            batch used by update ``t + 1`` (computed before that update); NaN once training diverged.
    """

    eval_steps: list[int] = field(default_factory=list)
    test_accuracy: list[float] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)

    def steps_to_reach(self, accuracy: float) -> int | None:
        """First evaluation step with test accuracy >= ``accuracy``, or ``None`` if never reached."""
        return next((s for s, a in zip(self.eval_steps, self.test_accuracy) if a >= accuracy), None)


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, numpy's global generator and torch's global generator."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def minibatches(n: int, batch_size: int, generator: torch.Generator) -> Iterator[torch.Tensor]:
    """Endless stream of index batches ``(batch_size,)``: each epoch is a fresh permutation of
    ``range(n)`` cut into batches, sampling without replacement; the incomplete last batch of an
    epoch is dropped so every batch has the same size (BN needs more than one example)."""
    if batch_size > n:
        raise ValueError(f"batch_size {batch_size} exceeds the {n} training examples")
    while True:
        order = torch.randperm(n, generator=generator)  # (n,)
        for start in range(0, n - batch_size + 1, batch_size):
            yield order[start : start + batch_size]  # (batch_size,)


def sgd_step(model: nn.Module, optimizer: SGD, data: Dataset, index: torch.Tensor) -> torch.Tensor:
    """One update on the training examples ``index (batch_size,)``: cross-entropy, backward, step.

    Returns the mini-batch loss (computed before the update), still a tensor.
    """
    loss = F.cross_entropy(model(data.x_train[index]), data.y_train[index])
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Share of ``x (N, features)`` whose arg-max logit equals ``y (N,)``, computed in eval mode;
    the model's train/eval mode is restored afterwards."""
    was_training = model.training
    model.eval()
    predicted = model(x).argmax(dim=1)  # (N,)
    model.train(was_training)
    return (predicted == y).float().mean().item()


def train(model: nn.Module, data: Dataset, config: TrainConfig, recorder=None) -> History:
    """Train ``model`` in place with mini-batch SGD on cross-entropy and return its :class:`History`.

    The batch order comes from a private generator seeded by ``config.seed``, so the same model
    initialisation and config always give the same history (the global RNG is not used).
    Test accuracy is measured in eval mode at step 0, every ``eval_every`` steps, and after the
    last step. If ``recorder`` (a :class:`bnlib.recorder.ActivationRecorder`) is given, at each of
    those steps it records the pre-activations on the test inputs and the gradient norms of the
    latest update (none at step 0). A diverging run (NaN loss) is not stopped: its losses are
    recorded as NaN and its accuracy is whatever the broken model predicts.
    """
    optimizer = SGD(model.parameters(), lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    batches = minibatches(len(data.y_train), config.batch_size, torch.Generator().manual_seed(config.seed))
    history = History()

    def evaluate(step: int) -> None:
        history.eval_steps.append(step)
        history.test_accuracy.append(accuracy(model, data.x_test, data.y_test))
        if recorder is not None:
            recorder.record(step, data.x_test)

    model.train()
    evaluate(0)
    for step in range(1, config.steps + 1):
        loss = sgd_step(model, optimizer, data, next(batches))
        history.train_loss.append(loss.item())
        if step % config.eval_every == 0 or step == config.steps:
            evaluate(step)
    return history
