"""The runbook (docs/operate.md) finds what the pipeline actually logs.

A `gcloud logging read` filter that quotes text the workers never write returns nothing, and an
operator reads "no entries" as "nothing went wrong".
"""

from __future__ import annotations

import ast
import re

import pytest

from tests.support import ROOT

RUNBOOK = (ROOT / "docs" / "operate.md").read_text("utf-8")


def message_strings(source: str) -> list[str]:
    """The string literals of `source` (f-string parts included), docstrings left out."""
    tree = ast.parse(source)
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
    }
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
    ]


# What the workers can write to their log: the pipeline's messages, never its docstrings.
MESSAGES = "\n".join(
    text
    for path in sorted((ROOT / "pipeline").glob("*.py"))
    for text in message_strings(path.read_text("utf-8"))
)

# `gcloud logging read 'FILTER'`; in FILTER, a bare "quoted" term is a text search of the entry.
LOGGING_READ = re.compile(r"gcloud logging read '([^']*)'")
FIELD_MATCH = re.compile(r'[\w.]+\s*(?:=|!=|:|=~)\s*"[^"]*"')
TEXT_SEARCH = re.compile(r'"([^"]+)"')


def searched_texts() -> list[str]:
    return [
        text
        for query in LOGGING_READ.findall(RUNBOOK)
        for text in TEXT_SEARCH.findall(FIELD_MATCH.sub("", query))
    ]


def test_the_readme_has_logging_queries():
    assert searched_texts(), "no gcloud logging read with a text search in the runbook"


@pytest.mark.parametrize("text", searched_texts())
def test_each_searched_text_is_written_by_the_pipeline(text):
    assert text in MESSAGES, f"the pipeline never logs or raises {text!r}"


def test_each_test_the_procedures_name_exists():
    """docs/operate.md proves each procedure by naming its test (`test_...`, a file or a
    function; `test_x_*` a family): a renamed or deleted test would leave a claim unproven."""
    sources = "\n".join(path.read_text("utf-8") for path in (ROOT / "tests").rglob("test_*.py"))
    files = {path.stem for path in (ROOT / "tests").rglob("test_*.py")}
    named = set(re.findall(r"\b(test_\w+?)(?:\.py)?\b", RUNBOOK))
    assert named
    missing = [
        name
        for name in sorted(named)
        if name not in files
        and not re.search(rf"^def {name}{'' if name.endswith('_') else '[(]'}", sources, re.M)
    ]
    assert not missing, f"docs/operate.md names tests that do not exist: {missing}"
