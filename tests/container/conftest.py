"""Docker fixtures: a reachable daemon, the offline base image, and each image built once.

The images are built with the same script as `make images` (scripts/docker-build.sh). Where no
registry is reachable (CI, this project's machines) the Python base is the image that
scripts/docker-setup.sh builds offline, and the official Google binaries (Beam's boot, the Flex
Template launcher) are replaced by a placeholder stage: that is said in the test output.
"""

from __future__ import annotations

import os
import ssl
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support import ROOT

PYTHON_BASE = os.environ.get("PYTHON_BASE_IMAGE", "local/python:3.11-bookworm")
# The images' tag: TEST_IMAGE_TAG keeps two checkouts that share one Docker daemon (git worktrees)
# from building over each other's images.
TAG = os.environ.get("TEST_IMAGE_TAG", "test")
PLACEHOLDER = f"local/dataflow-binaries-placeholder:{TAG}"
OFFICIAL_BINARIES = ("/opt/apache/beam/boot", "/opt/google/dataflow/python_template_launcher")
SETUP_HINT = (
    "run `make docker` as root or `sudo scripts/docker-setup.sh` "
    "(installs docker.io, starts dockerd, builds the base image)"
)

# testcontainers' reaper image cannot be pulled offline; each test removes its own containers.
os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")


@dataclass(frozen=True)
class BuiltImage:
    tag: str
    seconds: float
    size_mb: float


def docker(*args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=timeout, check=check
    )


def report(config: pytest.Config, line: str) -> None:
    """A line in the test output itself (not captured): image sizes, what was not exercised."""
    capture = config.pluginmanager.get_plugin("capturemanager")
    with capture.global_and_fixture_disabled():
        config.pluginmanager.get_plugin("terminalreporter").write_line(f"[container] {line}")


def build(tag: str, *args: str, context: Path = ROOT) -> BuiltImage:
    """One BuildKit build through scripts/docker-build.sh, with the host's CA bundle as pip_ca."""
    ca = os.environ.get("SSL_CERT_FILE") or ssl.get_default_verify_paths().cafile
    env = {**os.environ, **({"PIP_CA": ca} if ca and Path(ca).is_file() else {})}
    started = time.monotonic()
    result = subprocess.run(
        [str(ROOT / "scripts/docker-build.sh"), "--tag", tag, *args, str(context)],
        capture_output=True,
        text=True,
        env=env,
        timeout=1800,
        check=False,
    )
    seconds = time.monotonic() - started
    if result.returncode != 0:
        pytest.fail(f"building {tag} failed:\n{(result.stdout + result.stderr)[-4000:]}")
    size = int(docker("image", "inspect", "--format", "{{.Size}}", tag).stdout.strip())
    return BuiltImage(tag, seconds, size / 1e6)


@pytest.fixture(scope="session")
def docker_run():
    """`docker ARGS...` as a function for the tests (fails the test on a non-zero exit)."""
    return docker


@pytest.fixture(scope="session")
def docker_daemon() -> None:
    try:
        result = docker("info", "--format", "{{.ServerVersion}}", check=False, timeout=30)
    except FileNotFoundError:
        pytest.fail(f"the docker CLI is not installed: {SETUP_HINT}")
    if result.returncode != 0:
        pytest.fail(f"no Docker daemon answers ({result.stderr.strip()}): {SETUP_HINT}")


@pytest.fixture(scope="session")
def python_base(docker_daemon) -> str:
    if docker("image", "inspect", PYTHON_BASE, check=False).returncode != 0:
        pytest.fail(f"base image {PYTHON_BASE} is missing: {SETUP_HINT}")
    return PYTHON_BASE


@pytest.fixture(scope="session")
def binaries_placeholder(python_base, tmp_path_factory, pytestconfig) -> str:
    """Stands in for apache/beam_python3.11_sdk and the Dataflow launcher base image, which
    cannot be pulled offline: scripts at the same paths that say so and exit 1."""
    context = tmp_path_factory.mktemp("placeholder")
    script = context / "placeholder.sh"
    script.write_text(
        '#!/bin/sh\necho "placeholder: the official binary was not available" >&2\nexit 1\n'
    )
    script.chmod(0o755)
    copies = "".join(f"COPY placeholder.sh {path}\n" for path in OFFICIAL_BINARIES)
    (context / "Dockerfile").write_text(f"FROM {python_base}\n{copies}")
    build(PLACEHOLDER, "--file", str(context / "Dockerfile"), context=context)
    report(
        pytestconfig,
        "Beam boot and Flex Template launcher not available offline: placeholder stage "
        f"{PLACEHOLDER} copied in their place, NOT exercised (boot's provisioning, artifact "
        "staging and start of sdk_worker_main; the launcher's job submission)",
    )
    return PLACEHOLDER


@pytest.fixture(scope="session")
def producer_image(python_base, pytestconfig) -> str:
    image = build(
        f"customer-producer:{TAG}",
        "--file",
        str(ROOT / "Dockerfile.producer"),
        "--build-arg",
        f"PYTHON_BASE={python_base}",
    )
    report(pytestconfig, f"built {image.tag}: {image.size_mb:.0f} MB in {image.seconds:.0f}s")
    return image.tag


@pytest.fixture(scope="session")
def pipeline_image(python_base, binaries_placeholder, pytestconfig) -> str:
    image = build(
        f"customer-pipeline:{TAG}",
        "--file",
        str(ROOT / "Dockerfile.pipeline"),
        "--build-arg",
        f"PYTHON_BASE={python_base}",
        "--build-arg",
        f"BEAM_SDK_IMAGE={binaries_placeholder}",
        "--build-arg",
        f"LAUNCHER_IMAGE={binaries_placeholder}",
    )
    report(pytestconfig, f"built {image.tag}: {image.size_mb:.0f} MB in {image.seconds:.0f}s")
    return image.tag
