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

The teacher's guide and its Try-this solutions (``TEACHING.md``, ``teaching/solutions/*.md``) are
Markdown documents: their Chinese editions (``zh-CN/TEACHING.md``, ``zh-CN/teaching/solutions/*.md``)
are kept in lockstep **section by section** (:func:`sections`: a heading and what follows it, up to
the next heading). Each Chinese section opens with a comment naming the English section's heading
and its hash, ``<!-- translates: "## Exercises" sha256=… -->`` (``sha256=none`` until translated);
the test fails on a section missing, untranslated or stale, on formulas that differ, and on fenced
code blocks that are not the English ones. ``zh-CN/GLOSSARY.md`` is generated from ``GLOSSARY.md``
(:func:`glossary`).

Commands::

    python tools/zh_edition.py sync [NOTEBOOK ...]    # copy code and outputs from the English; add new cells
    python tools/zh_edition.py status [NOTEBOOK ...]  # per notebook: translated, stale, missing cells
    python tools/zh_edition.py stamp ZH_NOTEBOOK CELL_ID ...   # record the English hash: translated
    python tools/zh_edition.py stamp ZH_DOCUMENT N ...         # the same for sections N (0, 1, ...) of a document
    python tools/zh_edition.py glossary                        # write zh-CN/GLOSSARY.md from GLOSSARY.md
    python tools/zh_edition.py count                           # Chinese characters per translated file
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
FORMULA = re.compile(r"\$\$.+?\$\$|\$(?:[^$\n]|\n(?!\s*\n))+?\$", re.S)  # inline math may wrap, not span a paragraph
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


MARK = re.compile(r'^<!-- translates: "(?P<heading>.*)" sha256=(?P<sha>[0-9a-f]{64}|none) -->\n', re.M)
FENCE = re.compile(r"^(```|~~~).*?^\1[ \t]*$", re.M | re.S)


def documents() -> list[Path]:
    """The Markdown documents the Chinese edition translates: the teacher's guide and its solutions."""
    return [ROOT / "TEACHING.md", *sorted((ROOT / "teaching" / "solutions").glob("*.md"))]


def sections(text: str) -> list[str]:
    """A Markdown text cut before each heading line (``#`` … outside fenced code): every section but a
    preamble starts with its heading; joined, the sections are the text."""
    cuts, fenced = [0], False
    offset = 0
    for line in text.splitlines(keepends=True):
        if line.startswith(("```", "~~~")):
            fenced = not fenced
        elif not fenced and re.match(r"#{1,6} ", line) and offset:
            cuts.append(offset)
        offset += len(line)
    return [text[a:b] for a, b in zip(cuts, [*cuts[1:], len(text)])]


def heading(section: str) -> str:
    return section.splitlines()[0] if section.startswith("#") else ""


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def code_blocks(text: str) -> list[str]:
    """The fenced code blocks of a Markdown text, in order."""
    return [m.group(0) for m in FENCE.finditer(text)]


def chinese_sections(text: str) -> list[tuple[str, str, str]]:
    """The sections of a Chinese document: (English heading, recorded hash or "none", Chinese text)."""
    marks = list(MARK.finditer(text))
    ends = [m.start() for m in marks[1:]] + [len(text)]
    return [(m["heading"], m["sha"], text[m.end() : end]) for m, end in zip(marks, ends)]


def sync_document(english: str, chinese: str | None) -> str:
    """The Chinese document brought in line with ``english``: its translated sections kept (by the English
    heading they translate; a section whose English heading was renamed, by its place, then stale), every
    other English section added in English, marked untranslated."""
    ours = chinese_sections(chinese or "")
    kept = {h: (sha, body) for h, sha, body in ours}
    headings = [heading(s) for s in sections(english)]
    orphans = {n: (sha, body) for n, (h, sha, body) in enumerate(ours) if h not in headings}  # renamed
    out = []
    for n, section in enumerate(sections(english)):
        sha, body = kept.get(heading(section)) or orphans.get(n) or ("none", section)
        out.append(f'<!-- translates: "{heading(section)}" sha256={sha} -->\n{body}')
    return "".join(out)


def stamp_document(english: str, chinese: str, numbers: list[int]) -> str:
    """Record, in the Chinese sections ``numbers``, the hash of the English section each translates."""
    ours = chinese_sections(chinese)
    theirs = {heading(s): s for s in sections(english)}
    if any(not 0 <= n < len(ours) for n in numbers):
        raise ValueError(f"no such sections: the Chinese document has sections 0 to {len(ours) - 1}")
    out = []
    for n, (head, sha, body) in enumerate(ours):
        if n in numbers:
            if head not in theirs:
                raise ValueError(f"section {n}: the English has no section {head!r}")
            sha = text_sha256(theirs[head])
        out.append(f'<!-- translates: "{head}" sha256={sha} -->\n{body}')
    return "".join(out)


def document_problems(english: str, chinese: str) -> list[str]:
    """Everything that keeps ``chinese`` from being the translation of the document ``english``."""
    found = []
    ours = chinese_sections(chinese)
    if not chinese.startswith("<!-- translates:"):
        found.append("the Chinese document must open with its first section's mark")
    theirs = sections(english)
    if [heading(s) for s in theirs] != [h for h, _, _ in ours]:
        found.append(f"sections differ: English has {len(theirs)}, the Chinese {len(ours)}; run sync")
    by_heading = {heading(s): s for s in theirs}
    for n, (head, sha, body) in enumerate(ours):
        section = by_heading.get(head)
        if section is None:
            continue
        name = f"section {n} ({head or 'preamble'})"
        if sha == "none":
            found.append(f"{name}: not translated")
            continue
        if sha != text_sha256(section):
            found.append(f"{name}: stale (the English changed since it was translated)")
        elif is_prose(FENCE.sub(" ", section)) and not CJK.search(FENCE.sub(" ", body)):
            found.append(f"{name}: stamped, but has no Chinese text")
        if formulas(FENCE.sub(" ", body)) != formulas(FENCE.sub(" ", section)):
            found.append(f"{name}: formulas differ from the English")
        if code_blocks(body) != code_blocks(section):
            found.append(f"{name}: code blocks differ from the English")
    return found


GLOSSARY_INTRO = """\
<!-- 由 tools/zh_edition.py glossary 从 GLOSSARY.md 生成：请修改 GLOSSARY.md，再运行该命令，不要手工编辑本文件。 -->
# 术语表（Glossary）

本系列的术语，以中文版的用词排在第一列：每一课都用这个词，它在一课中第一次出现时，后面用括号给出英文。\
“课”一列是定义这个术语的那一课（那一课用**粗体**写出它）；“讲义用词”一列是讲义本身的说法，讲义保留英文原词的地方\
（例如 *Internal Covariate Shift*、*mini-batch*、*momentum*），这一列照录英文，讲义没有对应说法的地方写“—”。\
英文版的术语表（仓库根目录的 `GLOSSARY.md`）还给出每个术语的说明，以及与 PyTorch 命名的对照。

| 中文版 | English | 符号 | 课 | 讲义用词 |
|---|---|---|---|---|
"""


def glossary_rows() -> list[list[str]]:
    """The rows of GLOSSARY.md's table: term, symbol, lesson link, the notes' term, remark, 中文版."""
    rows = []
    for line in (ROOT / "GLOSSARY.md").read_text(encoding="utf-8").splitlines():
        if line.startswith("|") and not line.startswith(("|---", "| term |")):
            rows.append([c.strip() for c in line.strip().strip("|").split("|")])
    return rows


def glossary() -> str:
    """zh-CN/GLOSSARY.md: GLOSSARY.md's table for the Chinese reader, the edition's term first, each
    lesson linked to its Chinese edition (a path relative to ``zh-CN/``, as GLOSSARY.md's are to the root)."""
    lines = [
        f"| {zh} | {term} | {symbol} | {lesson} | {notes} |" for term, symbol, lesson, notes, _, zh in glossary_rows()
    ]
    return GLOSSARY_INTRO + "\n".join(lines) + "\n"


def chinese_characters(path: Path) -> int:
    """How many Chinese characters (CJK unified ideographs) a translated file's prose holds: a
    notebook's markdown cells, or a whole document."""
    if path.suffix == ".ipynb":
        text = "".join(source(c) for c in read(path)["cells"] if c["cell_type"] == "markdown")
    else:
        text = path.read_text(encoding="utf-8")
    return len(CJK.findall(text))


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
        sub.add_parser(name).add_argument(
            "notebooks", nargs="*", type=Path, help="English notebooks or documents (default: all)"
        )
    sub.add_parser("glossary")
    sub.add_parser("count")
    stamping = sub.add_parser("stamp")
    stamping.add_argument("notebook", type=Path, help="the Chinese notebook or document")
    stamping.add_argument("cells", nargs="+", help="ids of the markdown cells (numbers of the sections) now translated")
    args = parser.parse_args(argv)
    if args.command == "count":
        for path in [*english_paths(), *documents(), ROOT / "GLOSSARY.md"]:
            if zh_path(path).exists():
                print(f"{zh_path(path).relative_to(ROOT)}: {chinese_characters(zh_path(path)):,} Chinese characters")
        return 0
    if args.command == "glossary":
        (ZH / "GLOSSARY.md").write_text(glossary(), encoding="utf-8")
        return 0
    if args.command == "stamp":
        english = ROOT / Path(args.notebook).resolve().relative_to(ZH)
        if english.suffix == ".md":
            text = stamp_document(
                english.read_text(encoding="utf-8"),
                args.notebook.read_text(encoding="utf-8"),
                [int(n) for n in args.cells],
            )
            args.notebook.write_text(text, encoding="utf-8")
        else:
            write(args.notebook, stamp(read(english), read(args.notebook), args.cells))
        return 0
    for path in [p.resolve() for p in args.notebooks] or [*english_paths(), *documents()]:
        target = zh_path(path)
        if path.suffix == ".md":
            old = target.read_text(encoding="utf-8") if target.exists() else None
            if args.command == "sync":
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(sync_document(path.read_text(encoding="utf-8"), old), encoding="utf-8")
            issues = (
                document_problems(path.read_text(encoding="utf-8"), target.read_text(encoding="utf-8"))
                if target.exists()
                else None
            )
            print(
                f"{target.relative_to(ROOT)}: "
                + (
                    "not started"
                    if issues is None
                    else f"{len(issues)} sections to do" + "".join(f"\n  {i}" for i in issues[:5])
                )
            )
            continue
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
