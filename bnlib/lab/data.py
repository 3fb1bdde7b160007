"""The data set of the experiments: scikit-learn's bundled 8x8 digits, split and standardised.

Nothing here touches the network: the 1,797 images of 8x8 pixels ship inside scikit-learn.

The split seed lives in one place, :data:`SPLIT_SEED`. It is 0 unless the environment variable
``BNLIB_SPLIT_SEED`` says otherwise, so a whole lesson can be re-run on another train/test split
without editing it (CI does that to check that every claim holds beyond one split).
"""

import os
from dataclasses import dataclass

import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split


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


SPLIT_SEED: int = int(os.environ.get("BNLIB_SPLIT_SEED", "0"))
"""Default seed of :func:`load_digits_split`: ``BNLIB_SPLIT_SEED`` from the environment, else 0."""


def load_digits_split(test_fraction: float = 0.25, seed: int | None = None) -> Dataset:
    """scikit-learn's 8x8 handwritten digits, split (stratified by class) and standardised.

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
    digits = load_digits()
    x_train, x_test, y_train, y_test = train_test_split(
        digits.data, digits.target, test_size=test_fraction, random_state=seed, stratify=digits.target
    )
    x_train, x_test = standardize(torch.tensor(x_train, dtype=torch.float32), torch.tensor(x_test, dtype=torch.float32))
    return Dataset(x_train, torch.tensor(y_train, dtype=torch.int64), x_test, torch.tensor(y_test, dtype=torch.int64))
