"""The rules every lesson notebook follows so that it runs the same on any machine and any seed.

See CONTRIBUTING.md: one ``SEEDS = (...)`` line (so CI can re-run the lesson on other seeds), the
data split from the one place (``bnlib.lab.data.SPLIT_SEED``), and few cells whose output nbval
ignores (tag ``nbval-ignore-output``, at most one code cell in five).
"""

import json
import re
import subprocess
import sys
from pathlib import Path

import nbformat
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


def test_twice_follows_every_code_cell_with_its_copy():
    notebook = {
        "cells": [
            {"cell_type": "markdown", "id": "m", "metadata": {}, "source": "text"},
            {
                "cell_type": "code",
                "id": "c",
                "metadata": {"tags": ["nbval-ignore-output"]},
                "execution_count": 1,
                "outputs": [{"output_type": "stream", "name": "stdout", "text": "1\n"}],
                "source": "print(1)",
            },
        ]
    }
    doubled = lesson_runs.twice(notebook)
    assert [c["id"] for c in doubled["cells"]] == ["m", "c", "c-again"]
    first, again = doubled["cells"][1:]
    assert {k: v for k, v in again.items() if k != "id"} == {k: v for k, v in first.items() if k != "id"}
    assert len(notebook["cells"]) == 2  # the original is untouched


def _toy_lesson(tmp_path, name, sources):
    """Execute a small notebook, commit its outputs, and return its path (as a lesson is committed)."""
    cells = [{"cell_type": "code", "id": f"c{i}", "metadata": {}, "source": s} for i, s in enumerate(sources)]
    for c in cells:
        c["outputs"], c["execution_count"] = [], None
    notebook = {"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    executed, _ = lesson_runs.execute(notebook)
    path = tmp_path / name
    path.write_text(json.dumps(json.loads(nbformat.writes(executed))), encoding="utf-8")
    return path


def test_running_every_cell_twice_catches_a_cell_that_is_not_rerunnable(tmp_path):
    """End to end, as .ci/run does it: the run-twice copies under strict nbval."""
    shared = ["import numpy as np\nrng = np.random.default_rng(0)", "print(round(rng.random(), 3))"]
    own = ["import numpy as np", "rng = np.random.default_rng(0)\nprint(round(rng.random(), 3))"]
    results = {}
    for name, sources in {"shared.ipynb": shared, "own.ipynb": own}.items():
        lesson = _toy_lesson(tmp_path, name, sources)
        (copy,) = lesson_runs.write_twice(tmp_path / "twice", [lesson])
        run = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=", "--nbval",
             "--nbval-current-env", "--rootdir", str(copy.parent), str(copy)],
            capture_output=True, text=True, cwd=copy.parent,
        )  # fmt: skip
        results[name] = run.returncode
    assert results == {"shared.ipynb": 1, "own.ipynb": 0}, results


@pytest.mark.parametrize(
    "printed, compared",
    [
        ("max |dx - dx_torch| = 3e-16 (bound 1e-12)", "max |dx - dx_torch| = <1e-7 or less> (bound 1e-12)"),
        ("error 1.6e-10, float32 1.2e-07, -4e-17", "error <1e-7 or less>, float32 <1e-7 or less>, <1e-7 or less>"),
        ("max |Δ| = 0e+00 (bound 0e+00), 0.0e+00", "max |Δ| = <1e-7 or less> (bound 0e+00), <1e-7 or less>"),
        (
            "std within 1.3e-04 of 1, lr 0.05, 2e-6, 1e-07x, 1e+00",
            "std within 1.3e-04 of 1, lr 0.05, 2e-6, 1e-07x, 1e+00",
        ),
    ],
)
def test_sanitizer_hides_only_rounding_level_digits(printed, compared):
    """nbval_sanitize.cfg: numbers of 1e-7 or less compare by size; every larger number by its digits."""
    import nbval.plugin

    text = (Path(__file__).resolve().parent.parent / "nbval_sanitize.cfg").read_text()
    patterns = nbval.plugin.get_sanitize_patterns(text)
    assert len(patterns) == 1
    for regex, replace in patterns:
        printed = re.sub(regex, replace, printed)
    assert printed == compared
