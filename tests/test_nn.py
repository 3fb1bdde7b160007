"""bnlib.nn.BatchNorm (torch module from scratch): parity with torch.nn.BatchNorm*d, state_dict, bad input."""
import itertools

import pytest
import torch

import bnlib
from reference import SHAPES, TORCH_BN, torch_reference

OPTIONS = [dict(momentum=mo, affine=af, track_running_stats=tr)
           for mo, af, tr in itertools.product([0.1, 0.5, None], [True, False], [True, False])]


def option_id(o):
    return f"momentum={o['momentum']}-affine={o['affine']}-track={o['track_running_stats']}"


def assert_same_step(module, ref, x, dy):
    """One forward + backward through both modules: outputs and all gradients agree."""
    for m in (module, ref):
        m.zero_grad()
    xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
    ya, yb = module(xa), ref(xb)
    ya.backward(dy), yb.backward(dy)
    torch.testing.assert_close(ya, yb, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(xa.grad, xb.grad, rtol=1e-10, atol=1e-12)
    if module.affine:
        torch.testing.assert_close(module.weight.grad, ref.weight.grad, rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(module.bias.grad, ref.bias.grad, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("options", OPTIONS, ids=option_id)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_parity_with_torch_over_training_and_eval(shape, options):
    gen = torch.Generator().manual_seed(0)
    module = bnlib.nn.BatchNorm(shape[1], eps=1e-3, **options).double()
    ref = torch_reference(shape, eps=1e-3, **options)
    if options["affine"]:
        with torch.no_grad():
            for p in (module.weight, module.bias):
                p.copy_(torch.randn(shape[1], generator=gen, dtype=torch.float64))
            ref.load_state_dict(module.state_dict())
    for _ in range(4):
        x = 1.0 + 2.0 * torch.randn(shape, generator=gen, dtype=torch.float64)
        assert_same_step(module, ref, x, torch.randn(shape, generator=gen, dtype=torch.float64))
        for a, b in zip(module.buffers(), ref.buffers()):
            torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-14)
    assert [name for name, _ in module.named_buffers()] == [name for name, _ in ref.named_buffers()]
    module.eval(), ref.eval()
    x = torch.randn(shape, generator=gen, dtype=torch.float64)
    assert_same_step(module, ref, x, torch.randn(shape, generator=gen, dtype=torch.float64))


@pytest.mark.parametrize("rank", [2, 3, 4, 5])
def test_state_dict_loads_both_ways(rank):
    shape = SHAPES[rank - 2]
    gen = torch.Generator().manual_seed(1)
    ours, theirs = bnlib.nn.BatchNorm(shape[1]), TORCH_BN[rank](shape[1])
    for _ in range(3):  # different training histories
        ours(torch.randn(shape, generator=gen))
        theirs(torch.randn(shape, generator=gen) * 3)
    with torch.no_grad():
        ours.weight.mul_(2.0)
        theirs.bias.add_(1.0)
    assert set(ours.state_dict()) == set(theirs.state_dict())
    x = torch.randn(shape, generator=gen)
    fresh_torch = TORCH_BN[rank](shape[1])
    fresh_torch.load_state_dict(ours.state_dict())
    torch.testing.assert_close(fresh_torch.eval()(x), ours.eval()(x))
    fresh_ours = bnlib.nn.BatchNorm(shape[1])
    fresh_ours.load_state_dict(theirs.state_dict())
    torch.testing.assert_close(fresh_ours.eval()(x), theirs.eval()(x))
    assert fresh_ours.num_batches_tracked.item() == 3


def test_float32_with_large_offset():
    x = 1e4 + torch.randn(128, 4, 8, 8, generator=torch.Generator().manual_seed(2))
    exact = torch.nn.functional.batch_norm(x.double(), None, None, training=True)
    ours = bnlib.nn.BatchNorm(4)(x)
    theirs = torch.nn.BatchNorm2d(4)(x)
    assert ours.dtype == torch.float32
    assert (ours.double() - exact).abs().max() <= max((theirs.double() - exact).abs().max().item(), 1e-3)


# ---- bad input ---------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, match", [
    (dict(num_features=0), "num_features"), (dict(num_features=2, eps=0), "eps"),
    (dict(num_features=2, momentum=2.0), "momentum"),
])
def test_invalid_hyperparameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        bnlib.nn.BatchNorm(**kwargs)


def test_integer_input():
    with pytest.raises(TypeError, match="floating-point"):
        bnlib.nn.BatchNorm(2)(torch.ones(4, 2, dtype=torch.long))


def test_rank_and_channels():
    with pytest.raises(ValueError, match="1-D input"):
        bnlib.nn.BatchNorm(2)(torch.ones(4))
    with pytest.raises(ValueError, match=r"expected input with 2 channels"):
        bnlib.nn.BatchNorm(2)(torch.ones(4, 3))


def test_one_value_per_channel_in_training_but_not_in_eval():
    module = bnlib.nn.BatchNorm(3)
    with pytest.raises(ValueError, match="Expected more than 1 value per channel when training"):
        module(torch.ones(1, 3, 1))
    assert module.eval()(torch.ones(1, 3)).shape == (1, 3)
