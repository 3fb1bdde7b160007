"""Tests for bnlib.lab.vectorized.train_together: the same result as one train() per model."""

import pytest
import torch
from torch import nn

from bnlib.lab.data import load_digits_split
from bnlib.lab.dropout import with_dropout
from bnlib.lab.models import MLPConfig, build_mlp
from bnlib.lab.training import TrainConfig, train
from bnlib.lab.vectorized import train_together


@pytest.fixture(scope="module")
def digits():
    return load_digits_split()


@pytest.mark.parametrize(
    "norm, norm_impl",
    [
        ("none", "bnlib"),
        ("bn", "bnlib"),
        ("ln", "bnlib"),
        ("gn", "bnlib"),
        ("bn", "torch"),
        ("ln", "torch"),
        ("gn", "torch"),
    ],
)
def test_same_as_training_one_by_one(digits, norm, norm_impl):
    """PyTorch's own normalization modules too: vmap updates their (stacked) running statistics in place."""
    config = MLPConfig(hidden=(32, 32), norm=norm, activation=nn.ReLU, norm_impl=norm_impl)
    configs = [
        TrainConfig(steps=30, lr=0.1, batch_size=8, eval_every=10, seed=s, momentum=0.9, weight_decay=1e-3)
        for s in (0, 1, 2)
    ]
    together = [build_mlp(config, s) for s in (0, 1, 2)]
    alone = [build_mlp(config, s) for s in (0, 1, 2)]
    histories = train_together(together, digits, configs)
    references = [train(model, digits, c) for model, c in zip(alone, configs)]
    for model, reference, history, ref_history in zip(together, alone, histories, references):
        for (name, a), b in zip(model.state_dict().items(), reference.state_dict().values()):
            assert torch.allclose(a.double(), b.double(), rtol=1e-3, atol=1e-4), name  # parameters and BN buffers
        assert history.eval_steps == ref_history.eval_steps == [0, 10, 20, 30]
        assert history.train_loss == pytest.approx(ref_history.train_loss, rel=1e-3, abs=1e-4)
        assert history.test_accuracy == pytest.approx(ref_history.test_accuracy, abs=3 / len(digits.y_test))
        assert model.training
    assert histories[0].train_loss != histories[1].train_loss  # each model has its own seed's batches


def test_class_sorted_order_and_dropout_are_deterministic(digits):
    def run():
        models = [with_dropout(build_mlp(MLPConfig(hidden=(16,), norm="bn"), s), 0.5) for s in (0, 1)]
        configs = [TrainConfig(steps=5, lr=0.1, batch_size=10, seed=s) for s in (0, 1)]
        return train_together(models, digits, configs, order="by_class"), models

    (h1, m1), (h2, m2) = run(), run()
    assert h1 == h2
    assert all(torch.equal(a, b) for a, b in zip(m1[0].state_dict().values(), m2[0].state_dict().values()))


def test_global_random_state_is_left_alone(digits):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    models = [with_dropout(build_mlp(MLPConfig(hidden=(16,)), s), 0.5) for s in (0, 1)]
    train_together(models, digits, [TrainConfig(steps=3, lr=0.1, seed=s) for s in (0, 1)])
    assert torch.equal(torch.rand(3), expected)


def test_rejects_mismatched_models_and_configs(digits):
    a, b = build_mlp(MLPConfig(hidden=(16,)), 0), build_mlp(MLPConfig(hidden=(8,)), 1)
    with pytest.raises(ValueError, match="same architecture"):
        train_together([a, b], digits, [TrainConfig(steps=1, lr=0.1, seed=s) for s in (0, 1)])
    with pytest.raises(ValueError, match="only in their seed"):
        train_together(
            [a, build_mlp(MLPConfig(hidden=(16,)), 1)],
            digits,
            [TrainConfig(steps=1, lr=0.1), TrainConfig(steps=1, lr=0.2, seed=1)],
        )
    with pytest.raises(ValueError, match="one config per model"):
        train_together([a], digits, [])
    with pytest.raises(ValueError, match="order must be"):
        train_together([a], digits, [TrainConfig(steps=1, lr=0.1)], order="sorted")
