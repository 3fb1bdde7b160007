"""Tests for bnlib.lab.side_by_side: K runs side by side are K runs of bnlib.lab.training.train."""

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from bnlib.lab.data import load_digits_split
from bnlib.lab.models import MLPConfig, build_mlp
from bnlib.lab.side_by_side import train_side_by_side
from bnlib.lab.training import TrainConfig, minibatches, train


@pytest.fixture(scope="module")
def digits():
    return load_digits_split()


RUNS = [  # (norm, init_std, lr, seed): with and without BN, different scales, rates and batch orders
    ("bn", 0.1, 1.0, 0),
    ("none", 0.1, 0.5, 1),
    ("bn", 0.01, 0.1, 2),
]


@pytest.mark.parametrize("weight_decay", [0.0, 1e-2])
def test_each_run_is_the_run_train_would_do(digits, weight_decay):
    bn_runs = [r for r in RUNS if r[0] == "bn"]  # one architecture per call
    models = [build_mlp(MLPConfig(hidden=(16, 16), norm=n, init_std=s), seed) for n, s, _, seed in bn_runs]
    alone = copy.deepcopy(models)
    result = train_side_by_side(
        models, digits, [r[2] for r in bn_runs], [r[3] for r in bn_runs], 30, weight_decay=weight_decay
    )
    for k, (model, (_, _, lr, seed)) in enumerate(zip(alone, bn_runs)):
        history = train(
            model, digits, TrainConfig(steps=30, lr=lr, seed=seed, eval_every=30, weight_decay=weight_decay)
        )
        np.testing.assert_allclose(result.train_loss[:, k], history.train_loss, rtol=1e-4, atol=1e-5)
        assert result.test_accuracy[k] == pytest.approx(history.test_accuracy[-1], abs=1 / 450 + 1e-9)
        for name, value in model.state_dict().items():  # weights and running statistics
            torch.testing.assert_close(models[k].state_dict()[name], value, rtol=1e-4, atol=1e-5)
    assert all(m.training for m in models)


def test_without_bn_and_shapes(digits):
    _, s, lr, seed = RUNS[1]
    model = build_mlp(MLPConfig(hidden=(16,), init_std=s), seed)
    reference = copy.deepcopy(model)
    result = train_side_by_side([model], digits, [lr], [seed], 20)
    history = train(reference, digits, TrainConfig(steps=20, lr=lr, seed=seed, eval_every=20))
    assert result.train_loss.shape == (20, 1) and result.test_accuracy.shape == (1,) and result.traces == []
    np.testing.assert_allclose(result.train_loss[:, 0], history.train_loss, rtol=1e-5)
    torch.testing.assert_close(model[0].weight, reference[0].weight, rtol=1e-5, atol=1e-6)


def test_runs_do_not_interact(digits):
    """A diverging neighbour (NaN weights) changes nothing in the other run."""
    models = [build_mlp(MLPConfig(hidden=(16,), norm="bn"), seed) for seed in (0, 1)]
    alone = copy.deepcopy(models[:1])
    with torch.no_grad():
        models[1][0].weight[0, 0] = float("nan")
    pair = train_side_by_side(models, digits, [0.5, 0.5], [0, 1], 15)
    single = train_side_by_side(alone, digits, [0.5], [0], 15)
    assert np.isnan(pair.train_loss[:, 1]).all() and np.isfinite(pair.train_loss[:, 0]).all()
    np.testing.assert_allclose(pair.train_loss[:, 0], single.train_loss[:, 0], rtol=1e-6)
    assert models[0][1].num_batches_tracked.item() == 15


def test_trace_of_one_step_by_hand(digits):
    lr, wd = 0.7, 0.05
    model = build_mlp(MLPConfig(hidden=(8,), norm="bn"), seed=3)
    reference = copy.deepcopy(model)
    result = train_side_by_side([model], digits, [lr], [4], 1, weight_decay=wd, trace=True)
    index = next(minibatches(len(digits.y_train), 60, torch.Generator().manual_seed(4)))
    F.cross_entropy(reference(digits.x_train[index]), digits.y_train[index]).backward()
    for trace, (before, after) in zip(result.traces, [(reference[0], model[0]), (reference[3], model[3])]):
        w0, g, w1 = (t.detach().double() for t in (before.weight, before.weight.grad, after.weight))  # (out, in)
        assert trace.norm2.shape == (1, 1, w0.shape[0])
        np.testing.assert_allclose(trace.norm2[0, 0], (w0**2).sum(1), rtol=1e-12)
        np.testing.assert_allclose(trace.grad_norm2[0, 0], (g**2).sum(1), rtol=1e-4)
        scale = torch.sqrt((w0**2).sum(1) * (g**2).sum(1)).max().item()  # |<w, g>| <= |w| |g|
        np.testing.assert_allclose(trace.dot[0, 0], (w0 * g).sum(1), rtol=0, atol=1e-4 * scale)
        np.testing.assert_allclose(trace.norm2_after[0, 0], (w1**2).sum(1), rtol=1e-12)
        cos = (w0 * w1).sum(1) / torch.sqrt((w0**2).sum(1) * (w1**2).sum(1))
        np.testing.assert_allclose(trace.cos_step[0, 0], cos, rtol=1e-12)
        # the update w1 = (1 - lr wd) w0 - lr g, so its squared norm follows from the three sums
        predicted = (1 - lr * wd) ** 2 * trace.norm2 - 2 * lr * (1 - lr * wd) * trace.dot + lr**2 * trace.grad_norm2
        np.testing.assert_allclose(trace.norm2_after, predicted, rtol=1e-5)
    assert (
        np.abs(result.traces[0].dot[0, 0]).max()
        < 1e-3 * np.sqrt(result.traces[0].norm2 * result.traces[0].grad_norm2).max()
    )  # BN-ed rows: g is perpendicular to w


def test_zero_steps_changes_nothing(digits):
    model = build_mlp(MLPConfig(hidden=(8,), norm="bn"), seed=0)
    reference = copy.deepcopy(model)
    result = train_side_by_side([model], digits, [1.0], [0], 0)
    assert result.train_loss.shape == (0, 1)
    for name, value in reference.state_dict().items():
        torch.testing.assert_close(model.state_dict()[name], value)


@pytest.mark.parametrize(
    "models, lrs, seeds, match",
    [
        ([], [], [], "one lr and one seed"),
        ([build_mlp(MLPConfig(hidden=(4,)), 0)], [0.1, 0.2], [0], "one lr and one seed"),
        ([build_mlp(MLPConfig(hidden=(4,)), 0)], [0.0], [0], "lrs > 0"),
        (
            [build_mlp(MLPConfig(hidden=(4,)), 0), build_mlp(MLPConfig(hidden=(5,)), 0)],
            [0.1] * 2,
            [0] * 2,
            "same architecture",
        ),
        ([nn.Sequential(nn.Linear(64, 4), nn.Dropout(0.5), nn.Linear(4, 10))], [0.1], [0], "unsupported layer Dropout"),
        ([nn.Sequential(nn.Linear(64, 4), nn.Sigmoid())], [0.1], [0], "last layer must be a Linear"),
        (
            [nn.Sequential(nn.Linear(64, 4), nn.BatchNorm1d(4, momentum=None), nn.Linear(4, 10))],
            [0.1],
            [0],
            "numeric momentum",
        ),
    ],
)
def test_bad_arguments(digits, models, lrs, seeds, match):
    with pytest.raises(ValueError, match=match):
        train_side_by_side(models, digits, lrs, seeds, 1)


def test_not_a_sequential(digits):
    with pytest.raises(TypeError, match="nn.Sequential"):
        train_side_by_side([nn.Linear(64, 10)], digits, [0.1], [0], 1)
