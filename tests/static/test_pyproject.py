"""pyproject.toml builds with the locked tools and nothing deprecated.

Cloud Build's test step and `make venv` install the project with `--no-build-isolation`, so the
build backend is the setuptools of requirements/dev.txt, never one pip fetches unpinned. Here
that setuptools builds the project's wheel (`pip install .`) and its editable wheel
(`pip install -e .`, PEP 660) through the same hooks pip calls, in a copy of the sources.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
import warnings
from pathlib import Path

import pytest
import setuptools
from packaging.requirements import Requirement
from pyproject_hooks import BuildBackendHookCaller, BuildBackendWarning

from tests.support import ROOT

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
DEV_LOCK = ROOT / "requirements" / "dev.txt"


def locked_version(name: str) -> str:
    (version,) = re.findall(rf"^{name}==(\S+) \\$", DEV_LOCK.read_text(), re.MULTILINE)
    return version


def test_the_build_backend_is_the_locked_setuptools():
    assert PYPROJECT["build-system"]["build-backend"] == "setuptools.build_meta"
    assert setuptools.__version__ == locked_version("setuptools"), "run `make venv`"
    for requirement in map(Requirement, PYPROJECT["build-system"]["requires"]):
        assert requirement.name == "setuptools"
        assert requirement.specifier.contains(setuptools.__version__), requirement


def test_license_is_an_spdx_expression():
    """PEP 639 (https://peps.python.org/pep-0639/): `license` is an SPDX expression string; the
    `{text = ...}` table is deprecated and setuptools stops building it after 2027-02-18."""
    assert PYPROJECT["project"]["license"] == "Apache-2.0"
    assert "Apache License" in (ROOT / "LICENSE").read_text()


def source_copy(tmp_path: Path) -> Path:
    """What the build reads: pyproject.toml, README.md, LICENSE and the packages it finds."""
    copy = tmp_path / "src"
    copy.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, copy / name)
    for pattern in PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]:
        for package in ROOT.glob(pattern.rstrip("*")):
            shutil.copytree(
                package, copy / package.name, ignore=shutil.ignore_patterns("__pycache__")
            )
    return copy


@pytest.mark.parametrize("hook", ["build_wheel", "build_editable"])
def test_project_builds_with_the_locked_setuptools_without_deprecations(tmp_path, hook):
    """The backend's warnings reach pip (and this test) as BuildBackendWarning: pyproject_hooks
    collects them in the hook's process and re-issues them in the caller's (_impl.py)."""
    output: list[str] = []

    def runner(cmd, cwd=None, extra_environ=None):
        result = subprocess.run(
            cmd, cwd=cwd, env={**os.environ, **(extra_environ or {})},
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        output.append(result.stdout + result.stderr)
        assert result.returncode == 0, output[-1][-4000:]

    source = source_copy(tmp_path)
    backend = BuildBackendHookCaller(
        str(source), "setuptools.build_meta", python_executable=sys.executable, runner=runner
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        wheel = getattr(backend, hook)(str(tmp_path / "dist"))
    assert wheel.endswith(".whl") and (tmp_path / "dist" / wheel).is_file()
    issued = [str(w.message) for w in caught if issubclass(w.category, BuildBackendWarning)]
    deprecated = [m for m in issued + output if "deprecat" in m.lower()]
    assert not deprecated, "\n".join(deprecated)
