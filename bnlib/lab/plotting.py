"""Plot helpers for the experiments. Each draws on the matplotlib axes it is given and returns them.

None of them creates a figure, calls ``plt.show()`` or changes ``rcParams``; the notebook decides.

Lessons that import it: 01, 02, 08.
"""

from collections.abc import Sequence

import numpy as np
from matplotlib.axes import Axes


def _label(ax: Axes, title: str | None, xlabel: str | None, ylabel: str | None) -> None:
    if title is not None:
        ax.set_title(title)
    if xlabel is not None:
        ax.set_xlabel(xlabel)
    if ylabel is not None:
        ax.set_ylabel(ylabel)


def plot_percentile_bands(
    ax: Axes,
    steps: np.ndarray,
    percentiles: np.ndarray,
    levels: Sequence[float] = (15, 50, 85),
    *,
    color=None,
    label: str | None = None,
    title: str | None = None,
    xlabel: str | None = "training step",
    ylabel: str | None = "pre-activation",
    legend: bool = True,
) -> Axes:
    """Percentiles of a distribution over training: the middle level as a solid line, the others
    dashed, and the band between the lowest and highest level shaded, all in one colour.

    Args:
        steps: ``(S,)`` x positions; percentiles: ``(S, P)`` values at ``levels`` ``(P,)``
            (e.g. :meth:`bnlib.recorder.ActivationRecorder.percentiles`).
        label: prefix of the legend entries (e.g. ``"with BN"``), to overlay several runs.
    """
    steps, percentiles = np.asarray(steps), np.asarray(percentiles)
    if percentiles.shape != (len(steps), len(levels)):
        raise ValueError(f"percentiles must be (steps, levels) = {(len(steps), len(levels))}, got {percentiles.shape}")
    middle = len(levels) // 2
    prefix = "" if label is None else f"{label}: "
    outer = ", ".join(f"{level:g}" for i, level in enumerate(levels) if i != middle)
    (line,) = ax.plot(steps, percentiles[:, middle], color=color, label=f"{prefix}{levels[middle]:g}th percentile")
    color = line.get_color()
    for i in range(len(levels)):
        if i != middle:
            ax.plot(
                steps,
                percentiles[:, i],
                color=color,
                linestyle="--",
                label=f"{prefix}{outer}th percentiles" if i == 0 else "_nolegend_",
            )
    ax.fill_between(steps, percentiles[:, 0], percentiles[:, -1], color=color, alpha=0.2, linewidth=0)
    _label(ax, title, xlabel, ylabel)
    if legend:
        ax.legend()
    return ax


def plot_histogram_image(
    ax: Axes,
    steps: np.ndarray,
    hist: np.ndarray,
    bin_edges: np.ndarray,
    *,
    cmap: str = "viridis",
    norm=None,
    colorbar_label: str | None = "share of values",
    title: str | None = None,
    xlabel: str | None = "training step",
    ylabel: str | None = "pre-activation",
) -> Axes:
    """A distribution over training as an image: time on x, value on y, colour = share per bin.

    Drawn with ``pcolormesh``; each recording step is a column centred on its step.

    Args:
        steps: ``(S,)``; hist: ``(S, bins)`` (e.g. :meth:`bnlib.recorder.ActivationRecorder.histogram`);
        bin_edges: ``(bins + 1,)``. norm: optional ``matplotlib.colors.Normalize`` (e.g. ``LogNorm``).
        colorbar_label: if not None, add a colour bar with this label next to ``ax``.
    """
    steps, hist, bin_edges = np.asarray(steps), np.asarray(hist), np.asarray(bin_edges)
    if hist.shape != (len(steps), len(bin_edges) - 1):
        raise ValueError(f"hist must be (steps, bins) = {(len(steps), len(bin_edges) - 1)}, got {hist.shape}")
    centres = (bin_edges[:-1] + bin_edges[1:]) / 2  # (bins,)
    mesh = ax.pcolormesh(steps, centres, hist.T, shading="nearest", cmap=cmap, norm=norm)
    if colorbar_label is not None:
        ax.figure.colorbar(mesh, ax=ax, label=colorbar_label)
    _label(ax, title, xlabel, ylabel)
    return ax


def plot_layer_histograms(
    axes: Sequence[Axes],
    hists: Sequence[np.ndarray],
    bin_edges: np.ndarray,
    *,
    layer_names: Sequence[str] | None = None,
    color=None,
    label: str | None = None,
    xlabel: str | None = "pre-activation",
    ylabel: str | None = "share of values",
    legend: bool = False,
) -> Sequence[Axes]:
    """One histogram per layer, one layer per axes (call again with another ``label`` to overlay).

    Args:
        axes: ``L`` axes, e.g. a row from ``plt.subplots(1, L)``; hists: ``L`` arrays ``(bins,)``
            (e.g. one row of each layer's :meth:`bnlib.recorder.ActivationRecorder.histogram`);
        bin_edges: ``(bins + 1,)``. layer_names: titles (default ``"layer 1"``, ...).
    Returns:
        ``axes``.
    """
    if len(axes) != len(hists):
        raise ValueError(f"need one axes per histogram, got {len(axes)} axes and {len(hists)} histograms")
    names = layer_names if layer_names is not None else [f"layer {k + 1}" for k in range(len(hists))]
    for k, (ax, hist) in enumerate(zip(axes, hists)):
        colour = {} if color is None else {"color": color}  # None: next colour of the axes' cycle
        ax.stairs(hist, bin_edges, fill=True, alpha=0.5, label=label, **colour)
        _label(ax, names[k], xlabel, ylabel if k == 0 else None)
        if legend:
            ax.legend()
    return axes


def plot_learning_curves(
    ax: Axes,
    steps: np.ndarray,
    curves: np.ndarray,
    label: str,
    *,
    color=None,
    title: str | None = None,
    xlabel: str | None = "training step",
    ylabel: str | None = "test accuracy",
    legend: bool = True,
) -> Axes:
    """Mean over seeds as a line, with the min-max range over seeds shaded.

    Args:
        steps: ``(S,)``; curves: ``(seeds, S)``, one row per seed; label: legend entry of the mean
            (the band is labelled ``"<label> (min-max over n seeds)"``).
    """
    steps, curves = np.asarray(steps), np.asarray(curves, dtype=float)
    if curves.ndim != 2 or curves.shape[1] != len(steps):
        raise ValueError(f"curves must be (seeds, steps) with {len(steps)} steps, got {curves.shape}")
    (line,) = ax.plot(steps, curves.mean(axis=0), color=color, label=label)
    ax.fill_between(
        steps,
        curves.min(axis=0),
        curves.max(axis=0),
        color=line.get_color(),
        alpha=0.2,
        linewidth=0,
        label=f"{label} (min-max over {len(curves)} seeds)",
    )
    _label(ax, title, xlabel, ylabel)
    if legend:
        ax.legend()
    return ax
