"""Speed of bnlib's BN (forward + backward) next to PyTorch's, measured in one run.

Prints, for each float32 shape, the time of bnlib's ``batchnorm_forward`` + ``batchnorm_backward``
divided by the time of ``torch.nn.functional.batch_norm`` forward + backward on CPU, for both of
bnlib's paths: the compiled one (:mod:`bnlib.compiled_batchnorm`, numba; what bnlib uses where numba
is installed) and the numpy fast path (:mod:`bnlib.fast_batchnorm`, used without numba). Both sides
run with their default thread counts (bnlib's ``fast_batchnorm.THREADS``, torch's
``get_num_threads()``), and the compiled path again with both on one thread; the times are also
divided by that of one ``x.copy()`` (the memory-traffic floor: reading and writing the tensor once).
The runs are interleaved (each timed call after two untimed ones of the same function), and each
ratio is the median of the ratios of neighbouring runs, so that the machine's noise (other
processes) hits both sides alike; with ``--rounds`` the whole measurement is repeated and every
round printed.

It also prints how many input-sized arrays each side reads and writes (counted from the code:
bnlib's in its two modules, torch's in ATen's ``batch_norm_kernel.cpp``, contiguous path:
statistics in two read passes, the output in one fused pass; the backward's two sums in one read
of x and dy, dx in one fused pass). The compiled path makes torch's passes; the numpy path makes
more (numpy cannot fuse its steps), each a simple vectorised loop shared among threads. bnlib's
sums are accumulated in float64 (torch's float32 kernel accumulates in float32).

Run: python benchmarks/bench_batchnorm.py [--repeats 15] [--rounds 1]
"""

import argparse
import statistics
import time

import numpy as np
import torch

from bnlib import batchnorm_backward, batchnorm_forward, compiled_batchnorm, fast_batchnorm

SHAPES = [(256, 64, 32, 32), (4096, 1024), (32, 256, 14, 14)]

# Input-sized arrays read + written, (forward, backward). Compiled path and torch: mean (1R),
# variance (1R), output (1R 1W); backward: sums (2R: x or x_hat, dy), dx (2R 1W). numpy path:
# x - shift (1R 1W), sum (1R), centre in place (1R 1W), sum of squares (1R), scale to x_hat in place
# (1R 1W), gamma * x_hat (1R 1W), + beta in place (1R 1W); backward: sum dy (1R), sum dy * x_hat (2R),
# x_hat * c (1R 1W), + c (1R 1W), dy - that (2R 1W), scale in place (1R 1W).
PASSES = {"bnlib compiled": (4, 5), "bnlib numpy": (12, 12), "torch": (4, 5)}


def bnlib_step(x, gamma, beta, dy):
    y, cache = batchnorm_forward(x, gamma, beta)
    return batchnorm_backward(dy, cache)


def torch_step(x, gamma, beta, dy):
    y = torch.nn.functional.batch_norm(x, None, None, gamma, beta, training=True, eps=1e-5)
    return torch.autograd.grad(y, (x, gamma, beta), dy)


def numpy_step(x, gamma, beta, dy):
    """:func:`bnlib_step` on bnlib's numpy fast path (what runs where numba is not installed)."""
    compiled_batchnorm.ENABLED = False
    try:
        return bnlib_step(x, gamma, beta, dy)
    finally:
        compiled_batchnorm.ENABLED = True


def one_thread(step):
    """``step`` run with one thread in bnlib and in torch."""

    def run(*args):
        threads, torch_threads = fast_batchnorm.THREADS, torch.get_num_threads()
        fast_batchnorm.THREADS = 1
        torch.set_num_threads(1)
        try:
            return step(*args)
        finally:
            fast_batchnorm.THREADS = threads
            torch.set_num_threads(torch_threads)

    return run


def copy_step(x):
    return x.copy()


def interleaved_times(fns, repeats, settle=2):
    """Seconds per call of each function: a list per function, one entry per round of ``repeats``.

    In each round every function runs ``settle + 1`` times in a row and only the last call is
    timed: the first calls absorb what the previous function left behind (torch's OpenMP workers
    spin for a while after each parallel region and would take a core from the next function).
    """
    times = [[] for _ in fns]
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            for _ in range(settle):
                fn()
            start = time.perf_counter()
            fn()
            times[i].append(time.perf_counter() - start)
    return times


def median_ratio(a, b):
    """Median over rounds of a[i] / b[i]: neighbouring runs share the machine's state of the moment."""
    return statistics.median(x / y for x, y in zip(a, b))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--rounds", type=int, default=1, help="repeat the whole measurement this many times")
    args = parser.parse_args()
    if not compiled_batchnorm.available():
        raise SystemExit("numba is not installed: bnlib runs its numpy fast path only (pip install numba)")
    import numba

    print(
        f"float32 forward + backward; torch {torch.__version__} ({torch.get_num_threads()} threads by default), "
        f"numpy {np.__version__}, numba {numba.__version__}, bnlib on {fast_batchnorm.THREADS} threads by default"
    )
    for side, (fwd, bwd) in PASSES.items():
        print(f"  {side}: {fwd} + {bwd} = {fwd + bwd} input-sized array reads + writes (forward + backward)")
    for round_ in range(args.rounds):
        if args.rounds > 1:
            print(f"round {round_ + 1} of {args.rounds}")
        measure(args.repeats)


def measure(repeats):
    """Print one line per shape: the time ratios, all measured interleaved."""
    print(
        f"{'shape':>20}  {'bnlib/torch':>11}  {'bnlib/torch (1 thread each)':>27}  {'bnlib numpy path/torch':>22}  "
        f"{'bnlib/copy':>10}  {'torch/copy':>10}"
    )
    rng = np.random.default_rng(0)
    for shape in SHAPES:
        x = rng.standard_normal(shape, dtype=np.float32)
        dy = rng.standard_normal(shape, dtype=np.float32)
        gamma = np.ones(shape[1], np.float32)
        beta = np.zeros(shape[1], np.float32)
        xt = torch.from_numpy(x).requires_grad_()
        dyt = torch.from_numpy(dy)
        gt = torch.from_numpy(gamma).requires_grad_()
        bt = torch.from_numpy(beta).requires_grad_()
        t_bnlib, t_torch, t_bnlib1, t_torch1, t_numpy, t_copy = interleaved_times(
            [
                lambda: bnlib_step(x, gamma, beta, dy),
                lambda: torch_step(xt, gt, bt, dyt),
                lambda: one_thread(bnlib_step)(x, gamma, beta, dy),
                lambda: one_thread(torch_step)(xt, gt, bt, dyt),
                lambda: numpy_step(x, gamma, beta, dy),
                lambda: copy_step(x),
            ],
            repeats,
        )
        print(
            f"{str(shape):>20}  {median_ratio(t_bnlib, t_torch):11.2f}  {median_ratio(t_bnlib1, t_torch1):27.2f}  "
            f"{median_ratio(t_numpy, t_torch):22.2f}  {median_ratio(t_bnlib, t_copy):10.1f}  "
            f"{median_ratio(t_torch, t_copy):10.1f}"
        )


if __name__ == "__main__":
    main()
