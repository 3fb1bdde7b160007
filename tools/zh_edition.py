"""The Chinese edition (``zh-CN/``) kept in lockstep with the English one: code and outputs copied, prose translated.

The Chinese notebook of ``notebooks/NN_x.ipynb`` is ``zh-CN/notebooks/NN_x.ipynb`` (the same for
the exercises' student notebooks under ``exercises/release/``). It has the English notebook's
cells, in order, with the same ids:

- every **code cell** is the English cell, byte for byte (source, outputs, metadata, count);
- every **markdown cell** holds the Chinese text, and in its metadata ``translation.source_sha256``
  the SHA-256 of the English cell it translates (:func:`sha256`), written when the translator
  marks the cell done (``stamp``).

Commands::

    python tools/zh_edition.py sync [NOTEBOOK ...]    # copy code and outputs from the English; add new cells
    python tools/zh_edition.py status [NOTEBOOK ...]  # per notebook: translated, stale, missing cells
    python tools/zh_edition.py stamp ZH_NOTEBOOK CELL_ID ...   # record the English hash: translated

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
    """The notebooks the Chinese edition translates: every lesson and every exercise's student notebook."""
    return [*sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")), *sorted(ROOT.glob("exercises/release/*/*.ipynb"))]


def sync(english: dict, chinese: dict | None) -> dict:
    """The Chinese notebook brought in line with ``english``: code cells copied, translations kept by id."""
    kept = {c["id"]: c for c in (chinese or {"cells": []})["cells"] if c["cell_type"] == "markdown"}
    cells = []
    for cell in english["cells"]:
        if cell["cell_type"] == "markdown" and cell["id"] in kept:
            cells.append(kept[cell["id"]])
        elif cell["cell_type"] == "markdown":
            cells.append({**json.loads(json.dumps(cell)), "metadata": {**cell["metadata"], "translation": {}}})
        else:
            cells.append(json.loads(json.dumps(cell)))
    metadata = {**english["metadata"], "language": "zh-CN"}
    return {**english, "metadata": metadata, "cells": cells}


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
            if zh != cell:
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
            write(target, sync(read(path), read(target) if target.exists() else None))
        if target.exists():
            issues = problems(read(path), read(target))
            print(f"{target.relative_to(ROOT)}: {len(issues)} cells to do" + "".join(f"\n  {i}" for i in issues[:5]))
        else:
            print(f"{target.relative_to(ROOT)}: not started")
    return 0


if __name__ == "__main__":
    sys.exit(main())
