"""bnlib's BN (forward + backward) next to a naive numpy BN and PyTorch's, timed side by side in one run.

For each float32 shape it times one training step of BN, ``batchnorm_forward`` then
``batchnorm_backward``, three ways, all on one thread:

* **bnlib**: ``bnlib.batchnorm_forward`` / ``bnlib.batchnorm_backward`` (the public functions, with
  their argument checks), computing in float32 with every sum accumulated in float64;
* **naive**: the CS231n-style numpy BN written below, one step per line in float32 throughout (its
  means and sums accumulate in float32), the backward in the compact form
  ``dx = γ/(m σ) (m dy - Σdy - x̂ Σ dy x̂)``; statistics over ``(0, 2, 3)`` with ``keepdims`` rather
  than CS231n's transpose to ``(N·H·W, C)``, which would only add copies;
* **torch**: ``torch.nn.functional.batch_norm`` in training mode and its autograd backward
  (``torch.set_num_threads(1)``).

The three calls are interleaved: every round runs each once untimed and once timed (CPU time of
this process, so that other processes holding the CPU do not count), so that the machine's state of
the moment hits all three alike. The table shows the median time of each over the rounds and the
median over rounds of the ratios bnlib/naive and bnlib/torch, next to the issue's goals (at most 1.5x
and 4x). Nothing is asserted: timings depend on the machine. The load average is printed first: on a
busy machine, run it again.

Then the accuracy of each on float32 data 1e4 + N(0, 1): the largest difference between its
float32 output and float64 arithmetic on the same float32 numbers, relative to the output's spread.

Run: python benchmarks/bench_batchnorm.py [--rounds 21]
"""

import argparse
import os
import statistics
import time

import numpy as np
import torch

from bnlib import batchnorm_backward, batchnorm_forward

SHAPES = [(256, 1024), (4096, 1024), (32, 64, 14, 14)]
ACCURACY_SHAPES = SHAPES + [(2**20, 2)]  # and 2**20 values per channel
GOALS = {"bnlib/naive": 1.5, "bnlib/torch": 4.0}


def naive_forward(x, gamma, beta, eps=1e-5):
    """CS231n-style BN forward, float32 throughout; gamma, beta shaped (1, C, 1, ...)."""
    axes = (0,) + tuple(range(2, x.ndim))
    mu = x.mean(axis=axes, keepdims=True)  # (1, C, 1, ...)
    xc = x - mu  # like x
    var = (xc**2).mean(axis=axes, keepdims=True)  # (1, C, 1, ...)
    std = np.sqrt(var + np.float32(eps))  # (1, C, 1, ...)
    x_hat = xc / std  # like x
    y = gamma * x_hat + beta  # like x
    return y, (x_hat, gamma, std, axes)


def naive_backward(dy, cache):
    """CS231n's compact BN backward, float32 throughout."""
    x_hat, gamma, std, axes = cache
    m = np.float32(dy.size // dy.shape[1])
    dbeta = dy.sum(axis=axes, keepdims=True)  # (1, C, 1, ...)
    dgamma = (dy * x_hat).sum(axis=axes, keepdims=True)  # (1, C, 1, ...)
    dx = (gamma / (m * std)) * (m * dy - dbeta - x_hat * dgamma)  # like x
    return dx, dgamma, dbeta


def bnlib_step(x, gamma, beta, dy):
    y, cache = batchnorm_forward(x, gamma, beta)
    return batchnorm_backward(dy, cache)


def naive_step(x, gamma, beta, dy):
    y, cache = naive_forward(x, gamma, beta)
    return naive_backward(dy, cache)


def torch_step(x, gamma, beta, dy):
    y = torch.nn.functional.batch_norm(x, None, None, gamma, beta, training=True, eps=1e-5)
    return torch.autograd.grad(y, (x, gamma, beta), dy)


def steps(shape, rng):
    """The three steps on the same float32 data, as functions of nothing."""
    x = rng.standard_normal(shape, dtype=np.float32)
    dy = rng.standard_normal(shape, dtype=np.float32)
    gamma = rng.standard_normal(shape[1], dtype=np.float32)
    beta = rng.standard_normal(shape[1], dtype=np.float32)
    broadcast = (1, shape[1]) + (1,) * (len(shape) - 2)
    xt, gt, bt = (torch.from_numpy(a).requires_grad_() for a in (x, gamma, beta))
    dyt = torch.from_numpy(dy)
    return {
        "bnlib": lambda: bnlib_step(x, gamma, beta, dy),
        "naive": lambda: naive_step(x, gamma.reshape(broadcast), beta.reshape(broadcast), dy),
        "torch": lambda: torch_step(xt, gt, bt, dyt),
    }


def interleaved_times(fns: dict, rounds: int) -> dict:
    """CPU seconds of this process per call of each function, one entry per round; in each round every
    function runs once untimed (to absorb what the previous one left behind in the caches) and once timed.

    CPU time rather than wall time: on a shared machine a wall clock also counts the time other
    processes hold the CPU, which can dwarf a millisecond call (page faults count: they are system time)."""
    times = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            fn()
            start = time.process_time()
            fn()
            times[name].append(time.process_time() - start)
    return times


def median_ratio(a, b):
    """Median over rounds of a[i] / b[i]: the two calls of one round share the machine's state."""
    return statistics.median(x / y for x, y in zip(a, b))


def timing_table(rounds: int) -> None:
    ratio_names = list(GOALS)
    headers = [f"{name} (goal <= {goal:g})" for name, goal in GOALS.items()]
    print(
        f"{'shape':>17}  {'bnlib ms':>9}  {'naive ms':>9}  {'torch ms':>9}  " + "  ".join(f"{h:>24}" for h in headers)
    )
    rng = np.random.default_rng(0)
    for shape in SHAPES:
        times = interleaved_times(steps(shape, rng), rounds)
        medians = {name: 1e3 * statistics.median(t) for name, t in times.items()}
        ratios = [median_ratio(times["bnlib"], times[name.split("/")[1]]) for name in ratio_names]
        print(
            f"{str(shape):>17}  {medians['bnlib']:9.3f}  {medians['naive']:9.3f}  {medians['torch']:9.3f}  "
            + "  ".join(f"{r:24.2f}" for r in ratios)
        )


def normalised_outputs(x):
    """y = x̂ (γ = 1, β = 0) of bnlib, the naive BN and torch on float32 x, and float64 on the same numbers."""
    C, axes = x.shape[1], (0,) + tuple(range(2, x.ndim))
    ones, zeros = np.ones(C, np.float32), np.zeros(C, np.float32)
    broadcast = (1, C) + (1,) * (x.ndim - 2)
    x64 = x.astype(np.float64)
    exact = (x64 - x64.mean(axis=axes, keepdims=True)) / np.sqrt(x64.var(axis=axes, keepdims=True) + 1e-5)
    return exact, {
        "bnlib": batchnorm_forward(x, ones, zeros)[0],
        "naive": naive_forward(x, ones.reshape(broadcast), zeros.reshape(broadcast))[0],
        "torch": torch.nn.functional.batch_norm(torch.from_numpy(x), None, None, training=True).numpy(),
    }


def accuracy_table() -> None:
    print(f"{'shape':>17}  {'bnlib':>9}  {'naive':>9}  {'torch':>9}")
    rng = np.random.default_rng(1)
    for shape in ACCURACY_SHAPES:
        x = (1e4 + rng.standard_normal(shape, dtype=np.float32)).astype(np.float32)
        exact, outputs = normalised_outputs(x)
        errors = {name: np.abs(y - exact).max() / exact.std() for name, y in outputs.items()}
        print(f"{str(shape):>17}  " + "  ".join(f"{errors[name]:9.1e}" for name in ("bnlib", "naive", "torch")))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=21, help="interleaved rounds per shape (median over them)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    print(
        f"float32 BN forward + backward, one thread; numpy {np.__version__}, torch {torch.__version__} "
        f"(torch threads: {torch.get_num_threads()}); {args.rounds} interleaved rounds; "
        f"load average {load} on {os.cpu_count()} CPUs"
    )
    timing_table(args.rounds)
    print("\nfloat32 accuracy on 1e4 + N(0, 1): max |y - y_float64| / std(y_float64), same float32 data")
    accuracy_table()


if __name__ == "__main__":
    main()
