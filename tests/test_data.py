"""Tests for bnlib.data: the digits split, standardisation and the IDX reader."""
import gzip

import numpy as np
import pytest
import torch

from bnlib.data import Dataset, load_digits_split, load_mnist_idx, read_idx, standardize


@pytest.fixture(scope="module")
def digits():
    return load_digits_split()


def test_digits_shapes_and_dtypes(digits):
    assert digits.x_train.shape == (1347, 64) and digits.x_test.shape == (450, 64)
    assert digits.y_train.shape == (1347,) and digits.y_test.shape == (450,)
    assert digits.x_train.dtype == torch.float32 and digits.y_train.dtype == torch.int64
    assert digits.num_features == 64 and digits.num_classes == 10


def test_digits_standardised_with_training_statistics(digits):
    mean = digits.x_train.mean(dim=0)
    std = digits.x_train.std(dim=0, unbiased=False)
    assert torch.allclose(mean, torch.zeros(64), atol=1e-5)
    constant = std < 1e-6                              # pixels blank in every training image
    assert constant.any() and torch.allclose(std[~constant], torch.ones(int((~constant).sum())), atol=1e-5)
    assert not torch.allclose(digits.x_test.mean(dim=0), torch.zeros(64), atol=1e-3)  # test stats not used


def test_digits_split_is_stratified(digits):
    train_share = torch.bincount(digits.y_train, minlength=10) / len(digits.y_train)
    test_share = torch.bincount(digits.y_test, minlength=10) / len(digits.y_test)
    assert torch.allclose(train_share, test_share, atol=0.01)


def test_digits_split_depends_only_on_seed():
    a, b, c = load_digits_split(seed=3), load_digits_split(seed=3), load_digits_split(seed=4)
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_test, b.y_test)
    assert not torch.equal(a.x_train, c.x_train)
    assert len(load_digits_split(test_fraction=0.5).y_test) in (898, 899)
    with pytest.raises(ValueError):
        load_digits_split(test_fraction=1.0)


def test_standardize_by_hand():
    x_train = torch.tensor([[1.0, 5.0], [3.0, 5.0]])   # column 1 constant -> only centred
    x_test = torch.tensor([[2.0, 7.0]])
    s_train, s_test = standardize(x_train, x_test)
    assert torch.equal(s_train, torch.tensor([[-1.0, 0.0], [1.0, 0.0]]))
    assert torch.equal(s_test, torch.tensor([[0.0, 2.0]]))


def test_dataset_rejects_bad_tensors():
    x, y = torch.zeros(4, 3), torch.zeros(4, dtype=torch.int64)
    with pytest.raises(TypeError):
        Dataset(x.double(), y, x, y)
    with pytest.raises(ValueError):
        Dataset(x, y[:3], x, y)
    with pytest.raises(ValueError):
        Dataset(x, y, torch.zeros(4, 2), y)


def write_idx(path, array: np.ndarray, type_code: int, big_endian_dtype: str, compress=False):
    """Write ``array`` in the IDX format by hand (independently of read_idx)."""
    header = bytes([0, 0, type_code, array.ndim]) + b"".join(int(s).to_bytes(4, "big") for s in array.shape)
    raw = header + array.astype(big_endian_dtype).tobytes()
    path.write_bytes(gzip.compress(raw) if compress else raw)


@pytest.mark.parametrize("type_code, dtype", [(0x08, ">u1"), (0x09, ">i1"), (0x0B, ">i2"),
                                              (0x0C, ">i4"), (0x0D, ">f4"), (0x0E, ">f8")])
def test_idx_round_trip(tmp_path, type_code, dtype):
    array = (np.arange(2 * 3 * 4).reshape(2, 3, 4) * (1 if "u" in dtype else -1)).astype(dtype)
    write_idx(tmp_path / "a.idx", array, type_code, dtype)
    result = read_idx(tmp_path / "a.idx")
    assert result.shape == (2, 3, 4) and result.dtype == np.dtype(dtype).newbyteorder("=")
    np.testing.assert_array_equal(result, array)


def test_idx_gzip_and_mnist_loader(tmp_path):
    images = np.arange(3 * 2 * 2, dtype=np.uint8).reshape(3, 2, 2) * 20  # 3 images of 2x2 pixels
    labels = np.array([7, 0, 9], dtype=np.uint8)
    write_idx(tmp_path / "images.gz", images, 0x08, ">u1", compress=True)
    write_idx(tmp_path / "labels", labels, 0x08, ">u1")
    x, y = load_mnist_idx(tmp_path / "images.gz", tmp_path / "labels")
    assert x.shape == (3, 4) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert torch.allclose(x, torch.tensor(images.reshape(3, 4) / 255.0, dtype=torch.float32))
    assert y.tolist() == [7, 0, 9]
    write_idx(tmp_path / "two", labels[:2], 0x08, ">u1")
    with pytest.raises(ValueError, match="labels"):       # 3 images, 2 labels
        load_mnist_idx(tmp_path / "images.gz", tmp_path / "two")


def test_idx_rejects_bad_files(tmp_path):
    (tmp_path / "bad").write_bytes(b"\x01\x02\x08\x01" + (3).to_bytes(4, "big") + b"abc")
    with pytest.raises(ValueError, match="not an IDX file"):
        read_idx(tmp_path / "bad")
    (tmp_path / "short").write_bytes(b"\x00\x00\x08\x01" + (5).to_bytes(4, "big") + b"abc")
    with pytest.raises(ValueError, match="5 bytes"):
        read_idx(tmp_path / "short")
