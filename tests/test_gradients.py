"""Tests for bnlib.lab.gradients and bnlib.lab.weight_recorder, against hand-written backpropagation."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from bnlib.lab.data import load_digits_split
from bnlib.lab.gradients import backprop_signals, pre_activations
from bnlib.lab.models import MLPConfig, build_mlp
from bnlib.lab.training import TrainConfig, train
from bnlib.lab.weight_recorder import WeightNormRecorder


def tiny_network():
    """3 -> 4 (tanh) -> 5 (sigmoid) -> 6 (ReLU) -> 3, in float64."""
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 5), nn.Sigmoid(), nn.Linear(5, 6), nn.ReLU(), nn.Linear(6, 3)
    ).double()
    with torch.no_grad():
        model[0].weight.mul_(3)
    return model


def manual_backprop(model, x, y):
    """z, delta and dL/dW of every layer, by the chain rule written out (rows are examples)."""
    W = [model[i].weight.detach() for i in (0, 2, 4, 6)]
    b = [model[i].bias.detach() for i in (0, 2, 4, 6)]
    z1 = x @ W[0].T + b[0]
    a1 = torch.tanh(z1)
    z2 = a1 @ W[1].T + b[1]
    a2 = torch.sigmoid(z2)
    z3 = a2 @ W[2].T + b[2]
    a3 = torch.relu(z3)
    logits = a3 @ W[3].T + b[3]
    n = x.shape[0]
    d_out = (torch.softmax(logits, dim=1) - F.one_hot(y, 3).double()) / n  # dL/dlogits, mean loss
    d3 = (z3 > 0).double() * (d_out @ W[3])  # relu' = 1[z > 0]
    d2 = a2 * (1 - a2) * (d3 @ W[2])  # sigmoid' = a (1 - a)
    d1 = (1 - a1**2) * (d2 @ W[1])  # tanh' = 1 - a^2
    grads = [d1.T @ x, d2.T @ a1, d3.T @ a2, d_out.T @ a3]
    return [z1, z2, z3], [d1, d2, d3], grads


def test_backprop_signals_match_the_chain_rule():
    model = tiny_network()
    gen = torch.Generator().manual_seed(1)
    x, y = torch.randn(16, 3, generator=gen, dtype=torch.float64), torch.randint(0, 3, (16,), generator=gen)
    signals = backprop_signals(model, x, y)
    zs, deltas, grads = manual_backprop(model, x, y)
    assert len(signals.z) == len(signals.delta) == 3 and len(signals.weight_grad) == 4
    for got, want in zip(signals.z + signals.delta + signals.weight_grad, zs + deltas + grads):
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(signals.delta_norms(), [d.norm().item() for d in deltas], rtol=1e-12)
    np.testing.assert_allclose(signals.weight_grad_norms(), [g.norm().item() for g in grads], rtol=1e-12)
    assert signals.loss == pytest.approx(F.cross_entropy(model(x), y).item(), rel=1e-12)
    assert all(p.grad is None for p in model.parameters())  # .grad left untouched
    torch.testing.assert_close(pre_activations(model, x), zs, rtol=1e-12, atol=1e-14)


def test_inplace_relu_and_batchnorm_model():
    # an in-place ReLU must not overwrite the recorded z; BN layers sit between Linear and activation
    model = build_mlp(MLPConfig(in_features=3, hidden=(5, 5), out_features=2, activation=nn.Tanh, norm="bn"), 0)
    model[2] = nn.ReLU(inplace=True)
    x, y = torch.randn(8, 3, generator=torch.Generator().manual_seed(2)), torch.tensor([0, 1] * 4)
    signals = backprop_signals(model, x, y)
    torch.testing.assert_close(signals.z[0], model[1](model[0](x)).detach())
    assert (signals.z[0] < 0).any()  # not clipped by the in-place ReLU
    z = model[1](model[0](x)).detach().requires_grad_(True)  # delta^[1] by autograd from z^[1] on
    loss = F.cross_entropy(model[6](model[5](model[4](model[3](model[2](z.clone()))))), y)
    torch.testing.assert_close(signals.delta[0], torch.autograd.grad(loss, z)[0])


def test_needs_an_activation():
    with pytest.raises(ValueError, match="no nn.Sigmoid"):
        backprop_signals(nn.Sequential(nn.Linear(2, 2)), torch.zeros(1, 2), torch.zeros(1, dtype=torch.long))


def test_weight_recorder_norms_and_update_ratio():
    data = load_digits_split()
    model = build_mlp(MLPConfig(hidden=(20, 20), activation=nn.Tanh), 0)
    lr = 0.5
    with WeightNormRecorder(model) as rec:
        weights = []
        rec_record = rec.record

        def record(step, x):  # keep a copy of the weights at every record
            rec_record(step, x)
            weights.append([m.weight.detach().clone() for m in model if isinstance(m, nn.Linear)])

        rec.record = record
        train(model, data, TrainConfig(steps=4, lr=lr, eval_every=1, seed=0), rec)
    norms = rec.weight_norms()
    assert norms.shape == (5, 3)
    np.testing.assert_allclose(norms, [[w.norm().item() for w in ws] for ws in weights], rtol=1e-6)
    ratio = rec.update_ratio(lr)
    assert np.isnan(ratio[0]).all()
    # plain SGD: the recorded ratio is ||W_t - W_{t-1}|| / ||W_t||
    for t in range(1, 5):
        want = [(w1 - w0).norm().item() / w1.norm().item() for w0, w1 in zip(weights[t - 1], weights[t])]
        np.testing.assert_allclose(ratio[t], want, rtol=1e-4)
    with pytest.raises(ValueError, match="lr must be positive"):
        rec.update_ratio(0.0)
