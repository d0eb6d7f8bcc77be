"""No function in the repository is over 60 lines, tests included.

A function's length is from its `def` line to its last line (decorators aside), as
`ast` reports them. Run it alone: `.venv/bin/python -m pytest tests/static/test_function_length.py`.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.support import ROOT, run

MAX_LINES = 60


def python_files() -> list[Path]:
    """Every Python file git tracks (what CI checks out), plus any new one not yet added."""
    listed = run("git", "ls-files", "--cached", "--others", "--exclude-standard", "*.py")
    assert listed.returncode == 0, listed.stderr
    return [ROOT / name for name in listed.stdout.split() if (ROOT / name).exists()]


def function_lengths(path: Path) -> list[tuple[int, str]]:
    """(lines, `path:line name`) of every function and method in `path`, nested ones too."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    where = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    return [
        (node.end_lineno - node.lineno + 1, f"{where}:{node.lineno} {node.name}")
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    ]


def test_no_function_is_over_60_lines():
    lengths = sorted(
        (length for path in python_files() for length in function_lengths(path)), reverse=True
    )
    assert lengths, "no Python file found"
    too_long = [f"{where}: {lines} lines" for lines, where in lengths if lines > MAX_LINES]
    assert not too_long, f"split these (at most {MAX_LINES} lines each):\n" + "\n".join(too_long)


def test_the_check_counts_from_def_to_the_last_line(tmp_path):
    body = "".join(f"    x{n} = {n}\n" for n in range(MAX_LINES))
    (tmp_path / "long.py").write_text(f"@decorator\ndef long():\n{body}", encoding="utf-8")
    [(lines, where)] = function_lengths(tmp_path / "long.py")
    assert lines == MAX_LINES + 1
    assert where.endswith("long.py:2 long")
