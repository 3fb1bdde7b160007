r"""The numpy fast path for Batch Normalization's layout: the same equations as :mod:`bnlib.normalize`, rearranged.

BN uses this path where numba is not installed (with numba, :mod:`bnlib.compiled_batchnorm`, which
also uses this module's blocks and threads: :func:`sample_blocks`, :func:`map_blocks`).
:func:`fast_batchnorm_forward` and :func:`fast_batchnorm_backward` compute what
``normalize_forward(x, γ, β, axes=(0, 2, 3, ...))`` and ``normalize_backward`` compute (the tests
check them equal), in the input's dtype, with fewer passes over memory, no float64 copy of the
data, and the work shared among threads. Their limits:

* **Layout.** Statistics per channel ``c`` = axis 1 of an ``(N, C)`` or ``(N, C, *spatial)``
  input, over every other axis; γ, β of shape ``(C,)``. Nothing else (LN and GN use the reference).
* **Precision.** Element-wise work runs in the input's dtype (float32 stays float32). Every sum
  (the mean, the variance, ``dgamma``, ``dbeta``) is *accumulated in float64*, but its short
  partial sums are formed in the input dtype first: at most :data:`ROW_BLOCK` rows of an
  ``(N, C)`` input, or at most :data:`SPATIAL_BLOCK` contiguous spatial values of one sample
  (numpy's pairwise summation or einsum's SIMD partial sums). So a float32 sum's relative error
  is about ``1e-7 * log2(block)`` whatever ``N``, not ``1e-7 * N``; measured below 1e-7 on
  N(0, 1) data with N up to 2²⁰ (the tests check 1e-6).
* **Large offsets.** The mean is taken of shifted data (``x`` minus one sample's values, then
  minus the mean of that), and the variance of centred values (two passes), so float32 data
  like 10⁴ + N(0, 1) normalises to about 1e-6, where a one-pass :math:`E[x^2]-E[x]^2` in
  float32 would be off by O(1).
* **Threads.** Each pass works through the batch in about equal blocks of whole samples (about
  :data:`BLOCK` values each; for ``(N, C)`` whole ``ROW_BLOCK``-row groups). The calling thread and
  ``THREADS - 1`` helper threads take blocks one at a time until none is left (numpy releases the
  GIL inside its loops), so a helper that wakes up late costs nothing: the caller does its share.
  Each block's sums are kept apart and added in block order, so the result does not depend on the
  number of threads, or on which thread took which block, bit for bit.
* **Loops.** Per-channel constants are written out over one sample (``(1, C, *spatial)``), or for
  ``(N, C)`` over ``ROW_BLOCK`` rows (``(1, ROW_BLOCK * C)``, the block viewed as
  ``(R / ROW_BLOCK, ROW_BLOCK * C)``), so every element-wise step is a few long numpy loops rather
  than one short loop per channel or row (the same values, computed the same way).
* **Memory.** The forward makes 7 passes over input-sized arrays (read x / write x − shift; read
  for the sum; centre in place; read for the sum of squares; scale in place to x̂; write γx̂; add β
  in place) and keeps x̂ for the backward; the backward makes 6 (read ∂y for Σ∂y; read ∂y and x̂
  for Σ∂y·x̂; write x̂·mean(∂y·x̂); add mean(∂y) in place; ∂y − that; scale in place).
  :mod:`benchmarks.bench_batchnorm` prints these counts next to PyTorch's.
"""

import itertools
import math
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .normalize import NormCache

ROW_BLOCK = 16  # rows of an (N, C) input summed in its dtype before the float64 accumulation
SPATIAL_BLOCK = 4096  # contiguous spatial values of one sample summed in its dtype at most
BLOCK = 1 << 19  # values per block of samples (2 MiB of float32): large enough that numpy's per-call cost is small
THREADS = min(8, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


def per_channel(v: np.ndarray, ndim: int) -> np.ndarray:
    """Reshape a ``(C,)`` vector to ``(1, C, 1, ..., 1)`` so it broadcasts against the input."""
    return np.reshape(v, (1, -1) + (1,) * (ndim - 2))


def reduction_axes(ndim: int) -> tuple:
    """Axes that hold the values of one channel: the batch axis and every spatial axis."""
    return (0,) + tuple(range(2, ndim))


def _spatial_blocks(x: np.ndarray):
    """``x`` as ``(N, C, L)`` cut along L into contiguous blocks of at most SPATIAL_BLOCK values."""
    x3 = x.reshape(x.shape[0], x.shape[1], int(np.prod(x.shape[2:])))  # (N, C, L)
    for start in range(0, x3.shape[2], SPATIAL_BLOCK):
        yield x3[:, :, start : start + SPATIAL_BLOCK]


def channel_sum(x: np.ndarray) -> np.ndarray:
    """Per-channel sum over the batch and spatial axes, float64, shape ``(C,)`` (partial sums as stated above)."""
    total = np.zeros(x.shape[1])
    if x.ndim > 2:
        for block in _spatial_blocks(x):
            total += block.sum(axis=2).sum(axis=0, dtype=np.float64)  # pairwise within a sample
        return total
    whole = x.shape[0] - x.shape[0] % ROW_BLOCK
    blocks = x[:whole].reshape(-1, ROW_BLOCK, x.shape[1]).sum(axis=1)  # (N // ROW_BLOCK, C)
    return blocks.sum(axis=0, dtype=np.float64) + x[whole:].sum(axis=0, dtype=np.float64)


def channel_dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-channel sum of ``a * b`` over the batch and spatial axes, float64, shape ``(C,)``, no temporary product array."""
    total = np.zeros(a.shape[1])
    if a.ndim > 2:
        for block_a, block_b in zip(_spatial_blocks(a), _spatial_blocks(b)):
            total += np.einsum("ncl,ncl->nc", block_a, block_b).sum(axis=0, dtype=np.float64)
        return total
    whole = a.shape[0] - a.shape[0] % ROW_BLOCK
    blocked = (-1, ROW_BLOCK, a.shape[1])
    partial = np.einsum("kbc,kbc->kc", a[:whole].reshape(blocked), b[:whole].reshape(blocked))  # (N // ROW_BLOCK, C)
    rest = np.einsum("nc,nc->c", a[whole:].astype(np.float64), b[whole:])
    return partial.sum(axis=0, dtype=np.float64) + rest


def spread(v: np.ndarray, shape: tuple, dtype) -> np.ndarray:
    """The ``(C,)`` vector ``v`` in ``dtype``, shaped to broadcast against an input of ``shape``.

    Where one sample is at most BLOCK values, it is written out as a contiguous ``(1, C, *spatial)``
    array: broadcast over the batch axis only, each element-wise step is then one long numpy loop per
    sample rather than one short loop per channel (the same values, computed the same way). For an
    ``(N, C)`` input it is written out over ROW_BLOCK rows, ``(1, ROW_BLOCK * C)``, to be used through
    :func:`fit`.
    """
    v = per_channel(np.asarray(v, dtype), len(shape))
    if len(shape) == 2:
        return np.tile(v, (1, ROW_BLOCK)) if ROW_BLOCK * shape[1] <= BLOCK else v
    if math.prod(shape[1:]) > BLOCK:
        return v
    return np.ascontiguousarray(np.broadcast_to(v, (1,) + tuple(shape[1:])))


def fit(blocks: list, constants: list) -> tuple:
    """Views of ``blocks`` (same-shape slices of the input's layout) and of ``constants`` (from
    :func:`spread`) that broadcast against each other: ``(*blocks, *constants)``.

    ``(R, C)`` blocks against wide ``(1, ROW_BLOCK * C)`` constants are viewed as
    ``(R / ROW_BLOCK, ROW_BLOCK * C)``; if R is not a multiple of ROW_BLOCK, the constants as ``(1, C)``.
    Anything else is returned as it is.
    """
    rows, width = blocks[0].shape[0], constants[0].shape[-1]
    if blocks[0].ndim != 2 or width == blocks[0].shape[1]:
        return (*blocks, *constants)
    if rows % ROW_BLOCK == 0:
        return (*(b.reshape(-1, width) for b in blocks), *constants)
    return (*blocks, *(c[:, : blocks[0].shape[1]] for c in constants))


def sample_blocks(shape: tuple) -> list:
    """Slices of axis 0 that cut an input of ``shape`` into about equal runs of whole samples, of about
    BLOCK values each (``(N, C)``: runs of whole ROW_BLOCK-row blocks, as channel_sum sums them)."""
    n, per_sample = shape[0], math.prod(shape[1:])
    unit = ROW_BLOCK if len(shape) == 2 else 1  # samples move between blocks in groups of `unit`
    units = -(-n // unit)
    count = max(1, min(units, -(-n * per_sample // BLOCK)))  # number of blocks
    bounds = [min(n, unit * (units * i // count)) for i in range(count + 1)]
    return [slice(start, stop) for start, stop in zip(bounds[:-1], bounds[1:])]


_pool = None


def _forget_pool():
    """In a forked child the parent's worker threads do not exist: start a new pool when needed."""
    global _pool
    _pool = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


def map_blocks(work, blocks: list) -> list:
    """``[work(b) for b in blocks]``, computed by the calling thread and up to THREADS - 1 helpers.

    Every thread takes the next untaken block until none is left; a helper that has not started by
    then is cancelled, so the caller never waits for a thread to wake up only to find no work.
    """
    helpers = min(THREADS, len(blocks)) - 1
    if helpers <= 0:
        return [work(block) for block in blocks]
    global _pool
    if _pool is None or _pool._max_workers != THREADS - 1:
        _pool = ThreadPoolExecutor(max_workers=THREADS - 1, thread_name_prefix="bnlib")
    results = [None] * len(blocks)
    claim = itertools.count()  # next() on it is atomic under the GIL: each block is taken once

    def take_blocks():
        while (i := next(claim)) < len(blocks):
            results[i] = work(blocks[i])

    futures = [_pool.submit(take_blocks) for _ in range(helpers)]
    try:
        take_blocks()
    finally:  # helpers still running finish before we return (or re-raise their error)
        for future in futures:
            if not future.cancel():
                future.result()
    return results


def fast_batchnorm_forward(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float):
    """BN's forward on an already checked float input and ``(C,)`` γ, β: ``(y, NormCache)`` as :func:`normalize_forward`.

    Arguments are *not* validated here: :func:`bnlib.batchnorm_forward` does that and calls this.
    """
    ndim, m = x.ndim, x.size // x.shape[1] if x.shape[1] else 0
    axes = reduction_axes(ndim)
    if m == 0:  # empty batch: no statistics
        nan = np.full(per_channel(gamma, ndim).shape, np.nan)
        gamma_b = per_channel(np.asarray(gamma, x.dtype), ndim)
        return x.copy(), NormCache(x_hat=x.copy(), gamma=gamma_b, inv_std=nan, mean=nan, var=nan, axes=axes)
    blocks = sample_blocks(x.shape)
    shift = x[(0, slice(None)) + (0,) * (ndim - 2)]  # (C,) one sample's values
    shift_b = spread(shift, x.shape, x.dtype)
    x_hat = np.empty_like(x)  # holds x - shift, then x - μ, then x̂

    def shift_and_sum(s):  # x - shift; its sum per channel
        x_s, x_hat_s, shift_s = fit([x[s], x_hat[s]], [shift_b])
        np.subtract(x_s, shift_s, out=x_hat_s)
        return channel_sum(x_hat[s])

    offset = np.sum(map_blocks(shift_and_sum, blocks), axis=0) / m  # (C,) mean of x - shift
    mean = shift.astype(np.float64) + offset  # (C,) μ
    offset_b = spread(offset, x.shape, x.dtype)

    def centre_and_square(s):  # x - μ; its sum of squares per channel
        centred, offset_s = fit([x_hat[s]], [offset_b])
        centred -= offset_s
        return channel_dot(x_hat[s], x_hat[s])

    var = np.sum(map_blocks(centre_and_square, blocks), axis=0) / m  # (C,) σ², biased
    inv_std = 1.0 / np.sqrt(var + eps)  # (C,)
    inv_std_b = spread(inv_std, x.shape, x.dtype)
    gamma_b, beta_b = spread(gamma, x.shape, x.dtype), spread(beta, x.shape, x.dtype)
    gamma = per_channel(np.asarray(gamma, x.dtype), ndim)  # (1, C, 1, ...), kept for the backward
    y = np.empty_like(x)

    def scale_and_shift(s):  # x̂ = (x - μ) / sqrt(σ² + ε); y = γ x̂ + β
        x_hat_s, y_s, inv_std_s, gamma_s, beta_s = fit([x_hat[s], y[s]], [inv_std_b, gamma_b, beta_b])
        x_hat_s *= inv_std_s
        np.multiply(x_hat_s, gamma_s, out=y_s)
        y_s += beta_s

    map_blocks(scale_and_shift, blocks)
    cache = NormCache(
        x_hat=x_hat,
        gamma=gamma,
        inv_std=per_channel(inv_std, ndim),
        mean=per_channel(mean, ndim),
        var=per_channel(var, ndim),
        axes=axes,
    )
    return y, cache


def fast_batchnorm_backward(dy: np.ndarray, cache: NormCache):
    """BN's backward on an already checked float ``dy``: ``(dx, dgamma, dbeta)`` with ``(C,)`` gradients.

    Uses mean(∂x̂) = γ·Σ∂y/m and mean(∂x̂·x̂) = γ·Σ∂y·x̂/m, so ∂x̂ = γ∂y is never formed.
    """
    x_hat = cache.x_hat
    m = dy.size // dy.shape[1] if dy.shape[1] else 0
    if m == 0:
        zeros = np.zeros(dy.shape[1], dy.dtype)
        return dy.copy(), zeros, zeros.copy()
    blocks = sample_blocks(dy.shape)
    sums = map_blocks(lambda s: (channel_sum(dy[s]), channel_dot(dy[s], x_hat[s])), blocks)
    dbeta = np.sum([block[0] for block in sums], axis=0)  # (C,)  Σ ∂y
    dgamma = np.sum([block[1] for block in sums], axis=0)  # (C,)  Σ ∂y x̂
    mean_dy_x_hat = spread(dgamma / m, dy.shape, dy.dtype)
    mean_dy = spread(dbeta / m, dy.shape, dy.dtype)
    scale = cache.gamma.reshape(-1).astype(np.float64) * cache.inv_std.reshape(-1)  # (C,) γ / sqrt(σ² + ε)
    scale_b = spread(scale, dy.shape, dy.dtype)
    dx = np.empty_like(dy)

    def input_gradient(s):
        x_hat_s, dy_s, dx_s, k, mean_dy_s, scale_s = fit([x_hat[s], dy[s], dx[s]], [mean_dy_x_hat, mean_dy, scale_b])
        np.multiply(x_hat_s, k, out=dx_s)  # x̂ mean(∂y x̂)
        dx_s += mean_dy_s  # ... + mean(∂y)
        np.subtract(dy_s, dx_s, out=dx_s)  # ∂y - mean(∂y) - x̂ mean(∂y x̂)
        dx_s *= scale_s  # ∂x

    map_blocks(input_gradient, blocks)
    return dx, dgamma.astype(dy.dtype), dbeta.astype(dy.dtype)
