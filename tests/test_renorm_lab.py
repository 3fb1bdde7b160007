"""bnlib.lab.renorm: the BN -> BatchRenorm swap keeps the state, the warm-up schedule, and its use in train_together."""

from dataclasses import replace

import pytest
import torch
from torch import nn

from bnlib.lab.data import load_digits_split
from bnlib.lab.models import MLPConfig, build_mlp
from bnlib.lab.renorm import limits, warmup, with_batch_renorm
from bnlib.lab.training import TrainConfig
from bnlib.lab.vectorized import train_together
from bnlib.nn import BatchRenorm

NET = MLPConfig(hidden=(16, 16), activation=nn.ReLU, norm="bn")


@pytest.mark.parametrize("impl", ["bnlib", "torch"])
def test_swap_keeps_state_and_is_bn_at_start(impl):
    net = build_mlp(replace(NET, norm_impl=impl), 0)
    with torch.no_grad():
        net[1].running_mean.fill_(0.3)
    renormed = with_batch_renorm(net)
    assert sum(isinstance(m, BatchRenorm) for m in renormed.modules()) == 2
    assert torch.equal(renormed[1].running_mean, net[1].running_mean)
    assert not isinstance(net[1], BatchRenorm)  # the original is untouched
    x = torch.randn(8, 64, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(renormed.train()(x), net.train()(x), atol=1e-5)  # r_max = 1, d_max = 0: BN


def test_limits_schedule():
    assert limits(1, 100) == (1.0, 0.0)
    assert limits(5, 100) == (1.0, 0.0)
    assert limits(25, 100) == pytest.approx((1 + 2 * 20 / 35, 5.0))
    assert limits(40, 100) == (3.0, 5.0) and limits(100, 100) == (3.0, 5.0)
    with pytest.raises(ValueError):
        limits(1, 100, bn_only=0.5, r_end=0.4)


def test_warmup_in_train_together_reaches_the_final_limits():
    data = load_digits_split()
    nets = [with_batch_renorm(build_mlp(NET, s)) for s in (0, 1)]
    configs = [TrainConfig(steps=20, lr=0.1, batch_size=4, eval_every=20, seed=s) for s in (0, 1)]
    seen = []
    schedule = warmup(20)

    def before_step(step, module):
        schedule(step, module)
        seen.append((module[1].r_max, module[1].d_max))

    histories = train_together(nets, data, configs, before_step=before_step)
    assert seen[0] == (1.0, 0.0) and seen[-1] == (3.0, 5.0) and len(seen) == 20
    assert all(torch.isfinite(torch.tensor(h.train_loss)).all() for h in histories)
