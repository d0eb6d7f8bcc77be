"""Tests mirror modules: every module with logic has its own test file, and tests/README.md's
table says which file tests which module.

A module has logic when one of its functions decides something: a branch, a loop, a `try`,
a `with`, a comprehension, a conditional expression or a boolean operator. A module of
constants, or one whose functions only delegate (a Beam plugin class, a generator that yields
what it is given), is tested where it is used.

Its test file is `tests/<tier>/test_<package>_<module>.py` in exactly one tier folder
(`__init__` drops the module part, `__main__` reads `main`). Every file of the unit and
integration tiers is named for a module, or is one of CROSS_CUTTING.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from tests.support import ROOT, TESTS

PACKAGES = ("bench", "capacity", "contract", "localrun", "pipeline", "producer", "replay", "views")
DECISIONS = (
    ast.If,
    ast.For,
    ast.While,
    ast.Try,
    ast.With,
    ast.Match,
    ast.IfExp,
    ast.BoolOp,
    ast.comprehension,
)
# Test files of the unit and integration tiers that test no single module.
CROSS_CUTTING = {
    "test_beam_free_modules.py": "which modules import Beam, in a fresh interpreter each",
    "test_pipeline_classification.py": "pipeline/schemas/classification.json, a data file",
}


def has_logic(path: Path) -> bool:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    functions = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
    return any(isinstance(n, DECISIONS) for function in functions for n in ast.walk(function))


def expected_test_file(module: Path) -> str:
    package, name = module.parent.name, module.stem
    if name == "__init__":
        return f"test_{package}.py"
    if name == "__main__" and (module.parent / "main.py").exists():
        return f"test_{package}___main__.py"  # pipeline/__main__.py only calls main.run
    return f"test_{package}_{name.strip('_')}.py"


def modules_with_logic() -> list[Path]:
    return sorted(
        path for package in PACKAGES for path in (ROOT / package).glob("*.py") if has_logic(path)
    )


def existing_test_files() -> dict[str, list[Path]]:
    found: dict[str, list[Path]] = {}
    for path in TESTS.glob("*/test_*.py"):
        found.setdefault(path.name, []).append(path)
    return found


def test_every_module_with_logic_has_one_test_file():
    files = existing_test_files()
    missing = [
        f"{module.relative_to(ROOT)}: tests/<tier>/{expected_test_file(module)}"
        for module in modules_with_logic()
        if expected_test_file(module) not in files
    ]
    assert not missing, "modules with logic and no test file:\n" + "\n".join(missing)
    twice = [name for name, paths in files.items() if len(paths) > 1]
    assert not twice, f"one test file per name across tiers (pytest imports by name): {twice}"


def test_unit_and_integration_files_are_named_for_a_module():
    modules = [path for package in PACKAGES for path in (ROOT / package).glob("*.py")]
    names = {expected_test_file(path) for path in modules}
    stray = [
        str(path.relative_to(ROOT))
        for tier in ("unit", "integration")
        for path in (TESTS / tier).glob("test_*.py")
        if path.name not in names and path.name not in CROSS_CUTTING
    ]
    assert not stray, f"name each after the module it tests: {stray}"


def readme_table() -> dict[str, str]:
    """`module -> test file` from the rows of tests/README.md's table."""
    text = (TESTS / "README.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `([\w/]+\.py)` \| `(tests/\w+/test_\w+\.py)` \|", text, re.MULTILINE)
    return dict(rows)


def test_the_readme_table_lists_every_module_with_its_test_file():
    """Every module that has a test file, with logic or not, and only those."""
    files = existing_test_files()
    expected = {
        str(module.relative_to(ROOT)): str(path.relative_to(ROOT))
        for package in PACKAGES
        for module in sorted((ROOT / package).glob("*.py"))
        for path in files.get(expected_test_file(module), [])
    }
    assert readme_table() == expected


def test_a_decision_is_what_makes_logic(tmp_path):
    (tmp_path / "wiring.py").write_text("def f(x):\n    return g(x)\n", encoding="utf-8")
    (tmp_path / "logic.py").write_text("def f(x):\n    return x or 1\n", encoding="utf-8")
    assert not has_logic(tmp_path / "wiring.py")
    assert has_logic(tmp_path / "logic.py")
    assert expected_test_file(Path("localrun/__main__.py")) == "test_localrun_main.py"
    assert expected_test_file(Path("views/__init__.py")) == "test_views.py"
