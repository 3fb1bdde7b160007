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


def unbiased_variance(biased_var, m: int):
    r"""Bessel's correction: :math:`\frac{m}{m-1}\sigma^2_B`. Any shape; ``m`` values per channel, m > 1."""
    if m < 2:
        raise ValueError(f"the unbiased variance needs at least 2 values per channel, got m = {m}")
    return np.asarray(biased_var, dtype=np.float64) * (m / (m - 1))


def update_running_stats(running_mean, running_var, batch_mean, batch_var, m: int,
                         momentum=0.1, num_batches_tracked: int = 0):
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
    if momentum is not None and not 0 <= momentum <= 1:
        raise ValueError(f"momentum must be in [0, 1] or None, got {momentum!r}")
    count = num_batches_tracked + 1
    factor = 1.0 / count if momentum is None else momentum
    new_mean = (1 - factor) * np.asarray(running_mean, np.float64) + factor * np.asarray(batch_mean, np.float64)  # (C,)
    new_var = (1 - factor) * np.asarray(running_var, np.float64) + factor * unbiased_variance(batch_var, m)        # (C,)
    return new_mean, new_var, count


def population_statistics(batch_means, batch_vars, m: int):
    r"""The notes' test-time estimate from K batches of size m: :math:`\mathrm{E}[\mu_B]`, :math:`\tfrac{m}{m-1}\mathrm{E}[\sigma^2_B]`.

    Args:
        batch_means: per-batch means, shape ``(K, C)`` (or ``(K,)`` for one feature).
        batch_vars: per-batch *biased* variances, same shape.
        m: values per channel in each batch, m > 1.
    Returns:
        ``(mean, var)``, float64, shape ``(C,)`` (or scalars).
    """
    batch_means = np.asarray(batch_means, dtype=np.float64)
    batch_vars = np.asarray(batch_vars, dtype=np.float64)
    if batch_means.shape != batch_vars.shape or batch_means.ndim == 0 or batch_means.shape[0] == 0:
        raise ValueError(
            f"expected batch_means and batch_vars of the same shape (K, C) with K >= 1, "
            f"got {batch_means.shape} and {batch_vars.shape}"
        )
    return batch_means.mean(axis=0), unbiased_variance(batch_vars.mean(axis=0), m)
