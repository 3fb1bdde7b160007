"""What is particular to BN's compiled path (its equality with the reference is in test_normalize.py and
test_functional.py, which run on both paths): what its cache holds, float64 arithmetic rounded once,
any memory layout, and that numba stays optional."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest

from bnlib import batchnorm_backward, batchnorm_forward, compiled_batchnorm, normalize_backward, normalize_forward
from bnlib.compiled_batchnorm import SavedInput

from reference import channel_axes

needs_numba = pytest.mark.skipif(not compiled_batchnorm.numba_installed(), reason="numba is not installed")


def reference(x, gamma, beta, dy, eps=1e-5):
    """Output and gradients of the reference path (float64 throughout)."""
    shape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
    y, cache = normalize_forward(x, gamma.reshape(shape), beta.reshape(shape), channel_axes(x.ndim), eps)
    dx, dgamma, dbeta = normalize_backward(dy, cache)
    return y, cache, dx, dgamma.reshape(-1), dbeta.reshape(-1)


@needs_numba
def test_the_compiled_path_is_used_where_numba_is_installed(rng):
    assert compiled_batchnorm.available()
    _, cache = batchnorm_forward(rng.normal(size=(8, 3)), np.ones(3), np.zeros(3))
    assert isinstance(cache.norm, SavedInput)


@needs_numba
@pytest.mark.parametrize("shape", [(16, 3), (4, 3, 5, 2)], ids=str)
def test_the_cache_keeps_the_input_and_computes_x_hat_on_demand(shape, rng):
    x = rng.normal(2.0, 3.0, size=shape)
    y, cache = batchnorm_forward(x, np.ones(3), np.zeros(3))
    assert cache.norm.x is x  # no copy of a C-contiguous input
    assert cache.shape == shape and cache.m == x.size // 3
    _, ref, *_ = reference(x, np.ones(3), np.zeros(3), np.zeros(shape))
    np.testing.assert_allclose(cache.x_hat, ref.x_hat, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(cache.x_hat, y, rtol=1e-12, atol=1e-12)  # γ = 1, β = 0


@needs_numba
def test_changing_x_in_place_before_the_backward_changes_the_gradient_as_documented(rng):
    """The module docstring warns about this (PyTorch would raise an error); the test keeps the warning true."""
    x, dy = rng.normal(size=(16, 3)), rng.normal(size=(16, 3))
    _, cache = batchnorm_forward(x, np.ones(3), np.zeros(3))
    dx_before = batchnorm_backward(dy, cache)[0]
    x *= 2.0
    assert not np.allclose(batchnorm_backward(dy, cache)[0], dx_before)


@needs_numba
@pytest.mark.parametrize(
    "layout",
    ["fortran", "strided", "transposed channels"],
)
def test_any_memory_layout_gives_the_reference_result(layout, rng):
    base = rng.normal(1.0, 2.0, size=(12, 6, 5))
    x = {
        "fortran": np.asfortranarray(base),
        "strided": base[:, ::2],  # (12, 3, 5), every other channel
        "transposed channels": base.transpose(0, 2, 1),  # (12, 5, 6)
    }[layout]
    C = x.shape[1]
    dy = rng.normal(size=x.shape)
    gamma, beta = rng.normal(size=C), rng.normal(size=C)
    y, cache = batchnorm_forward(x, gamma, beta)
    dx, dgamma, dbeta = batchnorm_backward(dy, cache)
    y_ref, _, dx_ref, dgamma_ref, dbeta_ref = reference(x, gamma, beta, dy)
    for ours, theirs in [(y, y_ref), (dx, dx_ref), (dgamma, dgamma_ref), (dbeta, dbeta_ref)]:
        np.testing.assert_allclose(ours, theirs, rtol=1e-11, atol=1e-11)
    before = dx.copy()
    x[...] = 0.0  # the cache holds a contiguous copy of a non-contiguous input, not the input
    np.testing.assert_array_equal(batchnorm_backward(dy, cache)[0], before)


@needs_numba
@pytest.mark.parametrize("shape", [(4099, 8), (64, 4, 33), (3, 2, 1, 1)], ids=str)
def test_float32_is_computed_in_float64_and_rounded_once(shape, rng):
    """Every float32 output is within one float32 ulp of the float64 reference's, even at offset 1e4."""
    x = (1e4 + rng.normal(size=shape)).astype(np.float32)
    dy = rng.normal(size=shape).astype(np.float32)
    C = shape[1]
    gamma, beta = rng.normal(size=C).astype(np.float32), rng.normal(size=C).astype(np.float32)
    y, cache = batchnorm_forward(x, gamma, beta)
    dx, dgamma, dbeta = batchnorm_backward(dy, cache)
    y_ref, _, dx_ref, dgamma_ref, dbeta_ref = reference(x.astype(np.float64), gamma, beta, dy.astype(np.float64))
    for ours, theirs in [(y, y_ref), (dx, dx_ref), (dgamma, dgamma_ref), (dbeta, dbeta_ref)]:
        assert ours.dtype == np.float32
        np.testing.assert_array_max_ulp(ours, theirs.astype(np.float32), maxulp=1)


NUMBA_BLOCKED = textwrap.dedent("""
    import sys
    sys.modules["numba"] = None          # any "import numba" now raises ImportError
    import numpy as np
    import bnlib
    from bnlib import compiled_batchnorm
    from bnlib.normalize import NormCache
    x = np.random.default_rng(0).normal(3.0, 2.0, size=(8, 3, 4))
    y, cache = bnlib.batchnorm_forward(x, np.ones(3), np.zeros(3))
    assert not compiled_batchnorm.available() and isinstance(cache.norm, NormCache), "not the numpy path"
    dx, dgamma, dbeta = bnlib.batchnorm_backward(np.ones_like(x), cache)
    assert abs(y.mean()) < 1e-12 and abs(dx).max() < 1e-12 and np.allclose(dbeta, 32.0)
    print("ok")
""")

NOT_IMPORTED = textwrap.dedent("""
    import sys
    import bnlib, bnlib.nn, bnlib.lab
    print("numba" in sys.modules)
""")


def test_without_numba_bn_runs_on_the_numpy_fast_path():
    result = subprocess.run([sys.executable, "-c", NUMBA_BLOCKED], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_importing_bnlib_does_not_import_numba():
    """numba is imported at the first BN call, not by ``import bnlib`` (nor bnlib.nn, bnlib.lab)."""
    result = subprocess.run([sys.executable, "-c", NOT_IMPORTED], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
