"""bnlib.running_stats: the PyTorch update rule, the cumulative average and the notes' estimate."""

import numpy as np
import pytest

from bnlib import population_statistics, unbiased_variance, update_running_stats


def test_update_weights_the_new_batch_by_momentum():
    mean, var, count = update_running_stats(
        np.zeros(2), np.ones(2), np.array([1.0, 2.0]), np.array([4.0, 8.0]), m=5, momentum=0.1
    )
    np.testing.assert_allclose(mean, [0.1, 0.2])
    np.testing.assert_allclose(var, 0.9 * 1.0 + 0.1 * np.array([4.0, 8.0]) * 5 / 4)  # unbiased
    assert count == 1


def test_momentum_none_is_the_cumulative_average(rng):
    means, variances = rng.normal(size=(7, 3)), rng.uniform(1, 2, size=(7, 3))
    mean, var, count = np.zeros(3), np.ones(3), 0
    for batch_mean, batch_var in zip(means, variances):
        mean, var, count = update_running_stats(
            mean, var, batch_mean, batch_var, m=10, momentum=None, num_batches_tracked=count
        )
    np.testing.assert_allclose(mean, means.mean(axis=0))
    np.testing.assert_allclose(var, (variances * 10 / 9).mean(axis=0))
    assert count == 7


def test_cumulative_average_matches_the_notes_estimate(rng):
    means, variances = rng.normal(size=(5, 2)), rng.uniform(1, 2, size=(5, 2))
    state = (np.zeros(2), np.ones(2), 0)
    for batch_mean, batch_var in zip(means, variances):
        state = update_running_stats(*state[:2], batch_mean, batch_var, 8, None, state[2])
    np.testing.assert_allclose(state[:2], population_statistics(means, variances, 8))


def test_population_statistics_is_unbiased_for_the_variance(rng):
    # Many batches of m = 4 from N(3, 2^2): E[sigma_B^2] = 3/4 * 4 = 3; corrected: 4.
    m = 4
    batches = rng.normal(3.0, 2.0, size=(200_000, m))
    mean, var = population_statistics(batches.mean(axis=1), batches.var(axis=1), m)
    assert abs(batches.var(axis=1).mean() - 3.0) < 0.05
    assert abs(mean - 3.0) < 0.02 and abs(var - 4.0) < 0.05


def test_unbiased_variance_needs_two_values():
    with pytest.raises(ValueError, match="the unbiased variance needs at least 2 values per channel, got m = 1"):
        unbiased_variance(np.ones(3), 1)


@pytest.mark.parametrize("momentum", [-0.1, 1.5])
def test_momentum_out_of_range(momentum):
    with pytest.raises(ValueError, match=rf"momentum must be a number in \[0, 1\] or None, got {momentum}"):
        update_running_stats(np.zeros(1), np.ones(1), np.zeros(1), np.ones(1), 4, momentum)


def test_population_statistics_shape_mismatch():
    with pytest.raises(ValueError, match=r"same shape"):
        population_statistics(np.zeros((3, 2)), np.zeros((3, 1)), 4)
