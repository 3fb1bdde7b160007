"""Datasets for the experiments: scikit-learn's bundled digits, and MNIST from local IDX files.

Nothing here touches the network. :func:`load_digits_split` is the default data set of the
notebooks (1,797 images of 8x8 pixels, shipped inside scikit-learn); :func:`load_mnist_idx`
reads the original MNIST files if a reader has them on disk.
"""
import gzip
from dataclasses import dataclass
from pathlib import Path

import numpy as np
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
                raise ValueError(f"{name}: expected x (n, features) and y (n,), got {tuple(x.shape)} "
                                 f"and {tuple(y.shape)}")
        if self.x_train.shape[1] != self.x_test.shape[1]:
            raise ValueError(f"train and test have different feature counts: "
                             f"{self.x_train.shape[1]} and {self.x_test.shape[1]}")

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
    mean = x_train.mean(dim=0)                                   # (features,)
    std = x_train.std(dim=0, unbiased=False)                     # (features,)
    scale = torch.where(std > 0, std, torch.ones_like(std))     # (features,)
    return (x_train - mean) / scale, (x_test - mean) / scale


def load_digits_split(test_fraction: float = 0.25, seed: int = 0) -> Dataset:
    """scikit-learn's 8x8 handwritten digits, split (stratified by class) and standardised.

    Args:
        test_fraction: share of the 1,797 images held out for testing, in (0, 1).
        seed: seed of the split; the same seed always gives the same split.
    Returns:
        a :class:`Dataset` with ``x_train (n_train, 64)`` (n_train = 1347 at the default 0.25),
        ``x_test (n_test, 64)``, labels 0-9, inputs standardised with :func:`standardize`.
    """
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction!r}")
    digits = load_digits()
    x_train, x_test, y_train, y_test = train_test_split(
        digits.data, digits.target, test_size=test_fraction, random_state=seed, stratify=digits.target)
    x_train, x_test = standardize(torch.tensor(x_train, dtype=torch.float32),
                                  torch.tensor(x_test, dtype=torch.float32))
    return Dataset(x_train, torch.tensor(y_train, dtype=torch.int64),
                   x_test, torch.tensor(y_test, dtype=torch.int64))


# IDX type codes (third byte of the magic number) -> big-endian numpy dtype.
_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path) -> np.ndarray:
    """Read an IDX file (the format of the MNIST distribution), optionally gzip-compressed.

    Layout: a 4-byte magic number ``0x00 0x00 <type code> <ndim>``, then ``ndim`` big-endian
    uint32 sizes, then the data in C order, big-endian. Type codes: 0x08 uint8, 0x09 int8,
    0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64. Files ending in ``.gz`` are decompressed.

    Returns:
        an array of shape ``(size_0, ..., size_{ndim-1})`` in native byte order.
    Raises:
        ValueError: bad magic number, unknown type code, or a data length that does not match
        the header.
    """
    path = Path(path)
    if path.suffix == ".gz":
        with gzip.open(path) as f:
            raw = f.read()
    else:
        raw = path.read_bytes()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise ValueError(f"{path}: not an IDX file (magic bytes {raw[:4].hex()})")
    dtype, ndim = np.dtype(_IDX_DTYPES[raw[2]]), raw[3]
    header_end = 4 + 4 * ndim
    if len(raw) < header_end:
        raise ValueError(f"{path}: truncated IDX header")
    shape = tuple(int(s) for s in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(raw) - header_end != expected:
        raise ValueError(f"{path}: header announces shape {shape} ({expected} bytes of data), "
                         f"file holds {len(raw) - header_end}")
    return np.frombuffer(raw, dtype=dtype, offset=header_end).reshape(shape).astype(dtype.newbyteorder("="))


def load_mnist_idx(images_path, labels_path) -> tuple[torch.Tensor, torch.Tensor]:
    """Load one MNIST split (e.g. ``train-images-idx3-ubyte`` and ``train-labels-idx1-ubyte``).

    Returns:
        ``x`` of shape ``(n, rows * cols)`` float32 with pixels scaled to [0, 1], and ``y`` of
        shape ``(n,)`` int64. Standardise with :func:`standardize` and wrap both splits in a
        :class:`Dataset` to train on them.
    Raises:
        ValueError: if the images are not ``(n, rows, cols)``, the labels not ``(n,)``, or the
        counts differ.
    """
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.ndim != 3 or labels.ndim != 1 or images.shape[0] != labels.shape[0]:
        raise ValueError(f"expected images (n, rows, cols) and labels (n,), got {images.shape} "
                         f"and {labels.shape}")
    x = torch.tensor(images.reshape(len(images), -1), dtype=torch.float32) / 255.0  # (n, rows*cols)
    return x, torch.tensor(labels, dtype=torch.int64)
