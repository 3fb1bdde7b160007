r"""Dropout for the experiments' MLPs: ``with_dropout(model, p)`` adds it on every hidden layer's output.

In training mode ``nn.Dropout(p)`` sets each value to 0 with probability ``p`` and multiplies the
others by :math:`1/(1-p)`, so the expected value is unchanged; in eval mode it passes values through.

Lesson that imports it: 07.
"""

from torch import nn


def with_dropout(model: nn.Sequential, p: float) -> nn.Sequential:
    """A ``Sequential`` with ``nn.Dropout(p)`` in front of every ``nn.Linear`` except the first.

    For an MLP from :func:`bnlib.lab.models.build_mlp` that is dropout on the activations of every
    hidden layer (not on the input pixels)::

        Linear, [norm], act, Dropout, Linear, [norm], act, Dropout, Linear

    The layers are the model's own modules, not copies (the weights are shared with ``model``).

    Args:
        model: a ``Sequential`` with at least one ``nn.Linear``.
        p: drop probability, ``0 <= p < 1``.
    """
    if not 0 <= p < 1:
        raise ValueError(f"p must be in [0, 1), got {p!r}")
    layers, seen_linear = [], False
    for layer in model:
        if isinstance(layer, nn.Linear):
            if seen_linear:
                layers.append(nn.Dropout(p))
            seen_linear = True
        layers.append(layer)
    if not seen_linear:
        raise ValueError("the model has no nn.Linear layer to put dropout in front of")
    return nn.Sequential(*layers)
