"""bnlib.distributed: synchronised BN equals BN on the concatenated batch, in real processes.

The multi-process tests start 2 or 4 processes in a gloo group on 127.0.0.1 (skipped only if gloo
is unavailable, with the reason), with a timeout, and check that no process is left behind.
"""

import multiprocessing

import numpy as np
import pytest
import torch
from torch import nn

import bnlib.nn
from bnlib.distributed import GhostBatchNorm, SyncBatchNorm, all_reduce_sum, naive_all_reduce_sum, sync_batch_statistics
from bnlib.lab.processes import gloo_available, run_in_processes, sync_bn_step

GLOO, WHY_NOT = gloo_available()
needs_gloo = pytest.mark.skipif(not GLOO, reason=WHY_NOT)


def reference_step(x, dy, weight, bias, momentum=0.1):
    """torch.nn.BatchNorm on the whole batch in one process: the answer synchronised BN must give."""
    layer = {2: nn.BatchNorm1d, 3: nn.BatchNorm1d, 4: nn.BatchNorm2d}[x.ndim](x.shape[1], momentum=momentum).double()
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


def batch(shape, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(3.0, 2.0, size=shape)
    return x, rng.normal(size=shape), rng.uniform(0.5, 1.5, shape[1]), rng.normal(size=shape[1])


@needs_gloo
@pytest.mark.parametrize("shape, sizes", [((8, 3), [4, 4]), ((7, 3, 2, 2), [2, 5]), ((9, 2), [1, 2, 3, 3])])
def test_synchronised_equals_whole_batch(shape, sizes):
    x, dy, weight, bias = batch(shape)
    want = reference_step(x, dy, weight, bias)
    got = run_in_processes(sync_bn_step, len(sizes), x, dy, sizes, weight, bias, timeout=120)
    assert not multiprocessing.active_children(), "every worker process has ended"
    for key in ("y", "dx"):  # each share's rows, in order
        np.testing.assert_allclose(np.concatenate([g[key] for g in got]), want[key], rtol=1e-10, atol=1e-12)
    for key in ("dweight", "dbias"):  # per-process contributions sum to the whole
        np.testing.assert_allclose(sum(g[key] for g in got), want[key], rtol=1e-10, atol=1e-12)
    for g in got:  # every process keeps the same running statistics
        np.testing.assert_allclose(g["running_mean"], want["running_mean"], rtol=1e-12)
        np.testing.assert_allclose(g["running_var"], want["running_var"], rtol=1e-12)
        assert g["num_batches_tracked"] == 1


@needs_gloo
def test_naive_all_reduce_gives_right_output_and_wrong_gradient():
    x, dy, weight, bias = batch((8, 3), seed=1)
    want = reference_step(x, dy, weight, bias)
    got = run_in_processes(sync_bn_step, 2, x, dy, [4, 4], weight, bias, 0.1, True, timeout=120)
    np.testing.assert_allclose(np.concatenate([g["y"] for g in got]), want["y"], rtol=1e-10)
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


def test_statistics_without_a_group_and_float32_offset():
    """float64 sums: E[x^2] - E[x]^2 keeps its digits for float32 data 1e4 + N(0, 1)."""
    x = (torch.randn(4096, 2, generator=torch.Generator().manual_seed(1)) + 1e4).float()
    mean, var, m = sync_batch_statistics(x)
    reference = x.double()
    assert m.item() == 4096
    torch.testing.assert_close(mean, reference.mean(0), rtol=1e-14, atol=0)
    torch.testing.assert_close(var, reference.var(0, unbiased=False), rtol=1e-7, atol=0)
    torch.testing.assert_close(all_reduce_sum(mean), mean)
    torch.testing.assert_close(naive_all_reduce_sum(mean), mean)


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


# ---------------------------------------------------------------- ghost batches, simulated in one process
@pytest.mark.parametrize("shape, splits", [((12, 3), 3), ((8, 3, 2, 2), 4), ((6, 3), 1)])
def test_ghost_batchnorm_equals_bn_on_each_chunk_with_rank0_running_stats(shape, splits):
    x = torch.randn(shape, dtype=torch.float64, generator=torch.Generator().manual_seed(2)) * 3 - 1
    ghost = GhostBatchNorm(3, splits, momentum=0.3).double()
    with torch.no_grad():
        ghost.weight.uniform_(0.5, 1.5), ghost.bias.normal_()
    per_chunk = [
        nn.BatchNorm1d(3, momentum=0.3).double() if len(shape) == 2 else nn.BatchNorm2d(3, momentum=0.3).double()
        for _ in range(splits)
    ]
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


def test_ghost_batchnorm_bad_input():
    with pytest.raises(ValueError, match="multiple of num_splits = 4"):
        GhostBatchNorm(3, 4)(torch.randn(6, 3))
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        GhostBatchNorm(3, 3)(torch.randn(3, 3))
    with pytest.raises(ValueError, match="num_splits must be a positive integer"):
        GhostBatchNorm(3, 0)


@pytest.mark.parametrize("first", ["bnlib.nn", "bnlib.distributed"])
def test_public_names_in_either_import_order(first):
    """bnlib.nn.SyncBatchNorm is bnlib.distributed.SyncBatchNorm, whichever module is imported first."""
    import subprocess
    import sys

    code = (
        f"import {first}\nimport bnlib.nn, bnlib.distributed\n"
        "assert bnlib.nn.SyncBatchNorm is bnlib.distributed.SyncBatchNorm\n"
        "assert bnlib.nn.GhostBatchNorm is bnlib.distributed.GhostBatchNorm\n"
        "print(bnlib.nn.SyncBatchNorm.convert_sync_batchnorm.__name__)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "convert_sync_batchnorm"
    with pytest.raises(AttributeError, match="has no attribute 'Nope'"):
        _ = bnlib.nn.Nope
