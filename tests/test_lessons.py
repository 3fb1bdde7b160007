"""The rules every lesson notebook follows so that it runs the same on any machine and any seed.

See CONTRIBUTING.md: one ``SEEDS = (...)`` line (so CI can re-run the lesson on other seeds), the
data split from the one place (``bnlib.lab.data.SPLIT_SEED``), and few cells whose output nbval
ignores (tag ``nbval-ignore-output``, at most one code cell in five).
"""

import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
import lesson_runs  # noqa: E402

LESSONS = lesson_runs.lesson_paths()


def tagged(cell, tag):
    return tag in cell.get("metadata", {}).get("tags", [])


def test_there_are_lessons():
    assert len(LESSONS) >= 7 and LESSONS[0].name == "00_start_here.ipynb"


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_one_seeds_line(path):
    seeds = lesson_runs.seeds_of(lesson_runs.read(path))
    assert seeds == tuple(range(len(seeds))), f"the committed SEEDS are 0..n-1 (seed group 0), got {seeds}"


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_split_seed_from_the_one_place(path):
    """A lesson that loads the digits takes the split seed from bnlib.lab.data.SPLIT_SEED."""
    for src in lesson_runs.code_sources(lesson_runs.read(path)):
        for call in re.findall(r"load_digits_split\(([^)]*)\)", src):
            assert "seed" not in call, f"load_digits_split({call}): leave the split seed to SPLIT_SEED"


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_ignored_outputs_are_rare_and_explained(path):
    """At most one code cell in five carries nbval-ignore-output, and its first line says why."""
    code = [c for c in lesson_runs.read(path)["cells"] if c["cell_type"] == "code"]
    ignored = [c for c in code if tagged(c, lesson_runs.IGNORE_TAG)]
    assert len(ignored) * 5 <= len(code), f"{len(ignored)} of {len(code)} code cells ignore their output"
    for cell in ignored:
        first = "".join(cell["source"]).lstrip().splitlines()[0]
        assert first.startswith("#"), f"a cell tagged {lesson_runs.IGNORE_TAG} starts with a comment saying why"


def test_with_seeds_replaces_the_one_line_and_clears_outputs():
    notebook = {
        "cells": [
            {"cell_type": "markdown", "metadata": {}, "source": ["SEEDS = (0, 1) in prose is not code\n"]},
            {
                "cell_type": "code",
                "metadata": {},
                "execution_count": 1,
                "outputs": [{"output_type": "stream"}],
                "source": ["import numpy as np\n", "SEEDS = (0, 1, 2)   # three seeds\n", "x = 1\n"],
            },
        ]
    }
    assert lesson_runs.seeds_of(notebook) == (0, 1, 2)
    assert lesson_runs.seed_group(notebook, 2) == (6, 7, 8)
    variant = lesson_runs.with_seeds(notebook, (6, 7, 8))
    assert "".join(variant["cells"][1]["source"]) == "import numpy as np\nSEEDS = (6, 7, 8)  # three seeds\nx = 1\n"
    assert variant["cells"][1]["outputs"] == [] and variant["cells"][1]["execution_count"] is None
    assert notebook["cells"][1]["execution_count"] == 1  # the original is untouched


@pytest.mark.parametrize(
    "sources, message",
    [
        (["x = 1\n"], "found 0"),
        (["SEEDS = (0, 1)\n", "SEEDS = (2, 3)\n"], "found 2"),
        (["SEEDS = (0.5, 1)\n"], "tuple of ints"),
    ],
)
def test_seeds_line_errors(sources, message):
    notebook = {"cells": [{"cell_type": "code", "metadata": {}, "source": s} for s in sources]}
    with pytest.raises(ValueError, match=message):
        lesson_runs.seeds_of(notebook)
