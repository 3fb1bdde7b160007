r"""``BatchRenorm``: Batch Renormalization (Ioffe, 2017), for the lessons.

In training, BN normalises with the batch's :math:`\mu_B, \sigma_B`, in eval mode with the running
estimates; at small or non-i.i.d. batches the two disagree. Batch Renorm trains with

.. math:: \hat x = \frac{x - \mu_B}{\sigma_B}\, r + d, \qquad
          r = \left[\frac{\sigma_B}{\sigma}\right]_{1/r_\max}^{r_\max}, \qquad
          d = \left[\frac{\mu_B - \mu}{\sigma}\right]_{-d_\max}^{d_\max},

where :math:`\sigma_B = \sqrt{\sigma^2_B + \epsilon}`, :math:`\mu` = ``running_mean``,
:math:`\sigma = \sqrt{\text{running\_var} + \epsilon}` (read *before* this batch's update), and
:math:`[\cdot]_a^b` clips to :math:`[a, b]`. :math:`r` and :math:`d` are constants for autograd
(the paper's ``stop_gradient``): the gradient is BN's, times :math:`r`. Unclipped,
:math:`\hat x = (x - \mu)/\sigma`: training normalises as eval mode does.

Which running variance :math:`\sigma` comes from: PyTorch's, the exponential average of the
*unbiased* :math:`\frac{m}{m-1}\sigma^2_B`, so :math:`\sigma^2` estimates the population variance
:math:`\sigma^2_\text{pop}` (the paper keeps a moving average of :math:`\sigma_B` itself). Since
:math:`\mathrm{E}[\sigma^2_B] = \frac{m-1}{m}\sigma^2_\text{pop}`, :math:`r` is below 1 on average at
small :math:`m` (ignoring :math:`\epsilon`, :math:`\mathrm{E}[r^2] \approx (m-1)/m`, 0.75 at
:math:`m = 4`, unclipped): that is the correction that makes training agree with eval mode, which
uses the same running variance.

The running estimates are updated as in BN, eval mode is BN's, and with :math:`r_\max = 1`,
:math:`d_\max = 0` the layer is BN. The paper starts there and relaxes the limits during training
(to 3 and 5 in its experiments); ``r_max`` and ``d_max`` can be set between steps for that warm-up.
"""

import torch

from ..validation import check_at_least
from .batchnorm import BatchNorm
from .common import BatchStatistics, channel_shape


class _Limit:
    """A clipping bound of :class:`BatchRenorm`, checked (``check_at_least``) whenever it is set."""

    def __init__(self, minimum: float, why: str):
        self.minimum, self.why = minimum, why

    def __set_name__(self, owner, name):
        self.name = name

    def __get__(self, module, owner=None):
        return self if module is None else module.__dict__[self.name]

    def __set__(self, module, value):
        module.__dict__[self.name] = check_at_least(value, self.name, self.minimum, self.why)


class BatchRenorm(BatchNorm):
    r"""Batch Renormalization for ``(N, C)`` or ``(N, C, *spatial)`` inputs; see the module docstring for the equations.

    Same parameters, buffers and ``state_dict`` as :class:`bnlib.nn.BatchNorm` (and so as
    ``torch.nn.BatchNorm*d``); ``r_max`` and ``d_max`` are attributes, not state.

    Args:
        num_features: number of channels ``C``.
        r_max: bound on :math:`r` and :math:`1/r`, a real number >= 1 (1: no scale correction).
        d_max: bound on :math:`|d|`, a real number >= 0 (0: no shift correction).
        others: as :class:`bnlib.nn.BatchNorm`; ``track_running_stats`` must be True (r and d need
            the running estimates).
    """

    r_max = _Limit(1, " (r_max = 1 is plain BN's scale)")  # r in [1/r_max, r_max]; may change between steps
    d_max = _Limit(0, " (d_max = 0 is plain BN's shift)")  # d in [-d_max, d_max]; may change between steps

    def __init__(self, num_features, r_max=3.0, d_max=5.0, *args, **kwargs):
        super().__init__(num_features, *args, **kwargs)
        if not self.track_running_stats:
            raise ValueError("BatchRenorm needs track_running_stats=True: r and d come from the running estimates")
        self.r_max, self.d_max = r_max, d_max

    def _normalize(self, x: torch.Tensor, stats: BatchStatistics) -> torch.Tensor:
        r"""BN's :math:`(x - \mu_B)/\sigma_B`, times :math:`r`, plus :math:`d` (both ``(C,)``, detached)."""
        shape = channel_shape(x)
        with torch.no_grad():
            sigma = torch.sqrt(self.running_var + self.eps)  # σ, (C,), before this batch's update
            r = (torch.sqrt(stats.batch_var + self.eps) / sigma).clamp(1 / self.r_max, self.r_max)  # (C,)
            d = ((stats.mean - self.running_mean) / sigma).clamp(-self.d_max, self.d_max)  # (C,)
        return super()._normalize(x, stats) * r.reshape(shape) + d.reshape(shape)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", r_max={self.r_max}, d_max={self.d_max}"
