"""Tests for bnlib.lab.training: batching, determinism, evaluation schedule, divergence."""

import random

import numpy as np
import pytest
import torch
from torch import nn

from bnlib.lab.data import load_digits_split
from bnlib.lab.models import MLPConfig, build_mlp
from bnlib.lab.training import History, TrainConfig, accuracy, minibatches, seed_everything, sgd_step, train


@pytest.fixture(scope="module")
def digits():
    return load_digits_split()


def test_minibatches_sample_each_epoch_without_replacement():
    batches = minibatches(10, 3, torch.Generator().manual_seed(0))
    epoch = [next(batches) for _ in range(3)]  # 3 full batches, 1 example dropped
    assert all(b.shape == (3,) for b in epoch)
    assert len(torch.cat(epoch).unique()) == 9
    with pytest.raises(ValueError):
        next(minibatches(2, 3, torch.Generator()))


def test_history_steps_to_reach():
    history = History(eval_steps=[0, 10, 20], test_accuracy=[0.1, 0.8, 0.95])
    assert history.steps_to_reach(0.8) == 10
    assert history.steps_to_reach(0.9) == 20
    assert history.steps_to_reach(0.99) is None


def test_evaluation_schedule_and_lengths(digits):
    model = build_mlp(MLPConfig(activation=nn.Tanh), seed=0)
    history = train(model, digits, TrainConfig(steps=50, lr=0.1, eval_every=20))
    assert history.eval_steps == [0, 20, 40, 50]
    assert len(history.test_accuracy) == 4 and len(history.train_loss) == 50
    assert all(0 <= a <= 1 for a in history.test_accuracy)
    assert model.training


def test_same_seeds_same_history(digits):
    def run(train_seed):
        model = build_mlp(MLPConfig(norm="bn"), seed=0)
        return train(model, digits, TrainConfig(steps=60, lr=0.1, eval_every=20, seed=train_seed))

    a, b, c = run(0), run(0), run(1)
    assert a == b
    assert a.train_loss != c.train_loss  # the seed sets the batch order


def test_tanh_mlp_learns_digits(digits):
    model = build_mlp(MLPConfig(activation=nn.Tanh), seed=0)
    history = train(model, digits, TrainConfig(steps=300, lr=0.1, eval_every=100))
    assert history.test_accuracy[0] < 0.3 and history.test_accuracy[-1] > 0.9
    assert np.mean(history.train_loss[-20:]) < 0.5 * np.mean(history.train_loss[:20])


def test_momentum_and_weight_decay_are_used(digits):
    def run(**kwargs):
        model = build_mlp(MLPConfig(), seed=0)
        return train(model, digits, TrainConfig(steps=5, lr=0.1, eval_every=5, **kwargs)).train_loss

    plain = run()
    assert run(momentum=0.9) != plain and run(weight_decay=0.1) != plain


def test_diverging_training_records_nan_without_crashing(digits):
    model = build_mlp(MLPConfig(), seed=0)
    with torch.no_grad():
        model[0].weight[0, 0] = float("nan")  # poison the network
    history = train(model, digits, TrainConfig(steps=10, lr=0.1, eval_every=5))
    assert all(np.isnan(history.train_loss))
    assert len(history.test_accuracy) == 3 and all(0 <= a <= 1 for a in history.test_accuracy)


def test_sgd_step_is_one_plain_sgd_update(digits):
    """W <- W - lr dL/dW for the loss of the given examples, with the loss returned from before the update."""
    model = build_mlp(MLPConfig(hidden=(8,)), seed=0)
    before = [p.detach().clone() for p in model.parameters()]
    index = torch.arange(10)
    expected = nn.functional.cross_entropy(model(digits.x_train[index]), digits.y_train[index])
    grads = torch.autograd.grad(expected, list(model.parameters()))
    loss = sgd_step(model, torch.optim.SGD(model.parameters(), lr=0.5), digits, index)
    assert loss.item() == expected.item()
    for p, p0, g in zip(model.parameters(), before, grads):
        torch.testing.assert_close(p.detach(), p0 - 0.5 * g)


def test_accuracy_restores_mode():
    model = nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.5)).eval()
    with torch.no_grad():
        model[0].weight.copy_(torch.eye(2))
        model[0].bias.zero_()
    x, y = torch.tensor([[1.0, 0.0], [0.0, 1.0], [2.0, 1.0]]), torch.tensor([0, 1, 1])
    assert accuracy(model, x, y) == pytest.approx(2 / 3)
    assert not model.training
    model.train()
    accuracy(model, x, y)
    assert model.training


def test_bad_config():
    with pytest.raises(ValueError):
        TrainConfig(steps=10, lr=0.0)
    with pytest.raises(ValueError):
        TrainConfig(steps=10, lr=0.1, batch_size=0)


def test_seed_everything():
    def draws():
        return random.random(), np.random.rand(), torch.rand(1).item()

    seed_everything(5)
    first = draws()
    seed_everything(5)
    assert draws() == first
