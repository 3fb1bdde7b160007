"""Tests for bnlib.lab.recorder: every statistic checked against a manual computation on a tiny network."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from bnlib.lab.data import load_digits_split
from bnlib.lab.models import MLPConfig, build_mlp
from bnlib.lab.recorder import ActivationRecorder, saturated_fraction
from bnlib.lab.training import TrainConfig, train
from bnlib.nn import BatchNorm


def tiny_network():
    """3 -> 4 (tanh) -> 5 (sigmoid) -> 6 (ReLU) -> 2, weights large enough to saturate some units."""
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 5), nn.Sigmoid(), nn.Linear(5, 6), nn.ReLU(), nn.Linear(6, 2)
    )
    with torch.no_grad():
        model[0].weight.mul_(4)
        model[2].weight.mul_(8)
    return model


def manual_pre_activations(model, x):
    """The inputs of the three activations, computed layer by layer."""
    z1 = model[0](x)  # (N, 4)
    z2 = model[2](torch.tanh(z1))  # (N, 5)
    z3 = model[4](torch.sigmoid(z2))  # (N, 6)
    return [z1, z2, z3]


def test_statistics_match_manual_computation():
    model, x = tiny_network(), torch.randn(32, 3, generator=torch.Generator().manual_seed(1))
    edges = np.linspace(-2, 2, 9)
    recorder = ActivationRecorder(model, percentiles=(10, 50, 90), bin_edges=edges)
    recorder.record(0, x)
    recorder.record(7, x)
    with torch.no_grad():
        zs = [z.double().numpy() for z in manual_pre_activations(model, x)]
    np.testing.assert_array_equal(recorder.steps, [0, 7])
    assert recorder.num_layers == 3 and recorder.layer_names == ["1", "3", "5"]
    assert recorder.linear_names == ["0", "2", "4", "6"]
    for k, z in enumerate(zs):
        units = z.shape[1]
        assert recorder.percentiles(k).shape == (2, 3)
        np.testing.assert_allclose(recorder.percentiles(k)[1], np.percentile(z, [10, 50, 90]), rtol=1e-12)
        assert recorder.unit_percentiles(k).shape == (2, units, 3)
        np.testing.assert_allclose(recorder.unit_percentiles(k)[0, :, 1], np.median(z, axis=0), rtol=1e-12)
        np.testing.assert_allclose(recorder.mean(k), [z.mean()] * 2, rtol=1e-12)
        np.testing.assert_allclose(recorder.std(k), [z.std()] * 2, rtol=1e-12)
        counts = np.histogram(np.clip(z, -2, 2), bins=edges)[0]
        assert recorder.histogram(k).shape == (2, 8)
        np.testing.assert_allclose(recorder.histogram(k)[0], counts / z.size)
        np.testing.assert_allclose(recorder.histogram(k).sum(axis=1), 1.0)
    tanh_saturated = np.mean(np.abs(np.tanh(zs[0])) > 0.97)
    sigmoid = 1 / (1 + np.exp(-zs[1]))
    sigmoid_saturated = np.mean((sigmoid < 0.03) | (sigmoid > 0.97))
    assert 0 < tanh_saturated < 1 and 0 < sigmoid_saturated < 1  # the test is not vacuous
    np.testing.assert_allclose(recorder.saturation(0), tanh_saturated)
    np.testing.assert_allclose(recorder.saturation(1), sigmoid_saturated)
    assert np.all(np.isnan(recorder.saturation(2)))  # ReLU: not applicable


def test_values_outside_edges_go_to_end_bins():
    model = nn.Sequential(nn.Identity(), nn.ReLU())
    recorder = ActivationRecorder(model, bin_edges=np.array([-1.0, 0.0, 1.0]))
    recorder.record(0, torch.tensor([[-5.0, -0.5], [0.5, 9.0]]))
    np.testing.assert_array_equal(recorder.histogram(0), [[0.5, 0.5]])


def test_gradient_norms_match_manual_gradients():
    model, x = tiny_network(), torch.randn(16, 3, generator=torch.Generator().manual_seed(2))
    y = torch.tensor([0, 1] * 8)
    recorder = ActivationRecorder(model)
    recorder.record(0, x)  # no gradient yet
    logits = model(x)
    F.cross_entropy(logits, y).backward()
    recorder.record(1, x)
    assert np.all(np.isnan(recorder.grad_norm(0)[:1]))
    # last layer by hand: dL/dW = (softmax(logits) - onehot(y))^T h / N
    with torch.no_grad():
        hidden = torch.relu(manual_pre_activations(model, x)[2])  # (N, 6)
        delta = (torch.softmax(logits, dim=1) - F.one_hot(y, 2)) / len(y)  # (N, 2)
        assert recorder.grad_norm(3)[1] == pytest.approx((delta.T @ hidden).norm().item(), rel=1e-5)
    # the other layers: an independent autograd pass
    loss = F.cross_entropy(model(x), y)
    grads = torch.autograd.grad(loss, [model[i].weight for i in (0, 2, 4)])
    for j, grad in enumerate(grads):
        assert recorder.grad_norm(j)[1] == pytest.approx(grad.norm().item(), rel=1e-5)


def test_recording_does_not_change_training():
    data = load_digits_split()
    config = TrainConfig(steps=30, lr=0.2, eval_every=10)
    plain_model = build_mlp(MLPConfig(norm="bn"), seed=0)
    plain = train(plain_model, data, config)
    recorded_model = build_mlp(MLPConfig(norm="bn"), seed=0)
    with ActivationRecorder(recorded_model) as recorder:
        recorded = train(recorded_model, data, config, recorder)
    assert recorded == plain
    for p, q in zip(plain_model.state_dict().values(), recorded_model.state_dict().values()):
        assert torch.equal(p, q)  # BN running stats included
    np.testing.assert_array_equal(recorder.steps, plain.eval_steps)
    assert np.isnan(recorder.grad_norm(0)[0]) and np.all(recorder.grad_norm(0)[1:] > 0)


@pytest.mark.parametrize("model_training", [True, False])
def test_batch_statistics_choice_and_mode_restored(model_training):
    model = nn.Sequential(nn.Linear(3, 4), BatchNorm(4), nn.Sigmoid())
    x = 3 + 2 * torch.randn(50, 3, generator=torch.Generator().manual_seed(0))
    model.train(model_training)
    with_batch = ActivationRecorder(model)
    with_running = ActivationRecorder(model, batch_statistics=False)
    with_batch.record(0, x)
    with_running.record(0, x)
    assert model.training == model_training
    assert model[1].num_batches_tracked.item() == 0 and torch.equal(model[1].running_mean, torch.zeros(4))
    # batch statistics: each unit normalised over the probe -> pooled mean 0, std 1
    assert abs(with_batch.mean(0)[0]) < 1e-6 and with_batch.std(0)[0] == pytest.approx(1.0, abs=1e-4)
    # running statistics at initialisation (mean 0, var 1): the Linear output barely changed
    with torch.no_grad():
        expected = (model[0](x) / np.sqrt(1 + 1e-5)).double().numpy()
    np.testing.assert_allclose(with_running.mean(0), [expected.mean()], rtol=1e-5)


def test_remove_and_context_manager():
    model = tiny_network()
    with ActivationRecorder(model) as recorder:
        assert all(len(m._forward_pre_hooks) == 1 for m in (model[1], model[3], model[5]))
    assert all(len(m._forward_pre_hooks) == 0 for m in model)
    with pytest.raises(RuntimeError):
        recorder.record(0, torch.zeros(2, 3))


def test_nan_inputs_do_not_crash():
    recorder = ActivationRecorder(tiny_network())
    recorder.record(0, torch.full((4, 3), float("nan")))
    assert np.isnan(recorder.percentiles(0)).all() and np.isnan(recorder.histogram(0)).all()


def test_bad_arguments():
    with pytest.raises(ValueError):
        ActivationRecorder(nn.Linear(2, 2))
    with pytest.raises(ValueError):
        ActivationRecorder(tiny_network(), bin_edges=np.array([1.0, 0.0]))
    with pytest.raises(ValueError):
        ActivationRecorder(tiny_network(), percentiles=(50, 101))
    with pytest.raises(IndexError):
        ActivationRecorder(tiny_network()).mean(3)


def test_saturated_fraction_thresholds():
    z = torch.tensor([0.0, 2.0, 2.2, -3.4, -3.6])  # atanh(0.97) = 2.09, logit(0.97) = 3.48
    assert saturated_fraction(nn.Tanh(), z) == pytest.approx(3 / 5)
    assert saturated_fraction(nn.Sigmoid(), z) == pytest.approx(1 / 5)
