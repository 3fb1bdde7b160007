"""bnlib.lab.claims.claim: an assert that says what failed, and a record for the seed sweep."""

import numpy as np
import pytest

from bnlib.lab import claims
from bnlib.lab.claims import claim


@pytest.fixture(autouse=True)
def fresh_record(monkeypatch):
    monkeypatch.setattr(claims, "RECORD", [])
    monkeypatch.delenv("BNLIB_CLAIMS", raising=False)


@pytest.mark.parametrize(
    "value, op, bound, holds",
    [
        (2.0, ">", 1.0, True),
        (1.0, ">", 1.0, False),
        (1.0, ">=", 1.0, True),
        (0.5, ">=", 1.0, False),
        (0.5, "<", 1.0, True),
        (1.0, "<", 1.0, False),
        (1.0, "<=", 1.0, True),
        (1.5, "<=", 1.0, False),
    ],
)
def test_holds_exactly_when_the_comparison_does(value, op, bound, holds):
    if holds:
        assert claim("c", value, op, bound) is None  # nothing for a cell to print
    else:
        with pytest.raises(
            AssertionError, match=rf"claim does not hold: c: measured {value:g}, expected {op} {bound:g}"
        ):
            claim("c", value, op, bound)
    assert claims.RECORD == [{"statement": "c", "value": value, "op": op, "bound": bound, "held": holds}]


def test_nan_never_holds():
    with pytest.raises(AssertionError, match="measured nan"):
        claim("diverged run", float("nan"), "<", 1.0)


def test_numpy_scalars_are_recorded_as_floats():
    claim("median", np.median(np.array([1.0, 2.0, 3.0], dtype=np.float32)), ">", 1)
    assert type(claims.RECORD[0]["value"]) is float and claims.RECORD[0]["value"] == 2.0


def test_record_mode_records_without_raising(monkeypatch):
    monkeypatch.setenv("BNLIB_CLAIMS", "record")
    claim("fails", 0.0, ">", 1.0)
    claim("holds", 2.0, ">", 1.0)
    assert [c["held"] for c in claims.RECORD] == [False, True]


def test_bad_operator_is_named():
    with pytest.raises(ValueError, match="op must be one of"):
        claim("c", 1.0, "==", 1.0)
    assert claims.RECORD == []
