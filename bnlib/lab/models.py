"""Multi-layer perceptrons for the experiments, with a choice of normalization layer (none, BN, LN, GN).

Lessons that import it: 00, 01, 02, 05, 06, 07, 08, 10.
"""

from dataclasses import dataclass

import torch
from torch import nn

from ..nn import BatchNorm, GroupNorm, LayerNorm


@dataclass
class MLPConfig:
    """Architecture of :func:`build_mlp`.

    Each hidden width ``h`` gives ``Linear -> [norm(h)] -> activation``; a final ``Linear``
    maps to the class scores (logits). ``norm`` names the normalization layer placed before each
    activation: ``"none"``, ``"bn"`` (:class:`bnlib.nn.BatchNorm`), ``"ln"`` (layer norm over the
    ``h`` units of each example, :class:`bnlib.nn.LayerNorm`) or ``"gn"`` (:class:`bnlib.nn.GroupNorm`
    with ``num_groups`` groups of units).
    ``norm_impl="torch"`` builds PyTorch's ``nn.BatchNorm1d``, ``nn.LayerNorm`` or ``nn.GroupNorm``
    instead: the same formulas, parameters and initial values (``tests/test_nn.py`` and
    ``tests/test_layernorm_groupnorm.py`` check they agree), computed by one fused kernel each, so
    a training step costs about half as much; results agree with ``"bnlib"`` to rounding only.
    """

    in_features: int = 64  # 8x8 digits
    hidden: tuple[int, ...] = (100, 100, 100)  # width of each hidden layer
    out_features: int = 10  # number of classes
    activation: type[nn.Module] = nn.Sigmoid  # module class, e.g. nn.Sigmoid, nn.Tanh, nn.ReLU
    norm: str = "none"  # "none", "bn", "ln" or "gn", before each activation
    num_groups: int = 4  # groups of units for norm="gn"
    init_std: float | None = None  # None: PyTorch's default init; else W ~ N(0, init_std^2), b = 0
    norm_impl: str = "bnlib"  # "bnlib": bnlib.nn's modules; "torch": torch.nn's fused ones


NORMS = {
    "bn": lambda units, config: BatchNorm(units),
    "ln": lambda units, config: LayerNorm(units),
    "gn": lambda units, config: GroupNorm(config.num_groups, units),
}
"""Normalization layer for each ``MLPConfig.norm`` choice, built for ``units`` hidden units."""

TORCH_NORMS = {
    "bn": lambda units, config: nn.BatchNorm1d(units),
    "ln": lambda units, config: nn.LayerNorm(units),
    "gn": lambda units, config: nn.GroupNorm(config.num_groups, units),
}
"""The same with PyTorch's modules, for ``MLPConfig(norm_impl="torch")``."""


def build_mlp(config: MLPConfig, seed: int) -> nn.Sequential:
    """Build the MLP described by ``config`` with weights drawn from a private generator seeded by ``seed``.

    The same ``(config, seed)`` always gives identical weights, and the global torch random
    state is left untouched. The model maps ``(N, in_features)`` to logits ``(N, out_features)``.

    Layer order, e.g. ``hidden=(100, 100)`` with ``norm="bn"``::

        Linear(64, 100), BatchNorm(100), Sigmoid(), Linear(100, 100), BatchNorm(100), Sigmoid(),
        Linear(100, 10)
    """
    if config.norm != "none" and config.norm not in NORMS:
        raise ValueError(f"norm must be 'none' or one of {sorted(NORMS)}, got {config.norm!r}")
    if config.norm_impl not in ("bnlib", "torch"):
        raise ValueError(f"norm_impl must be 'bnlib' or 'torch', got {config.norm_impl!r}")
    norms = TORCH_NORMS if config.norm_impl == "torch" else NORMS
    if config.init_std is not None and not config.init_std > 0:
        raise ValueError(f"init_std must be positive or None, got {config.init_std!r}")
    widths = [config.in_features, *config.hidden]
    layers: list[nn.Module] = []
    with torch.random.fork_rng(devices=[]):  # PyTorch's default init draws from the global RNG
        torch.manual_seed(seed)
        for fan_in, fan_out in zip(widths[:-1], widths[1:]):
            layers.append(nn.Linear(fan_in, fan_out))
            if config.norm != "none":
                layers.append(norms[config.norm](fan_out, config))
            layers.append(config.activation())
        layers.append(nn.Linear(widths[-1], config.out_features))
        if config.init_std is not None:
            _normal_init(layers, config.init_std, torch.Generator().manual_seed(seed))
    return nn.Sequential(*layers)


@torch.no_grad()
def _normal_init(layers: list[nn.Module], std: float, generator: torch.Generator) -> None:
    """Every Linear: weights ~ N(0, std^2), biases 0."""
    for layer in layers:
        if isinstance(layer, nn.Linear):
            layer.weight.normal_(0.0, std, generator=generator)
            layer.bias.zero_()
