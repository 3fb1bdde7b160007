"""bnlib.nn against PyTorch's own module tests: the inputs ``torch.testing._internal.common_modules.module_db``
feeds BatchNorm1d/2d/3d, LayerNorm and GroupNorm, run through both implementations (needs ``expecttest``).

For every sample: the same constructor arguments, torch's randomised parameters loaded into bnlib's module,
then two training steps and one eval step; outputs, input gradients, parameter gradients and every
state_dict entry must agree in float64.
"""

import pytest
import torch

import bnlib.nn

from conftest import F64

pytest.importorskip("expecttest", reason="torch.testing._internal needs expecttest (in requirements-dev.txt)")
from torch.testing._internal.common_modules import module_db  # noqa: E402

OURS = {
    "nn.BatchNorm1d": bnlib.nn.BatchNorm,
    "nn.BatchNorm2d": bnlib.nn.BatchNorm,
    "nn.BatchNorm3d": bnlib.nn.BatchNorm,
    "nn.LayerNorm": bnlib.nn.LayerNorm,
    "nn.GroupNorm": bnlib.nn.GroupNorm,
}


def samples():
    """(name, constructor args, kwargs, input) for every module_db sample of the five modules, in float64."""
    cases = []
    for info in module_db:
        if info.name not in OURS:
            continue
        for sample in info.module_inputs_func(
            info, device="cpu", dtype=torch.float64, requires_grad=True, training=True
        ):
            ctor = sample.constructor_input
            cases.append(
                pytest.param(
                    info.module_cls,
                    OURS[info.name],
                    ctor.args,
                    ctor.kwargs,
                    sample.forward_input.args[0].detach(),
                    id=f"{info.name}-{sample.desc or 'default'}",
                )
            )
    return cases


def step(module, x, dy):
    """Forward and backward once; returns output, input gradient and parameter gradients by name."""
    module.zero_grad(set_to_none=True)
    x = x.clone().requires_grad_()
    y = module(x)
    y.backward(dy)
    return y.detach(), x.grad, {name: p.grad for name, p in module.named_parameters()}


@pytest.mark.parametrize("torch_cls, our_cls, args, kwargs, x", samples())
def test_bnlib_module_matches_torch_on_module_db_inputs(torch_cls, our_cls, args, kwargs, x):
    gen = torch.Generator().manual_seed(0)
    theirs = torch_cls(*args, **kwargs).double()
    ours = our_cls(*args, **kwargs).double()
    with torch.no_grad():
        for p in theirs.parameters():
            p.copy_(1.0 + 0.5 * torch.randn(p.shape, generator=gen, dtype=torch.float64))
    ours.load_state_dict(theirs.state_dict())
    assert list(ours.state_dict()) == list(theirs.state_dict())
    for training in (True, True, False):
        ours.train(training), theirs.train(training)
        dy = torch.randn(x.shape, generator=gen, dtype=torch.float64)
        inputs = x + torch.randn(x.shape, generator=gen, dtype=torch.float64)  # a new batch each step
        y, dx, grads = step(ours, inputs, dy)
        y_ref, dx_ref, grads_ref = step(theirs, inputs, dy)
        torch.testing.assert_close(y, y_ref, **F64)
        torch.testing.assert_close(dx, dx_ref, **F64)
        assert grads.keys() == grads_ref.keys()
        for name in grads:
            torch.testing.assert_close(grads[name], grads_ref[name], **F64)
        state, state_ref = ours.state_dict(), theirs.state_dict()
        assert list(state) == list(state_ref)
        for key in state:
            torch.testing.assert_close(state[key], state_ref[key], rtol=1e-12, atol=1e-14)
