r"""Batch Renormalization in the lessons' experiments: swap BN layers for :class:`bnlib.nn.BatchRenorm`,
and relax its limits during training as Ioffe (2017) does.

``with_batch_renorm(net)`` returns a copy of ``net`` in which every :class:`bnlib.nn.BatchNorm` (or
``torch.nn.BatchNorm1d``/``2d``) is a :class:`bnlib.nn.BatchRenorm` with the same parameters and
running estimates. ``warmup(steps)`` is a ``before_step`` schedule for
:func:`bnlib.lab.vectorized.train_together`: plain BN (``r_max = 1``, ``d_max = 0``) for the first
``bn_only`` share of the steps, then both limits relaxed linearly, ``r_max`` to 3 at ``r_end`` of the
run and ``d_max`` to 5 at ``d_end`` (the paper: "initially constrain them to 1 and 0, respectively,
and then are gradually relaxed", to 3 and 5 in its experiments).

Lesson that imports it: 07.
"""

import copy
from collections.abc import Callable

from torch import nn

from ..nn import BatchNorm, BatchRenorm


def with_batch_renorm(net: nn.Module, r_max: float = 1.0, d_max: float = 0.0) -> nn.Module:
    """A copy of ``net`` with every BN layer replaced by a :class:`bnlib.nn.BatchRenorm` in the same state.

    The new layers start at ``r_max``, ``d_max`` (default 1 and 0: plain BN until a schedule relaxes
    them). ``net`` itself is not changed.
    """
    net = copy.deepcopy(net)
    for name, module in list(net.named_modules()):
        if isinstance(module, (BatchNorm, nn.modules.batchnorm._BatchNorm)) and not isinstance(module, BatchRenorm):
            renorm = BatchRenorm(
                module.num_features, r_max=r_max, d_max=d_max, eps=module.eps, momentum=module.momentum
            )
            renorm.load_state_dict(module.state_dict())
            parent = net.get_submodule(name.rpartition(".")[0]) if "." in name else net
            setattr(parent, name.rpartition(".")[2], renorm)
    return net


def set_limits(net: nn.Module, r_max: float, d_max: float) -> None:
    """Set ``r_max`` and ``d_max`` of every :class:`bnlib.nn.BatchRenorm` in ``net``."""
    for module in net.modules():
        if isinstance(module, BatchRenorm):
            module.r_max, module.d_max = r_max, d_max


def limits(step: int, steps: int, bn_only: float = 0.05, r_end: float = 0.4, d_end: float = 0.25):
    """``(r_max, d_max)`` at ``step`` (1..steps): 1 and 0 up to ``bn_only * steps``, then linear to 3 and 5
    at ``r_end * steps`` and ``d_end * steps``, constant afterwards."""
    if not 0 <= bn_only < d_end <= 1 or not bn_only < r_end <= 1:
        raise ValueError(f"need 0 <= bn_only < r_end, d_end <= 1, got {bn_only}, {r_end}, {d_end}")

    def ramp(end: float) -> float:
        return min(max((step / steps - bn_only) / (end - bn_only), 0.0), 1.0)

    return 1.0 + 2.0 * ramp(r_end), 5.0 * ramp(d_end)


def warmup(steps: int, **shares) -> Callable[[int, nn.Module], None]:
    """A ``before_step(step, module)`` schedule for ``train_together`` that sets :func:`limits` each step."""

    def before_step(step: int, module: nn.Module) -> None:
        set_limits(module, *limits(step, steps, **shares))

    return before_step
