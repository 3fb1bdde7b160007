r"""The plumbing of the interactive explorer (lesson 10): one small training run per setting, cached.

An :class:`ExplorerSetting` names everything a student can change (depth, activation, init scale,
batch size, learning rate :math:`\eta`, momentum, normalization). :func:`run_setting` trains the
MLP ``64 -> width x depth -> 10`` it describes on the digits for a couple of hundred SGD steps and keeps
what the explorer draws: each layer's histogram of pre-activations :math:`z^{[l]}` on the test
inputs at step 0 and after the last step, and the learning curves. :class:`ExplorerCache` keeps
the runs already made, so moving a control back to an earlier value redraws at once.
:func:`plot_setting` draws one run on a figure; :func:`explorer_widget` wires ipywidgets controls
to the cache and the plot (ipywidgets is imported only there).
"""
from collections import OrderedDict
from dataclasses import dataclass, replace

import numpy as np
from torch import nn

from .data import Dataset
from .models import MLPConfig, build_mlp
from .plotting import plot_layer_histograms
from .recorder import ActivationRecorder
from .training import TrainConfig, train

ACTIVATIONS = {"sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "relu": nn.ReLU}
"""Activation module for each name the explorer offers."""

NORMS = ("none", "bn", "ln", "gn")
"""Normalization choices, as in :class:`bnlib.lab.models.MLPConfig` ``norm``."""

BIN_EDGES = np.linspace(-10.0, 10.0, 81)
"""``(81,)`` edges of the pre-activation histograms; values outside go to the end bins."""


@dataclass(frozen=True)
class ExplorerSetting:
    """One position of the explorer's controls (frozen, so it can key the cache).

    ``init_std``: weights :math:`W \\sim N(0, \\text{init\\_std}^2)`, biases 0 (see ``MLPConfig``).
    ``norm`` is placed before every activation. ``seed`` seeds both the weights and the batch order.
    """

    depth: int = 4                  # number of hidden layers
    activation: str = "sigmoid"     # a key of ACTIVATIONS
    init_std: float = 1.0           # standard deviation of the initial weights
    batch_size: int = 60            # m, examples per mini-batch
    lr: float = 0.1                 # eta
    momentum: float = 0.9           # SGD momentum
    norm: str = "bn"                # one of NORMS
    width: int = 64                 # units per hidden layer
    steps: int = 200                # SGD updates
    eval_every: int = 20            # record histograms and test accuracy every this many steps
    seed: int = 0

    def __post_init__(self):
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {self.activation!r}")
        if self.norm not in NORMS:
            raise ValueError(f"norm must be one of {NORMS}, got {self.norm!r}")
        if self.depth < 1 or self.width < 1:
            raise ValueError(f"need depth >= 1 and width >= 1, got {self.depth} and {self.width}")
        if not 0 <= self.momentum < 1:
            raise ValueError(f"momentum must be in [0, 1), got {self.momentum!r}")

    def mlp_config(self) -> MLPConfig:
        """The :class:`MLPConfig` of this setting (64 inputs, 10 classes)."""
        return MLPConfig(hidden=(self.width,) * self.depth, activation=ACTIVATIONS[self.activation],
                         norm=self.norm, init_std=self.init_std)

    def train_config(self) -> TrainConfig:
        """The :class:`TrainConfig` of this setting."""
        return TrainConfig(steps=self.steps, lr=self.lr, batch_size=self.batch_size,
                           eval_every=self.eval_every, seed=self.seed, momentum=self.momentum)


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

    @property
    def final_accuracy(self) -> float:
        """Test accuracy after the last step."""
        return float(self.test_accuracy[-1])


def run_setting(setting: ExplorerSetting, data: Dataset) -> ExplorerRun:
    """Build the MLP of ``setting`` (seeded by ``setting.seed``), train it on ``data`` and summarise.

    Pre-activations are probed on ``data.x_test`` with batch statistics (training mode), as a
    layer sees its input during training; the probe does not change the model.
    """
    model = build_mlp(setting.mlp_config(), seed=setting.seed)
    with ActivationRecorder(model, bin_edges=BIN_EDGES) as recorder:
        history = train(model, data, setting.train_config(), recorder=recorder)
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
        self.misses = 0               # how many runs were trained (not found in the cache)

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
    return (f"{setting.depth} x {setting.width} {setting.activation}, {norm}, init std {setting.init_std:g}, "
            f"m = {setting.batch_size}, lr {setting.lr:g}, momentum {setting.momentum:g}")


def plot_setting(fig, run: ExplorerRun):
    """Draw ``run`` on ``fig`` (cleared first): one histogram panel per layer (step 0 and the last
    step overlaid) on the top row, the test accuracy and the training loss on the bottom row.

    Returns:
        ``(layer_axes, accuracy_ax, loss_ax)``.
    """
    fig.clear()
    depth = len(run.hist_start)
    grid = fig.add_gridspec(2, max(depth, 2))
    layer_axes = [fig.add_subplot(grid[0, k]) for k in range(depth)]
    half = max(depth, 2) // 2
    accuracy_ax, loss_ax = fig.add_subplot(grid[1, :half]), fig.add_subplot(grid[1, half:])
    names = [f"layer {k + 1}: $z^{{[{k + 1}]}}$" for k in range(depth)]
    plot_layer_histograms(layer_axes, list(run.hist_start), run.bin_edges, layer_names=names,
                          color="tab:gray", label="step 0")
    plot_layer_histograms(layer_axes, list(run.hist_end), run.bin_edges, layer_names=names,
                          color="tab:blue", label=f"step {run.setting.steps}")
    layer_axes[0].legend(loc="upper left", fontsize="small")
    accuracy_ax.plot(run.eval_steps, run.test_accuracy, marker=".", label="test accuracy")
    accuracy_ax.set(title="learning curve", xlabel="training step", ylabel="test accuracy", ylim=(0, 1))
    accuracy_ax.legend(loc="lower right")
    loss_ax.plot(np.arange(1, len(run.train_loss) + 1), run.train_loss, linewidth=0.8, label="mini-batch loss")
    loss_ax.set(title="training loss", xlabel="training step", ylabel="cross-entropy")
    loss_ax.legend(loc="upper right")
    fig.suptitle(describe(run.setting))
    return layer_axes, accuracy_ax, loss_ax


def explorer_widget(cache: ExplorerCache, initial: ExplorerSetting = ExplorerSetting()):
    """ipywidgets controls for every field a student may change, redrawing :func:`plot_setting`
    into an output area whenever one changes (sliders update on release).

    Returns:
        ``(box, controls, output)``: the widget to display, a dict of the controls by field name,
        and the output area.
    """
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    controls = {
        "depth": widgets.IntSlider(value=initial.depth, min=1, max=6, description="depth"),
        "activation": widgets.Dropdown(options=list(ACTIVATIONS), value=initial.activation,
                                       description="activation"),
        "init_std": widgets.FloatLogSlider(value=initial.init_std, base=10, min=-2, max=0.5, step=0.1,
                                           description="init std"),
        "batch_size": widgets.Dropdown(options=sorted({8, 16, 32, 60, 128, initial.batch_size}),
                                       value=initial.batch_size, description="batch m"),
        "lr": widgets.FloatLogSlider(value=initial.lr, base=10, min=-3, max=0.5, step=0.1, description="lr"),
        "momentum": widgets.FloatSlider(value=initial.momentum, min=0.0, max=0.95, step=0.05,
                                        description="momentum"),
        "norm": widgets.ToggleButtons(options=list(NORMS), value=initial.norm, description="norm"),
    }
    for control in controls.values():
        if hasattr(control, "continuous_update"):
            control.continuous_update = False
    output = widgets.Output()

    def redraw(**values):
        setting = replace(initial, **{k: (round(v, 4) if isinstance(v, float) else v) for k, v in values.items()})
        run = cache.get(setting)
        with output:
            output.clear_output(wait=True)
            fig = plt.figure(figsize=(12, 6), dpi=80)
            plot_setting(fig, run)
            fig.tight_layout()
            plt.show()

    widgets.interactive_output(redraw, controls)
    box = widgets.VBox([widgets.HBox(list(controls.values())[:4]), widgets.HBox(list(controls.values())[4:]),
                        output])
    return box, controls, output

