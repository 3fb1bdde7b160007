"""Tests for bnlib.lab.batching: the shuffled and the class-sorted batch orders."""

import pytest
import torch

from bnlib.lab.batching import BATCH_ORDERS, class_sorted_batches, shuffled_batches
from bnlib.lab.training import minibatches


def labels_of(counts):
    """Labels 0, 0, ..., 1, 1, ... with counts[c] examples of class c, shuffled (as in a real split)."""
    labels = torch.cat([torch.full((n,), c, dtype=torch.int64) for c, n in enumerate(counts)])
    return labels[torch.randperm(len(labels), generator=torch.Generator().manual_seed(5))]


def take(stream, k):
    return [next(stream) for _ in range(k)]


def test_shuffled_is_the_training_loops_stream():
    labels = labels_of([7, 7, 6])
    ours = take(shuffled_batches(labels, 4, torch.Generator().manual_seed(3)), 10)
    loop = take(minibatches(len(labels), 4, torch.Generator().manual_seed(3)), 10)
    assert all(torch.equal(a, b) for a, b in zip(ours, loop))


def test_class_sorted_epoch_covers_each_example_once_and_batches_are_pure():
    labels = labels_of([12, 12, 12])  # 36 examples, batches of 6: 6 batches, all pure
    epoch = take(class_sorted_batches(labels, 6, torch.Generator().manual_seed(0)), 6)
    assert all(b.shape == (6,) for b in epoch)
    assert sorted(torch.cat(epoch).tolist()) == list(range(36))
    assert all(len(labels[b].unique()) == 1 for b in epoch)
    assert sorted(labels[b][0].item() for b in epoch) == [0, 0, 1, 1, 2, 2]


def test_class_sorted_straddling_batch_and_dropped_remainder():
    labels = labels_of([5, 5])  # batches of 4: [0000][0111], 2 examples of class 1 dropped
    epoch = take(class_sorted_batches(labels, 4, torch.Generator().manual_seed(1), shuffle_batches=False), 2)
    assert labels[epoch[0]].tolist() == [0, 0, 0, 0]
    assert sorted(labels[epoch[1]].tolist()) == [0, 1, 1, 1]
    assert len(torch.cat(epoch).unique()) == 8


def test_class_sorted_in_order_comes_class_by_class_and_epochs_differ():
    labels = labels_of([6, 6, 6])
    stream = BATCH_ORDERS["by_class_in_order"](labels, 3, torch.Generator().manual_seed(2))
    first, second = take(stream, 6), take(stream, 6)
    assert [labels[b][0].item() for b in first] == [0, 0, 1, 1, 2, 2]
    assert any(not torch.equal(a, b) for a, b in zip(first, second))  # a fresh order inside each class


def test_shuffled_batch_order_is_random_and_seeded():
    labels = labels_of([30] * 10)
    a = take(class_sorted_batches(labels, 10, torch.Generator().manual_seed(0)), 30)
    b = take(class_sorted_batches(labels, 10, torch.Generator().manual_seed(0)), 30)
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    classes = [labels[x][0].item() for x in a]
    assert classes != sorted(classes)  # batches are not visited in class order


def test_class_sorted_rejects_bad_batch_sizes():
    with pytest.raises(ValueError, match="batch_size"):
        next(class_sorted_batches(labels_of([2, 2]), 5, torch.Generator()))
    with pytest.raises(ValueError, match="batch_size"):
        next(class_sorted_batches(labels_of([2, 2]), 0, torch.Generator()))
