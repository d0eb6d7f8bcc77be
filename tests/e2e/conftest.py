"""End-to-end fixtures: measured numbers printed in the test output itself."""

from __future__ import annotations

import pytest


@pytest.fixture
def report(request, capsys):
    """Print a measured number in the test output itself (not captured)."""
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")

    def write(line: str) -> None:
        with capsys.disabled():
            reporter.write_line(f"[e2e] {line}")

    return write
