"""Orders in which a training set is cut into mini-batches: shuffled, or sorted by class.

Each order is a function ``(labels, batch_size, generator) -> endless iterator of index batches``
of shape ``(batch_size,)``; :data:`BATCH_ORDERS` names them, and
:func:`bnlib.lab.vectorized.train_together` takes the name. An epoch always visits every example
at most once and drops the incomplete last batch, so every batch has ``batch_size`` examples.

Lesson that imports it: 07.
"""

from collections.abc import Callable, Iterator

import torch

from .training import minibatches


def shuffled_batches(labels: torch.Tensor, batch_size: int, generator: torch.Generator) -> Iterator[torch.Tensor]:
    """The usual order: each epoch a fresh random permutation of all examples, cut into batches.

    The same stream as :func:`bnlib.lab.training.minibatches` (and so as :func:`bnlib.lab.training.train`)
    for the same generator; ``labels (n,)`` only gives the number of examples.
    """
    return minibatches(len(labels), batch_size, generator)


def class_sorted_batches(
    labels: torch.Tensor, batch_size: int, generator: torch.Generator, shuffle_batches: bool = True
) -> Iterator[torch.Tensor]:
    """Batches cut from the training set sorted by class: almost every batch holds one class only.

    Each epoch: the examples of each class in a fresh random order, the classes one after the
    other (class 0 first), cut into consecutive batches of ``batch_size`` (the incomplete last
    batch dropped). A batch that straddles two classes holds both. With ``shuffle_batches`` (default)
    the batches of the epoch are then visited in random order, so that every class is seen
    throughout training and only the *composition* of a batch differs from :func:`shuffled_batches`;
    with ``False`` they come in class order (all of class 0, then all of class 1, ...).

    Args:
        labels: ``(n,)`` int64 class labels of the training set.
        batch_size: examples per batch, ``1 <= batch_size <= n``.
        generator: the source of all randomness (one stream per training run).
    Yields:
        ``(batch_size,)`` int64 indices into the training set.
    """
    n = len(labels)
    if not 1 <= batch_size <= n:
        raise ValueError(f"batch_size must be between 1 and the {n} training examples, got {batch_size}")
    classes = torch.unique(labels)  # sorted
    while True:
        parts = []
        for c in classes:
            members = torch.nonzero(labels == c).flatten()  # (n_c,)
            parts.append(members[torch.randperm(len(members), generator=generator)])
        order = torch.cat(parts)  # (n,) sorted by class
        batches = [order[s : s + batch_size] for s in range(0, n - batch_size + 1, batch_size)]
        visit = torch.randperm(len(batches), generator=generator) if shuffle_batches else range(len(batches))
        for b in visit:
            yield batches[int(b)]


BATCH_ORDERS: dict[str, Callable[..., Iterator[torch.Tensor]]] = {
    "shuffled": shuffled_batches,
    "by_class": class_sorted_batches,
    "by_class_in_order": lambda labels, batch_size, generator: class_sorted_batches(
        labels, batch_size, generator, shuffle_batches=False
    ),
}
"""The batch orders by name: ``(labels, batch_size, generator) -> iterator of (batch_size,) indices``."""
