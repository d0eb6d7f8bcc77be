"""`.pre-commit-config.yaml` runs the static tier's fast checks: each hook works on this tree.

pre-commit itself is not needed to prove it: every hook is a local `language: system` command,
so the test runs each entry over the files its `files`/`types` select, as pre-commit would.
"""

from __future__ import annotations

import re
import shlex

import pytest
import yaml

from tests.support import ROOT, run

CONFIG = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())
HOOKS = [hook for repo in CONFIG["repos"] for hook in repo["hooks"]]
SUFFIXES = {"python": (".py",), "yaml": (".yaml", ".yml")}


def tracked_files() -> list[str]:
    listed = run("git", "ls-files").stdout.split()
    return [name for name in listed if (ROOT / name).is_file()]


def selected(hook: dict) -> list[str]:
    names = tracked_files()
    if "files" in hook:
        names = [name for name in names if re.search(hook["files"], name)]
    for kind in hook.get("types", []):
        names = [name for name in names if name.endswith(SUFFIXES[kind])]
    return names


def test_the_hooks_are_the_static_tiers_checks():
    assert {hook["id"] for hook in HOOKS} == {
        "ruff", "ruff-format", "yamllint", "hadolint", "terraform-fmt",
    }  # fmt: skip
    assert all(hook["language"] == "system" for hook in HOOKS)


@pytest.mark.parametrize("hook", HOOKS, ids=[hook["id"] for hook in HOOKS])
def test_hook_passes_on_the_tree(hook):
    files = selected(hook) if hook.get("pass_filenames", True) else []
    assert files or not hook.get("pass_filenames", True), f"{hook['id']} selects no file"
    result = run(*shlex.split(hook["entry"]), *files)
    assert result.returncode == 0, f"{hook['id']}:\n{result.stdout}{result.stderr}"
