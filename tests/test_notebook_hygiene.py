"""The notebook hygiene check of ``.ci/run``: ``nbstripout --verify`` with the flags CI uses.

Negative control: a committed notebook given the metadata a Jupyter session adds (execution
timing, collapsed and scrolled outputs, widget state) fails the check, and the fix command that CI
prints gives back exactly the committed notebook: outputs and execution counts (which nbval
compares), cell ids, nbval's cell tags and nbgrader's cell metadata all survive.
"""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = [
    ROOT / "notebooks" / "04_the_backward_pass.ipynb",  # has a cell tagged nbval-ignore-output
    ROOT / "exercises" / "source" / "ex1_batchnorm_forward" / "ex1_batchnorm_forward.ipynb",  # nbgrader cells
]


def ci_flags() -> list[str]:
    """The options of the nbstripout call in .ci/run, ``--verify`` included."""
    lines = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    call = next(line for line in lines if "-m nbstripout" in line and "--verify" in line)
    return re.findall(r"--[\w-]+", call)


def nbstripout(path: Path, flags: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "nbstripout", *flags, path.name], capture_output=True, text=True, cwd=path.parent
    )


def with_session_metadata(notebook: dict) -> dict:
    """The notebook as a Jupyter session leaves it: timings, collapsed/scrolled state, widget state."""
    notebook = json.loads(json.dumps(notebook))
    code = next(cell for cell in notebook["cells"] if cell["cell_type"] == "code")
    code["metadata"].update(
        {
            "ExecuteTime": {"end_time": "2026-11-28T09:00:01.000Z", "start_time": "2026-11-28T09:00:00.000Z"},
            "execution": {"iopub.execute_input": "2026-11-28T09:00:00.000Z"},
            "collapsed": False,
            "scrolled": True,
        }
    )
    notebook["metadata"]["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    return notebook


def test_ci_keeps_what_nbval_and_nbgrader_need():
    flags = ci_flags()
    assert {"--keep-output", "--keep-count", "--keep-id", "--verify"} <= set(flags), flags


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_notebook_passes(path, tmp_path):
    copy = tmp_path / path.name
    shutil.copy(path, copy)
    result = nbstripout(copy, ci_flags())
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_session_metadata_fails_and_the_fix_restores_the_committed_notebook(path, tmp_path):
    committed = json.loads(path.read_text(encoding="utf-8"))
    cells = committed["cells"]
    assert any(cell.get("outputs") for cell in cells) and all(
        cell.get("execution_count") for cell in cells if cell["cell_type"] == "code" and cell["source"]
    )
    assert any("nbval-ignore-output" in c["metadata"].get("tags", []) or "nbgrader" in c["metadata"] for c in cells)
    dirty = tmp_path / path.name
    dirty.write_text(json.dumps(with_session_metadata(committed), indent=1, ensure_ascii=False) + "\n")

    result = nbstripout(dirty, ci_flags())
    assert result.returncode == 1
    assert f"would have stripped {path.name}" in result.stdout

    fixed = nbstripout(dirty, [flag for flag in ci_flags() if flag != "--verify"])
    assert fixed.returncode == 0, fixed.stderr
    assert json.loads(dirty.read_text(encoding="utf-8")) == committed
