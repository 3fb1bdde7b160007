"""bnlib.lab.landscape: noisy BN, the gradient-based ICS of Santurkar et al., and probes along the gradient."""

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from bnlib.lab.data import load_digits_split
from bnlib.lab.landscape import (
    NoiseConfig,
    NoisyBatchNorm,
    activation_inputs,
    add_noise,
    draw_noise,
    gradient_line,
    ics_gradients,
    linear_layers,
    lower_step_norms,
    redraw_noise,
    train_probed,
)
from bnlib.lab.models import MLPConfig, build_mlp
from bnlib.lab.training import TrainConfig, train
from bnlib.nn import BatchNorm


def test_noise_config_rejects_bad_constants():
    with pytest.raises(ValueError, match="n_sigma >= 1"):
        NoiseConfig(n_sigma=0.5)
    with pytest.raises(ValueError, match="n_mu, r_mu, r_sigma >= 0"):
        NoiseConfig(r_mu=-0.1)


def test_draw_noise_ranges_and_per_unit_parameters():
    config = NoiseConfig(n_mu=0.5, n_sigma=1.25, r_mu=0.0, r_sigma=0.0)
    scale, shift = draw_noise((7, 300), config, torch.Generator().manual_seed(0))
    assert scale.shape == shift.shape == (7, 300)
    # with r = 0 every example of a unit gets the unit's mu_j and sigma_j
    assert torch.equal(shift, shift[:1].expand(7, 300)) and torch.equal(scale, scale[:1].expand(7, 300))
    assert shift.abs().max() <= 0.5 and shift.min() < -0.4 and shift.max() > 0.4
    assert scale.min() >= 1 and scale.max() <= 1.25 and scale.max() > 1.2


def test_draw_noise_spread_around_the_unit_parameters():
    config = NoiseConfig(n_mu=0.5, n_sigma=1.25, r_mu=0.1, r_sigma=0.1)
    g = torch.Generator().manual_seed(1)
    scale, shift = draw_noise((20000, 4), config, g)
    spread = shift - shift.mean(dim=0)  # U(-0.1, 0.1) around mu_j
    assert spread.abs().max() <= 0.1 + 1e-3
    assert torch.allclose(spread.var(dim=0), torch.full((4,), 0.1**2 / 3), rtol=0.05)  # variance of U(-r, r)
    assert torch.allclose(scale.std(dim=0), torch.full((4,), 0.1), rtol=0.05)
    assert (scale.mean(dim=0) > 0.99).all() and (scale.mean(dim=0) < 1.26).all()
    # the same seed gives the same noise
    again = draw_noise((20000, 4), config, torch.Generator().manual_seed(1))
    assert torch.equal(again[0], scale) and torch.equal(again[1], shift)
    with pytest.raises(ValueError, match=r"shape must be \(m, C\)"):
        draw_noise((3,), config, g)


def test_noisy_bn_without_noise_is_bn():
    x = torch.randn(16, 5, generator=torch.Generator().manual_seed(0))
    zero = NoiseConfig(n_mu=0.0, n_sigma=1.0, r_mu=0.0, r_sigma=0.0)
    layer, plain = NoisyBatchNorm(5, zero), BatchNorm(5)
    assert torch.allclose(layer(x), plain(x), atol=1e-7)


def test_noisy_bn_noise_is_held_until_redrawn_and_absent_in_eval():
    x = torch.randn(16, 5, generator=torch.Generator().manual_seed(0))
    layer = NoisyBatchNorm(5, NoiseConfig(), seed=3)
    first, second = layer(x), layer(x)
    assert torch.equal(first, second)  # same step, same noise
    assert torch.allclose(first, layer.scale * BatchNorm.forward(layer, x) + layer.shift, atol=1e-6)  # noise after BN
    layer.redraw(16)
    assert not torch.allclose(layer(x), first)
    layer.eval()
    assert torch.equal(layer(x), BatchNorm.forward(layer, x))  # eval: plain BN
    layer.train()
    with pytest.raises(ValueError, match="call redraw"):
        layer(x[:8])


def test_noisy_bn_is_a_batchnorm_with_its_state_dict():
    """A subclass of bnlib.nn.BatchNorm: the same keys, loadable into torch's BatchNorm1d; add_noise copies
    hyper-parameters, dtype and buffers."""
    layer = NoisyBatchNorm(5, NoiseConfig(), seed=1, momentum=0.3)
    assert isinstance(layer, BatchNorm) and layer.momentum == 0.3
    layer(torch.randn(16, 5, generator=torch.Generator().manual_seed(0)))
    torch_bn = nn.BatchNorm1d(5)
    torch_bn.load_state_dict(layer.state_dict())
    torch.testing.assert_close(torch_bn.state_dict(), layer.state_dict())
    model = nn.Sequential(nn.Linear(4, 5), BatchNorm(5, eps=1e-3, momentum=0.2)).double()
    model(torch.randn(8, 4, dtype=torch.float64))
    noisy = add_noise(model)
    assert noisy[1].eps == 1e-3 and noisy[1].momentum == 0.2 and noisy[1].weight.dtype == torch.float64
    torch.testing.assert_close(noisy[1].state_dict(), model[1].state_dict())
    assert noisy[1].running_mean is not model[1].running_mean


def test_add_noise_keeps_the_weights_and_leaves_the_original_alone():
    model = build_mlp(MLPConfig(hidden=(8, 8), norm="bn"), seed=0)
    noisy = add_noise(model, NoiseConfig(n_mu=0.0, n_sigma=1.0, r_mu=0.0, r_sigma=0.0), seed=0)
    assert sum(isinstance(m, NoisyBatchNorm) for m in noisy) == 2
    x = torch.randn(10, 64, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(noisy(x), model(x), atol=1e-6)
    noisy[0].weight.data += 1
    assert not torch.allclose(noisy[0].weight, model[0].weight)
    with pytest.raises(ValueError, match="no BatchNorm"):
        add_noise(build_mlp(MLPConfig(hidden=(8,)), seed=0))
    redraw_noise(noisy, 10)
    assert noisy[1].scale.shape == (10, 8)


def test_ics_gradients_match_a_hand_computation():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)).double()
    x, y = torch.randn(5, 3, dtype=torch.float64), torch.tensor([0, 1, 1, 0, 1])
    before = copy.deepcopy(model.state_dict())
    g, g_prime = ics_gradients(model, x, y, lr=0.3, layer=1)
    # by hand: plain tensors, the first layer moves by -lr * its gradient, the second stays
    w1, b1, w2, b2 = (
        t.clone().requires_grad_() for t in (model[0].weight, model[0].bias, model[2].weight, model[2].bias)
    )

    def loss(w1, b1, w2, b2):
        return F.cross_entropy(torch.tanh(x @ w1.T + b1) @ w2.T + b2, y)

    dw1, db1, dw2, _ = torch.autograd.grad(loss(w1, b1, w2, b2), (w1, b1, w2, b2))
    w1_new, b1_new = (w1 - 0.3 * dw1).detach(), (b1 - 0.3 * db1).detach()
    w2b = w2.detach().clone().requires_grad_()
    (dw2_prime,) = torch.autograd.grad(loss(w1_new, b1_new, w2b, b2.detach()), (w2b,))
    assert torch.allclose(g, dw2.reshape(-1), atol=1e-12)
    assert torch.allclose(g_prime, dw2_prime.reshape(-1), atol=1e-12)
    assert not torch.allclose(g, g_prime)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # model untouched
    assert torch.equal(*ics_gradients(model, x, y, lr=1e-300, layer=1))  # no step, no shift
    with pytest.raises(ValueError, match="needs a layer before it"):
        ics_gradients(model, x, y, lr=0.3, layer=0)
    assert linear_layers(model) == [0, 2]


def test_lower_step_norms_are_the_length_of_the_lower_layers_update():
    torch.manual_seed(2)
    model = nn.Sequential(
        nn.Linear(3, 4), BatchNorm(4), nn.Tanh(), nn.Linear(4, 4), nn.Tanh(), nn.Linear(4, 2)
    ).double()
    x, y = torch.randn(6, 3, dtype=torch.float64), torch.tensor([0, 1, 1, 0, 1, 0])
    before = copy.deepcopy(model.state_dict())
    norms = lower_step_norms(model, x, y, lr=0.3)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # model untouched
    work = copy.deepcopy(model)
    grads = torch.autograd.grad(F.cross_entropy(work(x), y), list(work.parameters()))
    # parameters before linear layer 1: W1, b1, gamma, beta (4 tensors); before layer 2: also W2, b2
    by_hand = [0.0] + [0.3 * torch.cat([g.reshape(-1) for g in grads[:k]]).norm().item() for k in (4, 6)]
    assert np.allclose(norms, by_hand, rtol=1e-12, atol=0)


def test_gradient_line_matches_a_hand_computation():
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(3, 4)).double()
    x, y = torch.randn(6, 3, dtype=torch.float64), torch.tensor([0, 1, 2, 3, 0, 1])
    probe = gradient_line(model, x, y, [0.5, 2.0])
    w, b = model[0].weight.detach().clone().requires_grad_(), model[0].bias.detach().clone().requires_grad_()

    def loss(w, b):
        return F.cross_entropy(x @ w.T + b, y)

    gw, gb = torch.autograd.grad(loss(w, b), (w, b))
    assert torch.allclose(probe.grad0, torch.cat([gw.reshape(-1), gb]), atol=1e-12)
    assert probe.loss0 == pytest.approx(loss(w, b).item(), abs=1e-12)
    for k, eta in enumerate((0.5, 2.0)):
        w_k, b_k = (w - eta * gw).detach().requires_grad_(), (b - eta * gb).detach().requires_grad_()
        value = loss(w_k, b_k)
        gw_k, gb_k = torch.autograd.grad(value, (w_k, b_k))
        assert probe.losses[k].item() == pytest.approx(value.item(), abs=1e-12)
        assert torch.allclose(probe.grads[k], torch.cat([gw_k.reshape(-1), gb_k]), atol=1e-12)
    assert model[0].weight.grad is None and torch.equal(model[0].weight, w.detach())
    with pytest.raises(ValueError, match="positive"):
        gradient_line(model, x, y, [0.0, 1.0])


def test_activation_inputs_are_the_pre_activations():
    model = nn.Sequential(nn.Linear(3, 4), nn.Sigmoid(), nn.Linear(4, 4), nn.Sigmoid(), nn.Linear(4, 2))
    x = torch.randn(5, 3, generator=torch.Generator().manual_seed(0))
    z = activation_inputs(model, x)
    assert len(z) == 2 and z[0].shape == (5, 4)
    with torch.no_grad():
        assert torch.allclose(z[0], model[0](x)) and torch.allclose(z[1], model[2](torch.sigmoid(model[0](x))))


def test_train_probed_follows_train_and_probes_on_schedule():
    data = load_digits_split()
    config = TrainConfig(steps=30, lr=0.1, eval_every=10, seed=4)
    reference = train(build_mlp(MLPConfig(hidden=(16,), norm="bn"), seed=0), data, config)
    seen = []
    probed = train_probed(
        build_mlp(MLPConfig(hidden=(16,), norm="bn"), seed=0),
        data,
        config,
        probe_every=7,
        probe=lambda model, x, y, step: seen.append((tuple(x.shape), step)) or len(seen),
    )
    assert np.allclose(probed.train_loss, reference.train_loss, atol=1e-6)
    assert probed.eval_steps == reference.eval_steps == [0, 10, 20, 30]
    assert probed.probe_steps == [0, 7, 14, 21, 28] and probed.probes == [1, 2, 3, 4, 5]
    assert seen == [((60, 64), s) for s in (0, 7, 14, 21, 28)]
    with pytest.raises(ValueError, match="plain SGD"):
        train_probed(
            build_mlp(MLPConfig(hidden=(16,)), seed=0),
            data,
            TrainConfig(steps=1, lr=0.1, momentum=0.9),
            1,
            lambda *a: None,
        )


def test_train_probed_redraws_the_noise_every_step():
    data = load_digits_split()
    model = add_noise(build_mlp(MLPConfig(hidden=(16,), norm="bn"), seed=0), seed=0)
    shifts = []
    train_probed(
        model,
        data,
        TrainConfig(steps=3, lr=0.1, seed=0),
        probe_every=1,
        probe=lambda m, x, y, step: shifts.append(m[1].shift.clone()),
    )
    assert len(shifts) == 3 and not torch.equal(shifts[0], shifts[1]) and not torch.equal(shifts[1], shifts[2])


def test_moment_recorder_records_the_training_forward_once_per_step():
    from bnlib.lab.landscape import MomentRecorder

    data = load_digits_split()
    model = add_noise(build_mlp(MLPConfig(hidden=(16, 16), norm="bn"), seed=0), seed=0)
    seen = []
    with MomentRecorder(model, unit=2) as recorder:
        train_probed(
            model,
            data,
            TrainConfig(steps=4, lr=0.1, eval_every=2, seed=0),
            probe_every=1,
            probe=lambda m, x, y, step: seen.append(activation_inputs(m, x)),
        )  # probes copy the model
    means, stds, pct = recorder.means(), recorder.stds(), recorder.unit_percentiles()
    assert means.shape == stds.shape == (4, 2, 16) and pct.shape == (4, 2, 3)
    for t in range(4):  # the probe saw the same inputs as the training forward
        for layer in range(2):
            z = seen[t][layer]
            assert np.allclose(means[t, layer], z.mean(dim=0).numpy(), atol=1e-6)
            assert np.allclose(stds[t, layer], z.std(dim=0).numpy(), atol=1e-6)
            assert np.allclose(pct[t, layer], np.percentile(z[:, 2].numpy(), (15, 50, 85)), atol=1e-5)
    with pytest.raises(ValueError, match="no Tanh"):
        MomentRecorder(model, activation=nn.Tanh)


def test_probes_neither_copy_nor_feed_a_watching_recorder():
    """A deep copy of a watched model shares the recorder's hook instead of copying the recorder and
    everything it has recorded (a cost that would grow with training); the copy's passes are ignored."""
    from bnlib.lab.landscape import MomentRecorder

    data = load_digits_split()
    model = add_noise(build_mlp(MLPConfig(hidden=(16, 16), norm="bn"), seed=0), seed=0)
    with MomentRecorder(model, unit=2) as recorder:
        for _ in range(3):
            model(data.x_train[:32])  # three recorded rows
        twin = copy.deepcopy(model)
        hooks = [h for m in model.modules() for h in m._forward_pre_hooks.values()]
        twin_hooks = [h for m in twin.modules() for h in m._forward_pre_hooks.values()]
        assert hooks and all(a is b for a, b in zip(hooks, twin_hooks, strict=True))  # shared, not copied
        torch.testing.assert_close(twin(data.x_train[:32]), model(data.x_train[:32]), rtol=0, atol=0)
        ics_gradients(model, data.x_train[:32], data.y_train[:32], lr=0.1, layer=1)
        gradient_line(model, data.x_train[:32], data.y_train[:32], [0.1])
        assert len(recorder.means()) == 4  # the direct calls only: the copies' passes were ignored
