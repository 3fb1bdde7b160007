import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pytest
from matplotlib.patches import FancyBboxPatch

from bnlib.lab.compgraph import FORK, PARAM, VALUE, draw_graph

NODES = {"x": (0, 0, "$x$"), "mu": (2, 1, r"$\mu$"), "c": (4, 0, "$c$"), "g": (4, -1, r"$\gamma$")}
EDGES = [("x", "mu"), ("x", "c"), ("mu", "c"), ("g", "c")]


def test_boxes_arrows_and_local_derivatives():
    fig, ax = plt.subplots()
    out = draw_graph(
        ax,
        NODES,
        EDGES,
        forks={"x"},
        params={"g"},
        local_grads={("x", "mu"): "1/m", ("mu", "c"): "-1"},
        title="a graph",
    )
    assert out is ax and ax.get_title() == "a graph" and not ax.axison
    boxes = [p for p in ax.patches if isinstance(p, FancyBboxPatch)]
    assert len(boxes) == 4
    colours = sorted(matplotlib.colors.to_hex(b.get_facecolor()) for b in boxes)
    assert colours == sorted([FORK, VALUE, VALUE, PARAM])
    arrows = [t for t in ax.texts if isinstance(t, matplotlib.text.Annotation)]
    texts = [t.get_text() for t in ax.texts if t not in arrows]
    assert len(arrows) == 4 and sorted(texts) == sorted(["$x$", r"$\mu$", "$c$", r"$\gamma$", "1/m", "-1"])
    plt.close(fig)


def test_unknown_nodes_and_non_edges_are_refused():
    fig, ax = plt.subplots()
    with pytest.raises(KeyError, match="unknown node 'y'"):
        draw_graph(ax, NODES, [("x", "y")])
    with pytest.raises(KeyError, match="not an edge"):
        draw_graph(ax, NODES, EDGES, local_grads={("c", "x"): "?"})
    plt.close(fig)


def test_the_legend_names_the_kinds_drawn_and_the_backward_note_runs_right_to_left():
    fig, ax = plt.subplots()
    draw_graph(ax, NODES, EDGES, forks={"x"}, backward_note="backward")
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["node used twice (gradients add)", "intermediate value"]  # no parameter among the nodes
    note = [t for t in ax.texts if t.get_text() == "backward"]
    arrow = [t for t in ax.texts if isinstance(t, matplotlib.text.Annotation) and t.xy[0] < t.xyann[0]]
    assert len(note) == 1 and len(arrow) == 1 and arrow[0].xy == (0, -1.65) and arrow[0].xyann == (4, -1.65)
    plt.close(fig)
