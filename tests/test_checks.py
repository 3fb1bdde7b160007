"""bnlib.checks: a correct function passes; each classic mistake, written as a student would write
it, is recognised and named; a crashing, stubbed or ill-shaped function gets a message, never an
exception."""

import json
import re
from functools import partial
from pathlib import Path

import numpy as np
import pytest

from bnlib import checks
from bnlib.checks import check_batchnorm_backward, check_batchnorm_forward, check_fold_batchnorm, check_running_update


def axes_of(x):
    return (0,) + tuple(range(2, x.ndim))


def bcast(v, x):
    return np.reshape(v, (1, -1) + (1,) * (x.ndim - 2))


# ------------------------------------------------------------------ forward, as students write it
def forward(x, gamma, beta, eps=1e-5, axes=None, ddof=0, eps_inside=True, apply=True, swap=False, sqrt=True):
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
    "channel_axis": (partial(forward, axes=1), "over the channels"),
    "not_over_hw": (partial(forward, axes=0), "per pixel position"),
    "shared_scalar": (
        lambda x, g, b, eps=1e-5: forward(x, g, b, eps, axes=tuple(range(x.ndim))),
        "one mean and one variance for the whole input",
    ),
    "unbiased_variance": (partial(forward, ddof=1), "unbiased variance"),
    "eps_outside_sqrt": (partial(forward, eps_inside=False), "outside the square root"),
    "no_sqrt": (partial(forward, sqrt=False), "not by its square root"),
    "gamma_beta_not_applied": (partial(forward, apply=False), "not applied"),
    "gamma_beta_swapped": (partial(forward, swap=True), "swapped"),
}


def test_forward_correct_passes():
    result = check_batchnorm_forward(forward)
    assert result.passed and result.mistake is None, result.message
    assert "(N, C, H, W)" in result.message


def test_forward_returning_a_cache_is_refused_in_one_sentence():
    result = check_batchnorm_forward(lambda *a, **k: (forward(*a, **k), "cache"))
    assert result.mistake == "returned_tuple" and result.message.startswith("return y only, not (y, cache)")


@pytest.mark.parametrize("key", FORWARD_MISTAKES)
def test_forward_mistake_is_named(key):
    fn, phrase = FORWARD_MISTAKES[key]
    result = check_batchnorm_forward(fn)
    assert not result.passed
    assert result.mistake == key and phrase in result.message, result.message


def test_forward_mean_without_keepdims_crashes_into_a_shape_hint():
    def wrong_axis_no_keepdims(x, gamma, beta, eps=1e-5):  # (6,) against (6, 3): broadcasting error
        return (x - x.mean(axis=1)) / np.sqrt(x.var(axis=1) + eps) * gamma + beta

    result = check_batchnorm_forward(wrong_axis_no_keepdims)
    assert result.mistake == "raised" and "broadcast" in result.message and "(1, C, 1, 1)" in result.message


def test_forward_gamma_not_reshaped_for_images():
    def flat_gamma(x, gamma, beta, eps=1e-5):
        axes = axes_of(x)
        x_hat = (x - x.mean(axis=axes, keepdims=True)) / np.sqrt(x.var(axis=axes, keepdims=True) + eps)
        return gamma * x_hat + beta  # fine for (N, C), fails for (N, C, H, W)

    result = check_batchnorm_forward(flat_gamma)
    assert result.mistake == "raised" and "(1, C, 1, 1)" in result.message


def test_stub_wrong_shape_nan_and_generic_error():
    def stub(*args, **kwargs):
        raise NotImplementedError()

    assert check_batchnorm_forward(stub).message.startswith("not implemented yet")
    assert check_batchnorm_forward(stub).mistake == "not_implemented"
    shape = check_batchnorm_forward(lambda x, g, b, eps=1e-5: forward(x, g, b, eps)[:2])
    assert shape.mistake == "wrong_shape" and "expected (6, 3)" in shape.message
    nan = check_batchnorm_forward(lambda x, g, b, eps=1e-5: forward(x, g, b, eps) * np.nan)
    assert nan.mistake == "not_finite" and "18 of 18 values" in nan.message
    off = check_batchnorm_forward(lambda x, g, b, eps=1e-5: forward(x, g, b, eps) + 0.01)
    assert off.mistake == "wrong_values" and "up to 0.01" in off.message
    text = check_batchnorm_forward(lambda *a, **k: "y")
    assert text.mistake == "wrong_type" and not text.passed


def test_result_renders_in_a_notebook():
    good, bad = check_batchnorm_forward(forward), check_batchnorm_forward(FORWARD_MISTAKES["no_sqrt"][0])
    assert str(good).startswith("batchnorm_forward: PASSED") and "✅" in good._repr_markdown_()
    assert str(bad).startswith("batchnorm_forward: NOT YET") and "❌" in bad._repr_markdown_()


def test_an_argument_changed_in_place_is_refused_and_cannot_corrupt_the_check():
    def in_place(x, gamma, beta, eps=1e-5):
        y = forward(x, gamma, beta, eps)
        gamma *= 0  # mutates its argument
        return y

    result = check_batchnorm_forward(in_place)
    assert result.mistake == "in_place" and "changed its argument `gamma` in place" in result.message
    assert check_batchnorm_forward(forward).passed  # the module's GAMMA was not changed
    np.testing.assert_array_equal(checks.GAMMA, [1.5, 0.5, 2.0])


# ------------------------------------------------------------------ running update
def running(rm, rv, x, momentum=0.1, ddof=1, reverse=False, axes=None, bessel_n=False, update=True):
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
    "biased_variance": (partial(running, ddof=0), "biased batch variance"),
    "momentum_reversed": (partial(running, reverse=True), "reversed"),
    "not_over_hw": (partial(running, axes=0), "not reduced over H and W"),
    "channel_axis": (
        lambda rm, rv, x, momentum=0.1: running(rm, rv, x, momentum, axes=tuple(range(1, x.ndim))),
        "over the channels",
    ),
    "shared_scalar": (
        lambda rm, rv, x, momentum=0.1: running(rm, rv, x, momentum, axes=tuple(range(x.ndim))),
        "shared by all channels",
    ),
    "bessel_with_n": (partial(running, bessel_n=True), "m = N·H·W"),
    "no_update": (partial(running, update=False), "did not change"),
    "batch_only": (lambda rm, rv, x, momentum=0.1: running(rm, rv, x, 1.0), "batch mean itself"),
}


def test_running_correct_passes():
    result = check_running_update(running)
    assert result.passed, result.message


@pytest.mark.parametrize("key", RUNNING_MISTAKES)
def test_running_mistake_is_named(key):
    fn, phrase = RUNNING_MISTAKES[key]
    result = check_running_update(fn)
    assert not result.passed and result.mistake == key and phrase in result.message, result.message


def test_running_momentum_reversed_in_the_variance_only():
    def reversed_var(rm, rv, x, momentum=0.1):
        new_mean, _ = running(rm, rv, x, momentum)
        _, new_var = running(rm, rv, x, momentum, reverse=True)
        return new_mean, new_var

    result = check_running_update(reversed_var)
    assert result.mistake == "momentum_reversed" and result.message.startswith("new_var is wrong"), result.message
    assert "momentum weights of the variance are reversed" in result.message


def test_running_wrong_return():
    result = check_running_update(lambda rm, rv, x, momentum=0.1: running(rm, rv, x, momentum)[0])
    assert result.mistake == "wrong_return" and "(new_mean, new_var)" in result.message


# ------------------------------------------------------------------ backward, staged as on the graph
def backward(
    dy,
    x,
    gamma,
    beta,
    eps=1e-5,
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
    "missing_var_path": (partial(backward, through_var=False), "through σ²_B"),
    "missing_mean_path": (partial(backward, through_mean=False), "through μ_B"),
    "no_statistics_path": (partial(backward, through_mean=False, through_var=False), "as constants"),
    "gamma_forgotten": (partial(backward, use_gamma=False), "forgets γ"),
    "unbiased_variance": (partial(backward, ddof=1), "unbiased variance"),
    "dgamma_dbeta_swapped": (partial(backward, swap=True), "swapped"),
    "dgamma_uses_x": (partial(backward, dgamma_from_x=True), "uses x where it needs x̂"),
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
        axes = axes_of(x)
        correct, mistakes = checks._backward_variants(
            dy, x, checks.GAMMA, checks.EPS, axes, axes, (1, -1) + (1,) * (x.ndim - 2)
        )
        for a, b in zip(correct, reference):
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
        for known, want in zip(mistakes, correct):
            for key, (candidate, _) in known.items():
                assert not checks._close(candidate, want), key


def test_backward_not_summed_over_hw():
    def per_position(dy, x, gamma, beta, eps=1e-5):
        dx, _, _ = backward(dy, x, gamma, beta, eps)
        return dx, (dy * x).sum(axis=0), dy.sum(axis=0)

    result = check_batchnorm_backward(per_position)
    assert result.passed is False  # (N, C) case: dgamma uses x
    only_images = check_batchnorm_backward(
        lambda dy, x, *a, **k: per_position(dy, x, *a, **k) if x.ndim > 2 else backward(dy, x, *a, **k)
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
    eps=1e-5,
    use_bias=True,
    eps_in=True,
    on_inputs=False,
    use_beta=True,
    scale_bias=True,
    use_sqrt=True,
    eps_outside=False,
):
    denominator = np.sqrt(var + eps if eps_in else var) if use_sqrt else var + eps
    if eps_outside:
        denominator = np.sqrt(var) + eps
    s = gamma / denominator
    W2 = W * s[None, :] if on_inputs else W * s[:, None]
    if not scale_bias:
        return W2, b + beta - s * mean
    b2 = s * ((b if use_bias else 0) - mean) + (beta if use_beta else 0)
    return W2, b2


FOLD_MISTAKES = {
    "forgot_bias": (partial(fold, use_bias=False), "forgets the layer's own bias"),
    "std_without_eps": (partial(fold, eps_in=False), "without ε"),
    "scale_on_inputs": (partial(fold, on_inputs=True), "columns"),
    "forgot_beta": (partial(fold, use_beta=False), "forgets β"),
    "bias_not_scaled": (partial(fold, scale_bias=False), "not scaled"),
    "var_not_std": (partial(fold, use_sqrt=False), "not the standard deviation"),
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
        "print(bnlib.checks.check_batchnorm_forward(lambda *a, **k: 0).mistake)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "wrong_type"


def test_layernorm_backward_variants_match_bnlib_and_differ_from_each_other():
    import bnlib

    rng = np.random.default_rng(1)
    for shape in checks.LN_SHAPES:
        x, dy = checks._example_data(shape, rng), rng.standard_normal(shape)
        _, cache = bnlib.layernorm_forward(x, checks.LN_GAMMA, checks.LN_BETA, checks.EPS)
        correct, mistakes = checks._backward_variants(dy, x, checks.LN_GAMMA, checks.EPS, (1,), (0,), (1, -1))
        for a, b in zip(correct, bnlib.layernorm_backward(dy, cache)):
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
        for known, want in zip(mistakes, correct):
            for key, (candidate, _) in known.items():
                assert not checks._close(candidate, want), key


# ------------------------------------------------------------------ the tolerance, pinned
def scaled_forward(factor):
    return lambda x, gamma, beta, eps=1e-5: forward(x, gamma, beta, eps) * factor


def test_tolerance_is_pinned():
    """RTOL = 1e-10, the graded tests' tolerance: an answer off by 5e-10 relative is refused (as a
    float32-size error), 3e-11 passes; off by 1e-3 relative it is plainly wrong, not a precision matter."""
    assert check_batchnorm_forward(scaled_forward(1 + 3e-11)).passed
    near = check_batchnorm_forward(scaled_forward(1 + 5e-10))
    assert not near.passed and near.mistake == "float32" and "a step in the middle ran in float32" in near.message
    assert check_batchnorm_forward(scaled_forward(1 + 3e-5)).mistake == "float32"
    far = check_batchnorm_forward(scaled_forward(1 + 1e-3))
    assert far.mistake == "wrong_values"


def test_feedback_is_as_strict_as_every_graded_comparison_with_bnlib():
    """Feedback "passed" must imply the graded cells pass: no graded ``assert_allclose`` against an
    exact value may be stricter than the checks' RTOL (tolerances of 1e-5 and looser compare with
    finite differences or slopes, which no exact answer can meet more closely)."""
    root = Path(__file__).resolve().parent.parent / "exercises" / "source"
    graded = []
    for path in sorted(root.glob("*/*.ipynb")):
        for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
            source = "".join(cell["source"])
            if cell["cell_type"] == "code" and "assert_allclose" in source:
                graded += [float(r) for r in re.findall(r"rtol=([0-9.e-]+)", source)]
    exact = [r for r in graded if r < 1e-5]
    assert exact, "no graded comparison found (the test would pass vacuously)"
    assert checks.RTOL <= min(exact), f"checks.RTOL = {checks.RTOL}, but a graded cell compares to {min(exact)}"


# ------------------------------------------------------------------ where a mistake shows
def test_the_channel_furthest_off_is_named():
    def off_in(channel, only_images=False):
        def fn(x, gamma, beta, eps=1e-5):
            y = forward(x, gamma, beta, eps)
            if x.ndim > 2 or not only_images:
                y[:, channel] += 0.01
            return y

        return fn

    assert "channel 2 " in check_batchnorm_forward(off_in(2)).message
    assert "channel 0 " in check_batchnorm_forward(off_in(0)).message
    images = check_batchnorm_forward(off_in(1, only_images=True))
    assert "(N, C, H, W) input" in images.message and "channel 1 " in images.message


def test_the_row_of_w_is_named_for_the_folded_weight():
    def off_in_row(row):
        def fn(W, b, gamma, beta, mean, var, eps=1e-5):
            W2, b2 = fold(W, b, gamma, beta, mean, var, eps)
            W2[row] += 0.01
            return W2, b2

        return fn

    for row in (0, 1):
        assert f"row {row} of W" in check_fold_batchnorm(off_in_row(row)).message
    eps_outside = check_fold_batchnorm(partial(fold, eps_outside=True))
    assert eps_outside.mistake == "eps_outside_sqrt" and "row 2 of W" in eps_outside.message


def test_the_example_is_named_for_layernorm():
    def off_in_example(i):
        def fn(x, gamma, beta, eps=1e-5):
            y = gamma * (x - x.mean(1, keepdims=True)) / np.sqrt(x.var(1, keepdims=True) + eps) + beta
            y[i] += 0.01
            return y

        return fn

    assert "example 3 (row 3)" in checks.check_layernorm_forward(off_in_example(3)).message
    assert "example 1 (row 1)" in checks.check_layernorm_forward(off_in_example(1)).message


# ------------------------------------------------------------------ float32: where the precision went
def test_float32_answers_are_told_where_the_precision_went():
    rounded_x = check_batchnorm_forward(
        lambda x, gamma, beta, eps=1e-5: forward(x.astype(np.float32).astype(np.float64), gamma, beta, eps)
    )
    assert rounded_x.mistake == "float32" and "`x` was rounded to float32" in rounded_x.message
    cast_at_end = check_batchnorm_forward(lambda *a, **k: forward(*a, **k).astype(np.float32))
    assert cast_at_end.mistake == "float32" and "only the result is rounded" in cast_at_end.message
    assert "right to float32 precision" in cast_at_end.message and "relative" in cast_at_end.message
    in_float32 = check_batchnorm_forward(
        lambda x, gamma, beta, eps=1e-5: forward(
            x.astype(np.float32), gamma.astype(np.float32), beta.astype(np.float32), np.float32(eps)
        )
    )
    assert in_float32.mistake == "float32" and "the computation ran in float32" in in_float32.message
    wrong_and_float32 = check_batchnorm_forward(lambda *a, **k: forward(*a, **k, eps_inside=False).astype(np.float32))
    assert wrong_and_float32.mistake == "eps_outside_sqrt"


# ------------------------------------------------------------------ the graded contract
def test_the_signature_the_graded_cells_use_is_required():
    no_default = check_batchnorm_backward(lambda dy, x, gamma, beta, eps: backward(dy, x, gamma, beta, eps))
    assert (
        no_default.mistake == "signature"
        and "def batchnorm_backward(dy, x, gamma, beta, eps=1e-5)" in no_default.message
    )
    other_default = check_fold_batchnorm(partial(fold, eps=1e-8))
    assert other_default.mistake == "signature" and "`eps` defaults to 1e-08" in other_default.message
    renamed = check_batchnorm_forward(lambda x, gamma, beta, epsilon=1e-5: forward(x, gamma, beta, epsilon))
    assert renamed.mistake == "signature" and "eps by name" in renamed.message
    assert check_batchnorm_forward(lambda x, gamma, beta, eps: forward(x, gamma, beta, eps)).passed  # ex1 passes eps
    assert check_batchnorm_forward(max).mistake == "raised"  # a builtin without a signature: the call tells
    assert check_batchnorm_forward("batchnorm_forward").mistake == "not_callable"


@pytest.mark.parametrize(
    "value, phrase",
    [
        (None, "did you forget `return`?"),
        ([[0.0] * 3] * 6, "got list"),
        (np.zeros((6, 3), dtype=np.int64), "dtype int64"),
        (np.zeros((6, 3), dtype=complex), "dtype complex128"),
        (np.zeros((3, 6)), "shape (3, 6), expected (6, 3)"),
        (3.0, "got float"),
    ],
)
def test_what_is_returned_gets_one_sentence(value, phrase):
    result = check_batchnorm_forward(lambda x, gamma, beta, eps=1e-5: value)
    assert not result.passed and phrase in result.message, result.message


def test_a_tensor_with_requires_grad_is_refused_not_raised():
    torch = pytest.importorskip("torch")

    def autograd_forward(x, gamma, beta, eps=1e-5):
        return torch.tensor(forward(x, gamma, beta, eps), requires_grad=True) * 1.0

    result = check_batchnorm_forward(autograd_forward)
    assert result.mistake == "wrong_type" and "torch.Tensor" in result.message and ".detach().numpy()" in result.message


def test_an_exception_with_a_broken_str_is_still_reported():
    class Broken(Exception):
        def __str__(self):
            raise RuntimeError("no")

    def fn(x, gamma, beta, eps=1e-5):
        raise Broken()

    result = check_batchnorm_forward(fn)
    assert result.mistake == "raised" and "Broken" in result.message


def test_assert_passed_is_the_graded_cells_test():
    check_batchnorm_forward(forward).assert_passed()
    with pytest.raises(AssertionError, match="outside the square root"):
        check_batchnorm_forward(FORWARD_MISTAKES["eps_outside_sqrt"][0]).assert_passed()


# ------------------------------------------------------------------ a check never raises
ALL_CHECKS = [
    check_batchnorm_forward,
    check_running_update,
    check_batchnorm_backward,
    check_fold_batchnorm,
    checks.check_layernorm_forward,
    checks.check_layernorm_backward,
]


class Hostile:
    """An object whose every protocol raises: the check must not touch it in a way that escapes."""

    def __getattr__(self, name):  # .shape, .dtype, .numpy ... raise; private names are simply absent
        if name.startswith("_"):
            raise AttributeError(name)
        raise RuntimeError(f"no {name}")

    def __repr__(self):
        return "Hostile()"

    def __len__(self):
        raise RuntimeError("no len")

    def __array__(self, *args, **kwargs):
        raise RuntimeError("no array")

    def __iter__(self):
        raise RuntimeError("no iter")

    def __str__(self):
        raise RuntimeError("no str")

    def __eq__(self, other):
        raise RuntimeError("no eq")

    __hash__ = object.__hash__


def returned_values():
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp

    arrays = hnp.arrays(
        dtype=st.sampled_from([np.float64, np.float32, np.int64, np.bool_, np.complex128, object]),
        shape=hnp.array_shapes(min_dims=0, max_dims=4, max_side=6),
        elements=None,
    )
    channel_shaped = st.sampled_from([(6, 3), (4, 3, 2, 5), (3,), (3, 3), (3, 5), (4, 4), (6, 4), (4,)]).flatmap(
        lambda shape: hnp.arrays(np.float64, shape, elements=st.floats(allow_nan=True, allow_infinity=True))
    )
    scalars = st.one_of(st.none(), st.integers(), st.floats(), st.text(max_size=5), st.just(Hostile()))
    leaves = st.one_of(scalars, arrays, channel_shaped, st.lists(st.floats(), max_size=4))
    return st.recursive(
        leaves,
        lambda inner: st.one_of(st.tuples(inner, inner), st.tuples(inner, inner, inner), st.lists(inner, max_size=3)),
    )


def test_checks_never_raise_on_any_return_value():
    torch = pytest.importorskip("torch")
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    tensors = st.sampled_from([(6, 3), (3,), (4, 4)]).map(
        lambda shape: torch.zeros(shape, dtype=torch.float64, requires_grad=True)
    )
    values = st.one_of(returned_values(), tensors, st.tuples(tensors, tensors), st.tuples(tensors, tensors, tensors))

    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(value=values, which=st.sampled_from(ALL_CHECKS))
    def run(value, which):
        result = which(lambda *args, **kwargs: value)
        assert isinstance(result, checks.CheckResult) and not result.passed
        assert isinstance(result.message, str) and result.message and isinstance(str(result), str)

    run()


def test_checks_never_raise_on_any_exception():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    kinds = st.sampled_from(
        [
            ValueError,
            TypeError,
            RuntimeError,
            ZeroDivisionError,
            IndexError,
            KeyError,
            AssertionError,
            MemoryError,
            RecursionError,
        ]
    )

    @settings(max_examples=60, deadline=None)
    @given(kind=kinds, text=st.text(max_size=30), which=st.sampled_from(ALL_CHECKS))
    def run(kind, text, which):
        def fn(*args, **kwargs):
            raise kind(text)

        result = which(fn)
        assert not result.passed and result.mistake == "raised" and kind.__name__ in result.message

    run()
