"""bnlib.nn.BatchNorm (torch module from scratch): parity with torch.nn.BatchNorm*d, state_dict, bad input."""

import numpy as np
import pytest
import torch

import bnlib
import bnlib.nn

from conftest import BN_OPTIONS, EPS_VALUES, F32, F64, SHAPES, TORCH_BN, option_id
from reference import torch_reference


def assert_same_step(module, ref, x, dy, tol=F64):
    """One forward + backward through both modules: outputs and all gradients agree."""
    for m in (module, ref):
        m.zero_grad()
    xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
    ya, yb = module(xa), ref(xb)
    ya.backward(dy), yb.backward(dy)
    torch.testing.assert_close(ya, yb, **tol)
    torch.testing.assert_close(xa.grad, xb.grad, **tol)
    for ours, theirs in [(module.weight, ref.weight), (module.bias, ref.bias)]:
        assert (ours is None) == (theirs is None)
        if ours is not None:
            torch.testing.assert_close(ours.grad, theirs.grad, **tol)


@pytest.mark.parametrize("options", BN_OPTIONS, ids=option_id)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("eps", EPS_VALUES)
def test_parity_with_torch_over_training_and_eval(shape, options, eps):
    gen = torch.Generator().manual_seed(0)
    module = bnlib.nn.BatchNorm(shape[1], eps=eps, **options).double()
    ref = torch_reference(shape, eps=eps, **options)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(shape[1], generator=gen, dtype=torch.float64))
    ref.load_state_dict(module.state_dict())
    for _ in range(4):
        x = 1.0 + 2.0 * torch.randn(shape, generator=gen, dtype=torch.float64)
        assert_same_step(module, ref, x, torch.randn(shape, generator=gen, dtype=torch.float64))
        assert list(module.state_dict()) == list(ref.state_dict())
        for key, value in module.state_dict().items():
            torch.testing.assert_close(value, ref.state_dict()[key], rtol=1e-12, atol=1e-14)
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


def test_float32_is_as_accurate_as_torch_by_design():
    """The module rounds the float64 mean to float32 before centring, as torch's kernel effectively does:
    on 1e4 + N(0, 1) both are off by a few 1e-4 (the numpy path: about 1e-6). Deliberate; see bnlib.nn's docstring."""
    x = 1e4 + torch.randn(128, 4, 8, 8, generator=torch.Generator().manual_seed(2))
    exact = torch.nn.functional.batch_norm(x.double(), None, None, training=True)
    ours = bnlib.nn.BatchNorm(4)(x)
    theirs = torch.nn.BatchNorm2d(4)(x)
    assert ours.dtype == torch.float32
    our_error = (ours.double() - exact).abs().max().item()
    torch_error = (theirs.double() - exact).abs().max().item()
    assert 1e-5 < our_error < 1e-3 and 1e-5 < torch_error < 1e-3, (our_error, torch_error)


def test_float32_parity_with_torch():
    gen = torch.Generator().manual_seed(3)
    module, ref = bnlib.nn.BatchNorm(3), torch.nn.BatchNorm2d(3)
    for _ in range(2):
        x = 2.0 + 3.0 * torch.randn(4, 3, 5, 5, generator=gen)
        assert_same_step(module, ref, x, torch.randn(4, 3, 5, 5, generator=gen), tol=F32)
    for key, value in module.state_dict().items():
        torch.testing.assert_close(value, ref.state_dict()[key], **F32)


@pytest.mark.parametrize("momentum", [0.0, 1.0])
def test_momentum_edges(momentum):
    x = 3.0 + 2.0 * torch.randn(10, 2, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    module = bnlib.nn.BatchNorm(2, momentum=momentum).double()
    module(x)
    expected_mean = torch.zeros(2, dtype=torch.float64) if momentum == 0 else x.mean(0)
    expected_var = torch.ones(2, dtype=torch.float64) if momentum == 0 else x.var(0)
    torch.testing.assert_close(module.running_mean, expected_mean, rtol=1e-14, atol=0)
    torch.testing.assert_close(module.running_var, expected_var, rtol=1e-13, atol=0)


@pytest.mark.parametrize("options", [dict(), dict(track_running_stats=False), dict(momentum=None)], ids=option_id)
def test_empty_batch_like_torch(options):
    gen = torch.Generator().manual_seed(5)
    module, ref = bnlib.nn.BatchNorm(5, **options), torch.nn.BatchNorm1d(5, **options)
    x = torch.randn(4, 5, 9, generator=gen)
    module(x), ref(x)
    empty = torch.empty(0, 5, 9, requires_grad=True)
    y, y_ref = module(empty), ref(empty)
    assert y.shape == y_ref.shape == (0, 5, 9)
    y.sum().backward()
    torch.testing.assert_close(module.weight.grad, torch.zeros(5))
    for key, value in module.state_dict().items():
        torch.testing.assert_close(value, ref.state_dict()[key])
    if module.track_running_stats:
        assert module.num_batches_tracked.item() == 2
    assert module.eval()(empty).shape == (0, 5, 9)


def test_constructor_arguments_like_torch():
    module = bnlib.nn.BatchNorm(3, 1e-3, 0.2, True, True, "cpu", torch.float64, bias=False)
    ref = torch.nn.BatchNorm1d(3, 1e-3, 0.2, True, True, "cpu", torch.float64, bias=False)
    assert (
        list(module.state_dict())
        == list(ref.state_dict())
        == ["weight", "running_mean", "running_var", "num_batches_tracked"]
    )
    assert module.bias is None and module.weight.dtype == module.running_var.dtype == torch.float64
    assert module.num_batches_tracked.dtype == torch.long
    assert module.extra_repr() == ref.extra_repr()
    assert [n for n, _ in module.named_parameters()] == [n for n, _ in ref.named_parameters()] == ["weight"]


def test_np_scalars_are_accepted_like_torch():
    module = bnlib.nn.BatchNorm(np.int64(3), eps=np.float32(1e-5), momentum=np.float64(0.3))
    assert module(torch.randn(4, 3)).shape == (4, 3)


# ---- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(num_features=0), ValueError, "num_features must be an integer >= 1, got 0"),
        (dict(num_features=2, eps=0), ValueError, "eps must be a positive finite number, got 0"),
        (dict(num_features=2, eps=True), TypeError, "eps must be a real number, got True"),
        (dict(num_features=2, momentum=2.0), ValueError, r"momentum must be a number in \[0, 1\] or None, got 2.0"),
    ],
)
def test_invalid_hyperparameters(kwargs, error, match):
    with pytest.raises(error, match=match):
        bnlib.nn.BatchNorm(**kwargs)


def test_integer_input():
    with pytest.raises(TypeError, match="expected a floating-point input"):
        bnlib.nn.BatchNorm(2)(torch.ones(4, 2, dtype=torch.long))


def test_rank_and_channels():
    with pytest.raises(ValueError, match=r"got a 1-D input of shape \(4,\)"):
        bnlib.nn.BatchNorm(2)(torch.ones(4))
    with pytest.raises(ValueError, match=r"expected input with 2 channels"):
        bnlib.nn.BatchNorm(2)(torch.ones(4, 3))


def test_one_value_per_channel_in_training_but_not_in_eval():
    module = bnlib.nn.BatchNorm(3)
    with pytest.raises(ValueError, match="Expected more than 1 value per channel when training"):
        module(torch.ones(1, 3, 1))
    torch.testing.assert_close(module.eval()(torch.ones(1, 3)), torch.ones(1, 3) / (1 + 1e-5) ** 0.5)


def test_one_value_per_channel_without_running_stats_is_refused_in_eval_too():
    """Without running estimates eval mode uses the batch's statistics, so one value per channel is an
    error there as well (PyTorch's message), not a silent output of zeros; an empty batch is still fine."""
    for cls in (bnlib.nn.BatchNorm, torch.nn.BatchNorm1d):
        module = cls(3, track_running_stats=False).eval()
        with pytest.raises(ValueError, match="Expected more than 1 value per channel when training"):
            module(torch.randn(1, 3))
        assert module(torch.randn(0, 3)).shape == (0, 3)
