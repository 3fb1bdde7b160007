"""Speed of bnlib's numpy BN (forward + backward) next to PyTorch's, measured in one run.

Prints, for each float32 shape, the median time of bnlib's ``batchnorm_forward`` +
``batchnorm_backward`` divided by the median time of ``torch.nn.functional.batch_norm`` forward +
backward on CPU (with torch's default thread count, and with one thread, since numpy's
element-wise code runs on one core), and the times divided by that of one ``x.copy()`` (the
memory-traffic floor: reading and writing the tensor once). The runs are interleaved so that the
machine's noise hits them all alike.

Run: python benchmarks/bench_batchnorm.py [--repeats 15]
"""
import argparse
import statistics
import time

import numpy as np
import torch

from bnlib import batchnorm_backward, batchnorm_forward

SHAPES = [(256, 64, 32, 32), (4096, 1024), (32, 256, 14, 14)]


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
    args = parser.parse_args()
    threads = torch.get_num_threads()
    print(f"float32 forward + backward; torch {torch.__version__} ({threads} threads by default), numpy {np.__version__}")
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
            [lambda: bnlib_step(x, gamma, beta, dy), lambda: torch_step(xt, gt, bt, dyt),
             lambda: torch_step_one_thread(xt, gt, bt, dyt), lambda: copy_step(x)],
            args.repeats,
        )
        print(f"{str(shape):>20}  {t_bnlib / t_torch:11.2f}  {t_bnlib / t_torch1:21.2f}  "
              f"{t_bnlib / t_copy:10.1f}  {t_torch / t_copy:10.1f}")


if __name__ == "__main__":
    main()
