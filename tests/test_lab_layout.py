"""The lesson plumbing shows its size: every ``bnlib.lab`` module says which lessons import it, truly.

Each module's docstring ends with a line ``Lessons that import it: 01, 02.`` (or ``Lesson that
imports it: 07.``), computed here from the lessons' code cells. A module no lesson imports names
instead the ``bnlib.lab`` modules that use it, and each of those must import it. When a lesson
issue moves a mechanism onto the page and a helper loses its last lesson, this test says so, and
the helper can go.
"""

import ast
import importlib
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAB = ROOT / "bnlib" / "lab"
MODULES = sorted(p.stem for p in LAB.glob("*.py") if p.stem != "__init__")
LESSONS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def lab_imports(tree: ast.AST, package: str | None = None) -> set[str]:
    """Names of the ``bnlib.lab`` modules that ``tree`` imports (absolutely, or relatively from ``package``)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name.split(".")[2] for a in node.names if a.name.startswith("bnlib.lab.")}
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:  # relative, inside bnlib.lab
                module = ("bnlib.lab." + module) if node.level == 1 and package == "bnlib.lab" else module
            if module.startswith("bnlib.lab."):
                found.add(module.split(".")[2])
            elif module == "bnlib.lab" or (node.level == 1 and not node.module):
                found |= {a.name for a in node.names}
    return found & set(MODULES)


def lesson_imports(path: Path) -> set[str]:
    """The ``bnlib.lab`` modules a lesson's code cells import (IPython magics left out)."""
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    code = "\n".join(
        line
        for cell in cells
        if cell["cell_type"] == "code"
        for line in "".join(cell["source"]).splitlines()
        if not line.lstrip().startswith(("%", "!"))
    )
    return lab_imports(ast.parse(code))


USERS = {m: sorted(p.name[:2] for p in LESSONS if m in lesson_imports(p)) for m in MODULES}


def test_lesson_imports_are_read():
    """The parser finds what a lesson imports (a known import of lesson 09), so an empty list means none."""
    assert "processes" in lesson_imports(ROOT / "notebooks" / "09_batchnorm_across_processes.ipynb")
    assert USERS["claims"] == [p.name[:2] for p in LESSONS]  # every lesson records its claims


@pytest.mark.parametrize("module", MODULES)
def test_docstring_names_the_lessons_that_import_it(module):
    doc = importlib.import_module(f"bnlib.lab.{module}").__doc__
    match = re.search(r"Lessons? that imports? it: ([^.;]+)[.;]", doc)
    assert match, f"bnlib.lab.{module}: its docstring should end with 'Lessons that import it: ...'"
    stated = match.group(1).strip()
    if stated == "none":
        assert USERS[module] == [], f"bnlib.lab.{module} says no lesson imports it; {USERS[module]} do"
        users = re.findall(r"\b([a-z_]+)\b", doc[match.end() :])
        named = [u for u in users if u in MODULES]
        assert named, f"bnlib.lab.{module}: name the bnlib.lab modules that use it"
        for user in named:
            tree = ast.parse((LAB / f"{user}.py").read_text(encoding="utf-8"))
            assert module in lab_imports(tree, "bnlib.lab"), f"bnlib.lab.{user} does not import {module}"
    else:
        assert [s.strip() for s in stated.split(",")] == USERS[module], (
            f"bnlib.lab.{module} says lessons {stated}; the lessons that import it are {USERS[module]}"
        )
