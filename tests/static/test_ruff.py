"""ruff check and ruff format --check on every Python file of the repository."""

from __future__ import annotations

import pytest

from tests.support import run_python


@pytest.mark.parametrize("command", [["check"], ["format", "--check"]], ids=["check", "format"])
def test_ruff(command):
    result = run_python("-m", "ruff", *command, ".")
    assert result.returncode == 0, f"fix with `make format`:\n{result.stdout}{result.stderr}"
