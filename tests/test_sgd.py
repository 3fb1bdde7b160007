"""bnlib.lab.sgd.SGD against torch.optim.SGD: the same parameters and momentum buffers, bit for bit."""

import re
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from bnlib.lab.sgd import SGD

SETTINGS = [
    dict(lr=0.1),
    dict(lr=0.05, momentum=0.9),
    dict(lr=0.1, weight_decay=1e-3),
    dict(lr=0.3, momentum=0.5, weight_decay=5e-4),
]


def _model(dtype):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 7), nn.BatchNorm1d(7), nn.Tanh(), nn.Linear(7, 3)).to(dtype)
    model[1].bias.requires_grad_(False)  # a parameter that never gets a gradient: both optimizers skip it
    return model


def _train(model, optimizer, steps=25):
    generator = torch.Generator().manual_seed(1)
    for _ in range(steps):
        x = torch.randn(16, 5, generator=generator, dtype=model[0].weight.dtype)
        y = torch.randint(0, 3, (16,), generator=generator)
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("settings", SETTINGS, ids=str)
def test_same_update_as_torch_bit_for_bit(settings, dtype):
    ours, theirs = _model(dtype), _model(dtype)
    ours_opt = SGD(ours.parameters(), **settings)
    torch_opt = torch.optim.SGD(theirs.parameters(), **settings)
    _train(ours, ours_opt)
    _train(theirs, torch_opt)
    params = list(theirs.parameters())
    for p, q in zip(ours.parameters(), params):
        assert torch.equal(p, q)
    assert not torch.equal(params[0], _model(dtype)[0].weight)  # training moved the weights
    assert torch.equal(ours[1].bias, _model(dtype)[1].bias)  # ... and left the frozen one alone
    for p, buffer in zip(params, ours_opt.momentum_buffers):
        expected = torch_opt.state[p].get("momentum_buffer") if p in torch_opt.state else None
        assert (buffer is None) == (expected is None)
        assert buffer is None or torch.equal(buffer, expected)


def test_zero_grad_forgets_gradients():
    model = _model(torch.float32)
    model(torch.ones(4, 5)).sum().backward()
    optimizer = SGD(model.parameters(), lr=0.1)
    optimizer.zero_grad()
    assert all(p.grad is None for p in model.parameters())


@pytest.mark.parametrize(
    "settings, error, match",
    [
        (dict(lr=0.0), ValueError, "lr must be a finite number > 0, got 0.0"),
        (dict(lr=-1.0), ValueError, "lr must be a finite number > 0, got -1.0"),
        (dict(lr=float("nan")), ValueError, "lr must be a finite number > 0, got nan"),
        (dict(lr=True), TypeError, "lr must be a real number > 0, got True of type bool"),
        (dict(lr="0.1"), TypeError, "lr must be a real number > 0, got '0.1' of type str"),
        (dict(lr=0.1, momentum=-0.5), ValueError, "momentum must be a finite number >= 0, got -0.5"),
        (dict(lr=0.1, weight_decay=float("inf")), ValueError, "weight_decay must be a finite number >= 0, got inf"),
    ],
)
def test_rejects_bad_hyperparameters(settings, error, match):
    """bnlib's shared checks: TypeError for a wrong type, ValueError for a wrong value."""
    with pytest.raises(error, match=re.escape(match)):
        SGD(_model(torch.float32).parameters(), **settings)


def test_accepts_numpy_numbers():
    SGD(_model(torch.float32).parameters(), lr=np.float32(0.1), momentum=np.int64(0), weight_decay=np.float64(1e-4))


def test_training_does_not_import_the_compiler():
    """The reason the class exists: torch.optim's first optimizer imports torch._dynamo (1.5-2 s), this loop does not."""
    script = (
        "import sys\n"
        "from bnlib.lab.data import load_digits_split\n"
        "from bnlib.lab.models import MLPConfig, build_mlp\n"
        "from bnlib.lab.training import TrainConfig, train\n"
        "model = build_mlp(MLPConfig(hidden=(8,), norm='bn'), 0)\n"
        "train(model, load_digits_split(), TrainConfig(steps=3, lr=0.1, momentum=0.9))\n"
        "assert 'torch._dynamo' not in sys.modules, 'torch._dynamo was imported'\n"
        "import torch\n"
        "torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1).zero_grad()\n"
        "assert 'torch._dynamo' in sys.modules, 'torch.optim no longer imports torch._dynamo: this test checks nothing'\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True)
