"""bnlib.lab.shift: the measures of lesson 01, checked on cases whose answer is known by hand."""

import numpy as np
import pytest
import torch
from torch import nn

from bnlib.lab.shift import drift, module_outputs, moment_shift, random_direction, relative_change


def test_random_direction_has_the_size_and_is_seeded():
    like = torch.zeros(7, 5, dtype=torch.float64)
    d = random_direction(like, 0.25, seed=3)
    assert d.shape == like.shape and d.dtype == torch.float64
    assert d.norm().item() == pytest.approx(0.25, rel=1e-12)
    assert torch.equal(d, random_direction(like, 0.25, seed=3))
    assert not torch.equal(d, random_direction(like, 0.25, seed=4))
    with pytest.raises(ValueError, match="non-negative"):
        random_direction(like, -1.0, seed=0)


def test_relative_change_by_hand():
    a0 = torch.tensor([[3.0, 0.0], [0.0, 4.0]])  # norm 5
    a1 = a0 + torch.tensor([[0.0, 0.5], [0.0, 0.0]])  # change of norm 0.5
    assert relative_change([a0, a0], [a1, a0]) == pytest.approx([0.1, 0.0])
    with pytest.raises(ValueError, match="same number of layers"):
        relative_change([a0], [a1, a1])


def test_moment_shift_separates_location_and_scale():
    g = torch.Generator().manual_seed(0)
    a0 = torch.randn(500, 4, generator=g, dtype=torch.float64) * torch.tensor([1.0, 2.0, 3.0, 4.0])
    sd = a0.std(dim=0, unbiased=False)
    shifted = a0 + 0.3 * sd  # every mean moves by 0.3 of its own spread
    scaled = (a0 - a0.mean(0)) * 1.5 + a0.mean(0)  # every spread x1.5, means fixed
    loc, scale = moment_shift([a0, a0], [shifted, scaled])
    assert loc == pytest.approx([0.3, 0.0], abs=1e-12)
    assert scale == pytest.approx([0.0, np.log(1.5)], abs=1e-12)
    # the median over units: one unit moved a lot, three not at all -> 0
    one = a0.clone()
    one[:, 0] += 10 * sd[0]
    assert moment_shift([a0], [one])[0] == pytest.approx([0.0], abs=1e-12)


def test_moment_shift_rejects_a_constant_unit():
    a0 = torch.ones(5, 2, dtype=torch.float64)
    with pytest.raises(ValueError, match="constant"):
        moment_shift([a0], [a0 + 1])


def test_drift_location_and_scale_by_hand():
    # one unit, three recordings: (p15, p50, p85)
    p = np.array(
        [
            [[-5.0, 0.0, 5.0]],  # width 10, median 0
            [[-1.0, 1.0, 3.0]],  # width 4, median 1
            [[0.0, 2.0, 4.0]],
        ]
    )  # final: width 4, median 2
    loc, scale = drift(p)
    assert loc == pytest.approx([2 / 4]) and scale == pytest.approx([6 / 4])
    loc, scale = drift(p, start=1)  # the first recording no longer counts
    assert loc == pytest.approx([1 / 4]) and scale == pytest.approx([0.0])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"unit_percentiles": np.zeros((3, 2, 2))}, "steps, units, 3"),
        ({"unit_percentiles": np.ones((3, 2, 3)), "start": 3}, "start"),
        ({"unit_percentiles": np.ones((3, 2, 3))}, "zero final width"),
    ],
)
def test_drift_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        drift(**kwargs)


def test_module_outputs_catches_every_module_in_order_and_removes_hooks():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2), nn.Tanh())
    x = torch.randn(5, 3)
    outs = module_outputs(model, x, nn.Tanh)
    assert len(outs) == 2 and outs[0].shape == (5, 4) and outs[1].shape == (5, 2)
    assert torch.allclose(outs[0], torch.tanh(model[0](x)))
    assert torch.allclose(outs[1], model(x))
    assert all(not m._forward_hooks for m in model)
    with pytest.raises(ValueError, match="no ReLU"):
        module_outputs(model, x, nn.ReLU)
