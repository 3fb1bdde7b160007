"""Independent oracles for the tests: float64 ``np.mean``/``np.var`` and PyTorch's own modules.

Nothing here calls bnlib, so a test that compares bnlib with these can fail.
"""

import numpy as np
import torch

from conftest import TORCH_BN


def oracle_statistics(x, axes):
    """Mean and biased variance over ``axes`` in float64 with numpy's own ``mean`` and ``var`` (reduced axes kept)."""
    x64 = np.asarray(x, dtype=np.float64)
    return x64.mean(axis=axes, keepdims=True), x64.var(axis=axes, keepdims=True)


def oracle_normalize(x, axes, eps, gamma=1.0, beta=0.0):
    """``gamma * (x - mean) / sqrt(var + eps) + beta`` over ``axes``, all in float64 (gamma, beta broadcast)."""
    mean, var = oracle_statistics(x, axes)
    return np.asarray(gamma, np.float64) * (np.asarray(x, np.float64) - mean) / np.sqrt(var + eps) + beta


def channel_axes(ndim):
    """BN's statistics axes: every axis but the channel axis 1."""
    return (0,) + tuple(range(2, ndim))


def torch_batchnorm(x, gamma, beta, dy, eps=1e-5, dtype=None):
    """Output and gradients of ``torch.nn.functional.batch_norm`` in training mode as numpy arrays, computed
    in ``dtype`` (default: x's)."""
    xt, gt, bt = (torch.tensor(a, dtype=dtype, requires_grad=True) for a in (x, gamma, beta))
    y = torch.nn.functional.batch_norm(xt, None, None, gt, bt, training=True, eps=eps)
    y.backward(torch.tensor(dy, dtype=dtype))
    return y.detach().numpy(), xt.grad.numpy(), gt.grad.numpy(), bt.grad.numpy()


def torch_reference(shape, **options):
    """A float64 ``torch.nn.BatchNorm*d`` for inputs of ``shape``."""
    return TORCH_BN[len(shape)](shape[1], **options).double()


def numerical_gradient(f, a, h=1e-6):
    """Central differences of the scalar function f with respect to every entry of a (changed in place, restored)."""
    grad = np.zeros_like(a)
    for i in np.ndindex(a.shape):
        old = a[i]
        a[i] = old + h
        up = f()
        a[i] = old - h
        down = f()
        a[i] = old
        grad[i] = (up - down) / (2 * h)
    return grad


def relative_error(a, b):
    """Largest absolute difference relative to the largest magnitude of either."""
    return np.max(np.abs(a - b)) / max(np.max(np.abs(a)), np.max(np.abs(b)))
