"""bnlib.normalize (the reference core) against the float64 oracle, and BN's two fast paths against the reference.

Every test runs on the compiled path and on the numpy fast path (the module-scoped ``bn_path``); the
reference-only tests at the top do not depend on it."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from bnlib import batchnorm_backward, batchnorm_forward, fast_batchnorm, normalize_backward, normalize_forward
from bnlib.compiled_batchnorm import SavedInput

from conftest import EPS_VALUES
from reference import channel_axes, numerical_gradient, oracle_normalize, relative_error

pytestmark = pytest.mark.usefixtures("bn_path")

# (input shape, axes, parameter shape): BN-, LN-, GN-like and odd layouts
CASES = [
    ((6, 3), (0,), (1, 3)),
    ((4, 3, 5), (0, 2), (1, 3, 1)),
    ((4, 3, 5), (2,), (5,)),
    ((4, 3, 5), (1, 2), (3, 5)),
    ((2, 3, 4, 2), (0, 2, 3), (1, 3, 1, 1)),
    ((2, 2, 3, 2), (2, 3), (1, 2, 3, 1)),
    ((3, 4, 2), (1,), (1, 4, 1)),
    ((2, 3, 2, 2, 2), (-1, -2), (2, 2)),
]


@pytest.mark.parametrize("shape, axes, param_shape", CASES, ids=str)
@pytest.mark.parametrize("eps", EPS_VALUES)
def test_forward_equals_the_oracle(shape, axes, param_shape, eps, rng):
    x = rng.normal(3.0, 2.0, size=shape)
    gamma, beta = rng.normal(size=param_shape), rng.normal(size=param_shape)
    y, cache = normalize_forward(x, gamma, beta, axes, eps)
    np.testing.assert_allclose(y, oracle_normalize(x, axes, eps, gamma, beta), rtol=1e-12, atol=1e-12)
    assert cache.m == np.prod([shape[a] for a in axes])


@pytest.mark.parametrize("shape, axes, param_shape", CASES, ids=str)
def test_backward_matches_finite_differences(shape, axes, param_shape, rng):
    x = rng.normal(size=shape)
    gamma, beta = rng.normal(size=param_shape), rng.normal(size=param_shape)
    weights = rng.normal(size=shape)

    def loss():
        return np.sum(weights * normalize_forward(x, gamma, beta, axes, 1e-3)[0])

    dx, dgamma, dbeta = normalize_backward(weights, normalize_forward(x, gamma, beta, axes, 1e-3)[1])
    assert dgamma.shape == dbeta.shape == param_shape
    for analytic, wrt in [(dx, x), (dgamma, gamma), (dbeta, beta)]:
        assert relative_error(analytic, numerical_gradient(loss, wrt)) < 1e-7


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_output_dtype_follows_input(dtype, rng):
    x = rng.normal(size=(4, 3)).astype(dtype)
    y, cache = normalize_forward(x, np.ones(3), np.zeros(3), axes=1)
    assert y.dtype == dtype and cache.mean.dtype == np.float64
    assert normalize_backward(np.ones_like(x), cache)[0].dtype == dtype


# ---- the fast path equals the reference --------------------------------------------------------

FAST_SHAPES = [
    (5, 3),
    (16, 2),
    (37, 4),
    (4, 3, 7),
    (3, 2, 4, 5),
    (2, 3, 2, 2, 3),
    (2, 2, fast_batchnorm.SPATIAL_BLOCK + 7),
    (5, 3, 1, 1),
]


@pytest.mark.parametrize("shape", FAST_SHAPES, ids=str)
@pytest.mark.parametrize("offset", [0.0, 1e4])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_fast_path_equals_the_reference(shape, offset, dtype, rng, bn_path):
    x = (offset + rng.normal(size=shape)).astype(dtype)
    dy = rng.normal(size=shape).astype(dtype)
    C, ndim = shape[1], len(shape)
    gamma, beta = rng.normal(size=C).astype(dtype), rng.normal(size=C).astype(dtype)
    y, cache = batchnorm_forward(x, gamma, beta, 1e-3)
    assert isinstance(cache.norm, SavedInput) == (bn_path == "compiled")  # the path under test ran
    dx, dgamma, dbeta = batchnorm_backward(dy, cache)
    per_channel = (1, C) + (1,) * (ndim - 2)
    y_ref, ref = normalize_forward(x, gamma.reshape(per_channel), beta.reshape(per_channel), channel_axes(ndim), 1e-3)
    dx_ref, dgamma_ref, dbeta_ref = normalize_backward(dy, ref)
    # float64: rounding only; float32: element-wise work in float32 on the numpy path (6e-8 relative per
    # step; the compiled path works in float64 and rounds once), sums in float64 on both
    tol = dict(rtol=1e-11, atol=1e-11) if dtype == np.float64 else dict(rtol=2e-6, atol=2e-6)
    np.testing.assert_allclose(y, y_ref, **tol)
    # the mean to 1e-7 of the data's spread (1 here), whatever the offset
    np.testing.assert_allclose(
        cache.mean, ref.mean.reshape(-1), rtol=1e-12, atol=1e-12 if dtype == np.float64 else 1e-7
    )
    np.testing.assert_allclose(cache.var, ref.var.reshape(-1), rtol=1e-11 if dtype == np.float64 else 1e-6)
    np.testing.assert_allclose(dx, dx_ref, **tol)
    m = x.size // C
    np.testing.assert_allclose(dgamma, dgamma_ref.reshape(-1), rtol=tol["rtol"], atol=tol["atol"] * np.sqrt(m))
    np.testing.assert_allclose(dbeta, dbeta_ref.reshape(-1), rtol=tol["rtol"], atol=tol["atol"] * np.sqrt(m))


@settings(max_examples=60, deadline=None)
@given(
    st.tuples(st.integers(2, 40), st.integers(1, 3), st.integers(1, 5)).flatmap(
        lambda s: arrays(np.float64, s, elements=st.floats(-1e3, 1e3))
    )
)
def test_fast_and_reference_agree_on_arbitrary_float64_input(x):
    C = x.shape[1]
    y, _ = batchnorm_forward(x, np.ones(C), np.zeros(C), 1e-5)
    y_ref, _ = normalize_forward(x, np.ones((1, C, 1)), np.zeros((1, C, 1)), (0, 2), 1e-5)
    np.testing.assert_allclose(y, y_ref, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize(
    "shape, block",
    [((70, 3), 32), ((70, 3), 64), ((64, 3), 1 << 19), ((70, 3), 1 << 19), ((9, 3, 5), 32), ((7, 2, 3, 4), 32)]
    + [((3, 40, 50), 32)],
    ids=str,
)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_blocks_and_threads_change_nothing(shape, block, dtype, rng, monkeypatch):
    """Cut into blocks of BLOCK values on 1, 2 or 3 threads: equal to the reference, and bit for bit to each other.

    (N, C) inputs with BLOCK >= 16 C use the wide (1, 16 C) constants, on blocks of whole 16-row groups
    and on a last block with fewer rows."""
    x = (5.0 + rng.normal(size=shape)).astype(dtype)
    dy = rng.normal(size=shape).astype(dtype)
    gamma, beta = rng.normal(size=shape[1]).astype(dtype), rng.normal(size=shape[1]).astype(dtype)
    monkeypatch.setattr(fast_batchnorm, "BLOCK", block)
    assert len(fast_batchnorm.sample_blocks(shape)) > 2 or block > 64  # many blocks, or one wide block
    results = []
    for threads in (1, 2, 3):
        monkeypatch.setattr(fast_batchnorm, "THREADS", threads)
        y, cache = batchnorm_forward(x, gamma, beta, 1e-3)
        results.append((y, cache.var, *batchnorm_backward(dy, cache)))
    for other in results[1:]:
        for a, b in zip(results[0], other):
            np.testing.assert_array_equal(a, b)
    C, ndim = shape[1], len(shape)
    per_channel = (1, C) + (1,) * (ndim - 2)
    y_ref, ref = normalize_forward(x, gamma.reshape(per_channel), beta.reshape(per_channel), channel_axes(ndim), 1e-3)
    tol = dict(rtol=1e-11, atol=1e-11) if dtype == np.float64 else dict(rtol=2e-6, atol=2e-6)
    np.testing.assert_allclose(results[0][0], y_ref, **tol)
    np.testing.assert_allclose(results[0][1], ref.var.reshape(-1), rtol=1e-11 if dtype == np.float64 else 1e-6)
    np.testing.assert_allclose(results[0][2], normalize_backward(dy, ref)[0], **tol)


@pytest.mark.parametrize(
    "shape, blocks",
    [((64, 5), 1), ((1000, 1000), 63), ((300, 64, 32, 32), 300), ((40, 4, 10), 2), ((400, 4, 10), 16), ((3, 0, 4), 1)],
)
def test_sample_blocks_cover_the_batch_in_whole_samples(shape, blocks, monkeypatch):
    """BLOCK = 1024 values: (N, C) in runs of 16 rows or more; larger samples one per block."""
    monkeypatch.setattr(fast_batchnorm, "BLOCK", 1024)
    cuts = fast_batchnorm.sample_blocks(shape)
    assert len(cuts) == blocks
    covered = np.concatenate([np.arange(shape[0])[s] for s in cuts])
    np.testing.assert_array_equal(covered, np.arange(shape[0]))
    if len(shape) == 2:  # whole row blocks of the float32 partial sums, except the last
        assert all((s.stop - s.start) % fast_batchnorm.ROW_BLOCK == 0 for s in cuts[:-1])
    sizes = [s.stop - s.start for s in cuts]  # about equal, so that the threads share the work evenly
    assert max(sizes) - min(sizes) <= (fast_batchnorm.ROW_BLOCK if len(shape) == 2 else 1)


def test_spread_and_fit_give_each_entry_its_channels_constant():
    v = np.array([1.0, 2.0, 3.0])
    wide = fast_batchnorm.spread(v, (40, 3), np.float32)
    assert wide.shape == (1, fast_batchnorm.ROW_BLOCK * 3) and wide.dtype == np.float32
    for rows in (32, 7):  # whole 16-row groups, viewed wide; fewer rows, the constant narrowed
        block = np.zeros((rows, 3))
        view, constant = fast_batchnorm.fit([block], [wide])
        np.testing.assert_array_equal((view + constant).reshape(rows, 3), np.broadcast_to(v, (rows, 3)))
    per_sample = fast_batchnorm.spread(v, (5, 3, 2, 2), np.float64)
    assert per_sample.shape == (1, 3, 2, 2) and np.all(per_sample == v.reshape(1, 3, 1, 1))


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_map_blocks_returns_results_in_block_order_and_raises_errors(threads, monkeypatch):
    monkeypatch.setattr(fast_batchnorm, "THREADS", threads)
    blocks = list(range(50))
    assert fast_batchnorm.map_blocks(lambda b: b * b, blocks) == [b * b for b in blocks]

    def fails_on_7(b):
        if b == 7:
            raise ZeroDivisionError("block 7")
        return b

    with pytest.raises(ZeroDivisionError, match="block 7"):
        fast_batchnorm.map_blocks(fails_on_7, blocks)


def _normalise_in_child(queue):
    x = np.arange(4 * 3 * 50, dtype=np.float64).reshape(4, 3, 50) % 7
    queue.put(batchnorm_forward(x, np.ones(3), np.zeros(3))[0].sum())


def test_a_forked_child_gets_its_own_threads(monkeypatch):
    """The parent's worker threads do not exist in a forked child; the child must not wait for them forever."""
    import multiprocessing

    monkeypatch.setattr(fast_batchnorm, "BLOCK", 150)
    monkeypatch.setattr(fast_batchnorm, "THREADS", 2)
    x = np.arange(4 * 3 * 50, dtype=np.float64).reshape(4, 3, 50) % 7
    expected = batchnorm_forward(x, np.ones(3), np.zeros(3))[0].sum()  # starts the parent's threads
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_normalise_in_child, args=(queue,))
    child.start()
    child.join(timeout=60)
    if child.is_alive():
        child.kill()
    assert child.exitcode == 0, "the forked child hung or failed"
    assert queue.get(timeout=5) == expected


# ---- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "axes, error, match",
    [
        ((0, 0), ValueError, "distinct axes"),
        ((3,), ValueError, "distinct axes"),
        ((-4,), ValueError, "axis"),
        ((), ValueError, "distinct axes"),
        ((0.5,), TypeError, "axes must be an int"),
        ("a", TypeError, "axes must be an int"),
    ],
)
def test_bad_axes(axes, error, match):
    with pytest.raises(error, match=match):
        normalize_forward(np.ones((2, 3, 4)), np.ones(4), np.zeros(4), axes)


def test_parameter_that_does_not_broadcast():
    with pytest.raises(
        ValueError, match=r"expected gamma of a shape that broadcasts against the input \(2, 3\), got \(2,\)"
    ):
        normalize_forward(np.ones((2, 3)), np.ones(2), np.zeros(2), axes=0)
    with pytest.raises(ValueError, match=r"beta must have the shape of gamma \(3,\), got \(1, 3\)"):
        normalize_forward(np.ones((2, 3)), np.ones(3), np.zeros((1, 3)), axes=0)


def test_dy_of_another_shape():
    _, cache = normalize_forward(np.arange(6.0).reshape(2, 3), np.ones(3), np.zeros(3), axes=0)
    with pytest.raises(ValueError, match=r"dy must have the shape of the forward input \(2, 3\), got \(3, 2\)"):
        normalize_backward(np.ones((3, 2)), cache)
