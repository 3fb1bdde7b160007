r"""BN across processes: batch statistics synchronised with ``torch.distributed``.

In data-parallel training a global batch of :math:`m` values per channel is split over :math:`P`
processes; process :math:`k` sees :math:`m_k` of them. Plain BN in each process normalises with its
own share's statistics ("ghost" batches). Synchronised BN normalises every share with the
statistics of the whole batch.

**Forward.** Each process computes, per channel and in float64, its count, mean and sum of squared
deviations

.. math:: m_k, \qquad \mu_k = \frac{1}{m_k}\sum_{i \in k} x_i, \qquad M_{2,k} = \sum_{i \in k} (x_i - \mu_k)^2

(:math:`2C + 1` numbers), one all-gather gives every process all :math:`P` of these vectors, and
every process combines them with the parallel formula of Chan, Golub & LeVeque (their Stanford
report STAN-CS-79-773, 1979, which derives it for two subsamples and for parallel computing; their
1983 paper in The American Statistician compares it with the other variance algorithms):

.. math:: m = \sum_k m_k, \qquad \mu_B = \frac{1}{m}\sum_k m_k \mu_k, \qquad
          \sigma^2_B = \frac{1}{m}\Big(\sum_k M_{2,k} + \sum_k m_k (\mu_k - \mu_B)^2\Big).

Every term is a sum of squares, so :math:`\sigma^2_B \ge 0` whatever the offset of the data. An
empty share (:math:`m_k = 0`) sends zeros and contributes nothing, but still takes part in the
collectives so that its peers do not wait for ever (PyTorch's fix, pytorch/pytorch#74944). The
one-pass alternative, an all-reduce of :math:`(\sum x, \sum x^2, m)` and
:math:`\mathrm{E}[x^2] - \mathrm{E}[x]^2`, cancels catastrophically: at a mean of :math:`10^8` with
unit spread, :math:`x^2 \approx 10^{16}` is stored to about 2 in float64, so the difference of two
such numbers has no correct digit and can be negative.

PyTorch (``torch/nn/modules/_functions.py``, class ``SyncBatchNorm``, checked in torch 2.13) does the
same from the per-process mean, inverse standard deviation and count: an all-gather of
:math:`2C + 1` numbers per process (``dist.all_gather`` on gloo), empty shares masked out, then
``torch.batch_norm_gather_stats_with_counts``. On CPU neither can be run against this module:
in a gloo group ``torch.nn.SyncBatchNorm`` refuses CPU input in training ("SyncBatchNorm expected
input tensor to be on GPU ..."), and ``batch_norm_gather_stats_with_counts`` has no CPU kernel
(``NotImplementedError``), so the tests compare with BN on the concatenated batch in one process.

**Backward.** With :math:`g_i = \gamma\,\partial L/\partial y_i` and
:math:`\hat x_i = (x_i - \mu_B)/\sqrt{\sigma^2_B + \epsilon}`, the gradient that reaches
:math:`\mu_B` and :math:`\sigma^2_B` from process :math:`k`'s loss is

.. math:: \frac{\partial L_k}{\partial \mu_B} = -\frac{1}{\sqrt{\sigma^2_B + \epsilon}}\sum_{i \in k} g_i, \qquad
          \frac{\partial L_k}{\partial \sigma^2_B} = -\frac{1}{2(\sigma^2_B + \epsilon)}\sum_{i \in k} g_i\,\hat x_i :

this process's :math:`\sum g` and :math:`\sum g\,\hat x`, times factors that are the same in every
process (PyTorch's ``sum_dy`` and ``sum_dy_xmu``). One all-reduce of these :math:`2C` numbers sums them
over the processes, and each process finishes its rows locally,

.. math:: \frac{\partial L}{\partial x_i} = \frac{g_i}{\sqrt{\sigma^2_B + \epsilon}}
          + \frac{1}{m}\sum_k \frac{\partial L_k}{\partial \mu_B}
          + \frac{2 (x_i - \mu_B)}{m} \sum_k \frac{\partial L_k}{\partial \sigma^2_B}
          = \frac{1}{\sqrt{\sigma^2_B + \epsilon}}\Big(g_i - \frac1m \sum_{j=1}^m g_j
            - \hat x_i \frac1m \sum_{j=1}^m g_j \hat x_j\Big),

BN's backward formula with the sums over the whole batch (the first term is autograd's path
through :math:`x - \mu_B`). Parameter gradients stay per process, as in ``torch.nn.SyncBatchNorm``:
each process's ``weight.grad`` is its own share's contribution, and data-parallel training sums
(or averages) them over the processes like every other parameter gradient.

**The lesson's bug** (:class:`NaiveSyncBatchNorm`): a backward that skips that all-reduce uses
only the local sums, as an all-reduce that autograd does not see (``dist.all_reduce`` under
``torch.no_grad()``) would. The output is right; the input gradient is silently wrong.
"""

import torch
import torch.distributed as dist
from torch import nn

from ..validation import check_batch_size
from .batchnorm import BatchNorm
from .common import BatchStatistics, channel_shape


def _world_size(group) -> int:
    """Processes in ``group``; 1 when torch.distributed is unavailable or not initialised."""
    if not (dist.is_available() and dist.is_initialized()):
        return 1
    return dist.get_world_size(group)


def share_moments(x: torch.Tensor) -> torch.Tensor:
    r"""One share's :math:`(m_k, \mu_k, M_{2,k})` per channel, in float64: what a process sends.

    .. math:: \mu_k = \frac{1}{m_k}\sum_{i \in k} x_i, \qquad M_{2,k} = \sum_{i \in k} (x_i - \mu_k)^2 \quad \text{(two passes)}

    ``x``: ``(m_k, C)`` or ``(m_k, C, *spatial)``. Returns ``(2C + 1,)``: ``[m_k, μ_k (C), M2_k (C)]``;
    an empty share gives zeros.
    """
    c, dims = x.shape[1], [0] + list(range(2, x.dim()))
    wide, count = x.double(), x.numel() // c  # float64 accumulation
    if count:
        mean_k = wide.mean(dim=dims)  # μ_k, (C,)
        m2_k = ((wide - mean_k.reshape(channel_shape(x))) ** 2).sum(dim=dims)  # M2_k, (C,)
    else:  # an empty share sends zeros and still joins the all-gather
        mean_k = m2_k = wide.new_zeros(c)
    return torch.cat([wide.new_tensor([count]), mean_k, m2_k])


def combine_shares(counts: torch.Tensor, means: torch.Tensor, m2s: torch.Tensor) -> tuple:
    r"""Chan et al.'s parallel formula: the whole batch's mean and biased variance from its shares'.

    .. math:: \mu_B = \frac{\sum_k m_k \mu_k}{m}, \qquad
              \sigma^2_B = \frac{\sum_k M_{2,k} + \sum_k m_k(\mu_k - \mu_B)^2}{m}, \qquad m = \sum_k m_k

    Args:
        counts: ``(P,)`` values per channel in each share (0 for an empty share, whose mean and
            ``M2`` must then be 0).
        means, m2s: ``(P, C)`` each share's mean and sum of squared deviations.
    Returns:
        ``(mean, var, m)``: ``(C,)``, ``(C,)`` and a 0-d tensor, in the inputs' dtype. All zeros
        when every share is empty.
    """
    m = counts.sum()
    weights = counts[:, None]  # (P, 1)
    mean = (weights * means).sum(dim=0) / m.clamp(min=1)  # (C,)
    m2 = m2s.sum(dim=0) + (weights * (means - mean) ** 2).sum(dim=0)  # (C,)
    return mean, m2 / m.clamp(min=1), m


class SyncStatistics(torch.autograd.Function):
    r"""The whole batch's :math:`\mu_B, \sigma^2_B, m` from this process's share ``x``; the equations
    are in the module docstring.

    Forward: local :math:`(m_k, \mu_k, M_{2,k})` in float64 (:math:`2C + 1` numbers), one
    ``dist.all_gather``, :func:`combine_shares`. Backward: one ``dist.all_reduce`` of
    :math:`(\partial L_k/\partial\mu_B, \partial L_k/\partial\sigma^2_B)` (:math:`2C` numbers), then
    :math:`\partial L/\partial x_i` from them with the global :math:`m`; with ``naive=True`` the
    all-reduce is skipped (the lesson's bug).

    ``apply(x, group, naive)`` with ``x`` of shape ``(m_k, C)`` or ``(m_k, C, *spatial)`` returns
    float64 ``(mean (C,), var (C,), m ())``.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, group, naive: bool):
        c = x.shape[1]
        local = share_moments(x.detach())  # (2C + 1,)
        gathered = [torch.empty_like(local) for _ in range(_world_size(group))]
        dist.all_gather(gathered, local, group=group)
        table = torch.stack(gathered)  # (P, 2C + 1)
        mean, var, m = combine_shares(table[:, 0], table[:, 1 : c + 1], table[:, c + 1 :])
        ctx.save_for_backward(x.detach(), mean)
        ctx.group, ctx.naive, ctx.m = group, naive, m.item()
        ctx.mark_non_differentiable(m)
        return mean, var, m

    @staticmethod
    def backward(ctx, grad_mean: torch.Tensor, grad_var: torch.Tensor, _grad_m):
        x, mean = ctx.saved_tensors
        sums = torch.cat([grad_mean, grad_var])  # (2C,) this process's dL_k/dμ_B, dL_k/dσ²_B
        if not ctx.naive:
            dist.all_reduce(sums, op=dist.ReduceOp.SUM, group=ctx.group)  # Σ over the processes
        c, shape, m = x.shape[1], channel_shape(x), max(ctx.m, 1.0)
        grad_mu, grad_sigma2 = sums[:c].reshape(shape), sums[c:].reshape(shape)  # (1, C, 1, ...)
        dx = grad_mu / m + grad_sigma2 * 2 * (x.double() - mean.reshape(shape)) / m  # like x
        return dx.to(x.dtype), None, None


def sync_batch_statistics(x: torch.Tensor, group=None, naive: bool = False) -> tuple:
    r"""Mean and biased variance per channel over the whole batch, whose shares live in the processes.

    Args:
        x: this process's share, ``(m_k, C)`` or ``(m_k, C, *spatial)``; it may be empty.
        group: the process group (``None``: every process).
        naive: the lesson's bug, a backward without the all-reduce (see the module docstring).
    Returns:
        ``(mean, var, m)``: float64 tensors of shape ``(C,)``, ``(C,)`` and ``()``; ``m`` is the number
        of values per channel in the whole batch. Without an initialised group (or with one
        process) the share is the batch: :func:`combine_shares` of ``x`` alone, no communication.
    """
    if _world_size(group) == 1:
        c, local = x.shape[1], share_moments(x)
        return combine_shares(local[:1], local[None, 1 : c + 1], local[None, c + 1 :])
    return SyncStatistics.apply(x, group, naive)


class SyncBatchNorm(BatchNorm):
    r"""BN whose training-mode statistics are those of the whole batch across a process group.

    .. math:: y = \gamma\,\frac{x - \mu_B}{\sqrt{\sigma^2_B + \epsilon}} + \beta, \qquad
              \mu_B, \sigma^2_B \text{ over all processes' shares (module docstring)}

    Same parameters, buffers and ``state_dict`` as :class:`bnlib.nn.BatchNorm` (and so as
    ``torch.nn.BatchNorm*d`` and ``torch.nn.SyncBatchNorm``). Inputs ``(N, C, *spatial)``; a share
    may be empty or hold one value per channel as long as the whole batch has more than one.

    In training mode, when ``torch.distributed`` is initialised and the group has more than one
    process, only the batch statistics differ from :class:`bnlib.nn.BatchNorm`: they come from
    :func:`sync_batch_statistics`, and the running estimates take the whole batch's mean and
    *unbiased* :math:`\frac{m}{m-1}\sigma^2_B` with the global :math:`m`, so every process keeps the
    same running statistics (as PyTorch's ``batch_norm_gather_stats_with_counts`` does). Otherwise
    (eval mode, one process, no initialised group) it is plain BN and communicates nothing, as
    ``torch.nn.SyncBatchNorm`` ("Don't sync batchnorm stats in inference mode").

    Args (in ``torch.nn.SyncBatchNorm``'s order: ``num_features, eps, momentum, affine,
    track_running_stats, process_group, device, dtype, *, bias``):
        num_features, eps, momentum, affine, track_running_stats, device, dtype, bias: as
            :class:`bnlib.nn.BatchNorm`.
        process_group: the group to synchronise over; ``None`` is every process.
    """

    naive = False  # NaiveSyncBatchNorm: the lesson's bug

    def __init__(self, num_features, *args, process_group=None, **kwargs):
        if len(args) > 4:  # torch.nn.SyncBatchNorm's order: process_group sixth, before device and dtype
            args, process_group = args[:4] + args[5:], args[4]
        super().__init__(num_features, *args, **kwargs)
        self.process_group = process_group

    def _batch_statistics(self, x: torch.Tensor) -> BatchStatistics:
        """The whole batch's statistics (global ``m``); plain BN's in eval mode or without a group."""
        if not self.training or _world_size(self.process_group) == 1:
            return super()._batch_statistics(x)
        mean, var, m = sync_batch_statistics(x, self.process_group, self.naive)  # float64 (C,), (C,), ()
        m = int(m.item())
        check_batch_size((m, self.num_features))  # more than 1 value per channel in the whole batch
        shape = channel_shape(x)
        centred = x - mean.to(x.dtype).reshape(shape)  # like x
        return BatchStatistics(centred, var.to(x.dtype).reshape(shape), mean, var, m)

    def extra_repr(self) -> str:
        return super().extra_repr() + (", process_group=…" if self.process_group is not None else "")

    @classmethod
    def convert_sync_batchnorm(cls, module: nn.Module, process_group=None) -> nn.Module:
        """Replace every BN layer of ``module`` (``torch.nn.BatchNorm1d/2d/3d`` or :class:`bnlib.nn.BatchNorm`)
        by a :class:`SyncBatchNorm` that carries its state: the same ``weight`` and ``bias``
        parameter objects (so an optimiser built earlier still updates them), the running
        statistics, ``num_batches_tracked`` and the train/eval mode. bnlib's other variants
        (ghost, renorm, the lessons' noisy BN) are left as they are: their statistics are not BN's.

        Returns ``module`` with its BN layers replaced, or a new layer if ``module`` itself is one.
        """
        output = module
        if isinstance(module, nn.modules.batchnorm._BatchNorm) or type(module) is BatchNorm:
            reference = module.weight if module.weight is not None else module.running_mean
            output = cls(
                module.num_features,
                module.eps,
                module.momentum,
                module.affine,
                module.track_running_stats,
                process_group,
                device=None if reference is None else reference.device,
                dtype=None if reference is None else reference.dtype,
                bias=getattr(module, "bias", None) is not None,
            )
            if module.affine:
                output.weight = module.weight
                output.bias = module.bias
            output.running_mean = module.running_mean
            output.running_var = module.running_var
            output.num_batches_tracked = module.num_batches_tracked
            output.train(module.training)
        for name, child in module.named_children():
            output.add_module(name, cls.convert_sync_batchnorm(child, process_group))
        return output


class NaiveSyncBatchNorm(SyncBatchNorm):
    """The bug lesson 09 demonstrates, kept on purpose: :class:`SyncBatchNorm` whose backward does not
    all-reduce the gradients of :math:`\\mu_B, \\sigma^2_B`, as if the forward's exchange were a
    ``dist.all_reduce`` under ``torch.no_grad()``. Outputs and running statistics are right; the
    input gradient sees only this process's rows in BN's two sums. Never use it for training."""

    naive = True
