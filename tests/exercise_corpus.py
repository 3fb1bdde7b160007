"""Students' solutions to the exercises, right and wrong, as a table: one row per solution.

Each row is ``(name, mistake, phrase, code)``: ``mistake`` is the key the feedback check must name
(None for a right solution), ``phrase`` a few words its message must contain, ``code`` the solution
cell as a student would write it (each in its own style, not the teacher's solution with one edit).
``tests/test_exercise_corpus.py`` runs every row through the exercise's feedback check, and the
rows in ``AUTOGRADED`` through nbgrader's autograde as well.
"""

from typing import NamedTuple


class Solution(NamedTuple):
    name: str
    mistake: str | None
    phrase: str
    code: str


S = Solution

# ---------------------------------------------------------------------------------------------- ex1
# fmt: off
FORWARD = [
    S('keepdims, np.var', None, 'PASSED', '''
def batchnorm_forward(x, gamma, beta, eps=1e-5):
    axis = (0, 2, 3) if x.ndim == 4 else 0
    mean = np.mean(x, axis=axis, keepdims=True)
    variance = np.var(x, axis=axis, keepdims=True)
    if x.ndim == 4:
        gamma, beta = gamma[None, :, None, None], beta[None, :, None, None]
    return gamma * (x - mean) / np.sqrt(variance + eps) + beta
'''),
    S('one-pass variance', None, 'PASSED', '''
def batchnorm_forward(x, gamma, beta, eps=1e-5):
    ax = tuple(i for i in range(x.ndim) if i != 1)
    ex = x.mean(axis=ax, keepdims=True)
    ex2 = (x * x).mean(axis=ax, keepdims=True)
    shape = [1] * x.ndim
    shape[1] = -1
    return (x - ex) / np.sqrt(ex2 - ex ** 2 + eps) * gamma.reshape(shape) + beta.reshape(shape)
'''),
    S('CS231n spatial: to (m, C) and back', None, 'PASSED', '''
def batchnorm_forward(x, gamma, beta, eps=1e-5):
    if x.ndim == 4:
        N, C, H, W = x.shape
        flat = x.transpose(0, 2, 3, 1).reshape(-1, C)
        return batchnorm_forward(flat, gamma, beta, eps).reshape(N, H, W, C).transpose(0, 3, 1, 2)
    mu = x.sum(axis=0) / x.shape[0]
    xc = x - mu
    var = (xc ** 2).sum(axis=0) / x.shape[0]
    return gamma * xc / np.sqrt(var + eps) + beta
'''),
    S('loop over channels', None, 'PASSED', '''
def batchnorm_forward(x, gamma, beta, eps=1e-5):
    y = np.empty_like(x)
    for c in range(x.shape[1]):
        channel = x[:, c]
        y[:, c] = gamma[c] * (channel - channel.mean()) / np.sqrt(channel.var() + eps) + beta[c]
    return y
'''),
    S('torch F.batch_norm in float64', None, 'PASSED', '''
import torch


def batchnorm_forward(x, gamma, beta, eps=1e-5):
    out = torch.nn.functional.batch_norm(
        torch.from_numpy(x), None, None, torch.from_numpy(gamma), torch.from_numpy(beta), training=True, eps=eps
    )
    return out.numpy()
'''),
    S('a helper named `axes` (the See-it name clash)', None, 'PASSED', '''
def axes(x):
    return (0,) + tuple(range(2, x.ndim))


def batchnorm_forward(x, gamma, beta, eps=1e-5):
    shape = (1, -1) + (1,) * (x.ndim - 2)
    mu = x.mean(axis=axes(x), keepdims=True)
    var = x.var(axis=axes(x), keepdims=True)
    return gamma.reshape(shape) * (x - mu) / np.sqrt(var + eps) + beta.reshape(shape)
'''),
    S('returns (y, cache) as CS231n does', 'returned_tuple', 'return y only, not (y, cache)', '''
def batchnorm_forward(x, gamma, beta, eps=1e-5):
    axes = (0,) + tuple(range(2, x.ndim))
    shape = (1, -1) + (1,) * (x.ndim - 2)
    mu = x.mean(axis=axes, keepdims=True)
    var = x.var(axis=axes, keepdims=True)
    x_hat = (x - mu) / np.sqrt(var + eps)
    out = gamma.reshape(shape) * x_hat + beta.reshape(shape)
    cache = (x_hat, gamma, var, eps)
    return out, cache
'''),
    S('axis 0 only for images', 'not_over_hw', 'per pixel position', '''
def batchnorm_forward(x, gamma, beta, eps=1e-5):
    mu = x.mean(axis=0, keepdims=True)
    var = x.var(axis=0, keepdims=True)
    g = gamma.reshape(1, -1, *([1] * (x.ndim - 2)))
    b = beta.reshape(1, -1, *([1] * (x.ndim - 2)))
    return g * (x - mu) / np.sqrt(var + eps) + b
'''),
    S('np.std with ddof=1', 'unbiased_variance', 'unbiased variance', '''
def batchnorm_forward(x, gamma, beta, eps=1e-5):
    ax = (0,) if x.ndim == 2 else (0, 2, 3)
    mu = x.mean(axis=ax, keepdims=True)
    sd = np.sqrt(x.var(axis=ax, ddof=1, keepdims=True) + eps)
    k = (1, x.shape[1]) + (1,) * (x.ndim - 2)
    return np.reshape(gamma, k) * (x - mu) / sd + np.reshape(beta, k)
'''),
    S('eps added to the standard deviation', 'eps_outside_sqrt', 'outside the square root', '''
def batchnorm_forward(x, gamma, beta, eps=1e-5):
    ax = (0,) if x.ndim == 2 else (0, 2, 3)
    mu = x.mean(axis=ax, keepdims=True)
    std = x.std(axis=ax, keepdims=True)
    k = (1, x.shape[1]) + (1,) * (x.ndim - 2)
    return np.reshape(gamma, k) * (x - mu) / (std + eps) + np.reshape(beta, k)
'''),
    S('statistics per example (axis 1)', 'channel_axis', 'over the channels', '''
def batchnorm_forward(x, gamma, beta, eps=1e-5):
    mu = x.mean(axis=1, keepdims=True)
    var = x.var(axis=1, keepdims=True)
    shape = (1, -1) + (1,) * (x.ndim - 2)
    return gamma.reshape(shape) * (x - mu) / np.sqrt(var + eps) + beta.reshape(shape)
'''),
    S('computed in float32', 'float32', 'right to float32 precision', '''
def batchnorm_forward(x, gamma, beta, eps=1e-5):
    x = x.astype(np.float32)
    axes = (0,) + tuple(range(2, x.ndim))
    shape = (1, -1) + (1,) * (x.ndim - 2)
    mu = x.mean(axis=axes, keepdims=True)
    var = x.var(axis=axes, keepdims=True)
    return gamma.reshape(shape) * (x - mu) / np.sqrt(var + eps) + beta.reshape(shape)
'''),
    S('x centred in place', 'in_place', 'changed its argument `x` in place', '''
def batchnorm_forward(x, gamma, beta, eps=1e-5):
    axes = (0,) + tuple(range(2, x.ndim))
    shape = (1, -1) + (1,) * (x.ndim - 2)
    x -= x.mean(axis=axes, keepdims=True)
    x /= np.sqrt((x ** 2).mean(axis=axes, keepdims=True) + eps)
    return gamma.reshape(shape) * x + beta.reshape(shape)
'''),
    S('autograd tensor returned', 'wrong_type', 'torch.Tensor', '''
import torch


def batchnorm_forward(x, gamma, beta, eps=1e-5):
    x = torch.tensor(x, requires_grad=True)
    dims = [0] + list(range(2, x.dim()))
    mu = x.mean(dim=dims, keepdim=True)
    var = x.var(dim=dims, unbiased=False, keepdim=True)
    shape = (1, -1) + (1,) * (x.dim() - 2)
    return torch.from_numpy(gamma).view(shape) * (x - mu) / torch.sqrt(var + eps) + torch.from_numpy(beta).view(shape)
'''),
    S('γ not reshaped for images', 'raised', '(1, C, 1, 1)', '''
def batchnorm_forward(x, gamma, beta, eps=1e-5):
    axes = (0,) + tuple(range(2, x.ndim))
    mu = x.mean(axis=axes, keepdims=True)
    var = x.var(axis=axes, keepdims=True)
    return gamma * (x - mu) / np.sqrt(var + eps) + beta
'''),
    S('ε hard-coded', 'eps_ignored', 'ignores the `eps` it is given', '''
def batchnorm_forward(x, gamma, beta, eps=1e-5):
    axes = (0,) + tuple(range(2, x.ndim))
    shape = (1, -1) + (1,) * (x.ndim - 2)
    x_hat = (x - x.mean(axis=axes, keepdims=True)) / np.sqrt(x.var(axis=axes, keepdims=True) + 1e-5)
    return gamma.reshape(shape) * x_hat + beta.reshape(shape)
'''),
    S('γ and β swapped', 'gamma_beta_swapped', 'swapped', '''
def batchnorm_forward(x, gamma, beta, eps=1e-5):
    axes = (0,) + tuple(range(2, x.ndim))
    shape = (1, -1) + (1,) * (x.ndim - 2)
    xn = (x - x.mean(axis=axes, keepdims=True)) / np.sqrt(x.var(axis=axes, keepdims=True) + eps)
    return beta.reshape(shape) * xn + gamma.reshape(shape)
'''),
]
# fmt: on

# ---------------------------------------------------------------------------------------------- ex2
# fmt: off
RUNNING = [
    S('x.var times m / (m - 1)', None, 'PASSED', '''
def running_update(running_mean, running_var, x, momentum=0.1):
    axes = tuple(i for i in range(x.ndim) if i != 1)
    m = x.size / x.shape[1]
    mean = x.mean(axis=axes)
    var = x.var(axis=axes) * m / (m - 1)
    return (1 - momentum) * running_mean + momentum * mean, (1 - momentum) * running_var + momentum * var
'''),
    S('channels first, np.var(ddof=1)', None, 'PASSED', '''
def running_update(running_mean, running_var, x, momentum=0.1):
    per_channel = np.moveaxis(x, 1, 0).reshape(x.shape[1], -1)
    new_mean = (1 - momentum) * running_mean + momentum * per_channel.mean(axis=1)
    new_var = (1 - momentum) * running_var + momentum * per_channel.var(axis=1, ddof=1)
    return new_mean, new_var
'''),
    S('lerp form, explicit sums', None, 'PASSED', '''
def running_update(running_mean, running_var, x, momentum=0.1):
    dims = (0,) if x.ndim == 2 else (0, 2, 3)
    count = np.prod([x.shape[d] for d in dims])
    mu = x.sum(axis=dims) / count
    centred = x - mu.reshape((1, -1) + (1,) * (x.ndim - 2))
    unbiased = (centred ** 2).sum(axis=dims) / (count - 1)
    return running_mean + momentum * (mu - running_mean), running_var + momentum * (unbiased - running_var)
'''),
    S('torch.nn.BatchNorm in float64', None, 'PASSED', '''
def running_update(running_mean, running_var, x, momentum=0.1):
    layer = (torch.nn.BatchNorm1d if x.ndim == 2 else torch.nn.BatchNorm2d)(x.shape[1], momentum=momentum)
    layer = layer.double().train()
    with torch.no_grad():
        layer.running_mean.copy_(torch.from_numpy(running_mean))
        layer.running_var.copy_(torch.from_numpy(running_var))
        layer(torch.from_numpy(x))
    return layer.running_mean.numpy().copy(), layer.running_var.numpy().copy()
'''),
    S('loop over channels', None, 'PASSED', '''
def running_update(running_mean, running_var, x, momentum=0.1):
    new_mean, new_var = np.zeros_like(running_mean), np.zeros_like(running_var)
    for c in range(x.shape[1]):
        values = x[:, c].ravel()
        new_mean[c] = (1 - momentum) * running_mean[c] + momentum * values.mean()
        new_var[c] = (1 - momentum) * running_var[c] + momentum * values.var(ddof=1)
    return new_mean, new_var
'''),
    S('updated in place, as a module does', 'in_place', 'changed its argument `running_mean` in place', '''
def running_update(running_mean, running_var, x, momentum=0.1):
    axes = (0,) + tuple(range(2, x.ndim))
    running_mean *= 1 - momentum
    running_mean += momentum * x.mean(axis=axes)
    running_var *= 1 - momentum
    running_var += momentum * x.var(axis=axes, ddof=1)
    return running_mean, running_var
'''),
    S('biased batch variance', 'biased_variance', 'biased batch variance', '''
def running_update(running_mean, running_var, x, momentum=0.1):
    axes = (0,) + tuple(range(2, x.ndim))
    new_mean = (1 - momentum) * running_mean + momentum * x.mean(axis=axes)
    new_var = (1 - momentum) * running_var + momentum * x.var(axis=axes)
    return new_mean, new_var
'''),
    S("Keras' momentum", 'momentum_reversed', 'reversed', '''
def running_update(running_mean, running_var, x, momentum=0.1):
    axes = (0,) + tuple(range(2, x.ndim))
    mean, var = x.mean(axis=axes), x.var(axis=axes, ddof=1)
    return momentum * running_mean + (1 - momentum) * mean, momentum * running_var + (1 - momentum) * var
'''),
    S('momentum reversed in the variance only', 'momentum_reversed', 'of the variance are reversed', '''
def running_update(running_mean, running_var, x, momentum=0.1):
    axes = (0,) + tuple(range(2, x.ndim))
    mean, var = x.mean(axis=axes), x.var(axis=axes, ddof=1)
    return (1 - momentum) * running_mean + momentum * mean, momentum * running_var + (1 - momentum) * var
'''),
    S('Bessel with N for images', 'bessel_with_n', 'm = N·H·W', '''
def running_update(running_mean, running_var, x, momentum=0.1):
    n = x.shape[0]
    axes = (0,) + tuple(range(2, x.ndim))
    var = x.var(axis=axes) * n / (n - 1)
    return (1 - momentum) * running_mean + momentum * x.mean(axis=axes), (1 - momentum) * running_var + momentum * var
'''),
    S('axis 0 only for images', 'not_over_hw', 'not reduced over H and W', '''
def running_update(running_mean, running_var, x, momentum=0.1):
    m = x.shape[0]
    return (
        (1 - momentum) * running_mean + momentum * x.mean(axis=0),
        (1 - momentum) * running_var + momentum * x.var(axis=0) * m / (m - 1),
    )
'''),
    S('the batch statistics only', 'batch_only', 'batch mean itself', '''
def running_update(running_mean, running_var, x, momentum=0.1):
    axes = (0,) + tuple(range(2, x.ndim))
    return x.mean(axis=axes), x.var(axis=axes, ddof=1)
'''),
    S('only the mean returned', 'wrong_return', '(new_mean, new_var)', '''
def running_update(running_mean, running_var, x, momentum=0.1):
    axes = (0,) + tuple(range(2, x.ndim))
    return (1 - momentum) * running_mean + momentum * x.mean(axis=axes)
'''),
    S('momentum renamed', 'signature', 'momentum by name', '''
def running_update(running_mean, running_var, x, rho=0.1):
    axes = (0,) + tuple(range(2, x.ndim))
    m = x.size // x.shape[1]
    new_mean = (1 - rho) * running_mean + rho * x.mean(axis=axes)
    return new_mean, (1 - rho) * running_var + rho * x.var(axis=axes) * m / (m - 1)
'''),
]
# fmt: on

# ---------------------------------------------------------------------------------------------- ex3
# fmt: off
BACKWARD = [
    S('staged on the graph', None, 'PASSED', '''
def batchnorm_backward(dy, x, gamma, beta, eps=1e-5):
    red = tuple(a for a in range(x.ndim) if a != 1)
    m = x.size // x.shape[1]
    bshape = [1] * x.ndim
    bshape[1] = x.shape[1]
    mu = x.mean(axis=red, keepdims=True)
    xmu = x - mu
    var = (xmu ** 2).mean(axis=red, keepdims=True)
    ivar = 1.0 / np.sqrt(var + eps)
    dxhat = dy * gamma.reshape(bshape)
    dvar = np.sum(dxhat * xmu, axis=red, keepdims=True) * -0.5 * (var + eps) ** -1.5
    dmu = np.sum(-dxhat * ivar, axis=red, keepdims=True) + dvar * np.mean(-2.0 * xmu, axis=red, keepdims=True)
    dx = dxhat * ivar + dvar * 2.0 * xmu / m + dmu / m
    return dx, np.sum(dy * xmu * ivar, axis=red), np.sum(dy, axis=red)
'''),
    S("CS231n's compact form", None, 'PASSED', '''
def batchnorm_backward(dy, x, gamma, beta, eps=1e-5):
    axes = (0,) + tuple(range(2, x.ndim))
    shape = (1, -1) + (1,) * (x.ndim - 2)
    m = x.size // x.shape[1]
    inv = 1 / np.sqrt(x.var(axis=axes, keepdims=True) + eps)
    xh = (x - x.mean(axis=axes, keepdims=True)) * inv
    dgamma, dbeta = (dy * xh).sum(axis=axes), dy.sum(axis=axes)
    dx = gamma.reshape(shape) * inv / m * (
        m * dy - dbeta.reshape(shape) - xh * dgamma.reshape(shape)
    )
    return dx, dgamma, dbeta
'''),
    S('torch autograd in float64', None, 'PASSED', '''
import torch


def batchnorm_backward(dy, x, gamma, beta, eps=1e-5):
    xt = torch.tensor(x, requires_grad=True)
    g = torch.tensor(gamma, requires_grad=True)
    b = torch.tensor(beta, requires_grad=True)
    y = torch.nn.functional.batch_norm(xt, None, None, g, b, training=True, eps=eps)
    y.backward(torch.from_numpy(dy))
    return xt.grad.numpy(), g.grad.numpy(), b.grad.numpy()
'''),
    S('to (m, C) and back', None, 'PASSED', '''
def batchnorm_backward(dy, x, gamma, beta, eps=1e-5):
    C = x.shape[1]
    to2d = lambda a: np.moveaxis(a, 1, -1).reshape(-1, C)
    x2, d2 = to2d(x), to2d(dy)
    m = x2.shape[0]
    xc = x2 - x2.mean(0)
    std = np.sqrt((xc ** 2).mean(0) + eps)
    xh = xc / std
    dxh = d2 * gamma
    dx2 = (m * dxh - dxh.sum(0) - xh * (dxh * xh).sum(0)) / (m * std)
    moved = np.moveaxis(x, 1, -1).shape
    return np.moveaxis(dx2.reshape(moved), -1, 1), (d2 * xh).sum(0), d2.sum(0)
'''),
    S('loop over channels', None, 'PASSED', '''
def batchnorm_backward(dy, x, gamma, beta, eps=1e-5):
    dx = np.zeros_like(x)
    dgamma, dbeta = np.zeros(x.shape[1]), np.zeros(x.shape[1])
    for c in range(x.shape[1]):
        xc, gc = x[:, c], dy[:, c]
        s = np.sqrt(xc.var() + eps)
        xh = (xc - xc.mean()) / s
        dgamma[c], dbeta[c] = (gc * xh).sum(), gc.sum()
        dxh = gamma[c] * gc
        dx[:, c] = (dxh - dxh.mean() - xh * (dxh * xh).mean()) / s
    return dx, dgamma, dbeta
'''),
    S('m = N for images', 'm_is_n', 'm = N·H·W', '''
def batchnorm_backward(dy, x, gamma, beta, eps=1e-5):
    axes = (0,) + tuple(range(2, x.ndim))
    shape = (1, -1) + (1,) * (x.ndim - 2)
    N = x.shape[0]
    mu = x.mean(axis=axes, keepdims=True)
    var = x.var(axis=axes, keepdims=True)
    istd = 1 / np.sqrt(var + eps)
    dxh = dy * gamma.reshape(shape)
    dvar = -0.5 * istd ** 3 * (dxh * (x - mu)).sum(axis=axes, keepdims=True)
    dmu = -istd * dxh.sum(axis=axes, keepdims=True)
    dx = dxh * istd + dvar * 2 * (x - mu) / N + dmu / N
    return dx, (dy * (x - mu) * istd).sum(axis=axes), dy.sum(axis=axes)
'''),
    S('no path through σ²', 'missing_var_path', 'through σ²_B', '''
def batchnorm_backward(dy, x, gamma, beta, eps=1e-5):
    axes = (0,) + tuple(range(2, x.ndim))
    shape = (1, -1) + (1,) * (x.ndim - 2)
    istd = 1 / np.sqrt(x.var(axis=axes, keepdims=True) + eps)
    xh = (x - x.mean(axis=axes, keepdims=True)) * istd
    dxh = dy * gamma.reshape(shape)
    dx = istd * (dxh - dxh.mean(axis=axes, keepdims=True))
    return dx, (dy * xh).sum(axis=axes), dy.sum(axis=axes)
'''),
    S('no path through μ', 'missing_mean_path', 'through μ_B', '''
def batchnorm_backward(dy, x, gamma, beta, eps=1e-5):
    axes = (0,) + tuple(range(2, x.ndim))
    shape = (1, -1) + (1,) * (x.ndim - 2)
    m = x.size // x.shape[1]
    mu = x.mean(axis=axes, keepdims=True)
    var = x.var(axis=axes, keepdims=True)
    dxh = dy * gamma.reshape(shape)
    dvar = (dxh * (x - mu)).sum(axis=axes, keepdims=True) * -0.5 * (var + eps) ** -1.5
    dx = dxh / np.sqrt(var + eps) + dvar * 2 * (x - mu) / m
    return dx, (dy * (x - mu) / np.sqrt(var + eps)).sum(axis=axes), dy.sum(axis=axes)
'''),
    S('statistics as constants', 'no_statistics_path', 'as constants', '''
def batchnorm_backward(dy, x, gamma, beta, eps=1e-5):
    axes = (0,) + tuple(range(2, x.ndim))
    shape = (1, -1) + (1,) * (x.ndim - 2)
    std = np.sqrt(x.var(axis=axes, keepdims=True) + eps)
    x_hat = (x - x.mean(axis=axes, keepdims=True)) / std
    return dy * gamma.reshape(shape) / std, (dy * x_hat).sum(axis=axes), dy.sum(axis=axes)
'''),
    S('γ left out of dx', 'gamma_forgotten', 'forgets γ', '''
def batchnorm_backward(dy, x, gamma, beta, eps=1e-5):
    axes = (0,) + tuple(range(2, x.ndim))
    std = np.sqrt(x.var(axis=axes, keepdims=True) + eps)
    x_hat = (x - x.mean(axis=axes, keepdims=True)) / std
    dx = (dy - dy.mean(axis=axes, keepdims=True) - x_hat * (dy * x_hat).mean(axis=axes, keepdims=True)) / std
    return dx, (dy * x_hat).sum(axis=axes), dy.sum(axis=axes)
'''),
    S('dγ from x', 'dgamma_uses_x', 'uses x where it needs x̂', '''
def batchnorm_backward(dy, x, gamma, beta, eps=1e-5):
    axes = (0,) + tuple(range(2, x.ndim))
    shape = (1, -1) + (1,) * (x.ndim - 2)
    std = np.sqrt(x.var(axis=axes, keepdims=True) + eps)
    x_hat = (x - x.mean(axis=axes, keepdims=True)) / std
    g = dy * gamma.reshape(shape)
    dx = (g - g.mean(axis=axes, keepdims=True) - x_hat * (g * x_hat).mean(axis=axes, keepdims=True)) / std
    return dx, (dy * x).sum(axis=axes), dy.sum(axis=axes)
'''),
    S('dγ, dβ summed over the batch only', 'not_over_hw', 'axes (0, 2, 3)', '''
def batchnorm_backward(dy, x, gamma, beta, eps=1e-5):
    axes = (0,) + tuple(range(2, x.ndim))
    shape = (1, -1) + (1,) * (x.ndim - 2)
    std = np.sqrt(x.var(axis=axes, keepdims=True) + eps)
    x_hat = (x - x.mean(axis=axes, keepdims=True)) / std
    g = dy * gamma.reshape(shape)
    dx = (g - g.mean(axis=axes, keepdims=True) - x_hat * (g * x_hat).mean(axis=axes, keepdims=True)) / std
    return dx, (dy * x_hat).sum(axis=0), dy.sum(axis=0)
'''),
    S('dy scaled in place', 'in_place', 'changed its argument `dy` in place', '''
def batchnorm_backward(dy, x, gamma, beta, eps=1e-5):
    axes = (0,) + tuple(range(2, x.ndim))
    shape = (1, -1) + (1,) * (x.ndim - 2)
    std = np.sqrt(x.var(axis=axes, keepdims=True) + eps)
    x_hat = (x - x.mean(axis=axes, keepdims=True)) / std
    dgamma, dbeta = (dy * x_hat).sum(axis=axes), dy.sum(axis=axes)
    dy *= gamma.reshape(shape)
    dx = (dy - dy.mean(axis=axes, keepdims=True) - x_hat * (dy * x_hat).mean(axis=axes, keepdims=True)) / std
    return dx, dgamma, dbeta
'''),
    S('computed in float32', 'float32', 'right to float32 precision', '''
def batchnorm_backward(dy, x, gamma, beta, eps=1e-5):
    dy, x, gamma = dy.astype(np.float32), x.astype(np.float32), gamma.astype(np.float32)
    axes = (0,) + tuple(range(2, x.ndim))
    shape = (1, -1) + (1,) * (x.ndim - 2)
    std = np.sqrt(x.var(axis=axes, keepdims=True) + eps)
    x_hat = (x - x.mean(axis=axes, keepdims=True)) / std
    g = dy * gamma.reshape(shape)
    dx = (g - g.mean(axis=axes, keepdims=True) - x_hat * (g * x_hat).mean(axis=axes, keepdims=True)) / std
    return dx, (dy * x_hat).sum(axis=axes), dy.sum(axis=axes)
'''),
]
# fmt: on

# ---------------------------------------------------------------------------------------------- ex4
# fmt: off
FOLD = [
    S('rows scaled with s[:, None]', None, 'PASSED', '''
def fold(W, b, gamma, beta, mean, var, eps=1e-5):
    scale = gamma / np.sqrt(var + eps)
    return scale[:, None] * W, beta + scale * (b - mean)
'''),
    S('np.diag(s) @ W', None, 'PASSED', '''
def fold(W, b, gamma, beta, mean, var, eps=1e-5):
    s = gamma / np.sqrt(var + eps)
    return np.diag(s) @ W, s * b + (beta - s * mean)
'''),
    S('einsum', None, 'PASSED', '''
def fold(W, b, gamma, beta, mean, var, eps=1e-5):
    s = gamma * (var + eps) ** -0.5
    return np.einsum("o,oi->oi", s, W), np.einsum("o,o->o", s, b - mean) + beta
'''),
    S("torch's fuse_linear_bn_eval", None, 'PASSED', '''
import torch
from torch.nn.utils.fusion import fuse_linear_bn_eval


def fold(W, b, gamma, beta, mean, var, eps=1e-5):
    linear = torch.nn.Linear(W.shape[1], W.shape[0]).double().eval()
    bn = torch.nn.BatchNorm1d(W.shape[0], eps=eps).double().eval()
    with torch.no_grad():
        linear.weight.copy_(torch.from_numpy(W))
        linear.bias.copy_(torch.from_numpy(b))
        bn.weight.copy_(torch.from_numpy(gamma))
        bn.bias.copy_(torch.from_numpy(beta))
        bn.running_mean.copy_(torch.from_numpy(mean))
        bn.running_var.copy_(torch.from_numpy(var))
    fused = fuse_linear_bn_eval(linear, bn)
    return fused.weight.detach().numpy().copy(), fused.bias.detach().numpy().copy()
'''),
    S('loop over output rows', None, 'PASSED', '''
def fold(W, b, gamma, beta, mean, var, eps=1e-5):
    W_new, b_new = np.empty_like(W), np.empty_like(b)
    for row in range(W.shape[0]):
        k = gamma[row] / np.sqrt(var[row] + eps)
        W_new[row] = k * W[row]
        b_new[row] = k * (b[row] - mean[row]) + beta[row]
    return W_new, b_new
'''),
    S('ε added to the standard deviation', 'eps_outside_sqrt', 'row 2 of W', '''
def fold(W, b, gamma, beta, mean, var, eps=1e-5):
    s = gamma / (np.sqrt(var) + eps)
    return W * s[:, None], s * (b - mean) + beta
'''),
    S('sign error: b + mean', 'mean_sign', 'adds the mean', '''
def fold(W, b, gamma, beta, mean, var, eps=1e-5):
    s = gamma / np.sqrt(var + eps)
    return W * s.reshape(-1, 1), s * (b + mean) + beta
'''),
    S("the layer's bias forgotten", 'forgot_bias', "forgets the layer's own bias", '''
def fold(W, b, gamma, beta, mean, var, eps=1e-5):
    s = gamma / np.sqrt(var + eps)
    return W * s[:, None], beta - s * mean
'''),
    S('W scaled along its columns', 'scale_on_inputs', 'columns', '''
def fold(W, b, gamma, beta, mean, var, eps=1e-5):
    s = gamma / np.sqrt(var + eps)
    return W * s, s * (b - mean) + beta
'''),
    S('√var without ε', 'std_without_eps', 'without ε', '''
def fold(W, b, gamma, beta, mean, var, eps=1e-5):
    std = np.sqrt(var)
    return W * (gamma / std)[:, None], gamma * (b - mean) / std + beta
'''),
    S('divides by the variance', 'var_not_std', 'not the standard deviation', '''
def fold(W, b, gamma, beta, mean, var, eps=1e-5):
    s = gamma / (var + eps)
    return W * s[:, None], s * (b - mean) + beta
'''),
    S('β forgotten', 'forgot_beta', 'forgets β', '''
def fold(W, b, gamma, beta, mean, var, eps=1e-5):
    s = gamma / np.sqrt(var + eps)
    return W * s[:, None], s * (b - mean)
'''),
    S('W scaled in place', 'in_place', 'changed its argument `W` in place', '''
def fold(W, b, gamma, beta, mean, var, eps=1e-5):
    s = gamma / np.sqrt(var + eps)
    W *= s[:, None]
    return W, s * (b - mean) + beta
'''),
    S('float32 weights', 'float32', 'right to float32 precision', '''
def fold(W, b, gamma, beta, mean, var, eps=1e-5):
    s = (gamma / np.sqrt(var + eps)).astype(np.float32)
    return W.astype(np.float32) * s[:, None], s * (b - mean) + beta
'''),
]
# fmt: on

# ---------------------------------------------------------------------------------------------- ex5
# fmt: off
LAYERNORM_FORWARD = [
    S('keepdims over axis 1', None, 'PASSED', '''
def layernorm_forward(x, gamma, beta, eps=1e-5):
    mu = x.mean(axis=1, keepdims=True)
    var = x.var(axis=1, keepdims=True)
    return gamma * (x - mu) / np.sqrt(var + eps) + beta
'''),
    S("CS231n's transpose of BN", None, 'PASSED', '''
def layernorm_forward(x, gamma, beta, eps=1e-5):
    xt = x.T
    xt_hat = (xt - xt.mean(axis=0)) / np.sqrt(xt.var(axis=0) + eps)
    return xt_hat.T * gamma + beta
'''),
    S('[:, None] and a one-pass variance', None, 'PASSED', '''
def layernorm_forward(x, gamma, beta, eps=1e-5):
    D = x.shape[1]
    s1, s2 = x.sum(axis=1) / D, (x ** 2).sum(axis=1) / D
    return (x - s1[:, None]) / np.sqrt(s2 - s1 ** 2 + eps)[:, None] * gamma[None, :] + beta[None, :]
'''),
    S('loop over examples', None, 'PASSED', '''
def layernorm_forward(x, gamma, beta, eps=1e-5):
    out = np.zeros_like(x)
    for i, row in enumerate(x):
        out[i] = gamma * (row - row.mean()) / np.sqrt(row.var() + eps) + beta
    return out
'''),
    S('torch F.layer_norm in float64', None, 'PASSED', '''
import torch


def layernorm_forward(x, gamma, beta, eps=1e-5):
    t = torch.nn.functional.layer_norm(
        torch.from_numpy(x), (x.shape[1],), torch.from_numpy(gamma), torch.from_numpy(beta), eps
    )
    return t.numpy()
'''),
    S("statistics over the batch (BN's axis)", 'batch_axis', 'over the batch (axis 0)', '''
def layernorm_forward(x, gamma, beta, eps=1e-5):
    mu = x.mean(axis=0, keepdims=True)
    var = x.var(axis=0, keepdims=True)
    return gamma * (x - mu) / np.sqrt(var + eps) + beta
'''),
    S('γ and β per example', 'params_per_example', 'per example', '''
def layernorm_forward(x, gamma, beta, eps=1e-5):
    mu = x.mean(axis=1, keepdims=True)
    sd = np.sqrt(x.var(axis=1, keepdims=True) + eps)
    return gamma.reshape(-1, 1) * (x - mu) / sd + beta.reshape(-1, 1)
'''),
    S('keepdims lost', 'keepdims_lost', 'keepdims=True', '''
def layernorm_forward(x, gamma, beta, eps=1e-5):
    mean = x.mean(axis=1)
    var = x.var(axis=1)
    return gamma * (x - mean) / np.sqrt(var + eps) + beta
'''),
    S('unbiased variance', 'unbiased_variance', 'unbiased variance', '''
def layernorm_forward(x, gamma, beta, eps=1e-5):
    mu = x.mean(axis=1, keepdims=True)
    return gamma * (x - mu) / np.sqrt(x.var(axis=1, ddof=1, keepdims=True) + eps) + beta
'''),
    S('ε added to the standard deviation', 'eps_outside_sqrt', 'outside the square root', '''
def layernorm_forward(x, gamma, beta, eps=1e-5):
    mu = x.mean(axis=1, keepdims=True)
    return gamma * (x - mu) / (x.std(axis=1, keepdims=True) + eps) + beta
'''),
    S('returns (out, cache) as CS231n does', 'returned_tuple', 'return y only, not (y, cache)', '''
def layernorm_forward(x, gamma, beta, eps=1e-5):
    mu = x.mean(axis=1, keepdims=True)
    var = x.var(axis=1, keepdims=True)
    x_hat = (x - mu) / np.sqrt(var + eps)
    return gamma * x_hat + beta, (x_hat, gamma, var + eps)
'''),
    S('ε hard-coded', 'eps_ignored', 'ignores the `eps` it is given', '''
EPSILON = 1e-5


def layernorm_forward(x, gamma, beta, eps=1e-5):
    mu = x.mean(axis=1, keepdims=True)
    return gamma * (x - mu) / np.sqrt(x.var(axis=1, keepdims=True) + EPSILON) + beta
'''),
    S('one statistic for the whole batch', 'shared_scalar', 'whole batch', '''
def layernorm_forward(x, gamma, beta, eps=1e-5):
    return gamma * (x - np.mean(x)) / np.sqrt(np.var(x) + eps) + beta
'''),
    S('computed in float32', 'float32', 'right to float32 precision', '''
def layernorm_forward(x, gamma, beta, eps=1e-5):
    x = np.float32(x)
    mu = x.mean(axis=1, keepdims=True)
    var = x.var(axis=1, keepdims=True)
    return (gamma * (x - mu) / np.sqrt(var + eps) + beta).astype(np.float32)
'''),
]
# fmt: on

# fmt: off
LAYERNORM_BACKWARD = [
    S('compact, per example', None, 'PASSED', '''
def layernorm_backward(dy, x, gamma, beta, eps=1e-5):
    mu = x.mean(axis=1, keepdims=True)
    inv = 1 / np.sqrt(x.var(axis=1, keepdims=True) + eps)
    xh = (x - mu) * inv
    g = dy * gamma
    dx = inv * (g - g.mean(axis=1, keepdims=True) - xh * (g * xh).mean(axis=1, keepdims=True))
    return dx, (dy * xh).sum(axis=0), dy.sum(axis=0)
'''),
    S('staged with D', None, 'PASSED', '''
def layernorm_backward(dy, x, gamma, beta, eps=1e-5):
    D = x.shape[1]
    mu = np.mean(x, axis=1, keepdims=True)
    xmu = x - mu
    var = np.mean(xmu ** 2, axis=1, keepdims=True)
    ivar = 1 / np.sqrt(var + eps)
    dxhat = dy * gamma
    dvar = np.sum(dxhat * xmu, axis=1, keepdims=True) * -0.5 * ivar ** 3
    dmu = -np.sum(dxhat * ivar, axis=1, keepdims=True)
    dx = dxhat * ivar + dvar * 2 * xmu / D + dmu / D
    return dx, np.sum(dy * xmu * ivar, axis=0), np.sum(dy, axis=0)
'''),
    S("CS231n's transpose of BN's backward", None, 'PASSED', '''
def layernorm_backward(dy, x, gamma, beta, eps=1e-5):
    xt, gt = x.T, (dy * gamma).T
    m = xt.shape[0]
    xt_hat = (xt - xt.mean(axis=0)) / np.sqrt(xt.var(axis=0) + eps)
    dxt = (m * gt - gt.sum(axis=0) - xt_hat * (gt * xt_hat).sum(axis=0)) / (m * np.sqrt(xt.var(axis=0) + eps))
    return dxt.T, (dy * xt_hat.T).sum(axis=0), dy.sum(axis=0)
'''),
    S('torch autograd in float64', None, 'PASSED', '''
import torch


def layernorm_backward(dy, x, gamma, beta, eps=1e-5):
    xt, g, b = (torch.tensor(a, requires_grad=True) for a in (x, gamma, beta))
    torch.nn.functional.layer_norm(xt, (x.shape[1],), g, b, eps).backward(torch.from_numpy(dy))
    return xt.grad.numpy(), g.grad.numpy(), b.grad.numpy()
'''),
    S('Jacobian per example', None, 'PASSED', '''
def layernorm_backward(dy, x, gamma, beta, eps=1e-5):
    N, D = x.shape
    dx = np.empty_like(x)
    x_hat = np.empty_like(x)
    for i in range(N):
        s = np.sqrt(x[i].var() + eps)
        x_hat[i] = (x[i] - x[i].mean()) / s
        J = (np.eye(D) - 1 / D - np.outer(x_hat[i], x_hat[i]) / D) / s
        dx[i] = J @ (dy[i] * gamma)
    return dx, (dy * x_hat).sum(axis=0), dy.sum(axis=0)
'''),
    S("BN's backward reused, axes unchanged", 'bn_backward_reused', "BN's backward with the axes unchanged", '''
def layernorm_backward(dy, x, gamma, beta, eps=1e-5):
    m = x.shape[0]
    mu = x.mean(axis=0)
    var = x.var(axis=0)
    x_hat = (x - mu) / np.sqrt(var + eps)
    dxh = dy * gamma
    dx = (m * dxh - dxh.sum(axis=0) - x_hat * (dxh * x_hat).sum(axis=0)) / (m * np.sqrt(var + eps))
    return dx, (dy * x_hat).sum(axis=0), dy.sum(axis=0)
'''),
    S('x̂ per example, but dx reduced over the batch', 'bn_axes_in_dx', 'reduces over the batch axis', '''
def layernorm_backward(dy, x, gamma, beta, eps=1e-5):
    std = np.sqrt(x.var(axis=1, keepdims=True) + eps)
    x_hat = (x - x.mean(axis=1, keepdims=True)) / std
    g = dy * gamma
    dx = (g - g.mean(axis=0) - x_hat * (g * x_hat).mean(axis=0)) / std
    return dx, (dy * x_hat).sum(axis=0), dy.sum(axis=0)
'''),
    S('dγ, dβ summed per example', 'dgamma_over_features', 'sums over the features of each example', '''
def layernorm_backward(dy, x, gamma, beta, eps=1e-5):
    std = np.sqrt(x.var(axis=1, keepdims=True) + eps)
    x_hat = (x - x.mean(axis=1, keepdims=True)) / std
    g = dy * gamma
    dx = (g - g.mean(axis=1, keepdims=True) - x_hat * (g * x_hat).mean(axis=1, keepdims=True)) / std
    return dx, (dy * x_hat).sum(axis=1), dy.sum(axis=1)
'''),
    S('no path through σ²', 'missing_var_path', 'through σ²_B', '''
def layernorm_backward(dy, x, gamma, beta, eps=1e-5):
    std = np.sqrt(x.var(axis=1, keepdims=True) + eps)
    x_hat = (x - x.mean(axis=1, keepdims=True)) / std
    g = dy * gamma
    return (g - g.mean(axis=1, keepdims=True)) / std, (dy * x_hat).sum(axis=0), dy.sum(axis=0)
'''),
    S('no path through μ', 'missing_mean_path', 'through μ_B', '''
def layernorm_backward(dy, x, gamma, beta, eps=1e-5):
    std = np.sqrt(x.var(axis=1, keepdims=True) + eps)
    x_hat = (x - x.mean(axis=1, keepdims=True)) / std
    g = dy * gamma
    return (g - x_hat * (g * x_hat).mean(axis=1, keepdims=True)) / std, (dy * x_hat).sum(axis=0), dy.sum(axis=0)
'''),
    S('m = N where the sums run over D', 'm_is_n', 'divides by N', '''
def layernorm_backward(dy, x, gamma, beta, eps=1e-5):
    N = x.shape[0]
    std = np.sqrt(x.var(axis=1, keepdims=True) + eps)
    x_hat = (x - x.mean(axis=1, keepdims=True)) / std
    g = dy * gamma
    dx = (N * g - g.sum(axis=1, keepdims=True) - x_hat * (g * x_hat).sum(axis=1, keepdims=True)) / (N * std)
    return dx, (dy * x_hat).sum(axis=0), dy.sum(axis=0)
'''),
    S('γ left out of dx', 'gamma_forgotten', 'forgets γ', '''
def layernorm_backward(dy, x, gamma, beta, eps=1e-5):
    std = np.sqrt(x.var(axis=1, keepdims=True) + eps)
    x_hat = (x - x.mean(axis=1, keepdims=True)) / std
    dx = (dy - dy.mean(axis=1, keepdims=True) - x_hat * (dy * x_hat).mean(axis=1, keepdims=True)) / std
    return dx, (dy * x_hat).sum(axis=0), dy.sum(axis=0)
'''),
]
# fmt: on

# The function each check takes, as the exercise names it.
FUNCTIONS = {
    "check_batchnorm_forward": "batchnorm_forward",
    "check_running_update": "running_update",
    "check_batchnorm_backward": "batchnorm_backward",
    "check_fold_batchnorm": "fold",
    "check_layernorm_forward": "layernorm_forward",
    "check_layernorm_backward": "layernorm_backward",
}

CORPUS = {
    "ex1_batchnorm_forward": ("check_batchnorm_forward", FORWARD),
    "ex2_running_statistics": ("check_running_update", RUNNING),
    "ex3_batchnorm_backward": ("check_batchnorm_backward", BACKWARD),
    "ex4_folding": ("check_fold_batchnorm", FOLD),
    "ex5_layernorm": ("check_layernorm_forward", LAYERNORM_FORWARD),
    "ex5_layernorm/backward": ("check_layernorm_backward", LAYERNORM_BACKWARD),
}

# Autograded through nbgrader, per exercise: where feedback and grade could part (the tuple, the
# name clash, the in-place update), and one right and one wrong solution.
AUTOGRADED = {
    "ex1_batchnorm_forward": ["a helper named `axes` (the See-it name clash)", "returns (y, cache) as CS231n does"],
    "ex2_running_statistics": ["loop over channels", "updated in place, as a module does"],
    "ex3_batchnorm_backward": ["CS231n's compact form", "m = N for images"],
    "ex4_folding": ["np.diag(s) @ W", "sign error: b + mean"],
    "ex5_layernorm": ["CS231n's transpose of BN", "returns (out, cache) as CS231n does"],
}
