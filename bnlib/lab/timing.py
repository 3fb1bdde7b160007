r"""Interleaved wall-clock timing for comparing implementations on a shared, noisy machine.

Lesson 04 compares backward passes. On a machine shared with other programs a single timing is
unreliable, so :func:`interleaved_times` runs ``rounds`` rounds and, inside every round, times
every candidate once (``calls`` calls each): a slow patch of the machine then hits all
candidates alike. :func:`median_speedups` summarises with the median, which ignores the few
rounds that a background process slowed down:

.. math:: \text{speed-up}_k = \frac{\operatorname{median}_r t_{\text{base}, r}}{\operatorname{median}_r t_{k, r}} .

Timings are for figures and for text, never for asserts: they depend on the machine.

Lesson that imports it: 04.
"""

import time
from collections.abc import Callable

import numpy as np


def interleaved_times(
    candidates: dict[str, Callable[[], object]],
    rounds: int = 31,
    calls: int = 5,
    clock: Callable[[], float] = time.perf_counter,
) -> dict[str, np.ndarray]:
    """Time every candidate in every round; return seconds per call, shape ``(rounds,)`` each.

    Args:
        candidates: name -> function of no arguments; called ``rounds * calls`` times each, in
            insertion order within each round.
        rounds, calls: positive ints.
        clock: a function returning seconds (``time.perf_counter``; tests pass a fake clock).
    Raises:
        ValueError: no candidates, or ``rounds`` or ``calls`` below 1.
    """
    if not candidates:
        raise ValueError("interleaved_times needs at least one candidate")
    if rounds < 1 or calls < 1:
        raise ValueError(f"rounds and calls must be at least 1, got {rounds} and {calls}")
    times = {name: np.empty(rounds) for name in candidates}
    for r in range(rounds):
        for name, f in candidates.items():
            start = clock()
            for _ in range(calls):
                f()
            times[name][r] = (clock() - start) / calls
    return times


def median_speedups(times: dict[str, np.ndarray], baseline: str) -> dict[str, float]:
    """``median(times[baseline]) / median(times[k])`` for every k (> 1: faster than the baseline).

    Raises:
        KeyError: ``baseline`` is not one of the names.
    """
    if baseline not in times:
        raise KeyError(f"baseline {baseline!r} is not among {sorted(times)}")
    base = float(np.median(times[baseline]))
    return {name: base / float(np.median(t)) for name, t in times.items()}
