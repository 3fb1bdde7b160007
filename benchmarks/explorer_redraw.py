"""What one redraw of lesson 10's explorer costs: training a new setting, then drawing it.

For the default setting, each control moved once from it, and the worst cases (depth 6 with
batch 128 under each normalization), times

* train: :func:`bnlib.lab.explorer.run_setting` (a cache miss: the explorer trains the setting);
* draw: what the widget's ``redraw`` does once the run is there: :meth:`ExplorerFigure.png` on the
  one figure the widget keeps (the runs are drawn one after the other into it, as a student moves
  the controls), which gives the PNG bytes the widget shows. For the explorer before
  ``ExplorerFigure`` existed: a new figure, :func:`plot_setting`, ``tight_layout`` and the PNG
  rendering that the inline backend does on ``plt.show()`` (``IPython.core.pylabtools.print_figure``
  with the inline backend's default ``bbox_inches="tight"``);

each as CPU time of this process (``time.process_time``, torch on one thread as in the lesson)
and as wall time, and prints every case, then the median and maximum of train, draw and their
sum over the cases. The machine's load average is printed before and after: wall times grow with
load, CPU times much less. Each case is measured ``--repeats`` times and the smallest time kept
(the least disturbed measurement of the same deterministic work).

Run: python benchmarks/explorer_redraw.py [--repeats 1]
"""

import argparse
import os
import statistics
import time
from dataclasses import replace

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from IPython.core.pylabtools import print_figure  # noqa: E402

from bnlib.lab import explorer  # noqa: E402
from bnlib.lab.data import load_digits_split  # noqa: E402
from bnlib.lab.explorer import ExplorerSetting, run_setting  # noqa: E402

DEFAULT = ExplorerSetting()
CASES = {
    "default": DEFAULT,
    "depth 1": replace(DEFAULT, depth=1),
    "depth 6": replace(DEFAULT, depth=6),
    "tanh": replace(DEFAULT, activation="tanh"),
    "relu": replace(DEFAULT, activation="relu"),
    "init std 0.1": replace(DEFAULT, init_std=0.1),
    "batch 8": replace(DEFAULT, batch_size=8),
    "batch 128": replace(DEFAULT, batch_size=128),
    "lr 0.01": replace(DEFAULT, lr=0.01),
    "lr 3.16": replace(DEFAULT, lr=3.1623),
    "momentum 0.5": replace(DEFAULT, momentum=0.5),
    "norm none": replace(DEFAULT, norm="none"),
    "norm ln": replace(DEFAULT, norm="ln"),
    "norm gn": replace(DEFAULT, norm="gn"),
    "d6 m128 bn": replace(DEFAULT, depth=6, batch_size=128, norm="bn"),
    "d6 m128 ln": replace(DEFAULT, depth=6, batch_size=128, norm="ln"),
    "d6 m128 gn": replace(DEFAULT, depth=6, batch_size=128, norm="gn"),
}


def draw(run, figure):
    """The widget's drawing of ``run``, rendered to PNG bytes as the widget shows it."""
    if figure is not None:
        return figure.png(run)
    else:  # the explorer before ExplorerFigure existed
        fig = plt.figure(figsize=(12, 6), dpi=80)
        explorer.plot_setting(fig, run)
        fig.tight_layout()
    png = print_figure(fig, "png", bbox_inches="tight")
    plt.close(fig)
    return png


def timed(fn, repeats):
    """``(result, cpu seconds, wall seconds)``, the smallest of ``repeats`` calls."""
    best_cpu = best_wall = float("inf")
    for _ in range(repeats):
        cpu, wall = time.process_time(), time.perf_counter()
        result = fn()
        best_cpu, best_wall = min(best_cpu, time.process_time() - cpu), min(best_wall, time.perf_counter() - wall)
    return result, best_cpu, best_wall


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(1)
    plt.rcParams["figure.dpi"] = 80
    data = load_digits_split()
    figure = explorer.ExplorerFigure() if hasattr(explorer, "ExplorerFigure") else None  # as the widget makes it
    draw(run_setting(replace(DEFAULT, steps=20), data), figure)  # warm-up: first calls, as the widget's first drawing
    load_before = os.getloadavg()
    rows = []
    print(f"{'case':<14} {'train cpu':>9} {'wall':>6} {'draw cpu':>9} {'wall':>6} {'sum cpu':>8} {'wall':>6}")
    for name, setting in CASES.items():
        run, train_cpu, train_wall = timed(lambda: run_setting(setting, data), args.repeats)
        _, draw_cpu, draw_wall = timed(lambda: draw(run, figure), args.repeats)
        rows.append((train_cpu, train_wall, draw_cpu, draw_wall, train_cpu + draw_cpu, train_wall + draw_wall))
        print(
            f"{name:<14} {train_cpu:9.3f} {train_wall:6.3f} {draw_cpu:9.3f} {draw_wall:6.3f} "
            f"{train_cpu + draw_cpu:8.3f} {train_wall + draw_wall:6.3f}"
        )
    columns = list(zip(*rows))
    for label, reduce in (("median", statistics.median), ("max", max)):
        print(f"{label:<14} " + " ".join(f"{reduce(c):{w}.3f}" for c, w in zip(columns, (9, 6, 9, 6, 8, 6))))
    load_after = os.getloadavg()
    print(
        f"seconds; load average (1, 5, 15 min) before {load_before[0]:.2f} {load_before[1]:.2f} "
        f"{load_before[2]:.2f}, after {load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f}, "
        f"{os.cpu_count()} cores; torch {torch.__version__} on 1 thread, matplotlib {matplotlib.__version__}"
    )


if __name__ == "__main__":
    main()
