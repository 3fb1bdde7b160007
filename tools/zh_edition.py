"""The Chinese edition (``zh-CN/``) kept in lockstep with the English one: code and outputs copied, prose translated.

The Chinese notebook of ``notebooks/NN_x.ipynb`` is ``zh-CN/notebooks/NN_x.ipynb``; that of an
exercise's nbgrader source ``exercises/source/<ex>/<ex>.ipynb`` is
``zh-CN/exercises/source/<ex>/<ex>.ipynb``, from which nbgrader releases the Chinese student notebook
into ``zh-CN/exercises/release/`` (``zh-CN/exercises/nbgrader_config.py`` is the English course's
configuration). A Chinese notebook has the English notebook's cells, in order, with the same ids:

- every **code cell** of a lesson is the English cell, byte for byte (source, outputs, metadata, count);
- every **code cell** of an exercise is the English cell with one change, :func:`localize`: each call of
  a feedback check gets ``language="zh"`` (``check_fold_batchnorm(fold, language="zh")``), so the
  student's feedback, and the graded tests' failures, are in Chinese. Such a cell's outputs are
  the Chinese notebook's own, from running it (``sync`` does); every other cell's are the English ones;
- every **markdown cell** holds the Chinese text, and in its metadata ``translation.source_sha256``
  the SHA-256 of the English cell it translates (:func:`sha256`), written when the translator
  marks the cell done (``stamp``).

Commands::

    python tools/zh_edition.py sync [NOTEBOOK ...]    # copy code and outputs from the English; add new cells
    python tools/zh_edition.py status [NOTEBOOK ...]  # per notebook: translated, stale, missing cells
    python tools/zh_edition.py stamp ZH_NOTEBOOK CELL_ID ...   # record the English hash: translated
    (cd zh-CN/exercises && nbgrader generate_assignment EX --force)   # release a Chinese exercise

``sync`` keeps each translated markdown cell and its recorded hash; an English markdown cell the
Chinese notebook lacks is added with the English text and no hash (``status`` then counts it
missing); cells the English no longer has are dropped. :func:`problems` lists what
``tests/test_zh_edition.py`` fails on: code or outputs that differ, a cell missing or out of
order, a markdown cell untranslated or translated from an older English text (stale), a
translation whose formulas (its ``$…$`` and ``$$…$$`` spans, in order) differ from the English.
"""

import argparse
import hashlib
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ZH = ROOT / "zh-CN"
FORMULA = re.compile(r"\$\$.+?\$\$|\$[^$\n]+?\$", re.S)
CJK = re.compile(r"[\u4e00-\u9fff]")
FEEDBACK_CALL = re.compile(r"\b(check_\w+)\(([^()]*)\)")  # a call of a bnlib.checks check: check_x(f)
LANGUAGE = 'language="zh"'


def read(path: Path) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def write(path: Path, notebook: dict) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def source(cell: dict) -> str:
    return "".join(cell["source"])


def sha256(cell: dict) -> str:
    """SHA-256 of a cell's source text (what a translation is made from)."""
    return hashlib.sha256(source(cell).encode("utf-8")).hexdigest()


def formulas(text: str) -> list[str]:
    """The ``$…$`` and ``$$…$$`` spans of a markdown text, in order."""
    return FORMULA.findall(text)


def is_prose(text: str) -> bool:
    """More than three words outside formulas, code spans and links' targets: text to translate."""
    text = re.sub(r"`[^`]*`|\]\([^)]*\)", " ", FORMULA.sub(" ", text))
    return len(re.findall(r"[A-Za-z]{2,}", text)) > 3


def zh_path(english: Path) -> Path:
    """Where the Chinese edition of an English notebook of the repository lives."""
    return ZH / Path(english).resolve().relative_to(ROOT)


def english_paths() -> list[Path]:
    """The notebooks the Chinese edition translates: every lesson and every exercise's nbgrader source."""
    return [*sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")), *sorted(ROOT.glob("exercises/source/*/*.ipynb"))]


def is_exercise(notebook: dict) -> bool:
    """An nbgrader notebook (an exercise): some cell carries nbgrader's metadata."""
    return any("nbgrader" in c["metadata"] for c in notebook["cells"])


def localize(text: str) -> str:
    """An exercise's code as the Chinese edition runs it: every feedback check called with ``language="zh"``.

    >>> localize("check_fold_batchnorm(fold).assert_passed()")
    'check_fold_batchnorm(fold, language="zh").assert_passed()'
    """
    return FEEDBACK_CALL.sub(
        lambda call: f"{call[1]}({call[2]}, {LANGUAGE})" if call[2] else f"{call[1]}({LANGUAGE})", text
    )


def expected_code(cell: dict, exercise: bool) -> dict:
    """The Chinese edition's code cell for the English ``cell``: a copy, localized if ``exercise``
    (then, if its source changed, without outputs: they come from running the Chinese notebook)."""
    copy = json.loads(json.dumps(cell))
    if exercise and localize(source(cell)) != source(cell):
        copy["source"] = localize(source(cell)).splitlines(keepends=True)
        copy["outputs"] = None
    return copy


def same_code(cell: dict, chinese: dict, exercise: bool) -> bool:
    """``chinese`` is the Chinese edition's cell for the English code ``cell`` (:func:`expected_code`). A
    localized cell's outputs are its own: they must exist (a list, not empty where the English has some)."""
    expected = expected_code(cell, exercise)
    if expected["outputs"] is not None:
        return chinese == expected
    outputs = chinese.get("outputs")
    return (
        isinstance(outputs, list)
        and bool(outputs) == bool(cell["outputs"])
        and {**chinese, "outputs": None} == expected
    )


def sync(english: dict, chinese: dict | None) -> dict:
    """The Chinese notebook brought in line with ``english``: code cells copied (localized in an exercise;
    a localized cell keeps the outputs the Chinese notebook had for the same code), translations kept by id.
    A localized cell left with ``outputs`` None has to be run (:func:`run_localized`)."""
    exercise = is_exercise(english)
    old = {c["id"]: c for c in (chinese or {"cells": []})["cells"]}
    cells = []
    for cell in english["cells"]:
        if cell["cell_type"] == "markdown" and old.get(cell["id"], {}).get("cell_type") == "markdown":
            cells.append(old[cell["id"]])
        elif cell["cell_type"] == "markdown":
            cells.append({**json.loads(json.dumps(cell)), "metadata": {**cell["metadata"], "translation": {}}})
        else:
            expected = expected_code(cell, exercise)
            if expected["outputs"] is None and cell["id"] in old and same_code(cell, old[cell["id"]], exercise):
                expected = old[cell["id"]]
            cells.append(expected)
    metadata = {**english["metadata"], "language": "zh-CN"}
    return {**english, "metadata": metadata, "cells": cells}


def run_localized(chinese: dict, folder: Path) -> dict:
    """Run the Chinese exercise notebook in ``folder`` (as a student would) and give each localized cell
    still without outputs (``outputs`` None) the outputs it printed; every other cell stays as it is."""
    import nbclient
    import nbformat

    todo = [c["id"] for c in chinese["cells"] if c["cell_type"] == "code" and c["outputs"] is None]
    if not todo:
        return chinese
    cells = [{**c, "outputs": []} if c["cell_type"] == "code" else c for c in chinese["cells"]]
    runnable = nbformat.reads(json.dumps({**chinese, "cells": cells}), as_version=4)
    nbclient.NotebookClient(runnable, timeout=120, resources={"metadata": {"path": str(folder)}}).execute()
    ran = json.loads(nbformat.writes(runnable))  # outputs as nbformat writes them: text split into lines
    printed = {c["id"]: c["outputs"] for c in ran["cells"] if c["cell_type"] == "code"}
    for cell in chinese["cells"]:
        if cell["id"] in todo:
            cell["outputs"] = printed[cell["id"]]
            for output in cell["outputs"]:
                if "execution_count" in output:  # numbered as the cell is (the English cell's count)
                    output["execution_count"] = cell["execution_count"]
    return chinese


def stamp(english: dict, chinese: dict, cell_ids: list[str]) -> dict:
    """Record, in each named Chinese markdown cell, the hash of the English cell it now translates."""
    by_id = {c["id"]: c for c in english["cells"]}
    for cell in chinese["cells"]:
        if cell["id"] in cell_ids:
            if cell["cell_type"] != "markdown" or cell["id"] not in by_id:
                raise ValueError(f"cell {cell['id']}: only a markdown cell the English notebook has can be stamped")
            cell["metadata"].setdefault("translation", {})["source_sha256"] = sha256(by_id[cell["id"]])
    missing = set(cell_ids) - {c["id"] for c in chinese["cells"]}
    if missing:
        raise ValueError(f"no such cells in the Chinese notebook: {sorted(missing)}")
    return chinese


def problems(english: dict, chinese: dict) -> list[str]:
    """Everything that keeps ``chinese`` from being the translation of ``english``, one line per cell."""
    found = []
    exercise = is_exercise(english)
    ids_en = [c["id"] for c in english["cells"]]
    ids_zh = [c["id"] for c in chinese["cells"]]
    if ids_en != ids_zh:
        found.append(f"cells differ: English has {len(ids_en)} cells, the Chinese {len(ids_zh)}; run sync")
    by_id = {c["id"]: c for c in chinese["cells"]}
    for cell in english["cells"]:
        zh = by_id.get(cell["id"])
        if zh is None:
            continue
        if cell["cell_type"] != "markdown":
            if not same_code(cell, zh, exercise):
                found.append(f"code cell {cell['id']}: source, outputs or metadata differ from the English")
            continue
        recorded = zh["metadata"].get("translation", {}).get("source_sha256")
        if recorded is None:
            found.append(f"markdown cell {cell['id']}: not translated")
        elif recorded != sha256(cell):
            found.append(f"markdown cell {cell['id']}: stale (the English changed since it was translated)")
        elif is_prose(source(cell)) and not CJK.search(source(zh)):
            found.append(f"markdown cell {cell['id']}: stamped, but has no Chinese text")
        if recorded is not None and formulas(source(zh)) != formulas(source(cell)):
            found.append(f"markdown cell {cell['id']}: formulas differ from the English")
    return found


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("sync", "status"):
        sub.add_parser(name).add_argument("notebooks", nargs="*", type=Path, help="English notebooks (default: all)")
    stamping = sub.add_parser("stamp")
    stamping.add_argument("notebook", type=Path, help="the Chinese notebook")
    stamping.add_argument("cells", nargs="+", help="ids of the markdown cells now translated")
    args = parser.parse_args(argv)
    if args.command == "stamp":
        english = ROOT / Path(args.notebook).resolve().relative_to(ZH)
        write(args.notebook, stamp(read(english), read(args.notebook), args.cells))
        return 0
    for path in [p.resolve() for p in args.notebooks] or english_paths():
        target = zh_path(path)
        if args.command == "sync":
            chinese = sync(read(path), read(target) if target.exists() else None)
            target.parent.mkdir(parents=True, exist_ok=True)
            write(target, run_localized(chinese, target.parent))
        if target.exists():
            issues = problems(read(path), read(target))
            print(f"{target.relative_to(ROOT)}: {len(issues)} cells to do" + "".join(f"\n  {i}" for i in issues[:5]))
        else:
            print(f"{target.relative_to(ROOT)}: not started")
    return 0


if __name__ == "__main__":
    sys.exit(main())
