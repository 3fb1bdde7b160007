"""Speed of bnlib's numpy BN (forward + backward) next to PyTorch's, measured in one run.

Prints, for each float32 shape, the median time of bnlib's ``batchnorm_forward`` +
``batchnorm_backward`` (the fast path, :mod:`bnlib.fast_batchnorm`) divided by the median time of
``torch.nn.functional.batch_norm`` forward + backward on CPU (with torch's default thread count,
and with one thread, since numpy's element-wise code runs on one core), and the times divided by
that of one ``x.copy()`` (the memory-traffic floor: reading and writing the tensor once). The runs
are interleaved so that the machine's noise (other processes) hits them all alike; with
``--rounds`` the whole measurement is repeated and every round printed.

It also prints how many input-sized arrays each side reads and writes (counted from the code:
bnlib's in :mod:`bnlib.fast_batchnorm`, torch's in ATen's ``batch_norm_kernel.cpp``, contiguous
path: statistics in two read passes, the output in one fused pass; the backward's two sums in one
read of x and dy, dx in one fused pass). bnlib makes more passes but each is a simple vectorised
numpy loop, and its sums are accumulated in float64 (torch's float32 kernel accumulates in float32).

Run: python benchmarks/bench_batchnorm.py [--repeats 15] [--rounds 1]
"""

import argparse
import statistics
import time

import numpy as np
import torch

from bnlib import batchnorm_backward, batchnorm_forward

SHAPES = [(256, 64, 32, 32), (4096, 1024), (32, 256, 14, 14)]

# Input-sized arrays read + written, (forward, backward). bnlib: x - shift (1R 1W), sum (1R),
# centre in place (1R 1W), sum of squares (1R), scale to x_hat in place (1R 1W), gamma * x_hat (1R 1W),
# + beta in place (1R 1W); backward: sum dy (1R), sum dy * x_hat (2R), x_hat * c (1R 1W), + c (1R 1W),
# dy - that (2R 1W), scale in place (1R 1W). torch: mean (1R), variance (1R), output (1R 1W);
# backward: sums (2R), dx (2R 1W).
PASSES = {"bnlib": (12, 12), "torch": (4, 5)}


def bnlib_step(x, gamma, beta, dy):
    y, cache = batchnorm_forward(x, gamma, beta)
    return batchnorm_backward(dy, cache)


def torch_step(x, gamma, beta, dy):
    y = torch.nn.functional.batch_norm(x, None, None, gamma, beta, training=True, eps=1e-5)
    return torch.autograd.grad(y, (x, gamma, beta), dy)


def torch_step_one_thread(x, gamma, beta, dy):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return torch_step(x, gamma, beta, dy)
    finally:
        torch.set_num_threads(threads)


def copy_step(x):
    return x.copy()


def median_times(fns, repeats):
    """Median seconds per call of each function, calls interleaved round-robin."""
    times = [[] for _ in fns]
    for fn in fns:  # warm-up
        fn()
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            start = time.perf_counter()
            fn()
            times[i].append(time.perf_counter() - start)
    return [statistics.median(t) for t in times]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--rounds", type=int, default=1, help="repeat the whole measurement this many times")
    args = parser.parse_args()
    threads = torch.get_num_threads()
    print(
        f"float32 forward + backward; torch {torch.__version__} ({threads} threads by default), numpy {np.__version__}"
    )
    for side, (fwd, bwd) in PASSES.items():
        print(f"  {side}: {fwd} + {bwd} = {fwd + bwd} input-sized array reads + writes (forward + backward)")
    for round_ in range(args.rounds):
        if args.rounds > 1:
            print(f"round {round_ + 1} of {args.rounds}")
        measure(args.repeats)


def measure(repeats):
    """Print one line per shape: the time ratios, all measured interleaved."""
    print(f"{'shape':>20}  {'bnlib/torch':>11}  {'bnlib/torch(1 thread)':>21}  {'bnlib/copy':>10}  {'torch/copy':>10}")
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
        t_bnlib, t_torch, t_torch1, t_copy = median_times(
            [
                lambda: bnlib_step(x, gamma, beta, dy),
                lambda: torch_step(xt, gt, bt, dyt),
                lambda: torch_step_one_thread(xt, gt, bt, dyt),
                lambda: copy_step(x),
            ],
            repeats,
        )
        print(
            f"{str(shape):>20}  {t_bnlib / t_torch:11.2f}  {t_bnlib / t_torch1:21.2f}  "
            f"{t_bnlib / t_copy:10.1f}  {t_torch / t_copy:10.1f}"
        )


if __name__ == "__main__":
    main()
