"""The data set of the experiments: the 8x8 handwritten digits, split and standardised.

Nothing here touches the network: the 1,797 images of 8x8 pixels ship inside this package
(``bnlib/lab/digits/digits.csv.gz``, a copy of scikit-learn's file; its source and licence are in
the ``README.md`` beside it). :func:`read_digits` returns what ``sklearn.datasets.load_digits``
returns, and :func:`stratified_split` the indices that
``sklearn.model_selection.train_test_split(..., stratify=y)`` draws, without scikit-learn (a
student's install does not have it, and its import alone takes over a second); ``tests/test_data.py``
checks both against scikit-learn itself where it is installed (``requirements-dev.txt``).

The split seed lives in one place, :data:`SPLIT_SEED`. It is 0 unless the environment variable
``BNLIB_SPLIT_SEED`` says otherwise, so a whole lesson can be re-run on another train/test split
without editing it (CI does that to check that every claim holds beyond one split).

Lessons that import it: 00, 01, 02, 03, 05, 06, 07, 08, 09, 10.
"""

import gzip
import importlib.resources
import math
import os
from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class Dataset:
    """A train/test split of a classification problem, as torch tensors.

    Attributes:
        x_train: ``(n_train, num_features)`` float32 inputs.
        y_train: ``(n_train,)`` int64 class labels in ``[0, num_classes)``.
        x_test: ``(n_test, num_features)`` float32 inputs.
        y_test: ``(n_test,)`` int64 class labels.
    """

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor

    def __post_init__(self):
        for name, x, y in (("train", self.x_train, self.y_train), ("test", self.x_test, self.y_test)):
            if x.dtype != torch.float32 or y.dtype != torch.int64:
                raise TypeError(f"{name}: expected x float32 and y int64, got {x.dtype} and {y.dtype}")
            if x.dim() != 2 or y.dim() != 1 or x.shape[0] != y.shape[0]:
                raise ValueError(
                    f"{name}: expected x (n, features) and y (n,), got {tuple(x.shape)} and {tuple(y.shape)}"
                )
        if self.x_train.shape[1] != self.x_test.shape[1]:
            raise ValueError(
                f"train and test have different feature counts: {self.x_train.shape[1]} and {self.x_test.shape[1]}"
            )

    @property
    def num_features(self) -> int:
        """Number of input features (64 for the 8x8 digits)."""
        return self.x_train.shape[1]

    @property
    def num_classes(self) -> int:
        """Number of classes: one more than the largest label in either split."""
        return int(torch.cat([self.y_train, self.y_test]).max()) + 1


def standardize(x_train: torch.Tensor, x_test: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Standardise both splits with the training set's per-feature statistics.

    .. math:: x' = (x - \mu_\text{train}) / s, \quad s = \sigma_\text{train} \text{ if } \sigma_\text{train} > 0 \text{ else } 1

    :math:`\sigma` is the population standard deviation. Features that are constant in the
    training set (e.g. border pixels that are always blank) are only centred, not scaled.

    Args:
        x_train: ``(n_train, features)``; x_test: ``(n_test, features)``.
    Returns:
        ``(x_train', x_test')`` with the same shapes and dtypes.
    """
    mean = x_train.mean(dim=0)  # (features,)
    std = x_train.std(dim=0, correction=0)  # (features,)
    scale = torch.where(std > 0, std, torch.ones_like(std))  # (features,)
    return (x_train - mean) / scale, (x_test - mean) / scale


DIGITS_FILE = importlib.resources.files(__package__) / "digits" / "digits.csv.gz"
"""The shipped digits: one image per row, 64 pixels (0..16) then the label, gzip-compressed CSV.
Found through the package, so a lesson reads it from any working directory."""


def read_digits() -> tuple[np.ndarray, np.ndarray]:
    """The 8x8 digits as scikit-learn ships them: ``(images (1797, 64) float64 in 0..16, labels (1797,) int)``.

    Reads :data:`DIGITS_FILE` (one image per row, the label last), the same file and the same
    arrays as ``sklearn.datasets.load_digits()``'s ``data`` and ``target``.
    """
    with DIGITS_FILE.open("rb") as packed, gzip.open(packed, mode="rt", encoding="utf-8") as rows:
        table = np.loadtxt(rows, delimiter=",")  # (1797, 65)
    return table[:, :-1], table[:, -1].astype(int)


def _approximate_mode(class_counts: np.ndarray, n_draws: int, rng: np.random.RandomState) -> np.ndarray:
    """How many of ``n_draws`` to take from each class: the floor of its proportional share, plus one
    for the classes with the largest remainders (ties broken at random) until the total is ``n_draws``.
    (scikit-learn's ``sklearn.utils.extmath._approximate_mode``, step for step, so ``rng`` advances alike.)"""
    continuous = class_counts / class_counts.sum() * n_draws
    floored = np.floor(continuous)
    need_to_add = int(n_draws - floored.sum())
    if need_to_add > 0:
        remainder = continuous - floored
        for value in np.sort(np.unique(remainder))[::-1]:
            (tied,) = np.where(remainder == value)
            add_now = min(len(tied), need_to_add)
            floored[rng.choice(tied, size=add_now, replace=False)] += 1
            need_to_add -= add_now
            if need_to_add == 0:
                break
    return floored.astype(int)


def stratified_split(y: np.ndarray, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``(train_index, test_index)``: a random split of ``range(len(y))`` that keeps each class's share.

    The test set has ``ceil(test_fraction * len(y))`` examples. The indices are those of
    ``train_test_split(..., test_size=test_fraction, random_state=seed, stratify=y)`` in scikit-learn
    (its ``StratifiedShuffleSplit``, the same random draws in the same order): per class, a random
    permutation of its examples is cut into a training and a test part of about proportional size,
    then both sets are shuffled.
    """
    n_test = math.ceil(test_fraction * len(y))
    classes, y_indices, counts = np.unique(y, return_inverse=True, return_counts=True)
    if counts.min() < 2 or min(n_test, len(y) - n_test) < len(classes):
        raise ValueError(
            f"a stratified split needs at least 2 examples per class and as many examples as classes ({len(classes)}) "
            f"on each side; got a smallest class of {counts.min()}, {len(y) - n_test} train and {n_test} test examples"
        )
    rng = np.random.RandomState(seed)
    by_class = np.split(np.argsort(y_indices, kind="stable"), np.cumsum(counts)[:-1])  # indices of each class
    n_train_per_class = _approximate_mode(counts, len(y) - n_test, rng)
    n_test_per_class = _approximate_mode(counts - n_train_per_class, n_test, rng)
    train, test = [], []
    for members, n_tr, n_te in zip(by_class, n_train_per_class, n_test_per_class):
        shuffled = members.take(rng.permutation(len(members)), mode="clip")
        train.extend(shuffled[:n_tr])
        test.extend(shuffled[n_tr : n_tr + n_te])
    return rng.permutation(train), rng.permutation(test)


SPLIT_SEED: int = int(os.environ.get("BNLIB_SPLIT_SEED", "0"))
"""Default seed of :func:`load_digits_split`: ``BNLIB_SPLIT_SEED`` from the environment, else 0."""


def load_digits_split(test_fraction: float = 0.25, seed: int | None = None) -> Dataset:
    """The 8x8 handwritten digits (:func:`read_digits`), split (stratified by class) and standardised.

    Args:
        test_fraction: share of the 1,797 images held out for testing, in (0, 1).
        seed: seed of the split; the same seed always gives the same split. ``None``: :data:`SPLIT_SEED`.
    Returns:
        a :class:`Dataset` with ``x_train (n_train, 64)`` (n_train = 1347 at the default 0.25),
        ``x_test (n_test, 64)``, labels 0-9, inputs standardised with :func:`standardize`.
    """
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction!r}")
    if seed is None:
        seed = SPLIT_SEED
    images, labels = read_digits()
    train, test = stratified_split(labels, test_fraction, seed)
    x_train, x_test, y_train, y_test = images[train], images[test], labels[train], labels[test]
    x_train, x_test = standardize(torch.tensor(x_train, dtype=torch.float32), torch.tensor(x_test, dtype=torch.float32))
    return Dataset(x_train, torch.tensor(y_train, dtype=torch.int64), x_test, torch.tensor(y_test, dtype=torch.int64))
