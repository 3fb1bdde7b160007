"""bnlib.lab.explorer: settings, one run's summary, the cache, the figure and the widget wiring."""

from dataclasses import replace

import matplotlib
import numpy as np
import pytest
import torch

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import bnlib.nn  # noqa: E402
from bnlib.lab.data import load_digits_split  # noqa: E402
from bnlib.lab.explorer import (
    BIN_EDGES,
    ExplorerCache,
    ExplorerFigure,
    ExplorerSetting,
    describe,  # noqa: E402
    explorer_widget,
    layer_summary,
    plot_setting,
    run_setting,
)
from bnlib.lab.models import MLPConfig, build_mlp  # noqa: E402
from bnlib.lab.recorder import ActivationRecorder  # noqa: E402
from bnlib.lab.training import train  # noqa: E402

SMALL = ExplorerSetting(depth=2, width=16, steps=6, eval_every=3)


@pytest.fixture(scope="module")
def data():
    return load_digits_split()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"activation": "gelu"}, "activation must be one of"),
        ({"norm": "batch"}, "norm must be one of"),
        ({"depth": 0}, "need depth >= 1"),
        ({"momentum": 1.0}, "momentum must be in"),
        ({"weight_decay": -0.1}, r"weight_decay must be >= 0, got -0\.1"),
        ({"weight_decay": float("nan")}, "weight_decay must be >= 0, got nan"),
        ({"histograms": "test"}, r"histograms must be one of \('train', 'eval'\), got 'test'"),
    ],
)
def test_invalid_settings_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ExplorerSetting(**kwargs)


def test_setting_maps_onto_model_and_training_configs():
    setting = ExplorerSetting(
        depth=3,
        width=20,
        activation="tanh",
        norm="gn",
        init_std=0.3,
        lr=0.05,
        momentum=0.5,
        batch_size=32,
        steps=7,
        seed=4,
    )
    mlp, tc = setting.mlp_config(), setting.train_config()
    assert mlp.hidden == (20, 20, 20) and mlp.activation is torch.nn.Tanh and mlp.norm == "gn"
    assert mlp.init_std == 0.3 and mlp.norm_impl == "torch"
    assert (tc.steps, tc.lr, tc.momentum, tc.batch_size, tc.seed) == (7, 0.05, 0.5, 32, 4)
    assert tc.weight_decay == 0.0 and ExplorerSetting(weight_decay=0.01).train_config().weight_decay == 0.01
    assert describe(setting) == "3 x 20 tanh, GN, init std 0.3, m = 32, lr 0.05, momentum 0.5"
    assert describe(ExplorerSetting(weight_decay=0.01, histograms="eval")).endswith(
        "momentum 0.9, weight decay 0.01, eval-mode histograms"
    )


def test_run_summarises_every_layer(data):
    run = run_setting(SMALL, data)
    assert run.eval_steps.tolist() == [0, 3, 6]
    assert run.test_accuracy.shape == (3,) and run.train_loss.shape == (6,)
    bins = len(run.bin_edges) - 1
    assert run.hist_start.shape == (2, bins) and run.hist_end.shape == (2, bins)
    np.testing.assert_allclose(run.hist_start.sum(axis=1), 1.0)
    np.testing.assert_allclose(run.hist_end.sum(axis=1), 1.0)
    assert run.saturation.shape == (2,) and np.all((run.saturation >= 0) & (run.saturation <= 1))
    assert run.final_accuracy == run.test_accuracy[-1]


def test_bn_standardises_pre_activations_on_the_probe(data):
    # With gamma = 1, beta = 0 at step 0, BN's output on the probe batch has std 1 in every unit.
    run = run_setting(ExplorerSetting(depth=2, width=16, steps=1, eval_every=1, norm="bn", init_std=3.0), data)
    no_norm = run_setting(ExplorerSetting(depth=2, width=16, steps=1, eval_every=1, norm="none", init_std=3.0), data)
    centres = (run.bin_edges[:-1] + run.bin_edges[1:]) / 2
    spread = np.sqrt((run.hist_start * centres**2).sum(axis=1))
    assert np.all(np.abs(spread - 1) < 0.1)
    assert no_norm.hist_start[0, [0, -1]].sum() > 0.1  # unnormalised: many values beyond +-10


def test_layer_summary_counts_the_values_beyond_the_edges_and_the_shared_offset():
    # z of one "layer": unit 0 varies over the examples around 0, unit 1 is the constant 20 (beyond the last edge)
    model = torch.nn.Sequential(torch.nn.Identity(), torch.nn.Sigmoid())
    x = torch.tensor([[-1.0, 20.0], [1.0, 20.0], [-1.0, 20.0], [1.0, 20.0]])
    model[0].register_forward_hook(lambda module, inputs, out: out)  # a hook on the model is kept
    beyond, offset = layer_summary(model, x, torch.nn.Sigmoid)
    np.testing.assert_allclose(beyond, [[0.0, 0.5]])
    # unit means (0, 20): Var_j = 100; all values: mean 10, Var = (4 * 1 + 4 * 100 ... ) / 8 = 100.5
    np.testing.assert_allclose(offset, [100 / 100.5])
    assert len(model[0]._forward_hooks) == 1 and not model[1]._forward_pre_hooks  # its hooks removed


def test_runs_report_the_offset_beyond_shares_and_divergence(data):
    ln = run_setting(ExplorerSetting(depth=3, width=16, steps=2, eval_every=1, norm="ln"), data)
    bn = run_setting(ExplorerSetting(depth=3, width=16, steps=2, eval_every=1, norm="bn"), data)
    assert ln.offset_start.shape == (3,) and ln.beyond_end.shape == (3, 2)
    assert bn.offset_start.max() < 1e-10  # BN centres every unit over the batch: no shared offset
    assert ln.offset_start[1:].min() > 0.3  # sigmoid outputs (mean ~0.5) give each unit an offset LN keeps
    assert ln.diverged_at is None
    # the explorer's own example: ReLU, no normalization, init std 3.16 (loss ~1e18 at step 2, then NaN)
    diverged = run_setting(ExplorerSetting(activation="relu", norm="none", init_std=3.16, steps=4, eval_every=2), data)
    bad = np.flatnonzero(~np.isfinite(diverged.train_loss))
    assert len(bad) and diverged.diverged_at == bad[0] + 1


def test_recording_first_and_last_only_keeps_the_same_values(data):
    # run_setting records at step 0 and the last step only; a recorder at every evaluation step on
    # the same training must give the same first and last rows (recording does not change training).
    setting = ExplorerSetting(depth=3, width=16, steps=9, eval_every=3, norm="bn", activation="tanh")
    run = run_setting(setting, data)
    model = build_mlp(setting.mlp_config(), seed=setting.seed)
    with ActivationRecorder(model, bin_edges=BIN_EDGES) as recorder:
        history = train(model, data, setting.train_config(), recorder=recorder)
    assert recorder.steps.tolist() == [0, 3, 6, 9]
    for k in range(setting.depth):
        np.testing.assert_array_equal(run.hist_start[k], recorder.histogram(k)[0])
        np.testing.assert_array_equal(run.hist_end[k], recorder.histogram(k)[-1])
        assert run.saturation[k] == recorder.saturation(k)[-1] and run.std_end[k] == recorder.std(k)[-1]
    np.testing.assert_array_equal(run.train_loss, history.train_loss)
    np.testing.assert_array_equal(run.test_accuracy, history.test_accuracy)


def test_the_default_controls_give_the_run_of_before(data):
    # weight_decay=0 and histograms="train" are what the explorer did before it had these controls:
    # SGD without weight decay, the probe in training mode (a recorder with its defaults, layer_summary
    # in training mode), to the last bit.
    setting = ExplorerSetting(depth=3, width=16, steps=6, eval_every=3, norm="bn")
    assert (setting.weight_decay, setting.histograms) == (0.0, "train")
    run = run_setting(setting, data)
    model = build_mlp(setting.mlp_config(), seed=setting.seed)
    with ActivationRecorder(model, bin_edges=BIN_EDGES) as recorder:
        history = train(model, data, replace(setting.train_config(), weight_decay=0.0), recorder=recorder)
    np.testing.assert_array_equal(run.train_loss, history.train_loss)
    np.testing.assert_array_equal(run.test_accuracy, history.test_accuracy)
    np.testing.assert_array_equal(run.hist_end, np.stack([recorder.histogram(k)[-1] for k in range(3)]))
    beyond, offset = layer_summary(model, data.x_test, torch.nn.Sigmoid)
    np.testing.assert_array_equal(run.beyond_end, beyond)
    np.testing.assert_array_equal(run.offset_end, offset)


def test_weight_decay_shrinks_the_final_weights(data):
    def final_weight_norm(weight_decay):
        setting = ExplorerSetting(depth=2, width=16, steps=30, eval_every=30, weight_decay=weight_decay)
        model = build_mlp(setting.mlp_config(), seed=setting.seed)
        train(model, data, setting.train_config())
        return torch.cat([m.weight.detach().flatten() for m in model if isinstance(m, torch.nn.Linear)]).norm().item()

    without, with_decay = final_weight_norm(0.0), final_weight_norm(0.1)
    assert with_decay < 0.9 * without, (with_decay, without)
    run = run_setting(ExplorerSetting(**{**SMALL.__dict__, "weight_decay": 0.1}), data)
    assert not np.array_equal(run.train_loss[1:], run_setting(SMALL, data).train_loss[1:])  # it reaches training


def test_eval_mode_histograms_use_bns_running_estimates(data):
    # BN at m = 8: after training, the running estimates differ from the 450 test images' own statistics,
    # so the eval-mode histograms differ; without normalization the mode changes nothing.
    for norm, differ in (("bn", True), ("none", False)):
        setting = ExplorerSetting(depth=2, width=16, steps=20, eval_every=10, batch_size=8, norm=norm)
        train_mode, eval_mode = run_setting(setting, data), run_setting(replace(setting, histograms="eval"), data)
        gap = np.abs(eval_mode.hist_end - train_mode.hist_end).max()
        assert (gap > 1e-3) if differ else (gap == 0), (norm, gap)
        np.testing.assert_array_equal(eval_mode.test_accuracy, train_mode.test_accuracy)  # eval mode both times
        np.testing.assert_array_equal(eval_mode.train_loss, train_mode.train_loss)  # the probe does not train
    # layer_summary follows the mode: BN at step 0 (running estimates 0 and 1) is not centred in eval mode
    model = build_mlp(ExplorerSetting(norm="bn").mlp_config(), seed=0)
    assert layer_summary(model, data.x_test, torch.nn.Sigmoid)[1].max() < 1e-10
    assert layer_summary(model, data.x_test, torch.nn.Sigmoid, batch_statistics=False)[1][1:].min() > 0.1


@pytest.mark.parametrize(
    "norm, bnlib_module, torch_module",
    [
        ("bn", bnlib.nn.BatchNorm, torch.nn.BatchNorm1d),
        ("ln", bnlib.nn.LayerNorm, torch.nn.LayerNorm),
        ("gn", bnlib.nn.GroupNorm, torch.nn.GroupNorm),
    ],
)
def test_torch_norm_modules_compute_what_bnlibs_do(norm, bnlib_module, torch_module):
    # norm_impl="torch" (the explorer's choice, for speed): same weights, same outputs to rounding.
    config = MLPConfig(hidden=(8, 8), norm=norm, init_std=2.0)
    ours, theirs = build_mlp(config, seed=3), build_mlp(MLPConfig(**{**config.__dict__, "norm_impl": "torch"}), seed=3)
    assert isinstance(ours[1], bnlib_module) and type(theirs[1]) is torch_module
    for a, b in zip(ours.state_dict().values(), theirs.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    x = torch.randn(20, 64, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(theirs(x), ours(x), rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="norm_impl must be"):
        build_mlp(MLPConfig(norm_impl="numpy"), seed=0)


def test_runs_are_reproducible(data):
    a, b = run_setting(SMALL, data), run_setting(SMALL, data)
    np.testing.assert_array_equal(a.train_loss, b.train_loss)
    np.testing.assert_array_equal(a.hist_end, b.hist_end)


def test_cache_trains_once_per_setting_and_evicts_the_oldest(data):
    cache = ExplorerCache(data, max_size=2)
    first = cache.get(SMALL)
    assert cache.get(SMALL) is first and cache.misses == 1
    other, third = ExplorerSetting(**{**SMALL.__dict__, "seed": 1}), ExplorerSetting(**{**SMALL.__dict__, "seed": 2})
    cache.get(other)
    cache.get(SMALL)  # SMALL is now the most recently used
    cache.get(third)
    assert len(cache) == 2 and SMALL in cache and other not in cache and cache.misses == 3
    with pytest.raises(ValueError, match="max_size must be at least 1"):
        ExplorerCache(data, max_size=0)


def test_plot_has_one_histogram_per_layer_and_two_curves(data):
    run = run_setting(SMALL, data)
    fig = plt.figure()
    layer_axes, accuracy_ax, loss_ax = plot_setting(fig, run)
    assert [ax.get_title() for ax in layer_axes] == ["layer 1", "layer 2"]
    assert len(layer_axes[0].patches) == 2  # step 0 and the last step
    np.testing.assert_array_equal(layer_axes[1].patches[1].get_data().values, run.hist_end[1])
    assert [t.get_text() for t in layer_axes[0].get_legend().get_texts()] == ["step 0", f"step {SMALL.steps}"]
    assert layer_axes[0].get_ylim()[1] >= max(run.hist_start[0].max(), run.hist_end[0].max())
    np.testing.assert_array_equal(accuracy_ax.lines[0].get_ydata(), run.test_accuracy)
    assert len(loss_ax.lines[0].get_ydata()) == SMALL.steps
    assert loss_ax.get_ylim()[1] >= np.nanmax(run.train_loss)
    assert fig._suptitle.get_text() == describe(SMALL)
    plt.close(fig)


def test_kept_figure_draws_what_a_new_one_draws(data):
    # ExplorerFigure reuses its axes from run to run; the picture must not depend on what came before.
    deep = run_setting(ExplorerSetting(depth=5, width=16, steps=6, eval_every=3), data)
    diverged = run_setting(
        ExplorerSetting(
            depth=3, width=16, steps=6, eval_every=3, activation="relu", norm="none", init_std=10.0, lr=3.0
        ),
        data,
    )
    assert np.isnan(diverged.train_loss).any() and np.isnan(diverged.hist_end).all()  # NaN: nothing to scale to
    kept = ExplorerFigure(max_depth=5)
    first = kept.png(deep)
    assert first[:8] == b"\x89PNG\r\n\x1a\n"
    for run in (diverged, deep):
        assert kept.png(run) == ExplorerFigure(max_depth=5).png(run)
    assert kept.png(deep) == first
    with pytest.raises(ValueError, match="room for 5 layers"):
        kept.png(run_setting(ExplorerSetting(depth=6, width=4, steps=1, eval_every=1), data))


def test_widget_retrains_only_for_new_settings(data):
    pytest.importorskip("ipywidgets")
    cache = ExplorerCache(data)
    box, controls, image = explorer_widget(cache, SMALL)
    assert list(controls) == [
        *("depth", "activation", "init_std", "batch_size", "lr", "momentum", "norm", "weight_decay", "histograms")
    ]
    assert cache.misses == 1 and SMALL in cache  # the initial state is drawn at once
    shown = image.value
    assert shown == ExplorerFigure().png(cache.get(SMALL))
    controls["norm"].value = "ln"
    assert cache.misses == 2 and ExplorerSetting(**{**SMALL.__dict__, "norm": "ln"}) in cache
    assert image.value != shown
    controls["norm"].value = SMALL.norm  # back: served from the cache, no training
    assert cache.misses == 2 and image.value == shown
    controls["weight_decay"].value = 0.01
    controls["histograms"].value = "eval"
    assert (
        cache.misses == 4 and ExplorerSetting(**{**SMALL.__dict__, "weight_decay": 0.01, "histograms": "eval"}) in cache
    )


def test_norm_buttons_fit_on_one_line_beside_the_sliders(data):
    """JupyterLab 4.6 at 1400 px with the file browser open gives a cell's output 968 px (measured in
    Chromium). The second row of controls is lr, momentum and the norm buttons: with ipywidgets 8's
    default sizes (sliders 300 px, a toggle button 150 - 2 px, 2 px margins on each side) the four
    148 px buttons needed 608 px and wrapped onto two rows; the control must not shrink either, or its
    buttons wrap whatever their width."""
    pytest.importorskip("ipywidgets")
    _, controls, _ = explorer_widget(ExplorerCache(data), SMALL)
    norm = controls["norm"]
    assert norm.layout.flex == "0 0 auto"  # keeps its natural width: the buttons never wrap
    button = int(norm.style.button_width.removesuffix("px"))
    assert button >= 8 * len(max(norm.options, key=len)) + 20  # the longest label (~8 px a letter) plus padding
    slider = 300 + 2 * 2
    row = 2 * slider + len(norm.options) * (button + 2 * 2) + 2 * 2
    assert row <= 968, row
