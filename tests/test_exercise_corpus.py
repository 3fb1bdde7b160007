"""Every solution of tests/exercise_corpus.py through its exercise's feedback check, in this process.

A right solution passes; a wrong one gets the message that names its mistake. Together with
tests/test_checks.py the corpus reaches every mistake a check can name. The nbgrader round trip of
some of these solutions is in tests/test_exercises.py.
"""

import ast
from pathlib import Path

import numpy as np
import pytest
import torch
from exercise_corpus import CORPUS, FUNCTIONS

from bnlib import checks

ROWS = [(exercise, check, row) for exercise, (check, rows) in CORPUS.items() for row in rows]


def function_of(code: str, check: str):
    """Run a solution cell as the notebook would (numpy and torch imported) and return the function ``check`` takes."""
    namespace = {"np": np, "torch": torch}
    exec(compile(code, "<solution>", "exec"), namespace)  # noqa: S102 -- the corpus is this repository's own
    return namespace[FUNCTIONS[check]]


@pytest.mark.parametrize("exercise, check, row", ROWS, ids=[f"{e}: {r.name}" for e, _, r in ROWS])
def test_the_feedback_names_the_mistake(exercise, check, row):
    result = getattr(checks, check)(function_of(row.code, check))
    assert result.passed == (row.mistake is None), str(result)
    assert result.mistake == row.mistake and row.phrase in str(result), str(result)


@pytest.mark.parametrize("exercise", sorted({e.split("/")[0] for e in CORPUS}))
def test_at_least_eight_wrong_and_five_right_per_exercise(exercise):
    rows = [r for e, (_, rs) in CORPUS.items() if e.split("/")[0] == exercise for r in rs]
    assert sum(r.mistake is None for r in rows) >= 5 and sum(r.mistake is not None for r in rows) >= 8
    assert len({r.code for r in rows}) == len(rows)


def named_mistakes() -> set:
    """Every mistake key bnlib/checks.py can report, read from its syntax tree: the second argument of
    each ``_Wrong(message, key)`` and the keys of the tables of known mistakes ({key: (output, message)})."""
    keys = set()
    for node in ast.walk(ast.parse(Path(checks.__file__).read_text())):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "_Wrong" and len(node.args) == 2:
            if isinstance(node.args[1], ast.Constant):
                keys.add(node.args[1].value)
        elif isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values):
                if isinstance(key, ast.Constant) and isinstance(value, ast.Tuple) and len(value.elts) == 2:
                    keys.add(key.value)
    return keys


def test_every_named_mistake_is_reached():
    """The corpus and tests/test_checks.py together make every mistake a check can name."""
    import test_checks

    reached = {r.mistake for _, _, r in ROWS}
    for table in (
        test_checks.FORWARD_MISTAKES,
        test_checks.RUNNING_MISTAKES,
        test_checks.BACKWARD_MISTAKES,
        test_checks.FOLD_MISTAKES,
    ):
        reached |= set(table)
    reached |= {"dbeta_over_features", "not_callable", "not_implemented", "not_finite", "wrong_shape", "wrong_values"}
    # ... the last line's keys are asserted by name in tests/test_checks.py and test_checks_never_raise_*
    missing = named_mistakes() - reached
    assert not missing, f"no test makes these mistakes: {sorted(missing)}"


def test_the_last_three_keys_are_really_reached():
    """dbeta summed per example, a non-callable and an unusable answer, asserted here by name."""

    def per_example_dbeta(dy, x, gamma, beta, eps=1e-5):
        std = np.sqrt(x.var(axis=1, keepdims=True) + eps)
        x_hat = (x - x.mean(axis=1, keepdims=True)) / std
        g = dy * gamma
        dx = (g - g.mean(axis=1, keepdims=True) - x_hat * (g * x_hat).mean(axis=1, keepdims=True)) / std
        return dx, (dy * x_hat).sum(axis=0), dy.sum(axis=1)

    assert checks.check_layernorm_backward(per_example_dbeta).mistake == "dbeta_over_features"
    assert checks.check_fold_batchnorm(None).mistake == "not_callable"

    class Weird(np.ndarray):  # an array whose comparison raises: the check reports, never raises
        def __array_ufunc__(self, *args, **kwargs):
            raise RuntimeError("no arithmetic")

    weird = checks.check_fold_batchnorm(lambda W, *a, **k: (np.zeros(W.shape).view(Weird), np.zeros(3)))
    assert weird.mistake == "unusable" and "RuntimeError" in weird.message
