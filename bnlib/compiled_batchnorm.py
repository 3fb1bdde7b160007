r"""The compiled path for Batch Normalization's layout: fused loops, compiled by numba when it is installed.

:func:`compiled_batchnorm_forward` and :func:`compiled_batchnorm_backward` compute what the
reference :func:`bnlib.normalize.normalize_forward` / ``normalize_backward`` compute for BN's axes
(the tests check them equal), the way PyTorch's CPU kernel does it: each loop reads every value
once and does all of one step's work on it, so the forward reads ``x`` three times and writes ``y``
once, and the backward reads ``x`` and ``∂y`` twice each and writes ``∂x`` once. numpy cannot fuse
its steps (every ufunc call is a loop of its own over the array), which is what keeps
:mod:`bnlib.fast_batchnorm` behind PyTorch on large inputs; this path is used when numba can be
imported, and that one otherwise (:func:`available`).

* **What the cache holds.** Like PyTorch, the forward keeps the input ``x`` itself (not a copy,
  unless ``x`` is not C-contiguous: then its contiguous copy) with μ and 1/√(σ²+ε); the backward
  recomputes :math:`\hat x = (x-\mu)/\sqrt{\sigma^2+\epsilon}` as it goes, and
  :attr:`SavedInput.x_hat` computes it when asked. So, as in PyTorch, *changing x in place between
  the forward and the backward changes the gradient* (PyTorch raises an error then, "modified by an
  inplace operation"; numpy arrays cannot tell).
* **Precision.** Every value is converted to float64 as it is read; every sum is accumulated in
  float64 and every element-wise step computed in float64, then rounded once to the input's
  dtype. So float32 data like 10⁴ + N(0, 1) normalises as accurately as float64 arithmetic
  allows, with no shift needed: the variance is the mean of squared deviations from the float64
  mean (two passes).
* **Layout.** Statistics per channel ``c`` = axis 1 of an ``(N, C)`` or ``(N, C, *spatial)``
  input, γ, β of shape ``(C,)``. ``(N, C)`` loops run along the channels (one sum per channel,
  rows added in order); ``(N, C, L)`` loops along the L spatial values of one sample and channel,
  where numba may keep several partial sums (``fastmath={"reassoc"}``, so that the sum is
  vectorised) before adding them into the channel's float64 total.
* **Threads and order.** The batch is cut into the blocks of whole samples of
  :func:`bnlib.fast_batchnorm.sample_blocks` and shared among ``fast_batchnorm.THREADS`` threads by
  its :func:`~bnlib.fast_batchnorm.map_blocks` (the kernels release the GIL); each block's sums are
  added in block order, so the result does not depend on the number of threads, bit for bit.
* **Compilation.** The loops are compiled on first use for each dtype and layout (1-2 s for the
  five loops of one, measured here) and cached on disk by numba (``cache=True``, beside this file
  or in the user's cache folder), so later processes load them.
"""

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import numpy as np

from . import fast_batchnorm
from .fast_batchnorm import map_blocks, per_channel, reduction_axes, sample_blocks
from .normalize import values_per_statistic

ENABLED = True  # set to False to use the numpy fast path even where numba is installed (tests, benchmarks)


@cache
def numba_installed() -> bool:
    """True if numba can be imported (asked once, at the first BN call: ``import bnlib`` does not import it)."""
    try:
        import numba  # noqa: F401
    except ImportError:
        return False
    return True


def available() -> bool:
    """True if this path is used: numba is installed and :data:`ENABLED` is true."""
    return ENABLED and numba_installed()


@dataclass(frozen=True)
class SavedInput:
    r"""What :func:`compiled_batchnorm_backward` needs: the input and its statistics (PyTorch's saved tensors).

    Attributes:
        x: the forward's input itself (or its C-contiguous copy if it was not C-contiguous), ``(N, C, *spatial)``.
        gamma: γ, the input's dtype, shape ``(1, C, 1, ...)``.
        inv_std, mean, var: :math:`1/\sqrt{\sigma^2+\epsilon}`, μ, σ² (biased), float64, ``(1, C, 1, ...)``.
        axes: the axes the statistics were taken over, ``(0, 2, 3, ...)``.
    The same attributes as :class:`bnlib.normalize.NormCache`, with :attr:`x_hat` computed on demand.
    """

    x: np.ndarray
    gamma: np.ndarray
    inv_std: np.ndarray
    mean: np.ndarray
    var: np.ndarray
    axes: tuple

    @property
    def x_hat(self) -> np.ndarray:
        r""":math:`\hat x = (x-\mu)/\sqrt{\sigma^2+\epsilon}`, computed in float64, in the input's dtype."""
        return ((self.x - self.mean) * self.inv_std).astype(self.x.dtype)

    @property
    def shape(self) -> tuple:
        return self.x.shape

    @property
    def m(self) -> int:
        """Number of values per channel."""
        return values_per_statistic(self.x.shape, self.axes)


@dataclass(frozen=True)
class Loops:
    """The five compiled loops of one layout, ``(N, C)`` or ``(N, C, L)``; ``r`` is 1/√(σ² + ε) per channel."""

    sum: Callable  # (x, total): total[c] += Σ x
    square_dev: Callable  # (x, μ, total): total[c] += Σ (x - μ)²
    output: Callable  # (x, μ, r, γ, β, y): y = γ x̂ + β
    grad_sums: Callable  # (x, ∂y, μ, r, Σ∂y, Σ∂y x̂): both sums added in
    input_grad: Callable  # (x, ∂y, μ, r, mean(∂y), mean(∂y x̂), γ r, ∂x): ∂x


@cache
def _kernels() -> tuple:
    """The :class:`Loops` for ``(N, C)`` and for ``(N, C, L)``, built on first use.

    (Importing numba takes a moment, so ``import bnlib`` does not.)"""
    import numba

    jit = numba.njit(nogil=True, cache=True, error_model="numpy")
    jit_sum = numba.njit(nogil=True, cache=True, error_model="numpy", fastmath={"reassoc"})

    # ---- (N, C): each loop runs along the channels of one row --------------------------------
    @jit
    def rows_sum(x, total):  # total[c] += Σ_n x[n, c]
        for n in range(x.shape[0]):
            for c in range(x.shape[1]):
                total[c] += x[n, c]

    @jit
    def rows_square_dev(x, mean, total):  # total[c] += Σ_n (x[n, c] - μ[c])²
        for n in range(x.shape[0]):
            for c in range(x.shape[1]):
                d = x[n, c] - mean[c]
                total[c] += d * d

    @jit
    def rows_output(x, mean, inv_std, gamma, beta, y):  # y = γ (x - μ) / sqrt(σ² + ε) + β
        for n in range(x.shape[0]):
            for c in range(x.shape[1]):
                y[n, c] = gamma[c] * ((x[n, c] - mean[c]) * inv_std[c]) + beta[c]

    @jit
    def rows_grad_sums(x, dy, mean, inv_std, sum_dy, sum_dy_x_hat):  # Σ ∂y, Σ ∂y x̂
        for n in range(x.shape[0]):
            for c in range(x.shape[1]):
                g = np.float64(dy[n, c])
                sum_dy[c] += g
                sum_dy_x_hat[c] += g * ((x[n, c] - mean[c]) * inv_std[c])

    @jit
    def rows_input_grad(x, dy, mean, inv_std, mean_dy, mean_dy_x_hat, scale, dx):
        for n in range(x.shape[0]):  # ∂x = γ/sqrt(σ² + ε) (∂y - mean(∂y) - x̂ mean(∂y x̂))
            for c in range(x.shape[1]):
                x_hat = (x[n, c] - mean[c]) * inv_std[c]
                dx[n, c] = scale[c] * (dy[n, c] - mean_dy[c] - x_hat * mean_dy_x_hat[c])

    # ---- (N, C, L): each loop runs along the L spatial values of one sample and channel ------
    @jit_sum
    def planes_sum(x, total):
        for n in range(x.shape[0]):
            for c in range(x.shape[1]):
                s = 0.0
                for i in range(x.shape[2]):
                    s += x[n, c, i]
                total[c] += s

    @jit_sum
    def planes_square_dev(x, mean, total):
        for n in range(x.shape[0]):
            for c in range(x.shape[1]):
                s = 0.0
                for i in range(x.shape[2]):
                    d = x[n, c, i] - mean[c]
                    s += d * d
                total[c] += s

    @jit
    def planes_output(x, mean, inv_std, gamma, beta, y):
        for n in range(x.shape[0]):
            for c in range(x.shape[1]):
                for i in range(x.shape[2]):
                    y[n, c, i] = gamma[c] * ((x[n, c, i] - mean[c]) * inv_std[c]) + beta[c]

    @jit_sum
    def planes_grad_sums(x, dy, mean, inv_std, sum_dy, sum_dy_x_hat):
        for n in range(x.shape[0]):
            for c in range(x.shape[1]):
                s, t = 0.0, 0.0
                for i in range(x.shape[2]):
                    g = np.float64(dy[n, c, i])
                    s += g
                    t += g * (x[n, c, i] - mean[c])
                sum_dy[c] += s
                sum_dy_x_hat[c] += t * inv_std[c]

    @jit
    def planes_input_grad(x, dy, mean, inv_std, mean_dy, mean_dy_x_hat, scale, dx):
        for n in range(x.shape[0]):
            for c in range(x.shape[1]):
                for i in range(x.shape[2]):
                    x_hat = (x[n, c, i] - mean[c]) * inv_std[c]
                    dx[n, c, i] = scale[c] * (dy[n, c, i] - mean_dy[c] - x_hat * mean_dy_x_hat[c])

    rows = Loops(rows_sum, rows_square_dev, rows_output, rows_grad_sums, rows_input_grad)
    planes = Loops(planes_sum, planes_square_dev, planes_output, planes_grad_sums, planes_input_grad)
    return rows, planes


def _layout(a: np.ndarray):
    """``a`` as ``(N, C)`` or ``(N, C, L)`` (a view of a C-contiguous array, which has at least one value), and its kernels."""
    rows, planes = _kernels()
    n, c = a.shape[:2]
    if a.size == n * c:  # (N, C), or one spatial value per sample and channel
        return a.reshape(n, c), rows
    return a.reshape(n, c, -1), planes


def _per_block_sums(kernel, blocks, count: int, arrays: list, constants: tuple = ()) -> list:
    """``count`` float64 ``(C,)`` sums, ``kernel(*arrays[block], *constants, *sums)`` per block, added in block order."""
    width = arrays[0].shape[1]

    def one_block(s):
        sums = [np.zeros(width) for _ in range(count)]
        kernel(*(a[s] for a in arrays), *constants, *sums)
        return sums

    per_block = map_blocks(one_block, blocks)
    return [np.sum([sums[k] for sums in per_block], axis=0) for k in range(count)]


def compiled_batchnorm_forward(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float):
    """BN's forward on an already checked float input and ``(C,)`` γ, β: ``(y, SavedInput)``.

    Arguments are *not* validated here: :func:`bnlib.batchnorm_forward` does that and calls this.
    An empty batch is handed to :func:`bnlib.fast_batchnorm.fast_batchnorm_forward`.
    """
    if x.size == 0:
        return fast_batchnorm.fast_batchnorm_forward(x, gamma, beta, eps)
    x = np.ascontiguousarray(x)
    ndim, m = x.ndim, x.size // x.shape[1]
    blocks = sample_blocks(x.shape)
    xv, kernels = _layout(x)
    (total,) = _per_block_sums(kernels.sum, blocks, 1, [xv])
    mean = total / m  # (C,) μ
    (squares,) = _per_block_sums(kernels.square_dev, blocks, 1, [xv], (mean,))
    var = squares / m  # (C,) σ², biased
    inv_std = 1.0 / np.sqrt(var + eps)  # (C,)
    gamma = np.asarray(gamma, x.dtype)  # γ and β in the input's dtype, as the numpy path and PyTorch take them
    gamma64, beta64 = gamma.astype(np.float64), np.asarray(beta, x.dtype).astype(np.float64)
    y = np.empty_like(x)
    yv = y.reshape(xv.shape)
    map_blocks(lambda s: kernels.output(xv[s], mean, inv_std, gamma64, beta64, yv[s]), blocks)
    saved = SavedInput(
        x=x,
        gamma=per_channel(gamma, ndim),
        inv_std=per_channel(inv_std, ndim),
        mean=per_channel(mean, ndim),
        var=per_channel(var, ndim),
        axes=reduction_axes(ndim),
    )
    return y, saved


def compiled_batchnorm_backward(dy: np.ndarray, saved: SavedInput):
    """BN's backward on an already checked float ``dy``: ``(dx, dgamma, dbeta)`` with ``(C,)`` gradients."""
    dy = np.ascontiguousarray(dy)
    m = dy.size // dy.shape[1]
    blocks = sample_blocks(dy.shape)
    xv, kernels = _layout(saved.x)
    dyv = dy.reshape(xv.shape)
    mean, inv_std = saved.mean.reshape(-1), saved.inv_std.reshape(-1)
    dbeta, dgamma = _per_block_sums(kernels.grad_sums, blocks, 2, [xv, dyv], (mean, inv_std))  # Σ ∂y, Σ ∂y x̂
    scale = saved.gamma.reshape(-1).astype(np.float64) * inv_std  # (C,) γ / sqrt(σ² + ε)
    dx = np.empty_like(dy)
    dxv = dx.reshape(xv.shape)
    mean_dy, mean_dy_x_hat = dbeta / m, dgamma / m

    def input_gradient(s):
        kernels.input_grad(xv[s], dyv[s], mean, inv_std, mean_dy, mean_dy_x_hat, scale, dxv[s])

    map_blocks(input_gradient, blocks)
    return dx, dgamma.astype(dy.dtype), dbeta.astype(dy.dtype)
