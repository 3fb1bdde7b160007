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
) -> Axes:
    """Draw nodes as boxes and edges as arrows; label edges with their local derivatives.

    Args:
        nodes: name -> ``(x, y, label)`` in data coordinates (labels may be LaTeX).
        edges: ``(from, to)`` pairs of node names.
        forks: nodes with two outgoing paths (orange); params: learnable parameters (green).
        local_grads: ``(from, to)`` -> text of the local derivative, written at the edge's middle.
        box: width and height of a node box.
    Returns:
        ``ax``, with the axes switched off and limits fitted to the nodes.
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
    ax.set(xlim=(min(xs) - w, max(xs) + w), ylim=(min(ys) - 1.0, max(ys) + 0.9))
    if title is not None:
        ax.set_title(title)
    ax.axis("off")
    return ax
