"""``draw_graph``: a small computational graph, forward edges and local derivatives, on a given ``ax``.

Lesson 04 draws BN's forward pass as nine elementary nodes. Every forward edge ``a -> b`` carries
the local derivative :math:`\\partial b / \\partial a` that the backward pass multiplies by; the
helper writes it (in red) beside the edge, the way Kratzert's post annotates its graph. Nodes used
twice (where backward gradients add) and learnable parameters get their own colours.

Lesson that imports it: 04.
"""

from collections.abc import Iterable, Mapping

from matplotlib.axes import Axes
from matplotlib.patches import FancyBboxPatch

FORK, VALUE, PARAM = "#f4c7a1", "#d9e8f5", "#dff0d8"


def draw_graph(
    ax: Axes,
    nodes: Mapping[str, tuple],
    edges: Iterable[tuple],
    *,
    forks: Iterable[str] = (),
    params: Iterable[str] = (),
    local_grads: Mapping[tuple, str] | None = None,
    box: tuple = (1.4, 0.56),
    title: str | None = None,
    backward_note: str | None = None,
) -> Axes:
    """Draw nodes as boxes and edges as arrows; label edges with their local derivatives.

    Args:
        nodes: name -> ``(x, y, label)`` in data coordinates (labels may be LaTeX).
        edges: ``(from, to)`` pairs of node names.
        forks: nodes with two outgoing paths (orange); params: learnable parameters (green).
        local_grads: ``(from, to)`` -> text of the local derivative, written at the edge's middle.
        box: width and height of a node box.
        backward_note: if given, a red arrow from right to left under the graph, with this text: the
            direction the backward pass walks.
    Returns:
        ``ax``, with the axes switched off, limits fitted to the nodes, and a legend of the kinds of
        node drawn (used twice, intermediate value, learnable parameter).
    Raises:
        KeyError: an edge or a local derivative names a node that is not in ``nodes``, or a local
            derivative is given for a pair that is not an edge.
    """
    forks, params, edges = set(forks), set(params), list(edges)
    local_grads = dict(local_grads or {})
    for a, b in edges + list(local_grads):
        for name in (a, b):
            if name not in nodes:
                raise KeyError(f"unknown node {name!r}")
    for pair in local_grads:
        if pair not in edges:
            raise KeyError(f"local derivative for {pair}, which is not an edge")
    w, h = box
    for name, (px, py, label) in nodes.items():
        colour = FORK if name in forks else PARAM if name in params else VALUE
        ax.add_patch(FancyBboxPatch((px - w / 2, py - h / 2), w, h, boxstyle="round,pad=0.05", fc=colour, ec="k"))
        ax.text(px, py, label, ha="center", va="center", fontsize=10)
    for a, b in edges:
        (x0, y0, _), (x1, y1, _) = nodes[a], nodes[b]
        start = (x0 + w / 2 + 0.02 if x1 > x0 else x0, y0 + (h / 2 if y1 > y0 and x1 == x0 else 0))
        end = (
            x1 - w / 2 - 0.02 if x1 > x0 else x1,
            y1 - (h / 2 + 0.02 if y1 > y0 and x1 == x0 else 0) + (h / 2 + 0.02 if y1 < y0 and x1 == x0 else 0),
        )
        ax.annotate("", xy=end, xytext=start, arrowprops=dict(arrowstyle="->", color="k", lw=1.2))
        if (a, b) in local_grads:  # above a horizontal edge, beside a sloped or vertical one
            mx, my = (start[0] + end[0]) / 2, (start[1] + end[1]) / 2
            pos, align = ((mx, y0 + h / 2 + 0.06), "center") if y0 == y1 else ((mx + 0.12, my), "left")
            ax.text(
                *pos,
                local_grads[(a, b)],
                color="C3",
                ha=align,
                va="bottom" if y0 == y1 else "center",
                fontsize=9,
                bbox=dict(fc="white", ec="none", alpha=0.8, pad=0.5),
            )
    xs = [p[0] for p in nodes.values()]
    ys = [p[1] for p in nodes.values()]
    if backward_note is not None:
        below = min(ys) - 0.65
        ax.annotate(
            "", xy=(min(xs), below), xytext=(max(xs), below), arrowprops=dict(arrowstyle="->", color="C3", lw=2)
        )
        ax.text((min(xs) + max(xs)) / 2, below + 0.1, backward_note, color="C3", ha="center", fontsize=10)
    kinds = [
        (FORK, "node used twice (gradients add)", forks),
        (VALUE, "intermediate value", set(nodes) - forks - params),
    ]
    for colour, label, names in kinds + [(PARAM, "learnable parameter", params)]:
        if names:
            ax.plot([], [], "s", color=colour, ms=10, label=label)
    ax.legend(loc="upper right", fontsize=9)
    ax.set(xlim=(min(xs) - w, max(xs) + w), ylim=(min(ys) - 1.0, max(ys) + 0.9))
    if title is not None:
        ax.set_title(title)
    ax.axis("off")
    return ax
