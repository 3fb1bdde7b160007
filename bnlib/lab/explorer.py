r"""The plumbing of the interactive explorer (lesson 10): one small training run per setting, cached.

An :class:`ExplorerSetting` names everything a student can change (depth, activation, init scale,
batch size, learning rate :math:`\eta`, momentum, normalization, weight decay, and whether the
histograms use batch statistics or BN's running estimates). :func:`run_setting` trains the
MLP ``64 -> width x depth -> 10`` it describes on the digits for 100 SGD steps and keeps what the
explorer draws: each layer's histogram of pre-activations :math:`z^{[l]}` on the test inputs at
step 0 and after the last step, and the learning curves. :class:`ExplorerCache` keeps the runs
already made, so moving a control back to an earlier value only redraws. :func:`plot_setting`
draws one run on a figure; :class:`ExplorerFigure` keeps one figure and redraws it for each run;
:func:`explorer_widget` wires ipywidgets controls to the cache and the figure (ipywidgets is
imported only there).

What a redraw costs (``benchmarks/explorer_redraw.py``: the default setting, each control moved
once, and depth 6 with m = 128 under BN, LN and GN; CPU time of one core on the project's shared
2-core machine, four runs at load averages 0.9-2.4, wall time the same): training a new setting
0.18-0.30 s median, 0.35-0.47 s at most (depth 6); drawing and rendering the PNG 0.16-0.24 s
median, 0.21-0.35 s at most; together 0.33-0.55 s median, 0.56-0.80 s at most. Before this
module used PyTorch's fused normalization layers, 100 steps instead of 200, probes at two steps
instead of eleven and a kept figure with a fixed layout, the same cases cost 1.8-1.9 s median and
2.8-3.1 s at most.

Lesson that imports it: 10.
"""

import copy
import io
from collections import OrderedDict
from dataclasses import dataclass, replace

import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.gridspec import GridSpec
from matplotlib.ticker import MaxNLocator
from matplotlib.transforms import offset_copy
from torch import nn

from .data import Dataset
from .models import MLPConfig, build_mlp
from .recorder import ActivationRecorder
from .training import TrainConfig, train

ACTIVATIONS = {"sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "relu": nn.ReLU}
"""Activation module for each name the explorer offers."""

NORMS = ("none", "bn", "ln", "gn")
"""Normalization choices, as in :class:`bnlib.lab.models.MLPConfig` ``norm``."""

HISTOGRAMS = ("train", "eval")
"""How the test inputs are probed for the histograms: in training mode (BN uses the probe batch's own
statistics) or in eval mode (BN uses its running estimates; none, LN and GN give the same either way)."""

BIN_EDGES = np.linspace(-10.0, 10.0, 81)
"""``(81,)`` edges of the pre-activation histograms; values outside go to the end bins."""


@dataclass(frozen=True)
class ExplorerSetting:
    """One position of the explorer's controls (frozen, so it can key the cache).

    ``init_std``: weights :math:`W \\sim N(0, \\text{init\\_std}^2)`, biases 0 (see ``MLPConfig``).
    ``norm`` is placed before every activation. ``seed`` seeds both the weights and the batch order.
    ``weight_decay``: SGD's L2 penalty :math:`\\lambda`, as ``torch.optim.SGD(weight_decay=...)``
    (:math:`g + \\lambda\theta`, on every parameter). ``histograms``: one of :data:`HISTOGRAMS`, the mode
    in which the test inputs are probed for the histograms and the per-layer summaries (the test
    accuracy is measured in eval mode either way, see :func:`bnlib.lab.training.accuracy`).
    """

    depth: int = 4  # number of hidden layers
    activation: str = "sigmoid"  # a key of ACTIVATIONS
    init_std: float = 1.0  # standard deviation of the initial weights
    batch_size: int = 60  # m, examples per mini-batch
    lr: float = 0.1  # eta
    momentum: float = 0.9  # SGD momentum
    norm: str = "bn"  # one of NORMS
    width: int = 64  # units per hidden layer
    steps: int = 100  # SGD updates
    eval_every: int = 10  # measure the test accuracy every this many steps
    seed: int = 0
    weight_decay: float = 0.0  # lambda, SGD's L2 penalty
    histograms: str = "train"  # one of HISTOGRAMS

    def __post_init__(self):
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {self.activation!r}")
        if self.norm not in NORMS:
            raise ValueError(f"norm must be one of {NORMS}, got {self.norm!r}")
        if self.depth < 1 or self.width < 1:
            raise ValueError(f"need depth >= 1 and width >= 1, got {self.depth} and {self.width}")
        if not 0 <= self.momentum < 1:
            raise ValueError(f"momentum must be in [0, 1), got {self.momentum!r}")
        if not self.weight_decay >= 0:  # also refuses NaN
            raise ValueError(f"weight_decay must be >= 0, got {self.weight_decay!r}")
        if self.histograms not in HISTOGRAMS:
            raise ValueError(f"histograms must be one of {HISTOGRAMS}, got {self.histograms!r}")

    def mlp_config(self) -> MLPConfig:
        """The :class:`MLPConfig` of this setting (64 inputs, 10 classes), with PyTorch's fused
        normalization modules (``norm_impl="torch"``: same formulas as bnlib.nn's, half the time)."""
        return MLPConfig(
            hidden=(self.width,) * self.depth,
            activation=ACTIVATIONS[self.activation],
            norm=self.norm,
            init_std=self.init_std,
            norm_impl="torch",
        )

    def train_config(self) -> TrainConfig:
        """The :class:`TrainConfig` of this setting."""
        return TrainConfig(
            steps=self.steps,
            lr=self.lr,
            batch_size=self.batch_size,
            eval_every=self.eval_every,
            seed=self.seed,
            momentum=self.momentum,
            weight_decay=self.weight_decay,
        )


@dataclass
class ExplorerRun:
    """What :func:`run_setting` keeps of one training run.

    Attributes:
        setting: the setting that was run.
        eval_steps: ``(E,)`` steps at which the test inputs were probed (0, eval_every, ..., steps).
        test_accuracy: ``(E,)`` test accuracy in [0, 1] at ``eval_steps``.
        train_loss: ``(steps,)`` mini-batch cross-entropy of every update (NaN once diverged).
        hist_start, hist_end: ``(depth, bins)`` share of each layer's pre-activations per bin of
            ``bin_edges`` at step 0 and after the last step (rows sum to 1).
        saturation: ``(depth,)`` share of saturated activations per layer after the last step
            (NaN for ReLU; see :func:`bnlib.lab.recorder.saturated_fraction`).
        std_end: ``(depth,)`` standard deviation of each layer's pre-activations after the last step.
        bin_edges: ``(bins + 1,)``.
        beyond_start, beyond_end: ``(depth, 2)`` share of each layer's pre-activations below the
            first edge and above the last one (they are counted in the end bins), at step 0 and after
            the last step.
        offset_start, offset_end: ``(depth,)`` per layer, the share of the variance of ``z`` that is
            an offset shared by every example: ``Var_j(mean_i z_ij) / Var_ij(z_ij)``,
            where ``mean_i z_ij`` is unit ``j``'s mean over the test inputs (0 when every unit is centred
            over the examples, 1 when every unit is constant across them).
    """

    setting: ExplorerSetting
    eval_steps: np.ndarray
    test_accuracy: np.ndarray
    train_loss: np.ndarray
    hist_start: np.ndarray
    hist_end: np.ndarray
    saturation: np.ndarray
    std_end: np.ndarray
    bin_edges: np.ndarray
    beyond_start: np.ndarray
    beyond_end: np.ndarray
    offset_start: np.ndarray
    offset_end: np.ndarray

    @property
    def final_accuracy(self) -> float:
        """Test accuracy after the last step."""
        return float(self.test_accuracy[-1])

    @property
    def diverged_at(self) -> int | None:
        """The first step (1-based) whose mini-batch loss is NaN or infinite, or None if none is."""
        bad = np.flatnonzero(~np.isfinite(self.train_loss))
        return int(bad[0]) + 1 if len(bad) else None


def layer_summary(
    model: nn.Module, x: torch.Tensor, activation: type[nn.Module], batch_statistics: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """For every ``activation`` module of ``model``, what its input ``z`` is on ``x`` in training mode
    (batch statistics; eval mode, BN's running estimates, with ``batch_statistics=False``), computed on
    a copy so that ``model`` and its running estimates stay as they are.

    Returns:
        ``(beyond, offset)``: ``(layers, 2)`` share of ``z`` below ``BIN_EDGES[0]`` and above
        ``BIN_EDGES[-1]``; ``(layers,)`` share of the variance of ``z`` that is each unit's mean over the
        examples, ``Var_j(mean_i z_ij) / Var_ij(z_ij)`` (see :class:`ExplorerRun`).
    """
    work = copy.deepcopy(model).train(batch_statistics)
    caught = []
    hooks = [
        m.register_forward_pre_hook(lambda module, inputs: caught.append(inputs[0].detach().double()))
        for m in work.modules()
        if isinstance(m, activation)
    ]
    try:
        with torch.no_grad():
            work(x)
    finally:
        for h in hooks:
            h.remove()
    beyond = np.array(
        [[(z < BIN_EDGES[0]).double().mean().item(), (z > BIN_EDGES[-1]).double().mean().item()] for z in caught]
    )
    offset = np.array([(z.mean(dim=0).var(unbiased=False) / z.var(unbiased=False)).item() for z in caught])
    return beyond, offset


class _FirstAndLast:
    """Passes :func:`bnlib.lab.training.train`'s recording calls on to ``recorder`` at step 0 and
    at ``last`` only (the explorer draws nothing recorded in between), and keeps the
    :func:`layer_summary` of ``model`` at those two steps in ``summaries``."""

    def __init__(self, recorder: ActivationRecorder, last: int, model: nn.Module, activation: type[nn.Module]):
        self.recorder, self.last = recorder, last
        self.model, self.activation = model, activation
        self.batch_statistics = recorder.batch_statistics
        self.summaries: list[tuple[np.ndarray, np.ndarray]] = []

    def record(self, step: int, x) -> None:
        if step in (0, self.last):
            self.recorder.record(step, x)
            self.summaries.append(layer_summary(self.model, x, self.activation, self.batch_statistics))


def run_setting(setting: ExplorerSetting, data: Dataset) -> ExplorerRun:
    """Build the MLP of ``setting`` (seeded by ``setting.seed``), train it on ``data`` and summarise.

    Pre-activations are probed on ``data.x_test`` with batch statistics (training mode), as a
    layer sees its input during training, or with ``setting.histograms == "eval"`` in eval mode (BN's
    running estimates, as at test time); the probe does not change the model. It runs at step 0
    and after the last step only (an :class:`ActivationRecorder` for those two steps), while the
    test accuracy is measured every ``eval_every`` steps.
    """
    model = build_mlp(setting.mlp_config(), seed=setting.seed)
    batch_statistics = setting.histograms == "train"
    with ActivationRecorder(model, bin_edges=BIN_EDGES, batch_statistics=batch_statistics) as recorder:
        first_and_last = _FirstAndLast(recorder, setting.steps, model, ACTIVATIONS[setting.activation])
        history = train(model, data, setting.train_config(), recorder=first_and_last)
    (beyond_start, offset_start), (beyond_end, offset_end) = first_and_last.summaries[0], first_and_last.summaries[-1]
    layers = range(recorder.num_layers)
    return ExplorerRun(
        setting=setting,
        eval_steps=np.array(history.eval_steps, dtype=int),
        test_accuracy=np.array(history.test_accuracy, dtype=float),
        train_loss=np.array(history.train_loss, dtype=float),
        hist_start=np.stack([recorder.histogram(k)[0] for k in layers]),
        hist_end=np.stack([recorder.histogram(k)[-1] for k in layers]),
        saturation=np.array([recorder.saturation(k)[-1] for k in layers]),
        std_end=np.array([recorder.std(k)[-1] for k in layers]),
        bin_edges=BIN_EDGES.copy(),
        beyond_start=beyond_start,
        beyond_end=beyond_end,
        offset_start=offset_start,
        offset_end=offset_end,
    )


class ExplorerCache:
    """The runs already made, keyed by setting; the least recently used run goes first when full.

    Args:
        data: the data set every run trains on.
        max_size: how many runs to keep (each holds a few kilobytes).
    """

    def __init__(self, data: Dataset, max_size: int = 256):
        if max_size < 1:
            raise ValueError(f"max_size must be at least 1, got {max_size!r}")
        self.data = data
        self.max_size = max_size
        self._runs: OrderedDict[ExplorerSetting, ExplorerRun] = OrderedDict()
        self.misses = 0  # how many runs were trained (not found in the cache)

    def __len__(self) -> int:
        return len(self._runs)

    def __contains__(self, setting: ExplorerSetting) -> bool:
        return setting in self._runs

    def get(self, setting: ExplorerSetting) -> ExplorerRun:
        """The run of ``setting``: from the cache, or trained now (and cached)."""
        if setting in self._runs:
            self._runs.move_to_end(setting)
            return self._runs[setting]
        run = run_setting(setting, self.data)
        self.misses += 1
        self._runs[setting] = run
        if len(self._runs) > self.max_size:
            self._runs.popitem(last=False)
        return run


def describe(setting: ExplorerSetting) -> str:
    """A one-line description of a setting for a figure title, e.g. ``"4 x 64 sigmoid, BN, ..."``."""
    norm = {"none": "no normalization", "bn": "BN", "ln": "LN", "gn": "GN"}[setting.norm]
    extra = (f", weight decay {setting.weight_decay:g}" if setting.weight_decay else "") + (
        ", eval-mode histograms" if setting.histograms == "eval" else ""
    )
    return (
        f"{setting.depth} x {setting.width} {setting.activation}, {norm}, init std {setting.init_std:g}, "
        f"m = {setting.batch_size}, lr {setting.lr:g}, momentum {setting.momentum:g}{extra}"
    )


LAYOUT = {"left": 0.06, "right": 0.985, "bottom": 0.085, "top": 0.86, "hspace": 0.5, "wspace": 0.32}
"""Fixed subplot parameters of the explorer's figure, laid out for 12 x 6 inches (no ``tight_layout``:
it would cost a second drawing of the figure on every redraw)."""


def _fixed_labels(ax, xlabel: str, ylabel: str | None, title: str) -> None:
    """Title and axis labels at fixed offsets from the axes: matplotlib would otherwise measure
    every tick label on each drawing to place them (a third of the drawing time here)."""
    fig = ax.figure
    ax.set_title(title, y=1.0)  # y given: not moved
    ax.set_xlabel(xlabel)
    ax.xaxis.set_label_coords(0.5, 0, transform=offset_copy(ax.transAxes, fig, y=-0.27, units="inches"))
    ax.set_ylabel(ylabel or "")
    ax.yaxis.set_label_coords(0, 0.5, transform=offset_copy(ax.transAxes, fig, x=-0.5, units="inches"))


class _ExplorerAxes:
    """The axes and artists of the explorer's figure for up to ``max_depth`` layers: one histogram
    panel per layer on the top row, the test accuracy and the training loss on the bottom row.
    :meth:`show` puts a run's data into the existing artists and sets every panel's limits, so a
    figure can be redrawn for another run without building its axes again."""

    def __init__(self, fig, max_depth: int):
        self.fig = fig
        bins = len(BIN_EDGES) - 1
        self.layer_axes, self._stairs, self._end_labels = [], [], []
        for k in range(max_depth):
            ax = fig.add_axes((0, 0, 1, 1))
            start = ax.stairs(np.zeros(bins), BIN_EDGES, fill=True, alpha=0.5, color="tab:gray", label="step 0")
            end = ax.stairs(np.zeros(bins), BIN_EDGES, fill=True, alpha=0.5, color="tab:blue", label="last step")
            _fixed_labels(ax, "pre-activation z", "share of values" if k == 0 else None, f"layer {k + 1}")
            ax.set(xlim=(BIN_EDGES[0], BIN_EDGES[-1]), xticks=(-8, -4, 0, 4, 8))
            ax.yaxis.set_major_locator(MaxNLocator(nbins=4))
            self.layer_axes.append(ax)
            self._stairs.append((start, end))
            # the end bins also hold every value beyond them: their share, step 0 | last step
            ends = [
                ax.text(x, 0.98, "", transform=ax.transAxes, ha=ha, va="top", fontsize="x-small")
                for x, ha in ((0.02, "left"), (0.98, "right"))
            ]
            self._end_labels.append(ends)
        self._legend = self.layer_axes[0].legend(loc="upper left", bbox_to_anchor=(0, 0.86), fontsize="small")
        bottom = GridSpec(2, 2, figure=fig, **LAYOUT)
        self.accuracy_ax = fig.add_axes(bottom[1, 0].get_position(fig))
        self.loss_ax = fig.add_axes(bottom[1, 1].get_position(fig))
        (self._accuracy,) = self.accuracy_ax.plot([], [], marker=".", label="test accuracy")
        _fixed_labels(self.accuracy_ax, "training step", "test accuracy", "learning curve")
        self.accuracy_ax.set_ylim(0, 1)
        self.accuracy_ax.legend(loc="lower right")
        (self._loss,) = self.loss_ax.plot([], [], linewidth=0.8, label="mini-batch loss")
        _fixed_labels(self.loss_ax, "training step", "cross-entropy (log scale)", "training loss")
        self.loss_ax.set_yscale("log")
        self.loss_ax.legend(loc="upper right")
        self._diverged = self.loss_ax.text(0.5, 0.5, "", transform=self.loss_ax.transAxes, ha="center", color="tab:red")
        self._title = fig.suptitle("")

    def show(self, run: ExplorerRun) -> None:
        depth = len(run.hist_start)
        if depth > len(self.layer_axes):
            raise ValueError(f"the figure has room for {len(self.layer_axes)} layers, the run has {depth}")
        top = GridSpec(2, max(depth, 2), figure=self.fig, **LAYOUT)
        for k, ax in enumerate(self.layer_axes):
            ax.set_visible(k < depth)
            if k < depth:
                ax.set_position(top[0, k].get_position(self.fig))
                for stairs, hist in zip(self._stairs[k], (run.hist_start[k], run.hist_end[k])):
                    stairs.set_data(hist, run.bin_edges)
                ax.set_xlim(run.bin_edges[0], run.bin_edges[-1])
                ax.set_ylim(0, 1.25 * _top([run.hist_start[k], run.hist_end[k]], 1.0))
                for side, (label, edge) in enumerate(zip(self._end_labels[k], run.bin_edges[[0, -1]])):
                    shares = run.beyond_start[k, side], run.beyond_end[k, side]
                    text = [f"{v:.0%}" for v in shares]
                    for when, hist in enumerate((run.hist_start[k], run.hist_end[k])):
                        if np.isnan(hist).any():  # a diverged run: z is NaN, nothing to count
                            text[when] = "NaN"
                    beyond = "<" if side == 0 else ">"
                    show = max(shares) >= 0.005 or "NaN" in text
                    label.set_text(f"{beyond} {edge:g}:\n{text[0]} | {text[1]}" if show else "")
        self._legend.get_texts()[1].set_text(f"step {run.setting.steps}")
        self._accuracy.set_data(run.eval_steps, run.test_accuracy)
        self.accuracy_ax.set_xlim(-0.05 * run.setting.steps, 1.05 * run.setting.steps)
        self._loss.set_data(np.arange(1, len(run.train_loss) + 1), run.train_loss)
        self.loss_ax.set_xlim(1 - 0.05 * run.setting.steps, 1.05 * run.setting.steps)
        finite = run.train_loss[np.isfinite(run.train_loss) & (run.train_loss > 0)]
        low, high = (finite.min(), finite.max()) if len(finite) else (0.1, 10.0)
        self.loss_ax.set_ylim(min(low, 0.1) / 1.5, max(high, 10.0) * 1.5)
        step = run.diverged_at
        self._diverged.set_text(
            "" if step is None else f"diverged at step {step}\n(loss NaN or infinite from there on)"
        )
        self._title.set_text(describe(run.setting))


def _top(arrays, default: float) -> float:
    """5 % above the largest finite value of ``arrays``, or ``default`` if there is none."""
    finite = np.concatenate([a[np.isfinite(a)] for a in arrays])
    return 1.05 * float(finite.max()) if len(finite) and finite.max() > 0 else default


def plot_setting(fig, run: ExplorerRun):
    """Draw ``run`` on ``fig`` (cleared first, laid out by :data:`LAYOUT`, so do not call
    ``tight_layout``): one histogram panel per layer (step 0 and the last step overlaid) on the
    top row, the test accuracy and the training loss on the bottom row.

    Returns:
        ``(layer_axes, accuracy_ax, loss_ax)``.
    """
    fig.clear()
    panels = _ExplorerAxes(fig, len(run.hist_start))
    panels.show(run)
    return panels.layer_axes, panels.accuracy_ax, panels.loss_ax


class ExplorerFigure:
    """The explorer's figure, kept between redraws: :meth:`png` draws a run into the same axes and
    renders it, which costs about half as much as building a new figure each time (tick labels,
    fonts and the renderer are reused). The same picture as :func:`plot_setting` on a new figure.

    Args:
        max_depth: the most layers a run may have (the widget's depth slider goes to 6).
        figsize, dpi: size of the figure in inches and its resolution in the PNG.
    """

    def __init__(self, max_depth: int = 6, figsize=(12, 6), dpi: int = 80):
        self.figure = Figure(figsize=figsize, dpi=dpi)
        self.canvas = FigureCanvasAgg(self.figure)
        self._panels = _ExplorerAxes(self.figure, max_depth)
        self.canvas.draw()  # the first drawing builds ticks and glyph caches

    def png(self, run: ExplorerRun) -> bytes:
        """``run`` drawn and rendered as PNG bytes."""
        self._panels.show(run)
        buffer = io.BytesIO()
        self.canvas.print_png(buffer, pil_kwargs={"compress_level": 1})  # fast; the PNG is shown, not stored
        return buffer.getvalue()


def explorer_widget(cache: ExplorerCache, initial: ExplorerSetting = ExplorerSetting()):
    """ipywidgets controls for every field a student may change, redrawing the explorer's figure
    (:class:`ExplorerFigure`) into an image whenever one changes (sliders update on release).

    A redraw trains the new setting if it is not in ``cache`` (0.1-0.5 s of one core with the
    default 100 steps), then draws and renders the figure (about 0.2 s); see the module docstring.

    Returns:
        ``(box, controls, image)``: the widget to display, a dict of the controls by field name,
        and the ``ipywidgets.Image`` that shows the figure as PNG.
    """
    import ipywidgets as widgets

    controls = {
        "depth": widgets.IntSlider(value=initial.depth, min=1, max=6, description="depth"),
        "activation": widgets.Dropdown(options=list(ACTIVATIONS), value=initial.activation, description="activation"),
        "init_std": widgets.FloatLogSlider(
            value=initial.init_std, base=10, min=-2, max=0.5, step=0.1, description="init std"
        ),
        "batch_size": widgets.Dropdown(
            options=sorted({8, 16, 32, 60, 128, initial.batch_size}), value=initial.batch_size, description="batch m"
        ),
        "lr": widgets.FloatLogSlider(value=initial.lr, base=10, min=-3, max=0.5, step=0.1, description="lr"),
        "momentum": widgets.FloatSlider(value=initial.momentum, min=0.0, max=0.95, step=0.05, description="momentum"),
        # Four short labels: 56 px buttons, and a control that does not shrink, keep them on one line
        # (ipywidgets' default 148 px buttons wrap onto two rows in JupyterLab at 1400 px, sidebar open).
        "norm": widgets.ToggleButtons(
            options=list(NORMS),
            value=initial.norm,
            description="norm",
            style={"button_width": "56px"},
            layout=widgets.Layout(flex="0 0 auto"),
        ),
        "weight_decay": widgets.Dropdown(
            options=sorted({0.0, 1e-4, 1e-3, 1e-2, 0.1, initial.weight_decay}),
            value=initial.weight_decay,
            description="weight decay",
        ),
        "histograms": widgets.ToggleButtons(
            options=list(HISTOGRAMS),
            value=initial.histograms,
            description="histograms",
            style={"button_width": "56px"},
            layout=widgets.Layout(flex="0 0 auto"),
        ),
    }
    for control in controls.values():
        if hasattr(control, "continuous_update"):
            control.continuous_update = False
    figure = ExplorerFigure(max_depth=max(controls["depth"].max, initial.depth))
    image = widgets.Image(format="png")

    def redraw(**values):
        # sliders' floats are rounded (0.1 may arrive as 0.10000000000000002); the dropdown's are exact
        values = {k: (round(v, 4) if isinstance(v, float) and k != "weight_decay" else v) for k, v in values.items()}
        setting = replace(initial, **values)
        image.value = figure.png(cache.get(setting))

    errors = widgets.interactive_output(redraw, controls)  # shows a redraw's exception, if any
    rows = [list(controls.values())[i:j] for i, j in ((0, 4), (4, 7), (7, None))]
    box = widgets.VBox([*(widgets.HBox(row) for row in rows), image, errors])
    return box, controls, image
