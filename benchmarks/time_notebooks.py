"""Execute every lesson notebook in a fresh kernel and report its time as a multiple of a calibration run.

Seconds depend on the machine (the same lessons take three times as long on a slower CPU), so the
budget is set in units of a calibration workload measured in the same run: 1,000 plain-SGD steps of
a 3x100 sigmoid MLP on the digits, batch 60, one torch thread. Budget: each notebook at most
50x the calibration, and at most 30x on average over the series.

This machine's speed drifts over minutes (other processes, a shared host), so the calibration is
measured twice before the first lesson and twice after each lesson, and each lesson's unit is the
median of the four calibrations around it (two before, two after): the lesson and its unit are
measured in the same few minutes. The spread of all calibrations is printed, since a busy machine
makes every figure noisier. Nothing is written back to the notebooks.

Run: python benchmarks/time_notebooks.py [NOTEBOOK ...]   (default: every lesson)
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
import lesson_runs  # noqa: E402

BUDGET_EACH = 50.0
BUDGET_MEAN = 30.0


def calibration_seconds() -> float:
    """Seconds for 1,000 plain-SGD steps of a 3x100 sigmoid MLP on the digits, batch 60, one thread.

    A fixed workload written out here with ``torch.optim.SGD``, not bnlib's training loop, so that the
    unit measures the machine only: making bnlib's loop faster must show in the lessons' multiples,
    not shrink the unit as well. It does what ``bnlib.lab.training.train`` did when the budget was
    set (test accuracy before and after, the loss read after every step).
    """
    import torch
    import torch.nn.functional as F

    from bnlib.lab.data import load_digits_split
    from bnlib.lab.models import MLPConfig, build_mlp
    from bnlib.lab.training import accuracy, minibatches

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        data = load_digits_split(seed=0)
        model = build_mlp(MLPConfig(hidden=(100, 100, 100)), seed=0)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        batches = minibatches(len(data.y_train), 60, torch.Generator().manual_seed(0))
        start = time.perf_counter()
        accuracy(model, data.x_test, data.y_test)
        for _ in range(1000):
            index = next(batches)
            loss = F.cross_entropy(model(data.x_train[index]), data.y_train[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            loss.item()
        accuracy(model, data.x_test, data.y_test)
        return time.perf_counter() - start
    finally:
        torch.set_num_threads(threads)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    args = parser.parse_args()
    paths = [p.resolve() for p in args.notebooks] or lesson_runs.lesson_paths()
    calibration_seconds()  # warm-up: imports, first allocations
    around = [[calibration_seconds() for _ in range(2)]]  # around[i]: the two calibrations after lesson i - 1
    seconds = {}
    for path in paths:
        seconds[path.name] = lesson_runs.execute(lesson_runs.read(path))[1]
        around.append([calibration_seconds() for _ in range(2)])
    units = {name: statistics.median(around[i] + around[i + 1]) for i, name in enumerate(seconds)}
    every = [t for pair in around for t in pair]
    print(
        f"calibration (1,000 SGD steps, 3x100 sigmoid MLP, batch 60, 1 thread): {len(every)} runs, median "
        f"{statistics.median(every):.2f} s, range {min(every):.2f}-{max(every):.2f} s; each lesson's unit is the "
        "median of the 4 runs around it"
    )
    print(f"{'notebook':<48} {'seconds':>8} {'unit':>6} {'x calib':>8}  within {BUDGET_EACH:.0f}x")
    multiples = []
    for name, s in seconds.items():
        multiples.append(s / units[name])
        verdict = "yes" if multiples[-1] <= BUDGET_EACH else "NO"
        print(f"{name:<48} {s:8.1f} {units[name]:6.2f} {multiples[-1]:8.1f}  {verdict}")
    mean = statistics.mean(multiples)
    print(
        f"{'mean':<48} {statistics.mean(seconds.values()):8.1f} {mean:8.1f}  "
        f"{'yes' if mean <= BUDGET_MEAN else 'NO'} (mean budget {BUDGET_MEAN:.0f}x)"
    )


if __name__ == "__main__":
    main()
