r"""``claim``: the assert behind every statistical claim a lesson makes.

A lesson states what its experiment shows ("BN reaches 90 % accuracy sooner, median over seeds")
and then checks it on the numbers it has just computed::

    claim("BN reaches the target sooner (median ratio of steps)", median_ratio, ">=", 1.5)

which is ``assert median_ratio >= 1.5`` with a message that says what failed. Every call is also
appended to :data:`RECORD`, so ``benchmarks/seed_sweep.py`` can re-run a lesson on many seeds and
data splits and print each claim's distribution next to its threshold: that is how the thresholds
are chosen (from a sweep, not from the three seeds a lesson shows). The sweep's results are
committed (``bnlib/lab/sweeps/``) and a lesson shows their distribution with
:func:`bnlib.lab.sweeps.show`.

With the environment variable ``BNLIB_CLAIMS=record`` a failed claim is recorded but does not
raise, so a sweep sees every claim of a lesson even where an early one fails.

Exact checks (two implementations agree to 1e-12, a count is 3) stay plain ``assert``\ s: they are
not statistics and need no sweep.

Lessons that import it: 00, 01, 02, 03, 04, 05, 06, 07, 08, 09, 10.
"""

import math
import operator
import os

OPERATORS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}

RECORD: list[dict] = []
"""One entry per :func:`claim` call in this process: statement, value, op, bound, held."""


def claim(statement: str, value, op: str, bound) -> None:
    """Check ``value <op> bound`` (op one of ``<``, ``<=``, ``>``, ``>=``), record it, and raise if false.

    Args:
        statement: what the lesson claims, in words; it names the claim in the sweep's table.
        value: the measured quantity, a real number (a numpy or torch scalar is fine).
        op: the comparison.
        bound: the threshold, a real number.
    Returns nothing, so a cell that ends in a claim prints nothing: the lesson prints the measured
    value itself, at a rounding it chooses, next to the bound.
    Raises:
        AssertionError: the claim does not hold (or ``value`` is NaN), naming the statement, the
            value and the bound.
        ValueError: ``op`` is not one of the four comparisons.
    """
    if op not in OPERATORS:
        raise ValueError(f"op must be one of {sorted(OPERATORS)}, got {op!r}")
    value, bound = float(value), float(bound)
    held = not math.isnan(value) and OPERATORS[op](value, bound)
    RECORD.append({"statement": statement, "value": value, "op": op, "bound": bound, "held": held})
    if not held and os.environ.get("BNLIB_CLAIMS") != "record":
        raise AssertionError(f"claim does not hold: {statement}: measured {value:.6g}, expected {op} {bound:.6g}")


def record(statement: str, value) -> None:
    """Record a measured quantity for the seed sweep without checking it against a bound.

    For the numbers a lesson quotes whose distribution over seeds it shows (a per-seed difference,
    an accuracy), where no threshold is claimed. The sweep stores it with ``op`` and ``bound`` None.
    """
    RECORD.append({"statement": statement, "value": float(value), "op": None, "bound": None, "held": True})
