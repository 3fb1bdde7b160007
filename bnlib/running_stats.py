r"""Estimates of the population statistics that BN uses at test time, as pure functions.

Two ways to turn the mini-batch statistics seen in training into fixed test-time statistics:

* the running average PyTorch keeps while training (``momentum`` weights the new batch),

  .. math:: \hat\mu \leftarrow (1 - \text{momentum})\,\hat\mu + \text{momentum}\,\mu_B,\qquad
            \hat\sigma^2 \leftarrow (1 - \text{momentum})\,\hat\sigma^2
                + \text{momentum}\,\tfrac{m}{m-1}\sigma_B^2,

  where ``momentum=None`` gives the cumulative average (factor :math:`1/k` for the k-th batch);

* the estimate of Ioffe & Szegedy (and of the source notes) from all batch statistics,

  .. math:: \mu_\text{test} = \mathrm{E}[\mu_B],\qquad
            \sigma^2_\text{test} = \tfrac{m}{m-1}\,\mathrm{E}[\sigma_B^2].

:math:`\sigma_B^2` is the biased batch variance (divide by ``m``) that BN normalises with; the
factor :math:`m/(m-1)` makes its expectation the population variance.
"""

import numpy as np

from .validation import check_count, check_momentum, real_array


def unbiased_variance(biased_var, m: int):
    r"""Bessel's correction: :math:`\frac{m}{m-1}\sigma^2_B`. Any shape; ``m`` values per channel, m > 1."""
    m = check_count(m, "m", minimum=0)
    if m < 2:
        raise ValueError(f"the unbiased variance needs at least 2 values per channel, got m = {m}")
    return real_array(biased_var, "biased_var").astype(np.float64) * (m / (m - 1))


def update_running_stats(
    running_mean, running_var, batch_mean, batch_var, m: int, momentum=0.1, num_batches_tracked: int = 0
):
    """One step of PyTorch's running-statistics update.

    Args:
        running_mean, running_var: current estimates, shape ``(C,)``.
        batch_mean, batch_var: this batch's mean and *biased* variance, shape ``(C,)``.
        m: values per channel in the batch (``N`` times the spatial size), m > 1.
        momentum: weight of the new batch in [0, 1], or ``None`` for the cumulative average.
        num_batches_tracked: batches already averaged in (used when ``momentum`` is None).
    Returns:
        ``(new_mean, new_var, num_batches_tracked + 1)``; the arrays float64, shape ``(C,)``.
    """
    check_momentum(momentum)
    count = check_count(num_batches_tracked, "num_batches_tracked", minimum=0) + 1
    factor = 1.0 / count if momentum is None else momentum
    running_mean, running_var, batch_mean, batch_var = (
        real_array(a, name).astype(np.float64)
        for a, name in (
            (running_mean, "running_mean"),
            (running_var, "running_var"),
            (batch_mean, "batch_mean"),
            (batch_var, "batch_var"),
        )
    )
    if not running_mean.shape == running_var.shape == batch_mean.shape == batch_var.shape:
        raise ValueError(
            f"expected running and batch statistics of one shape (C,), got {running_mean.shape}, "
            f"{running_var.shape}, {batch_mean.shape} and {batch_var.shape}"
        )
    new_mean = (1 - factor) * running_mean + factor * batch_mean  # (C,)
    new_var = (1 - factor) * running_var + factor * unbiased_variance(batch_var, m)  # (C,)
    return new_mean, new_var, count


def population_statistics(batch_means, batch_vars, m: int):
    r"""The notes' test-time estimate from K batches of size m.

    :math:`\mathrm{E}[\mu_B]` and :math:`\tfrac{m}{m-1}\mathrm{E}[\sigma^2_B]`, the averages over the K batches.

    Args:
        batch_means: per-batch means, shape ``(K, C)`` (or ``(K,)`` for one feature).
        batch_vars: per-batch *biased* variances, same shape.
        m: values per channel in each batch, m > 1.
    Returns:
        ``(mean, var)``, float64, shape ``(C,)`` (or scalars).
    """
    batch_means = real_array(batch_means, "batch_means").astype(np.float64)
    batch_vars = real_array(batch_vars, "batch_vars").astype(np.float64)
    if batch_means.shape != batch_vars.shape or batch_means.ndim == 0 or batch_means.shape[0] == 0:
        raise ValueError(
            f"expected batch_means and batch_vars of the same shape (K, C) with K >= 1, "
            f"got {batch_means.shape} and {batch_vars.shape}"
        )
    return batch_means.mean(axis=0), unbiased_variance(batch_vars.mean(axis=0), m)
