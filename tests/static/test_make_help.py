"""`make help` lists every target the Makefile declares, each with its `##` description."""

import re

from tests.support import ROOT, run


def test_make_help_lists_every_phony_target():
    makefile = (ROOT / "Makefile").read_text()
    phony = re.search(r"^\.PHONY:((?:.*\\\n)*.*)$", makefile, re.MULTILINE).group(1)
    targets = set(phony.replace("\\\n", " ").split())
    result = run("make", "--no-print-directory", "help")
    assert result.returncode == 0, result.stderr
    listed = set(re.findall(r"^  make (\S+) +\S", result.stdout, re.MULTILINE))
    assert targets == listed, (
        f"not in make help: {targets - listed}; not .PHONY: {listed - targets}"
    )
