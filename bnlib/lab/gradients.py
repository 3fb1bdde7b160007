r"""What the backward pass delivers to every layer: the error signal :math:`\delta^{[l]}` and :math:`\partial L/\partial W^{[l]}`.

For a network of ``Linear -> [norm] -> activation`` blocks, write the input of the :math:`l`-th
activation :math:`z^{[l]}` (``(N, units)``) and the loss :math:`L` (mean cross-entropy over the
``N`` examples). Backpropagation computes, from the top down,

.. math::

    \delta^{[l]} = \frac{\partial L}{\partial z^{[l]}}
                 = g'(z^{[l]}) \odot \bigl(W^{[l+1]\top} \delta^{[l+1]}\bigr), \qquad
    \frac{\partial L}{\partial W^{[l]}} = \delta^{[l]\top} a^{[l-1]}

(rows are examples, as in PyTorch, so :math:`\delta^{[l]}` is ``(N, units)`` and the weight
gradient is ``(units, fan_in)``). :func:`backprop_signals` returns both for every layer from one
forward and one backward pass, without touching any parameter's ``.grad``;
:func:`pre_activations` returns the :math:`z^{[l]}` alone.

A small :math:`\|\partial L/\partial W^{[1]}\|` can mean a small error signal or small inputs
:math:`a^{[0]}`; :math:`\|\delta^{[l]}\|` separates the two.

Lesson that imports it: 02.
"""

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

ACTIVATIONS = (nn.Sigmoid, nn.Tanh, nn.ReLU)
"""The activation modules whose inputs count as pre-activations :math:`z^{[l]}`."""


@dataclass
class BackpropSignals:
    """Per-layer tensors of one forward and backward pass (layer ``l`` at index ``l - 1``).

    Attributes:
        z: inputs of the activation modules, in forward order, each ``(N, units)``, detached.
        delta: :math:`\\partial L/\\partial z^{[l]}`, same shapes as ``z``.
        weight_grad: :math:`\\partial L/\\partial W` of every ``nn.Linear`` in forward order
            (one more than the activations in an MLP: the output layer), each ``(out, in)``.
        loss: the mean cross-entropy :math:`L`.
    """

    z: list[torch.Tensor]
    delta: list[torch.Tensor]
    weight_grad: list[torch.Tensor]
    loss: float

    def delta_norms(self) -> np.ndarray:
        """``(activations,)`` Frobenius norm :math:`\\|\\delta^{[l]}\\|` over all examples and units."""
        return np.array([d.norm().item() for d in self.delta])

    def weight_grad_norms(self) -> np.ndarray:
        """``(linears,)`` Frobenius norm :math:`\\|\\partial L/\\partial W\\|` of every ``nn.Linear``."""
        return np.array([g.norm().item() for g in self.weight_grad])


def _capture_inputs(model: nn.Module, captured: list):
    """Forward pre-hooks that store (and pass on) a private copy of each activation's input."""

    def hook(module, inputs):
        z = inputs[0].clone()  # a node of its own, the z whose gradient is delta
        captured.append(z)
        return (z.clone(),)  # the activation gets a copy: an in-place one cannot overwrite z

    activations = [m for m in model.modules() if isinstance(m, ACTIVATIONS)]
    if not activations:
        raise ValueError("the model has no nn.Sigmoid, nn.Tanh or nn.ReLU module")
    return [m.register_forward_pre_hook(hook) for m in activations]


def backprop_signals(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> BackpropSignals:
    """One forward and backward pass of ``L = cross_entropy(model(x), y)`` (mean over examples).

    Args:
        model: a feed-forward network whose activations are ``nn.Sigmoid``, ``nn.Tanh`` or
            ``nn.ReLU`` modules, each called once per forward pass; used in its current mode
            (a BN layer in training mode normalises with the statistics of ``x``).
        x: ``(N, features)`` inputs.
        y: ``(N,)`` class labels.
    Returns:
        The :class:`BackpropSignals`; parameters' ``.grad`` are left untouched.
    Raises:
        ValueError: the model has no activation module.
    """
    captured: list[torch.Tensor] = []
    handles = _capture_inputs(model, captured)
    try:
        loss = F.cross_entropy(model(x), y)
    finally:
        for handle in handles:
            handle.remove()
    weights = [m.weight for m in model.modules() if isinstance(m, nn.Linear)]
    grads = torch.autograd.grad(loss, captured + weights)
    k = len(captured)
    return BackpropSignals(
        z=[z.detach() for z in captured], delta=list(grads[:k]), weight_grad=list(grads[k:]), loss=loss.item()
    )


@torch.no_grad()
def pre_activations(model: nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    """Inputs :math:`z^{[l]}` ``(N, units)`` of every activation module for the inputs ``x (N, features)``,
    in forward order, computed without gradients in the model's current mode."""
    captured: list[torch.Tensor] = []
    handles = _capture_inputs(model, captured)
    try:
        model(x)
    finally:
        for handle in handles:
            handle.remove()
    return captured
