"""bnlib.checks: a correct function passes; each classic mistake, written as a student would write
it, is recognised and named; a crashing, stubbed or ill-shaped function gets a message, never an
exception."""

import numpy as np
import pytest

from bnlib import checks
from bnlib.checks import check_batchnorm_backward, check_batchnorm_forward, check_fold_batchnorm, check_running_update


def axes_of(x):
    return (0,) + tuple(range(2, x.ndim))


def bcast(v, x):
    return np.reshape(v, (1, -1) + (1,) * (x.ndim - 2))


# ------------------------------------------------------------------ forward, as students write it
def forward(x, gamma, beta, eps, axes=None, ddof=0, eps_inside=True, apply=True, swap=False, sqrt=True):
    axes = axes_of(x) if axes is None else axes
    mu = x.mean(axis=axes, keepdims=True)
    var = x.var(axis=axes, ddof=ddof, keepdims=True)
    if not sqrt:
        x_hat = (x - mu) / (var + eps)
    elif eps_inside:
        x_hat = (x - mu) / np.sqrt(var + eps)
    else:
        x_hat = (x - mu) / (np.sqrt(var) + eps)
    if not apply:
        return x_hat
    g, b = (bcast(beta, x), bcast(gamma, x)) if swap else (bcast(gamma, x), bcast(beta, x))
    return g * x_hat + b


FORWARD_MISTAKES = {
    "channel_axis": (lambda x, g, b, e: forward(x, g, b, e, axes=1), "over the channels"),
    "not_over_hw": (lambda x, g, b, e: forward(x, g, b, e, axes=0), "per pixel position"),
    "shared_scalar": (
        lambda x, g, b, e: forward(x, g, b, e, axes=tuple(range(x.ndim))),
        "one mean and one variance for the whole input",
    ),
    "unbiased_variance": (lambda x, g, b, e: forward(x, g, b, e, ddof=1), "unbiased variance"),
    "eps_outside_sqrt": (lambda x, g, b, e: forward(x, g, b, e, eps_inside=False), "outside the square root"),
    "no_sqrt": (lambda x, g, b, e: forward(x, g, b, e, sqrt=False), "not by its square root"),
    "gamma_beta_not_applied": (lambda x, g, b, e: forward(x, g, b, e, apply=False), "not applied"),
    "gamma_beta_swapped": (lambda x, g, b, e: forward(x, g, b, e, swap=True), "swapped"),
}


def test_forward_correct_passes():
    result = check_batchnorm_forward(forward)
    assert result.passed and result.mistake is None, result.message
    assert "(N, C, H, W)" in result.message


def test_forward_returning_a_cache_passes():
    assert check_batchnorm_forward(lambda *a: (forward(*a), "cache")).passed


@pytest.mark.parametrize("key", FORWARD_MISTAKES)
def test_forward_mistake_is_named(key):
    fn, phrase = FORWARD_MISTAKES[key]
    result = check_batchnorm_forward(fn)
    assert not result.passed
    assert result.mistake == key and phrase in result.message, result.message


def test_forward_mean_without_keepdims_crashes_into_a_shape_hint():
    def wrong_axis_no_keepdims(x, gamma, beta, eps):  # (6,) against (6, 3): broadcasting error
        return (x - x.mean(axis=1)) / np.sqrt(x.var(axis=1) + eps) * gamma + beta

    result = check_batchnorm_forward(wrong_axis_no_keepdims)
    assert result.mistake == "raised" and "broadcast" in result.message and "(1, C, 1, 1)" in result.message


def test_forward_gamma_not_reshaped_for_images():
    def flat_gamma(x, gamma, beta, eps):
        axes = axes_of(x)
        x_hat = (x - x.mean(axis=axes, keepdims=True)) / np.sqrt(x.var(axis=axes, keepdims=True) + eps)
        return gamma * x_hat + beta  # fine for (N, C), fails for (N, C, H, W)

    result = check_batchnorm_forward(flat_gamma)
    assert result.mistake == "raised" and "(1, C, 1, 1)" in result.message


def test_stub_wrong_shape_nan_and_generic_error():
    def stub(*args):
        raise NotImplementedError()

    assert check_batchnorm_forward(stub).message.startswith("not implemented yet")
    assert check_batchnorm_forward(stub).mistake == "not_implemented"
    shape = check_batchnorm_forward(lambda x, g, b, e: forward(x, g, b, e)[:2])
    assert shape.mistake == "wrong_shape" and "expected (6, 3)" in shape.message
    nan = check_batchnorm_forward(lambda x, g, b, e: forward(x, g, b, e) * np.nan)
    assert nan.mistake == "not_finite"
    off = check_batchnorm_forward(lambda x, g, b, e: forward(x, g, b, e) + 0.01)
    assert off.mistake == "wrong_values" and "up to 0.01" in off.message
    text = check_batchnorm_forward(lambda *a: "y")
    assert text.mistake == "wrong_type" and not text.passed


def test_result_renders_in_a_notebook():
    good, bad = check_batchnorm_forward(forward), check_batchnorm_forward(FORWARD_MISTAKES["no_sqrt"][0])
    assert str(good).startswith("batchnorm_forward: PASSED") and "✅" in good._repr_markdown_()
    assert str(bad).startswith("batchnorm_forward: NOT YET") and "❌" in bad._repr_markdown_()


def test_the_student_arrays_cannot_corrupt_the_check():
    def in_place(x, gamma, beta, eps):
        y = forward(x, gamma, beta, eps)
        gamma *= 0  # mutates its argument
        return y

    assert check_batchnorm_forward(in_place).passed
    assert check_batchnorm_forward(forward).passed  # the module's GAMMA was not changed
    np.testing.assert_array_equal(checks.GAMMA, [1.5, 0.5, 2.0])


# ------------------------------------------------------------------ running update
def running(rm, rv, x, momentum, ddof=1, reverse=False, axes=None, bessel_n=False, update=True):
    axes = axes_of(x) if axes is None else axes
    mu, var = x.mean(axis=axes), x.var(axis=axes)
    m = x.size // x.shape[1]
    if ddof == 1:
        var = var * ((x.shape[0] / (x.shape[0] - 1)) if bessel_n else m / (m - 1))
    if not update:
        return rm, rv
    k = 1 - momentum if reverse else momentum
    return (1 - k) * rm + k * mu, (1 - k) * rv + k * var


RUNNING_MISTAKES = {
    "biased_variance": (lambda *a: running(*a, ddof=0), "biased batch variance"),
    "momentum_reversed": (lambda *a: running(*a, reverse=True), "reversed"),
    "not_over_hw": (lambda *a: running(*a, axes=0), "not reduced over H and W"),
    "channel_axis": (lambda rm, rv, x, k: running(rm, rv, x, k, axes=tuple(range(1, x.ndim))), "over the channels"),
    "shared_scalar": (lambda rm, rv, x, k: running(rm, rv, x, k, axes=tuple(range(x.ndim))), "shared by all channels"),
    "bessel_with_n": (lambda *a: running(*a, bessel_n=True), "m = N·H·W"),
    "no_update": (lambda *a: running(*a, update=False), "did not change"),
    "batch_only": (lambda *a: running(*a[:3], 1.0), "batch mean itself"),
}


def test_running_correct_passes():
    result = check_running_update(running)
    assert result.passed, result.message


@pytest.mark.parametrize("key", RUNNING_MISTAKES)
def test_running_mistake_is_named(key):
    fn, phrase = RUNNING_MISTAKES[key]
    result = check_running_update(fn)
    assert not result.passed and result.mistake == key and phrase in result.message, result.message


def test_running_wrong_return():
    result = check_running_update(lambda rm, rv, x, k: running(rm, rv, x, k)[0])
    assert result.mistake == "wrong_return" and "(new_mean, new_var)" in result.message


# ------------------------------------------------------------------ backward, staged as on the graph
def backward(
    dy,
    x,
    gamma,
    beta,
    eps,
    through_mean=True,
    through_var=True,
    use_gamma=True,
    ddof=0,
    swap=False,
    dgamma_from_x=False,
):
    axes, m = axes_of(x), x.size // x.shape[1]
    mu = x.mean(axis=axes, keepdims=True)
    var = ((x - mu) ** 2).sum(axis=axes, keepdims=True) / (m - ddof)
    inv_std = 1 / np.sqrt(var + eps)
    x_hat = (x - mu) * inv_std
    dx_hat = dy * bcast(gamma, x) if use_gamma else dy
    dvar = (dx_hat * (x - mu)).sum(axis=axes, keepdims=True) * -0.5 * inv_std**3
    dmu = -(dx_hat * inv_std).sum(axis=axes, keepdims=True)
    dx = dx_hat * inv_std
    if through_var:
        dx = dx + dvar * 2 * (x - mu) / (m - ddof)
    if through_mean:
        dx = dx + dmu / m
    dgamma = (dy * (x if dgamma_from_x else x_hat)).sum(axis=axes)
    dbeta = dy.sum(axis=axes)
    return (dx, dbeta, dgamma) if swap else (dx, dgamma, dbeta)


BACKWARD_MISTAKES = {
    "missing_var_path": (lambda *a: backward(*a, through_var=False), "through σ²_B"),
    "missing_mean_path": (lambda *a: backward(*a, through_mean=False), "through μ_B"),
    "no_statistics_path": (lambda *a: backward(*a, through_mean=False, through_var=False), "as constants"),
    "gamma_forgotten": (lambda *a: backward(*a, use_gamma=False), "forgets γ"),
    "unbiased_variance": (lambda *a: backward(*a, ddof=1), "unbiased variance"),
    "dgamma_dbeta_swapped": (lambda *a: backward(*a, swap=True), "swapped"),
    "dgamma_uses_x": (lambda *a: backward(*a, dgamma_from_x=True), "uses x where it needs x̂"),
}


def test_backward_correct_passes():
    result = check_batchnorm_backward(backward)
    assert result.passed, result.message


@pytest.mark.parametrize("key", BACKWARD_MISTAKES)
def test_backward_mistake_is_named(key):
    fn, phrase = BACKWARD_MISTAKES[key]
    result = check_batchnorm_backward(fn)
    assert not result.passed and result.mistake == key and phrase in result.message, result.message


def test_backward_variants_match_bnlib_and_differ_from_each_other():
    """The check's own closed-form correct gradient equals bnlib's; every mistake differs from it."""
    import bnlib

    rng = np.random.default_rng(0)
    for shape in checks.SHAPES:
        x, dy = checks._channel_data(shape, rng), rng.standard_normal(shape)
        reference = bnlib.batchnorm_backward(dy, bnlib.batchnorm_forward(x, checks.GAMMA, checks.BETA, checks.EPS)[1])
        correct, mistakes = checks._backward_variants(dy, x, checks.GAMMA, checks.EPS)
        for a, b in zip(correct, reference):
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
        for known, want in zip(mistakes, correct):
            for key, (candidate, _) in known.items():
                assert not checks._close(candidate, want), key


def test_backward_not_summed_over_hw():
    def per_position(dy, x, gamma, beta, eps):
        dx, _, _ = backward(dy, x, gamma, beta, eps)
        return dx, (dy * x).sum(axis=0), dy.sum(axis=0)

    result = check_batchnorm_backward(per_position)
    assert result.passed is False  # (N, C) case: dgamma uses x
    only_images = check_batchnorm_backward(
        lambda dy, x, *a: per_position(dy, x, *a) if x.ndim > 2 else backward(dy, x, *a)
    )
    assert only_images.mistake == "not_over_hw" and "axes (0, 2, 3)" in only_images.message


# ------------------------------------------------------------------ folding
def fold(
    W,
    b,
    gamma,
    beta,
    mean,
    var,
    eps,
    use_bias=True,
    eps_in=True,
    on_inputs=False,
    use_beta=True,
    scale_bias=True,
    use_sqrt=True,
):
    denominator = np.sqrt(var + eps if eps_in else var) if use_sqrt else var + eps
    s = gamma / denominator
    W2 = W * s[None, :] if on_inputs else W * s[:, None]
    if not scale_bias:
        return W2, b + beta - s * mean
    b2 = s * ((b if use_bias else 0) - mean) + (beta if use_beta else 0)
    return W2, b2


FOLD_MISTAKES = {
    "forgot_bias": (lambda *a: fold(*a, use_bias=False), "forgets the layer's own bias"),
    "std_without_eps": (lambda *a: fold(*a, eps_in=False), "without ε"),
    "scale_on_inputs": (lambda *a: fold(*a, on_inputs=True), "columns"),
    "forgot_beta": (lambda *a: fold(*a, use_beta=False), "forgets β"),
    "bias_not_scaled": (lambda *a: fold(*a, scale_bias=False), "not scaled"),
    "var_not_std": (lambda *a: fold(*a, use_sqrt=False), "not the standard deviation"),
}


def test_fold_correct_passes():
    result = check_fold_batchnorm(fold)
    assert result.passed, result.message


@pytest.mark.parametrize("key", FOLD_MISTAKES)
def test_fold_mistake_is_named(key):
    fn, phrase = FOLD_MISTAKES[key]
    result = check_fold_batchnorm(fn)
    assert not result.passed and result.mistake == key and phrase in result.message, result.message


def test_fold_agrees_with_the_layers_it_replaces():
    """The check's reference (bnlib.fold_batchnorm) is the function of Linear followed by eval-mode BN."""
    rng = np.random.default_rng(5)
    W, b, x = rng.standard_normal((3, 5)), rng.standard_normal(3), rng.standard_normal((7, 5))
    mean, var = np.array([0.5, -1.0, 2.0]), np.array([2.0, 0.5, 1e-4])
    W2, b2 = fold(W, b, checks.GAMMA, checks.BETA, mean, var, checks.EPS)
    z = x @ W.T + b
    expected = checks.GAMMA * (z - mean) / np.sqrt(var + checks.EPS) + checks.BETA
    np.testing.assert_allclose(x @ W2.T + b2, expected, rtol=1e-12)


def test_checks_import_without_torch():
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['torch'] = None\n"
        "import bnlib.checks\n"
        "print(bnlib.checks.check_batchnorm_forward(lambda *a: 0).mistake)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "wrong_shape"
