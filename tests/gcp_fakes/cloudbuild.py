"""A Cloud Build v1 fake: `builds.create` checked as Cloud Build checks it, and the steps run.

A build (`POST /v1/projects/P/locations/L/builds`, what `gcloud builds submit` sends) is decoded
as the `Build` message and held to Cloud Build's documented rules, each refused with 400:
- substitutions (https://cloud.google.com/build/docs/configuring-builds/substitute-variable-values):
  a user-defined key matches `_[A-Z0-9_]+`; of the built-in ones a manual build may only set
  those a trigger would (COMMIT_SHA, ...); at most 200 keys of at most 100 bytes, values at
  most 4000 bytes; unless `substitutionOption` is ALLOW_LOOSE, every `$_KEY`/`${_KEY}` of the
  steps is defined and every defined user key is used (`$$` is a literal `$`);
- a user-specified `serviceAccount` is `projects/P/serviceAccounts/EMAIL` and needs a logs
  bucket or `options.logging` CLOUD_LOGGING_ONLY / NONE
  (https://cloud.google.com/build/docs/securing-builds/configure-user-specified-service-accounts);
- `waitFor` names only earlier step ids or `-`; the source is a gzipped tarball in the Storage
  fake.
Then the steps run here, in order, in the extracted source, as the real ones would in their
images: steps of the Cloud SDK image run the real gcloud against the fakes, steps of the docker
builder a recording `docker` stand-in (no registry can be pushed to here: a push lands in the
Artifact Registry fake). Steps of any other image (the Python test step) are recorded in
`not_run`, not run: the unit tier runs those tests. `/workspace` in a step is the extracted
source, as Cloud Build mounts it. The build ends SUCCESS or FAILURE with the failing step.
"""

from __future__ import annotations

import io
import itertools
import os
import re
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote

from tests.gcp_fakes.schema import decode
from tests.gcp_fakes.server import Refused, Request, Service, route
from tests.gcp_fakes.storage import Storage

BUILDS = r"/v1/projects/(?P<project>[^/]+)/locations/(?P<location>[^/]+)/builds"
USER_KEY = re.compile(r"_[A-Z0-9_]+")
# Built-in substitutions a build started by hand may be given (the rest Cloud Build sets itself).
SETTABLE_BUILT_INS = {
    "BRANCH_NAME",
    "TAG_NAME",
    "REVISION_ID",
    "COMMIT_SHA",
    "SHORT_SHA",
    "REPO_NAME",
    "REPO_FULL_NAME",
}
REFERENCE = re.compile(
    r"\$(?:\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)\}|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))"
)
SDK_IMAGE = re.compile(r"gcr\.io/google\.com/cloudsdktool/(google-cloud-cli|cloud-sdk)(:.*)?")
DOCKER_IMAGE = re.compile(r"gcr\.io/cloud-builders/docker(:.*)?")


def substitute(text: str, values: dict[str, str]) -> tuple[str, set[str]]:
    """`text` with Cloud Build's substitutions made, and the keys it referred to."""
    used: set[str] = set()
    parts = text.split("$$")

    def replace(match: re.Match) -> str:
        key = match["braced"] or match["bare"]
        used.add(key)
        return values.get(key, "")

    return "$".join(REFERENCE.sub(replace, part) for part in parts), used


def substitution_errors(build: dict, built_ins: dict[str, str]) -> list[str]:
    given = build.get("substitutions", {})
    errors = [
        f"invalid substitution key {key!r}: user-defined keys match _[A-Z0-9_]+"
        for key in given
        if not USER_KEY.fullmatch(key) and key not in SETTABLE_BUILT_INS
    ]
    if len(given) > 200:
        errors.append(f"{len(given)} substitutions: at most 200")
    errors += [f"substitution {k!r}: key over 100 bytes" for k in given if len(k.encode()) > 100]
    errors += [
        f"substitution {k!r}: value over 4000 bytes"
        for k, v in given.items()
        if len(v.encode()) > 4000
    ]
    used: set[str] = set()
    for step in build.get("steps", []):
        for text in step_texts(step):
            used |= substitute(text, {})[1]
    if build.get("options", {}).get("substitutionOption") != "ALLOW_LOOSE":
        values = {**built_ins, **given}
        errors += [
            f'key in the template "{key}" is not matched in the substitution data'
            for key in sorted(used)
            if key not in values
        ]
        errors += [
            f'key "{key}" in the substitution data is not matched in the template'
            for key in sorted(given)
            if USER_KEY.fullmatch(key) and key not in used
        ]
    return errors


def step_texts(step: dict) -> list[str]:
    texts = [step.get("name", ""), step.get("entrypoint", ""), step.get("dir", "")]
    return texts + list(step.get("args", [])) + list(step.get("env", []))


def account_errors(build: dict) -> list[str]:
    account = build.get("serviceAccount")
    if not account:
        return []
    errors = []
    if not re.fullmatch(r"projects/[^/]+/serviceAccounts/[^/]+@[^/]+", account):
        errors.append(
            f"serviceAccount {account!r}: expected projects/PROJECT/serviceAccounts/EMAIL"
        )
    logging = build.get("options", {}).get("logging")
    if not build.get("logsBucket") and logging not in {"CLOUD_LOGGING_ONLY", "NONE"}:
        errors.append(
            "a build with a user-specified service account needs logsBucket or "
            "options.logging CLOUD_LOGGING_ONLY or NONE"
        )
    return errors


def wait_errors(build: dict) -> list[str]:
    seen, errors = set(), []
    for step in build.get("steps", []):
        for waited in step.get("waitFor", []):
            if waited != "-" and waited not in seen:
                errors.append(f"step {step.get('id')!r} waits for {waited!r}, not an earlier step")
        seen.add(step.get("id"))
    return errors


@dataclass
class StepRun:
    step_id: str
    command: list[str]
    returncode: int
    output: str


@dataclass
class CloudBuild(Service):
    """Builds by id; `env` is the environment a step's gcloud runs with (the fakes' config)."""

    storage: Storage = field(default_factory=Storage)
    env: dict[str, str] = field(default_factory=dict)
    docker: Path | None = None  # a directory holding the recording `docker` stand-in
    builds: dict[str, dict] = field(default_factory=dict)
    runs: list[StepRun] = field(default_factory=list)
    not_run: list[str] = field(default_factory=list)
    ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    def __post_init__(self) -> None:
        self.api = "cloudbuild"

    @route("POST", BUILDS)
    def create(self, request: Request, project: str, location: str) -> dict:
        build = request.json()
        decode("cloudbuild", "v1", "Build", build)
        build_id = f"00000000-0000-4000-8000-{next(self.ids):012d}"
        built_ins = {"PROJECT_ID": project, "BUILD_ID": build_id, "LOCATION": location,
                     "PROJECT_NUMBER": "123456789012"}  # fmt: skip
        errors = substitution_errors(build, built_ins) + account_errors(build) + wait_errors(build)
        if errors:
            raise Refused(400, "invalid build: " + "; ".join(errors))
        source = self.source(build)
        values = {**built_ins, **build.get("substitutions", {})}
        build.update(id=build_id, projectId=project, status=self.run_steps(build, source, values))
        self.builds[build_id] = build
        name = f"projects/{project}/locations/{location}/operations/build-{build_id}"
        metadata = {
            "@type": "type.googleapis.com/google.devtools.cloudbuild.v1.BuildOperationMetadata"
        }
        return {"name": name, "metadata": {**metadata, "build": {**build, "status": "QUEUED"}}}

    def source(self, build: dict) -> Path:
        storage_source = build.get("source", {}).get("storageSource", {})
        data = self.storage.read(storage_source.get("bucket", ""), storage_source.get("object", ""))
        workspace = Path(tempfile.mkdtemp(prefix="cloudbuild-workspace-"))
        try:
            with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
                tar.extractall(workspace, filter="data")
        except tarfile.TarError as error:
            raise Refused(400, f"the build source is not a gzipped tarball: {error}") from error
        return workspace

    def run_steps(self, build: dict, workspace: Path, values: dict[str, str]) -> str:
        for step in build.get("steps", []):
            name = substitute(step.get("name", ""), values)[0]
            if not (SDK_IMAGE.fullmatch(name) or DOCKER_IMAGE.fullmatch(name)):
                self.not_run.append(f"{step.get('id')}: {name}")
                continue
            default = "gcloud" if SDK_IMAGE.fullmatch(name) else "docker"
            entrypoint = substitute(step.get("entrypoint") or default, values)[0]
            args = [substitute(arg, values)[0] for arg in step.get("args", [])]
            args = [arg.replace("/workspace", str(workspace)) for arg in args]
            env = dict(self.env, BUILDER_OUTPUT=str(workspace / ".builder-output"))
            env.update(substitute(pair, values)[0].split("=", 1) for pair in step.get("env", []))
            if self.docker:
                env["PATH"] = f"{self.docker}{os.pathsep}{env.get('PATH', '')}"
            (workspace / ".builder-output").mkdir(exist_ok=True)
            done = subprocess.run(
                [entrypoint, *args], cwd=workspace, env=env, capture_output=True, text=True,
                timeout=600, check=False,
            )  # fmt: skip
            self.runs.append(StepRun(step.get("id", ""), [entrypoint, *args], done.returncode,
                                     done.stdout + done.stderr))  # fmt: skip
            if done.returncode:
                build["failureInfo"] = {"detail": f"step {step.get('id')} exited {done.returncode}"}
                return "FAILURE"
        return "SUCCESS"

    @route("GET", BUILDS + r"/(?P<build_id>[^/]+)")
    def get(self, request: Request, project: str, location: str, build_id: str) -> dict:
        build = self.builds.get(unquote(build_id))
        if build is None or build["projectId"] != project:
            raise Refused(404, f"build {build_id} not found")
        return build
