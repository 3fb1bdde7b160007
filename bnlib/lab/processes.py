"""Run a function in several processes joined in a ``torch.distributed`` group, on this machine only.

:func:`run_in_processes` starts ``world_size`` fresh Python processes ("spawn"), joins them in a
gloo process group on the loopback interface (127.0.0.1, a free port), runs ``fn(rank,
world_size, *args)`` in each and returns the results ordered by rank. The group has a timeout;
the processes are always ended and joined, even when one fails or hangs, so nothing is left
running. ``fn`` must be importable (defined at module level, as the workers below are) and return
picklable values: numpy arrays, not tensors.

Workers for lesson 09 and its tests:

- :func:`sync_bn_step`: one training step of :class:`bnlib.nn.SyncBatchNorm` (or of its naive
  variant, the lesson's bug) on this process's share of a batch.
- :func:`torch_sync_batchnorm_on_cpu`: what ``torch.nn.SyncBatchNorm`` says about CPU tensors.
- :func:`call_each`: several of these in one group (processes are slow to start).

Lesson that imports it: 09.
"""

import os
import socket
import traceback
from datetime import timedelta

import numpy as np
import torch
import torch.distributed as dist
import torch.multiprocessing as mp


def gloo_available() -> tuple[bool, str]:
    """Whether a gloo process group can be made here, and if not, why."""
    if not dist.is_available():
        return False, "torch.distributed is not available in this torch build"
    if not dist.is_gloo_available():
        return False, "the gloo backend is not available in this torch build"
    return True, ""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(fn, rank, world_size, port, timeout, queue, args):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), GLOO_SOCKET_IFNAME="lo")
    torch.set_num_threads(1)
    try:
        dist.init_process_group("gloo", rank=rank, world_size=world_size, timeout=timedelta(seconds=timeout))
        queue.put((rank, True, fn(rank, world_size, *args)))
    except BaseException:  # report, so the parent can raise it
        queue.put((rank, False, traceback.format_exc()))
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


STARTUP_SECONDS = 60.0  # allowed on top of ``timeout`` for a process to start and import torch


def run_in_processes(fn, world_size: int, *args, timeout: float = 120.0) -> list:
    """Run ``fn(rank, world_size, *args)`` in ``world_size`` processes of one gloo group; results by rank.

    ``timeout`` bounds every collective operation of the group and, plus ``STARTUP_SECONDS``, the
    wait for each answer. At the first failure the other processes are stopped.

    Raises:
        ValueError: ``world_size`` < 1.
        RuntimeError: a process failed (its traceback is in the message) or did not answer in
            time. Every process is ended before this returns or raises.
    """
    if world_size < 1:
        raise ValueError(f"world_size must be at least 1, got {world_size}")
    context = mp.get_context("spawn")
    queue = context.Queue()
    port = _free_port()
    processes = [
        context.Process(target=_worker, args=(fn, rank, world_size, port, timeout, queue, args), daemon=True)
        for rank in range(world_size)
    ]
    results, failures = {}, []
    try:
        for p in processes:
            p.start()
        for _ in range(world_size):
            try:  # + time to start Python and import torch
                rank, ok, value = queue.get(timeout=timeout + STARTUP_SECONDS)
            except Exception:  # queue.Empty: someone hangs
                failures.append(f"no answer within {timeout + STARTUP_SECONDS:.0f} s")
                break
            if not ok:  # the others may now wait for ever: stop them
                failures.append(f"rank {rank}:\n{value}")
                break
            results[rank] = value
    finally:
        for p in processes:
            p.join(timeout=10 if not failures else 0)
            if p.is_alive():
                p.terminate()
                p.join(timeout=5)
            if p.is_alive():
                p.kill()
                p.join()
        queue.close()
        queue.join_thread()
    if failures:
        raise RuntimeError("run_in_processes failed: " + "\n".join(failures))
    return [results[rank] for rank in range(world_size)]


def _share(values: np.ndarray, rank: int, sizes: list[int]) -> np.ndarray:
    """Rows ``sum(sizes[:rank]) : sum(sizes[:rank + 1])`` of ``values``: this process's share."""
    start = sum(sizes[:rank])
    return values[start : start + sizes[rank]]


def sync_bn_step(rank, world_size, x, dy, sizes, weight, bias, momentum=0.1, naive=False):
    """One training step of synchronised BN on this process's share of ``x``, in float64.

    Args:
        x, dy: the whole batch ``(N, C, ...)`` and the upstream gradient of the same shape
            (every process gets both and takes rows ``sizes`` says are its own).
        sizes: rows per process, summing to N (they may differ; a share may be empty).
        weight, bias: γ and β, ``(C,)``.
        naive: use :class:`bnlib.nn.NaiveSyncBatchNorm` (the backward without its all-reduce) instead.
    Returns:
        dict of numpy arrays: ``y``, ``dx`` (this share), ``dweight``, ``dbias`` (this share's
        contribution), ``running_mean``, ``running_var``, ``num_batches_tracked``.
    """
    from bnlib.nn import NaiveSyncBatchNorm, SyncBatchNorm

    layer = (NaiveSyncBatchNorm if naive else SyncBatchNorm)(x.shape[1], momentum=momentum).double()
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(weight))
        layer.bias.copy_(torch.from_numpy(bias))
    share = torch.from_numpy(_share(x, rank, sizes)).requires_grad_()
    y = layer(share)
    y.backward(torch.from_numpy(_share(dy, rank, sizes)))
    return {
        "y": y.detach().numpy(),
        "dx": share.grad.numpy(),
        "dweight": layer.weight.grad.numpy(),
        "dbias": layer.bias.grad.numpy(),
        "running_mean": layer.running_mean.numpy(),
        "running_var": layer.running_var.numpy(),
        "num_batches_tracked": int(layer.num_batches_tracked),
    }


def call_each(rank, world_size, calls):
    """Run every ``(fn, args)`` of ``calls`` as ``fn(rank, world_size, *args)`` in one process group.

    Starting processes and importing torch costs seconds; one group can serve several experiments.
    Returns the list of results, in the order of ``calls``.
    """
    return [fn(rank, world_size, *args) for fn, args in calls]


def torch_sync_batchnorm_on_cpu(rank, world_size) -> str:
    """What ``torch.nn.SyncBatchNorm`` says when asked to train on CPU tensors in a real group."""
    layer = torch.nn.SyncBatchNorm(3)
    try:
        layer(torch.randn(4, 3))
    except ValueError as error:
        return f"ValueError: {error}"
    return "no error"
