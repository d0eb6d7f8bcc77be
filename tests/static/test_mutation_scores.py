"""tests/README.md's last `make mutants` scores: every module the script mutates, each at the
target (at least 95% of its mutants killed), each score the ratio it claims."""

import importlib.util
import re

from tests.support import ROOT

TARGET = 0.95


def _mutated_modules() -> set[str]:
    spec = importlib.util.spec_from_file_location("mutants", ROOT / "scripts" / "mutants.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    return set(script.MODULES)


def test_the_readme_scores_every_mutated_module_at_the_target():
    text = (ROOT / "tests" / "README.md").read_text(encoding="utf-8")
    block = text.split("<!-- mutants: the last run of make mutants -->")[1]
    block = block.split("<!-- end of mutants -->")[0]
    scores = re.findall(r"^\| `([^`]+)` \| (\d+) \| (\d+) \| ([\d.]+)% \|$", block, re.MULTILINE)
    assert {module for module, *_ in scores} == _mutated_modules()
    for module, killed, total, score in scores:
        assert f"{100 * int(killed) / int(total):.1f}" == score, module
        assert int(killed) >= TARGET * int(total), f"{module}: {score}% is below the target"
