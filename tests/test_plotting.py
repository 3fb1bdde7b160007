"""Tests for bnlib.lab.plotting: each helper returns its axes and draws the expected artists."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.collections import PolyCollection, QuadMesh  # noqa: E402
from matplotlib.patches import StepPatch  # noqa: E402

from bnlib.lab.plotting import (
    plot_histogram_image,
    plot_layer_histograms,  # noqa: E402
    plot_learning_curves,
    plot_percentile_bands,
)


@pytest.fixture
def ax():
    fig, ax = plt.subplots()
    yield ax
    plt.close(fig)


def test_percentile_bands(ax):
    steps = np.array([0, 10, 20])
    percentiles = np.array([[-1.0, 0.0, 1.0], [-2.0, 0.5, 2.0], [-3.0, 1.0, 3.0]])  # (steps, P)
    assert plot_percentile_bands(ax, steps, percentiles, label="plain", title="layer 1") is ax
    lines = ax.get_lines()
    assert len(lines) == 3 and len({line.get_color() for line in lines}) == 1
    np.testing.assert_array_equal(lines[0].get_ydata(), [0.0, 0.5, 1.0])  # the median first
    assert [line.get_linestyle() for line in lines] == ["-", "--", "--"]
    band = [c for c in ax.collections if isinstance(c, PolyCollection)]
    assert len(band) == 1
    ys = band[0].get_paths()[0].vertices[:, 1]
    assert ys.min() == -3.0 and ys.max() == 3.0
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "plain: 50th percentile",
        "plain: 15, 85th percentiles",
    ]
    assert ax.get_title() == "layer 1" and ax.get_xlabel() == "training step"
    with pytest.raises(ValueError):
        plot_percentile_bands(ax, steps, percentiles[:, :2])


def test_histogram_image(ax):
    steps, edges = np.array([0, 50, 100, 150]), np.linspace(-2, 2, 6)
    hist = np.random.default_rng(0).random((4, 5))  # (steps, bins)
    assert plot_histogram_image(ax, steps, hist, edges, title="t") is ax
    meshes = [c for c in ax.collections if isinstance(c, QuadMesh)]
    assert len(meshes) == 1
    np.testing.assert_array_equal(np.asarray(meshes[0].get_array()).reshape(5, 4), hist.T)  # value on y
    assert len(ax.figure.axes) == 2  # the colour bar
    assert ax.get_ylabel() == "pre-activation"
    with pytest.raises(ValueError):
        plot_histogram_image(ax, steps, hist.T, edges)


def test_layer_histograms_one_layer_per_axes():
    fig, axes = plt.subplots(1, 3)
    edges = np.linspace(-1, 1, 5)
    hists = [np.full(4, 0.25), np.array([0.1, 0.2, 0.3, 0.4]), np.array([1.0, 0, 0, 0])]
    assert plot_layer_histograms(axes, hists, edges, label="plain") is axes
    plot_layer_histograms(axes, hists, edges, label="BN", legend=True)  # overlay
    for ax, hist in zip(axes, hists):
        patches = [p for p in ax.patches if isinstance(p, StepPatch)]
        assert len(patches) == 2 and patches[0].get_facecolor() != patches[1].get_facecolor()
        np.testing.assert_array_equal(patches[0].get_data().values, hist)
    assert [ax.get_title() for ax in axes] == ["layer 1", "layer 2", "layer 3"]
    with pytest.raises(ValueError):
        plot_layer_histograms(axes[:2], hists, edges)
    plt.close(fig)


def test_learning_curves(ax):
    steps = np.array([0, 1, 2])
    curves = np.array([[0.1, 0.5, 0.9], [0.3, 0.7, 0.8], [0.2, 0.6, 1.0]])  # (seeds, steps)
    assert plot_learning_curves(ax, steps, curves, label="BN") is ax
    (line,) = ax.get_lines()
    np.testing.assert_allclose(line.get_ydata(), [0.2, 0.6, 0.9])
    (band,) = [c for c in ax.collections if isinstance(c, PolyCollection)]
    ys = band.get_paths()[0].vertices[:, 1]
    assert ys.min() == pytest.approx(0.1) and ys.max() == pytest.approx(1.0)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["BN", "BN (min-max over 3 seeds)"]
    with pytest.raises(ValueError):
        plot_learning_curves(ax, steps, curves[:, :2], label="x")
