"""cloudbuild.yaml: yamllint, and a structure that can run: substitutions, steps, images."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.static

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "cloudbuild.yaml"
BUILT_IN = {"PROJECT_ID", "COMMIT_SHA", "SHORT_SHA", "BUILD_ID", "LOCATION", "PROJECT_NUMBER"}


@pytest.fixture(scope="module")
def build() -> dict:
    return yaml.safe_load(CONFIG.read_text())


def test_yamllint():
    result = subprocess.run(
        [sys.executable, "-m", "yamllint", "--strict", str(CONFIG)],
        capture_output=True, text=True, check=False, cwd=ROOT,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def test_substitutions_are_defined_and_used():
    text = CONFIG.read_text()
    body = text.split("substitutions:", 1)[1]
    used = set(re.findall(r"\$\{?([A-Z_][A-Z0-9_]*)\}?", body))
    defined = set(yaml.safe_load(text)["substitutions"])
    assert used - BUILT_IN == defined, "every user substitution defined and used, nothing else"
    assert {"_REGION", "_REPOSITORY", "_BUCKET"} <= defined
    assert "PROJECT_ID" in used  # the project comes from Cloud Build itself


def test_steps_are_wired(build):
    ids = [step["id"] for step in build["steps"]]
    assert len(ids) == len(set(ids))
    for step in build["steps"]:
        for dependency in step.get("waitFor", []):
            assert dependency in ids[: ids.index(step["id"])], f"{step['id']} waits on {dependency}"
    by_id = {step["id"]: step for step in build["steps"]}
    assert "pytest" in " ".join(by_id["test"]["args"])
    for image in ("pipeline", "producer"):
        build_args = by_id[f"build-{image}"]["args"]
        assert f"--file=Dockerfile.{image}" in build_args
        assert by_id[f"build-{image}"]["waitFor"] == ["test"]
        assert by_id[f"push-{image}"]["waitFor"] == [f"build-{image}"]
    assert build["options"]["env"] == ["DOCKER_BUILDKIT=1"]


def test_images_tagged_with_commit_and_latest_are_pushed(build):
    tags = {
        arg.split("=", 1)[1]
        for step in build["steps"]
        if step["id"].startswith("build-")
        for arg in step["args"]
        if arg.startswith("--tag=")
    }
    assert tags == set(build["images"])
    for image in ("customer-pipeline", "customer-producer"):
        repository = f"${{_REGION}}-docker.pkg.dev/$PROJECT_ID/${{_REPOSITORY}}/{image}"
        assert {f"{repository}:$COMMIT_SHA", f"{repository}:latest"} <= tags


def test_template_step_uses_metadata_bucket_and_the_pushed_image(build):
    (step,) = [s for s in build["steps"] if s["id"] == "template"]
    assert step["waitFor"] == ["push-pipeline"]
    command = " ".join(step["args"])
    assert command.startswith("dataflow flex-template build gs://${_BUCKET}/templates/")
    assert "--metadata-file=metadata.json" in command
    assert "--sdk-language=PYTHON" in command
    assert "customer-pipeline:$COMMIT_SHA" in command
    assert (ROOT / "metadata.json").exists()
