"""Tests for bnlib.lab.models: layer layout, seeding and initialisation."""

import math

import pytest
import torch
from torch import nn

from bnlib.lab.models import MLPConfig, build_mlp
from bnlib.nn import BatchNorm


def test_default_layout_and_output_shape():
    model = build_mlp(MLPConfig(), seed=0)
    assert [type(m) for m in model] == [nn.Linear, nn.Sigmoid] * 3 + [nn.Linear]
    linears = [m for m in model if isinstance(m, nn.Linear)]
    assert [(l.in_features, l.out_features) for l in linears] == [(64, 100), (100, 100), (100, 100), (100, 10)]
    assert model(torch.zeros(5, 64)).shape == (5, 10)


def test_batchnorm_before_each_activation():
    model = build_mlp(MLPConfig(in_features=3, hidden=(4, 6), out_features=2, activation=nn.Tanh, norm="bn"), seed=0)
    assert [type(m) for m in model] == [nn.Linear, BatchNorm, nn.Tanh, nn.Linear, BatchNorm, nn.Tanh, nn.Linear]
    assert [m.num_features for m in model if isinstance(m, BatchNorm)] == [4, 6]


@pytest.mark.parametrize("norm", ["ln", "gn"])
def test_layer_and_group_norm_normalise_each_example(norm):
    """LN and GN normalise within an example: the output of one example does not depend on the others."""
    model = build_mlp(MLPConfig(in_features=3, hidden=(8,), out_features=2, norm=norm, num_groups=2), seed=0)
    assert len(model) == 4 and not isinstance(model[1], (nn.Linear, nn.Sigmoid))
    x = torch.randn(5, 3, generator=torch.Generator().manual_seed(0))
    z = model[1](model[0](x))  # (5, 8) normalised
    groups = z.reshape(5, 2 if norm == "gn" else 1, -1)
    assert torch.allclose(groups.mean(-1), torch.zeros(()), atol=1e-6)
    assert torch.allclose(groups.var(-1, unbiased=False), torch.ones(()), atol=1e-3)
    assert torch.allclose(model(x)[:2], model(x[:2]), atol=1e-6)


def test_bad_norm_is_named():
    with pytest.raises(ValueError, match="norm must be"):
        build_mlp(MLPConfig(norm="batch"), seed=0)


@pytest.mark.parametrize("init_std", [None, 0.5])
def test_same_seed_same_weights_and_global_rng_untouched(init_std):
    config = MLPConfig(norm="bn", init_std=init_std)
    torch.manual_seed(123)
    expected_draw = torch.rand(3)
    torch.manual_seed(123)
    a, b, c = build_mlp(config, seed=1), build_mlp(config, seed=1), build_mlp(config, seed=2)
    assert torch.equal(torch.rand(3), expected_draw)  # global RNG not consumed
    for (name, p), q, r in zip(a.state_dict().items(), b.state_dict().values(), c.state_dict().values()):
        assert torch.equal(p, q), name
        if name.endswith("weight") and p.dim() == 2:
            assert not torch.equal(p, r), name


def test_normal_init_std_and_zero_bias():
    model = build_mlp(MLPConfig(hidden=(200,), init_std=0.3), seed=0)
    weight = model[0].weight  # 200 x 64 = 12,800 draws
    assert abs(weight.std().item() - 0.3) < 0.3 * 0.05 and abs(weight.mean().item()) < 0.01
    assert all(torch.count_nonzero(m.bias) == 0 for m in model if isinstance(m, nn.Linear))


def test_default_init_is_pytorch_uniform():
    model = build_mlp(MLPConfig(), seed=0)
    for layer in (m for m in model if isinstance(m, nn.Linear)):
        bound = 1 / math.sqrt(layer.in_features)
        assert layer.weight.abs().max() <= bound and layer.weight.abs().max() > 0.9 * bound


def test_bad_init_std():
    with pytest.raises(ValueError, match="init_std must be positive"):
        build_mlp(MLPConfig(init_std=0.0), seed=0)
