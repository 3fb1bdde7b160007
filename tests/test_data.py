"""Tests for bnlib.lab.data: the digits split, its one seed, and standardisation."""

import numpy as np
import pytest
import torch

from bnlib.lab import data as data_module
from bnlib.lab.data import Dataset, load_digits_split, standardize


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
    constant = std < 1e-6  # pixels blank in every training image
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
    with pytest.raises(ValueError, match=r"test_fraction must be in \(0, 1\)"):
        load_digits_split(test_fraction=1.0)


def test_standardize_by_hand():
    x_train = torch.tensor([[1.0, 5.0], [3.0, 5.0]])  # column 1 constant -> only centred
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


def test_default_split_seed_is_the_one_module_constant(monkeypatch):
    """load_digits_split() without a seed uses SPLIT_SEED, the one place CI changes the split."""
    monkeypatch.setattr(data_module, "SPLIT_SEED", 3)
    default, explicit, other = load_digits_split(), load_digits_split(seed=3), load_digits_split(seed=4)
    assert torch.equal(default.y_test, explicit.y_test)
    assert not torch.equal(default.y_test, other.y_test)


def test_split_seed_comes_from_the_environment():
    """A fresh interpreter with BNLIB_SPLIT_SEED=7 reads 7; without it, 0."""
    import os
    import subprocess
    import sys

    code = "from bnlib.lab.data import SPLIT_SEED; print(SPLIT_SEED)"
    env = {k: v for k, v in os.environ.items() if k != "BNLIB_SPLIT_SEED"}
    assert (
        subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout.strip()
        == "0"
    )
    env["BNLIB_SPLIT_SEED"] = "7"
    assert (
        subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout.strip()
        == "7"
    )


SKLEARN_ABSENT = (
    "scikit-learn is not installed: it is a test-only dependency (requirements-dev.txt), the oracle that the "
    "shipped digits and the split are scikit-learn's"
)


def test_read_digits_is_sklearns_load_digits():
    datasets = pytest.importorskip("sklearn.datasets", reason=SKLEARN_ABSENT)
    images, labels = data_module.read_digits()
    reference = datasets.load_digits()
    assert images.dtype == reference.data.dtype and np.array_equal(images, reference.data)
    assert np.array_equal(labels, reference.target)


def test_shipped_digits_are_the_uci_test_set():
    """1,797 images of 64 pixels in 0..16, and the per-class counts of the UCI description of
    optdigits.tes (0: 178, 1: 182, 2: 177, 3: 183, 4: 181, 5: 182, 6: 181, 7: 179, 8: 174, 9: 180)."""
    images, labels = data_module.read_digits()
    assert images.shape == (1797, 64) and images.dtype == np.float64 and labels.shape == (1797,)
    assert np.array_equal(images, np.round(images)) and images.min() == 0 and images.max() == 16
    assert np.bincount(labels).tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]


def test_digits_load_without_sklearn_from_any_directory(tmp_path):
    """A student's install has no scikit-learn, and CI runs copies of the lessons in other folders:
    the digits are found through the package, with scikit-learn made unimportable."""
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['sklearn'] = None\n"  # `import sklearn` now raises ImportError
        "from bnlib.lab.data import load_digits_split; d = load_digits_split()\n"
        "print(tuple(d.x_train.shape), tuple(d.x_test.shape))"
    )
    run = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "(1347, 64) (450, 64)"


@pytest.mark.parametrize("test_fraction", [0.25, 0.1, 0.3, 0.5, 0.9])
def test_stratified_split_draws_sklearns_indices(test_fraction):
    """The same indices as train_test_split(stratify=...), for many seeds, and on labels with ties in
    the class shares (where the tie-break consumes random draws)."""
    train_test_split = pytest.importorskip("sklearn.model_selection", reason=SKLEARN_ABSENT).train_test_split

    _, digits_labels = data_module.read_digits()
    rng = np.random.default_rng(0)
    for labels in (digits_labels, rng.integers(0, 4, 203), np.repeat(np.arange(7), 12)):
        index = np.arange(len(labels))
        for seed in range(25):
            train, test = data_module.stratified_split(labels, test_fraction, seed)
            expected_train, expected_test = train_test_split(
                index, test_size=test_fraction, random_state=seed, stratify=labels
            )
            assert np.array_equal(train, expected_train) and np.array_equal(test, expected_test), (seed, len(labels))


def test_stratified_split_rejects_too_small_sides():
    with pytest.raises(ValueError, match="at least 2 examples per class"):
        data_module.stratified_split(np.array([0, 0, 1]), 0.5, 0)
    with pytest.raises(ValueError, match="as many examples as classes"):
        data_module.stratified_split(np.repeat(np.arange(10), 5), 0.1, 0)


def test_loading_the_digits_does_not_import_sklearn():
    """Importing scikit-learn takes over a second (it loads SciPy); every lesson loads the digits."""
    import subprocess
    import sys

    code = (
        "import sys; from bnlib.lab.data import load_digits_split; load_digits_split(); print('sklearn' in sys.modules)"
    )
    assert (
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
        == "False"
    )
