"""Tests for bnlib.lab.dropout.with_dropout."""

import pytest
import torch
from torch import nn

from bnlib.lab.dropout import with_dropout
from bnlib.lab.models import MLPConfig, build_mlp


def test_dropout_in_front_of_every_linear_but_the_first():
    model = build_mlp(MLPConfig(hidden=(8, 8), norm="bn"), seed=0)
    dropped = with_dropout(model, 0.3)
    kinds = [type(layer).__name__ for layer in dropped]
    assert kinds == ["Linear", "BatchNorm", "Sigmoid", "Dropout", "Linear", "BatchNorm", "Sigmoid", "Dropout", "Linear"]
    assert all(layer.p == 0.3 for layer in dropped if isinstance(layer, nn.Dropout))
    assert dropped[0] is model[0]  # the same modules, weights shared


def test_eval_mode_is_the_original_network_and_training_mode_drops():
    model = build_mlp(MLPConfig(hidden=(50,)), seed=1)
    dropped = with_dropout(model, 0.5)
    x = torch.randn(4, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.equal(dropped.eval()(x), model.eval()(x))
        hidden = dropped.train()[:3](x)  # Linear, Sigmoid, Dropout
    zeros = (hidden == 0).float().mean().item()
    assert 0.3 < zeros < 0.7  # about half of 200 values dropped
    kept = hidden[hidden != 0]
    with torch.no_grad():
        assert torch.allclose(kept, 2 * model[:2](x)[hidden != 0])  # survivors scaled by 1 / (1 - p)


def test_with_dropout_rejects_bad_arguments():
    with pytest.raises(ValueError, match="p must be"):
        with_dropout(build_mlp(MLPConfig(), seed=0), 1.0)
    with pytest.raises(ValueError, match="no nn.Linear"):
        with_dropout(nn.Sequential(nn.ReLU()), 0.1)
