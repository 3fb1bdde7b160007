"""bnlib.messages, the feedback catalogue of bnlib.checks: every message in English and Chinese.

Every entry has both languages with the same fields and the same code spans, every key the checks
use is in the catalogue and every entry is used; a check run in Chinese names the same mistake as in
English, in Chinese; a language the checks do not speak is refused with a message naming it.
"""

import ast
import re
import string
from pathlib import Path

import numpy as np
import pytest
import torch
from exercise_corpus import CORPUS, FUNCTIONS

from bnlib import checks
from bnlib.messages import LANGUAGES, MESSAGES, say

CJK = re.compile(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")  # CJK characters and punctuation
SOURCE = ast.parse(Path(checks.__file__).read_text(encoding="utf-8"))


def fields(template: str) -> list:
    """The replacement fields of a str.format template, with their format specs, in order."""
    return sorted((name, spec) for _, name, spec, _ in string.Formatter().parse(template) if name is not None)


@pytest.mark.parametrize("key", sorted(MESSAGES))
def test_every_message_has_both_languages_with_the_same_fields(key):
    entry = MESSAGES[key]
    assert tuple(entry) == LANGUAGES, f"{key}: one template per language {LANGUAGES}"
    assert all(entry[language].strip() for language in LANGUAGES), key
    assert fields(entry["zh"]) == fields(entry["en"]), f"{key}: the two languages take the same fields"
    code = [re.findall(r"`[^`]+`", entry[language]) for language in LANGUAGES]
    assert sorted(code[1]) == sorted(code[0]), f"{key}: the same code spans in both languages"
    assert CJK.search(entry["zh"]), f"{key}: the Chinese template is in Chinese"


def literal_keys(node) -> list:
    """The message keys an argument can take: a string constant, or both branches of ``a if c else b``."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.IfExp):
        return literal_keys(node.body) + literal_keys(node.orelse)
    return []


def used_keys() -> set:
    """Every key bnlib/checks.py passes to _say or say, and the values of _BROADCAST_HINTS."""
    keys = set()
    for node in ast.walk(SOURCE):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) in ("_say", "say") and node.args:
            found = literal_keys(node.args[0])
            computed = (
                "say(key, _LANGUAGE.get(), **fields)",
                "_say(_BROADCAST_HINTS[contract.signature.split('(')[0]])",
            )
            assert found or ast.unparse(node) in computed, f"a message key the test cannot read: {ast.unparse(node)}"
            keys.update(found)
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "_BROADCAST_HINTS":
            keys.update(v.value for v in node.value.values)
    return keys


def test_the_checks_use_exactly_the_catalogue():
    used = used_keys()
    assert used - set(MESSAGES) == set(), "keys the checks use that the catalogue lacks"
    assert set(MESSAGES) - used == set(), "entries of the catalogue no check uses"


def english_words_left() -> list:
    """String constants in checks.py, outside docstrings, that hold two English words in a row."""
    docstrings = {
        id(n.body[0].value)
        for n in ast.walk(SOURCE)
        if isinstance(n, (ast.Module, ast.FunctionDef, ast.ClassDef)) and n.body and isinstance(n.body[0], ast.Expr)
    }
    return [
        n.value
        for n in ast.walk(SOURCE)
        if isinstance(n, ast.Constant)
        and isinstance(n.value, str)
        and id(n) not in docstrings
        and re.search(r"[A-Za-z]{2,} [A-Za-z]{2,}", n.value)
    ]


def test_no_message_is_written_in_the_checks_themselves():
    assert english_words_left() == [], "every message lives in bnlib/messages.py"


ROWS = [(check, row) for _, (check, rows) in CORPUS.items() for row in rows]


@pytest.mark.parametrize("check, row", ROWS, ids=[f"{c}: {r.name}" for c, r in ROWS])
def test_in_chinese_a_check_names_the_same_mistake(check, row):
    namespace = {"np": np, "torch": torch}
    exec(compile(row.code, "<solution>", "exec"), namespace)  # noqa: S102 -- the corpus is this repository's own
    english, chinese = (getattr(checks, check)(namespace[FUNCTIONS[check]], language=lang) for lang in LANGUAGES)
    assert (chinese.passed, chinese.mistake) == (english.passed, english.mistake), str(chinese)
    assert chinese.language == "zh" and CJK.search(chinese.message) and CJK.search(str(chinese)), str(chinese)
    assert str(chinese).startswith(f"{english.exercise}：{say('passed' if english.passed else 'not_yet', 'zh')}。")


@pytest.mark.parametrize(
    "language, error", [("fr", ValueError), ("EN", ValueError), ("", ValueError), (None, TypeError), (1, TypeError)]
)
def test_a_language_the_checks_do_not_speak_is_refused(language, error):
    with pytest.raises(error, match=r"language must be one of 'en', 'zh', got"):
        checks.check_batchnorm_forward(lambda x, gamma, beta, eps=1e-5: x, language=language)


def test_english_is_the_default_and_the_verdict_is_translated():
    def stub(x, gamma, beta, eps=1e-5):
        raise NotImplementedError()

    english, chinese = checks.check_batchnorm_forward(stub), checks.check_batchnorm_forward(stub, language="zh")
    assert (
        english.language == "en" and str(english) == "batchnorm_forward: NOT YET. " + MESSAGES["not_implemented"]["en"]
    )
    assert str(chinese) == "batchnorm_forward：尚未通过。" + MESSAGES["not_implemented"]["zh"]
    assert chinese._repr_markdown_() == "`batchnorm_forward`：❌ **尚未通过**。" + MESSAGES["not_implemented"]["zh"]
