"""bnlib.nn.SyncBatchNorm (bnlib.nn.sync): synchronised BN equals BN on the concatenated batch, in real processes.

The multi-process tests run in real gloo groups on 127.0.0.1 (skipped only if gloo is unavailable,
with the reason), with a timeout, and check that no process is left behind. Processes are slow
to start, so every 2-process experiment runs in one group (``two``, module-scoped) and every
4-process one in another (``four``).
"""

import multiprocessing

import numpy as np
import pytest
import torch
import torch.distributed as dist
from torch import nn

import bnlib.nn
from bnlib.lab.processes import call_each, gloo_available, run_in_processes, sync_bn_step
from bnlib.nn import GhostBatchNorm, SyncBatchNorm, sync_batch_statistics
from bnlib.nn.sync import combine_shares, share_moments

GLOO, WHY_NOT = gloo_available()
needs_gloo = pytest.mark.skipif(not GLOO, reason=WHY_NOT)
TORCH_BN = {2: nn.BatchNorm1d, 3: nn.BatchNorm1d, 4: nn.BatchNorm2d}


def reference_step(x, dy, weight, bias, momentum=0.1, cls=None):
    """BN on the whole batch in one process (torch's, or ``cls``): the answer synchronised BN must give."""
    layer = (cls or TORCH_BN[x.ndim])(x.shape[1], momentum=momentum).double()
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(weight))
        layer.bias.copy_(torch.from_numpy(bias))
    xt = torch.from_numpy(x).requires_grad_()
    y = layer(xt)
    y.backward(torch.from_numpy(dy))
    return {
        "y": y.detach().numpy(),
        "dx": xt.grad.numpy(),
        "dweight": layer.weight.grad.numpy(),
        "dbias": layer.bias.grad.numpy(),
        "running_mean": layer.running_mean.numpy(),
        "running_var": layer.running_var.numpy(),
    }


def batch(shape, seed=0, offset=3.0, spread=2.0):
    rng = np.random.default_rng(seed)
    x = rng.normal(offset, spread, size=shape)
    return x, rng.normal(size=shape), rng.uniform(0.5, 1.5, shape[1]), rng.normal(size=shape[1])


def sync_statistics(rank, world_size, x, sizes):
    """The whole batch's (mean, var, m) from this process's share, as numpy."""
    start = sum(sizes[:rank])
    mean, var, m = sync_batch_statistics(torch.from_numpy(x[start : start + sizes[rank]]))
    return mean.numpy(), var.numpy(), int(m)


def eval_without_communication(rank, world_size, x, track_running_stats):
    """Rank 0 runs SyncBatchNorm in eval mode, forward and backward, while rank 1 sits in no collective:
    any communication would fail (every collective is replaced by one that raises) or wait for ever."""
    if rank != 0:
        return None
    calls, originals = [], {}
    for name in ("all_reduce", "all_gather", "all_gather_into_tensor", "broadcast", "reduce_scatter"):
        originals[name] = getattr(dist, name)

        def refuse(*args, _name=name, **kwargs):
            calls.append(_name)
            raise RuntimeError(f"{_name} called in eval mode")

        setattr(dist, name, refuse)
    try:
        layer = SyncBatchNorm(x.shape[1], momentum=0.5, track_running_stats=track_running_stats).double()
        if track_running_stats:
            layer.running_mean.fill_(2.0), layer.running_var.fill_(3.0)
        layer.eval()
        before = {k: v.clone() for k, v in layer.state_dict().items()}
        xt = torch.from_numpy(x).requires_grad_()
        y = layer(xt)
        y.sum().backward()
        unchanged = all(torch.equal(before[k], v) for k, v in layer.state_dict().items())
    finally:
        for name, original in originals.items():
            setattr(dist, name, original)
    return {"y": y.detach().numpy(), "dx": xt.grad.numpy(), "unchanged": unchanged, "calls": calls}


X8 = batch((8, 3))
X7 = batch((7, 3, 2, 2))
X_EMPTY = batch((7, 3), seed=3)
X_NAIVE = batch((8, 3), seed=1)
X_HUGE = batch((64, 3), seed=4, offset=1e8, spread=1.0)  # mean 1e8, unit spread
X9 = batch((9, 2))
X_EVAL = batch((5, 3), seed=5)[0]
TWO = {  # name: (fn, args) run in one 2-process group
    "equal": (sync_bn_step, (X8[0], X8[1], [4, 4], X8[2], X8[3])),
    "spatial": (sync_bn_step, (X7[0], X7[1], [2, 5], X7[2], X7[3])),
    "empty first": (sync_bn_step, (X_EMPTY[0], X_EMPTY[1], [0, 7], X_EMPTY[2], X_EMPTY[3])),
    "empty last": (sync_bn_step, (X_EMPTY[0], X_EMPTY[1], [7, 0], X_EMPTY[2], X_EMPTY[3])),
    "one row": (sync_bn_step, (X_EMPTY[0], X_EMPTY[1], [1, 6], X_EMPTY[2], X_EMPTY[3])),
    "naive": (sync_bn_step, (X_NAIVE[0], X_NAIVE[1], [4, 4], X_NAIVE[2], X_NAIVE[3], 0.1, True)),
    "huge": (sync_bn_step, (X_HUGE[0], X_HUGE[1], [32, 32], X_HUGE[2], X_HUGE[3], 1.0)),
    "huge statistics": (sync_statistics, (X_HUGE[0], [32, 32])),
    "eval": (eval_without_communication, (X_EVAL, True)),
    "eval, no running stats": (eval_without_communication, (X_EVAL, False)),
}
FOUR = {
    "1 2 3 3": (sync_bn_step, (X9[0], X9[1], [1, 2, 3, 3], X9[2], X9[3])),
    "0 3 0 6": (sync_bn_step, (X9[0], X9[1], [0, 3, 0, 6], X9[2], X9[3])),
}
CASES = {  # name: (data, sizes, group)
    "equal": (X8, [4, 4], "two"),
    "spatial": (X7, [2, 5], "two"),
    "empty first": (X_EMPTY, [0, 7], "two"),
    "empty last": (X_EMPTY, [7, 0], "two"),
    "one row": (X_EMPTY, [1, 6], "two"),
    "1 2 3 3": (X9, [1, 2, 3, 3], "four"),
    "0 3 0 6": (X9, [0, 3, 0, 6], "four"),
}


def _run(experiments, world_size):
    results = run_in_processes(call_each, world_size, list(experiments.values()), timeout=60)
    assert not multiprocessing.active_children(), "every worker process has ended"
    return {name: [r[i] for r in results] for i, name in enumerate(experiments)}  # name -> per rank


@pytest.fixture(scope="module")
def groups():
    if not GLOO:
        pytest.skip(WHY_NOT)
    return {"two": _run(TWO, 2), "four": _run(FOUR, 4)}


@needs_gloo
@pytest.mark.parametrize("reference", [None, bnlib.nn.BatchNorm], ids=["torch BatchNorm", "bnlib BatchNorm"])
@pytest.mark.parametrize("name", list(CASES))
def test_synchronised_equals_whole_batch(groups, name, reference):
    """Outputs, dx, the summed dγ and dβ, and every process's running statistics equal single-process BN's on
    the concatenated batch, for equal, unequal, one-row and empty shares (an empty share: empty y and dx,
    zero dγ, dβ, and the global running statistics, as PyTorch since its PR #74944)."""
    (x, dy, weight, bias), sizes, group = CASES[name]
    want = reference_step(x, dy, weight, bias, cls=reference)
    got = groups[group][name]
    for g, size in zip(got, sizes):
        assert g["y"].shape == (size, *x.shape[1:]) and g["dx"].shape == g["y"].shape
    for key in ("y", "dx"):  # each share's rows, in order
        np.testing.assert_allclose(np.concatenate([g[key] for g in got]), want[key], rtol=1e-10, atol=1e-12)
    for key in ("dweight", "dbias"):  # per-process contributions sum to the whole
        np.testing.assert_allclose(sum(g[key] for g in got), want[key], rtol=1e-10, atol=1e-12)
    for g, size in zip(got, sizes):
        if size == 0:
            assert not g["dweight"].any() and not g["dbias"].any()
        np.testing.assert_allclose(g["running_mean"], want["running_mean"], rtol=1e-12)  # every process
        np.testing.assert_allclose(g["running_var"], want["running_var"], rtol=1e-12)
        assert g["num_batches_tracked"] == 1


@needs_gloo
def test_mean_1e8_with_unit_spread_keeps_the_variance(groups):
    """float64 data 1e8 + N(0, 1): the combined variance within 1e-6 (relative) of the exact one, where
    the one-pass E[x^2] - E[x]^2 has no correct digit."""
    x, dy, weight, bias = X_HUGE
    exact = (x - 1e8).var(axis=0)  # x - 1e8 is exact here (Sterbenz), then a two-pass variance
    for mean, var, m in groups["two"]["huge statistics"]:
        assert m == 64
        np.testing.assert_allclose(var, exact, rtol=1e-6)
        np.testing.assert_allclose(mean - 1e8, (x - 1e8).mean(axis=0), atol=1e-7)
    one_pass = (x * x).mean(axis=0) - x.mean(axis=0) ** 2  # what an all-reduce of (s, q, m) gives
    assert np.abs(one_pass / exact - 1).max() > 0.5
    want = reference_step(x - 1e8, dy, weight, bias, momentum=1.0)  # BN is shift-invariant: y, dx
    got = groups["two"]["huge"]
    y, dx = (np.concatenate([g[k] for g in got]) for k in ("y", "dx"))
    assert np.isfinite(y).all() and np.isfinite(dx).all()
    np.testing.assert_allclose(y, want["y"], rtol=0, atol=1e-6)
    np.testing.assert_allclose(dx, want["dx"], rtol=0, atol=1e-6)
    for g in got:  # momentum 1: the running variance is the unbiased batch variance
        np.testing.assert_allclose(g["running_var"], exact * 64 / 63, rtol=1e-6)


@needs_gloo
@pytest.mark.parametrize("name", ["eval", "eval, no running stats"])
def test_eval_mode_communicates_nothing_and_keeps_the_running_statistics(groups, name):
    got = groups["two"][name][0]
    assert got["calls"] == [] and got["unchanged"]
    x = torch.from_numpy(X_EVAL).requires_grad_()
    plain = bnlib.nn.BatchNorm(3, momentum=0.5, track_running_stats=name == "eval").double()
    if name == "eval":
        plain.running_mean.fill_(2.0), plain.running_var.fill_(3.0)
    y = plain.eval()(x)
    y.sum().backward()
    np.testing.assert_allclose(got["y"], y.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(got["dx"], x.grad.numpy(), rtol=1e-12, atol=1e-12)
    if name == "eval":  # the running statistics, not the batch's
        np.testing.assert_allclose(got["y"], (X_EVAL - 2.0) / np.sqrt(3.0 + 1e-5), rtol=1e-12)


@needs_gloo
def test_naive_variant_gives_right_output_and_wrong_gradient(groups):
    x, dy, weight, bias = X_NAIVE
    want = reference_step(x, dy, weight, bias)
    got = groups["two"]["naive"]
    np.testing.assert_allclose(np.concatenate([g["y"] for g in got]), want["y"], rtol=1e-10)
    for g in got:
        np.testing.assert_allclose(g["running_var"], want["running_var"], rtol=1e-12)
    dx = np.concatenate([g["dx"] for g in got])
    assert np.abs(dx - want["dx"]).max() > 0.05 * np.abs(want["dx"]).max()


def crash(rank, world_size):
    if rank == 1:
        raise ValueError("rank 1 fails on purpose")
    torch.distributed.barrier()  # rank 0 would wait here for ever


@needs_gloo
def test_a_failing_process_is_reported_and_nothing_is_left_running():
    with pytest.raises(RuntimeError, match="rank 1 fails on purpose"):
        run_in_processes(crash, 2, timeout=30)
    assert not multiprocessing.active_children()


def test_bad_world_size():
    with pytest.raises(ValueError, match="world_size must be at least 1"):
        run_in_processes(sync_bn_step, 0)


# ---------------------------------------------------------------- one process, no group
@pytest.mark.parametrize("shape", [(6, 3), (4, 3, 5), (3, 3, 4, 2)])
def test_without_a_group_it_is_plain_batchnorm(shape):
    x = torch.randn(shape, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) * 2 + 1
    ours, plain = SyncBatchNorm(3, momentum=0.3).double(), bnlib.nn.BatchNorm(3, momentum=0.3).double()
    for module in (ours, plain):
        module(x)
    torch.testing.assert_close(ours(x), plain(x), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(ours.state_dict(), plain.state_dict())
    ours.eval(), plain.eval()
    torch.testing.assert_close(ours(x), plain(x), rtol=1e-12, atol=1e-12)


def test_combine_shares_is_the_whole_batch_and_never_negative():
    """Chan et al.'s formula on unequal shares (one empty) equals the two-pass statistics of the whole."""
    x = torch.randn(40, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(1)) * 0.5 + 1e8
    parts = torch.split(x, [0, 13, 1, 26])
    table = torch.stack([share_moments(p) for p in parts])  # (4, 2C + 1)
    assert table[0].abs().max() == 0 and table[:, 0].tolist() == [0, 13, 1, 26]
    mean, var, m = combine_shares(table[:, 0], table[:, 1:5], table[:, 5:])
    assert m.item() == 40
    # the floor: each mean mu_k is stored to ulp(1e8) = 1.5e-8, against deviations of 0.5
    torch.testing.assert_close(var, (x - 1e8).var(0, unbiased=False), rtol=1e-7, atol=0)
    torch.testing.assert_close(mean - 1e8, (x - 1e8).mean(0), rtol=0, atol=1e-7)
    empty = combine_shares(torch.zeros(2, dtype=torch.float64), torch.zeros(2, 4), torch.zeros(2, 4))
    assert all(t.abs().max() == 0 for t in empty)  # every share empty: zeros, not NaN


def test_statistics_without_a_group_and_float32_offset():
    """float64 two-pass statistics for float32 data 1e4 + N(0, 1)."""
    x = (torch.randn(4096, 2, generator=torch.Generator().manual_seed(1)) + 1e4).float()
    mean, var, m = sync_batch_statistics(x)
    reference = x.double()
    assert m.item() == 4096 and mean.dtype == torch.float64
    torch.testing.assert_close(mean, reference.mean(0), rtol=1e-14, atol=0)
    torch.testing.assert_close(var, reference.var(0, unbiased=False), rtol=1e-12, atol=0)


def test_convert_carries_the_state_and_the_parameters():
    model = nn.Sequential(
        nn.Linear(4, 3), nn.BatchNorm1d(3, momentum=0.2), nn.ReLU(), nn.Sequential(bnlib.nn.BatchNorm(3))
    )
    model(torch.randn(8, 4))  # running statistics move away from 0, 1
    model.eval()
    before, weight = model.state_dict(), model[1].weight
    converted = SyncBatchNorm.convert_sync_batchnorm(model)
    assert isinstance(converted[1], SyncBatchNorm) and isinstance(converted[3][0], SyncBatchNorm)
    assert converted[1].weight is weight and converted[1].momentum == 0.2 and not converted[1].training
    torch.testing.assert_close(converted.state_dict(), before)
    single = SyncBatchNorm.convert_sync_batchnorm(nn.BatchNorm2d(5))
    assert isinstance(single, SyncBatchNorm) and single.num_features == 5
    variants = nn.Sequential(GhostBatchNorm(3, 2), bnlib.nn.BatchRenorm(3))
    kept = SyncBatchNorm.convert_sync_batchnorm(variants)  # not BN's statistics: left alone
    assert type(kept[0]) is GhostBatchNorm and type(kept[1]) is bnlib.nn.BatchRenorm


def test_bias_false_is_carried_like_torch():
    """bias=False (PyTorch 2.13): a weight, no bias; convert keeps it that way, as torch's own does."""
    ours = SyncBatchNorm(3, bias=False)
    assert ours.bias is None and "bias" not in ours.state_dict()
    converted = SyncBatchNorm.convert_sync_batchnorm(nn.BatchNorm1d(3, bias=False))
    assert converted.bias is None and converted.weight is not None
    assert set(converted.state_dict()) == set(nn.SyncBatchNorm(3, bias=False).state_dict())
    x = torch.randn(6, 3, generator=torch.Generator().manual_seed(3))
    ghost = GhostBatchNorm(3, 2, bias=False)
    assert ghost.bias is None and ghost(x).shape == (6, 3)


def test_constructor_takes_torchs_positional_order():
    """torch.nn.SyncBatchNorm(num_features, eps, momentum, affine, track_running_stats, process_group, device, dtype)."""
    args = (3, 1e-3, 0.2, True, False, None, "cpu", torch.float64)
    ours, theirs = SyncBatchNorm(*args, bias=False), nn.SyncBatchNorm(*args, bias=False)
    for name in ("eps", "momentum", "affine", "track_running_stats", "process_group"):
        assert getattr(ours, name) == getattr(theirs, name), name
    assert ours.weight.dtype == theirs.weight.dtype == torch.float64 and ours.bias is None
    assert set(ours.state_dict()) == set(theirs.state_dict()) == {"weight"}


def test_state_dict_loads_into_torch_batchnorm_and_back():
    ours = SyncBatchNorm(4)
    ours(torch.randn(10, 4))
    theirs = nn.BatchNorm1d(4)
    theirs.load_state_dict(ours.state_dict())
    back = SyncBatchNorm(4)
    back.load_state_dict(theirs.state_dict())
    torch.testing.assert_close(back.state_dict(), ours.state_dict())


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="expected input with 3 channels"):
        SyncBatchNorm(3)(torch.randn(4, 2))
    with pytest.raises(TypeError, match="floating-point input"):
        SyncBatchNorm(3)(torch.ones(4, 3, dtype=torch.long))


# ---------------------------------------------------------------- ghost batches, simulated in one process
@pytest.mark.parametrize("shape, splits", [((12, 3), 3), ((8, 3, 2, 2), 4), ((6, 3), 1)])
def test_ghost_batchnorm_equals_bn_on_each_chunk_with_rank0_running_stats(shape, splits):
    x = torch.randn(shape, dtype=torch.float64, generator=torch.Generator().manual_seed(2)) * 3 - 1
    ghost = GhostBatchNorm(3, splits, momentum=0.3).double()
    with torch.no_grad():
        ghost.weight.uniform_(0.5, 1.5), ghost.bias.normal_()
    per_chunk = [TORCH_BN[len(shape)](3, momentum=0.3).double() for _ in range(splits)]
    for layer in per_chunk:
        layer.load_state_dict(ghost.state_dict())
    xg, xr = x.clone().requires_grad_(), x.clone().requires_grad_()
    out = ghost(xg)
    want = torch.cat([layer(chunk) for layer, chunk in zip(per_chunk, xr.chunk(splits))])
    torch.testing.assert_close(out, want, rtol=1e-12, atol=1e-12)
    dy = torch.randn_like(x)
    out.backward(dy), want.backward(dy)
    torch.testing.assert_close(xg.grad, xr.grad, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(ghost.weight.grad, sum(layer.weight.grad for layer in per_chunk), rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(ghost.running_var, per_chunk[0].running_var, rtol=1e-12, atol=0)
    torch.testing.assert_close(ghost.running_mean, per_chunk[0].running_mean, rtol=1e-12, atol=0)
    ghost.eval(), per_chunk[0].eval()
    torch.testing.assert_close(ghost(x), per_chunk[0](x), rtol=1e-12, atol=1e-12)


def test_ghost_batchnorm_bad_input():
    with pytest.raises(ValueError, match="multiple of num_splits = 4"):
        GhostBatchNorm(3, 4)(torch.randn(6, 3))
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        GhostBatchNorm(3, 3)(torch.randn(3, 3))
    with pytest.raises(ValueError, match="num_splits must be an integer >= 1, got 0"):
        GhostBatchNorm(3, 0)
    with pytest.raises(TypeError, match="num_splits must be an integer, got 2.0"):
        GhostBatchNorm(3, 2.0)


def test_no_import_cycle_and_no_module_getattr():
    """Each module of bnlib.nn imports on its own in a fresh interpreter, subclasses import the base only,
    and bnlib.nn has no module __getattr__ (an unknown name is a plain AttributeError)."""
    import subprocess
    import sys

    for module in ("sync", "renorm", "common"):  # a subclass, another, the shared pieces: each first
        code = f"import bnlib.nn.{module}, bnlib.nn\nassert bnlib.nn.SyncBatchNorm is bnlib.nn.sync.SyncBatchNorm"
        subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
    assert not hasattr(bnlib.nn, "__getattr__")
    with pytest.raises(AttributeError, match="has no attribute 'Nope'"):
        _ = bnlib.nn.Nope
