"""cloudbuild.yaml and the Makefile's cloud targets: yamllint, a structure that can run
(substitutions, steps, images), and one immutable image per deploy: the commit tag names the
launcher in the build's template spec and the workers' sdk_container_image alike."""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.support import ROOT, run, run_python

CONFIG = ROOT / "cloudbuild.yaml"
BUILT_IN = {"PROJECT_ID", "COMMIT_SHA", "SHORT_SHA", "BUILD_ID", "LOCATION", "PROJECT_NUMBER"}
SHA = "0123456789abcdef0123456789abcdef01234567"
# Every `terraform output` the cloud targets read, passed as a variable: no state needed.
OUTPUTS = {
    "PROJECT": "p",
    "REGION": "europe-west1",
    "BUCKET": "p-customer-stream",
    "REPOSITORY": "customer-stream",
    # what terraform/dataflow.tf derives from region, project and repository
    "PIPELINE_IMAGE": "europe-west1-docker.pkg.dev/p/customer-stream/customer-pipeline",
    "PRODUCER_IMAGE": "europe-west1-docker.pkg.dev/p/customer-stream/customer-producer",
    "TOPIC": "projects/p/topics/customers",
    "SUBSCRIPTION": "projects/p/subscriptions/customers-dataflow",
    "OUTPUT_TABLE": "p:customer_stream.customers",
    "DLQ_TABLE": "p:customer_stream.customers_dlq",
    "DATAFLOW_SA": "customer-stream-dataflow@p.iam.gserviceaccount.com",
    "CLOUDBUILD_SA": "projects/p/serviceAccounts/customer-stream-build@p.iam.gserviceaccount.com",
}


@pytest.fixture(scope="module")
def build() -> dict:
    return yaml.safe_load(CONFIG.read_text())


def test_yamllint():
    result = run_python("-m", "yamllint", "--strict", str(CONFIG))
    assert result.returncode == 0, result.stdout + result.stderr


def test_substitutions_are_defined_and_used():
    text = CONFIG.read_text()
    body = text.split("substitutions:", 1)[1].replace("$$", "")  # `$$`: a shell `$`
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
            # "-": start with the build (Cloud Build's BuildStep.waitFor)
            earlier = ids[: ids.index(step["id"])]
            assert dependency == "-" or dependency in earlier, f"{step['id']} waits on {dependency}"
    by_id = {step["id"]: step for step in build["steps"]}
    assert "pytest" in " ".join(by_id["test"]["args"])
    for image in ("pipeline", "producer"):
        assert f"--file=Dockerfile.{image}" in script(build, f"build-{image}")
        assert by_id[f"build-{image}"]["waitFor"] == ["test", "registry"]
    assert build["options"]["env"] == ["DOCKER_BUILDKIT=1"]


def test_one_way_of_pushing(build):
    """Only the build steps push. An `images:` list would push again after the last step, and
    fail the build for an image that was in the registry already and so never built here."""
    assert "images" not in build
    pushes = [s["id"] for s in build["steps"] if "docker push" in " ".join(s.get("args", []))]
    assert pushes == ["build-pipeline", "build-producer"]


IMAGES = ("customer-pipeline", "customer-producer")


def test_images_are_tagged_with_the_commit_only(build, tmp_path):
    """No mutable tag: a `latest` pushed by a later build would change what a running job's new
    workers pull. Only customer-pipeline:$COMMIT_SHA and customer-producer:$COMMIT_SHA."""
    calls = run_build_steps(build, tmp_path, in_registry=())
    tagged = {
        arg.split("=", 1)[1] for call in calls if call[:2] == ["docker", "build"] for arg in call
        if arg.startswith("--tag=")
    }  # fmt: skip
    pushed = {call[2] for call in calls if call[:2] == ["docker", "push"]}
    assert tagged == pushed == {f"{REGISTRY}/{image}:{SHA}" for image in IMAGES}
    code = "\n".join(line.split("#", 1)[0] for line in CONFIG.read_text().splitlines())
    assert not re.search(r"\blatest\b|--all-tags", code)


# --- the steps' scripts, run with a `gcloud` and a `docker` that only record their calls ---------

REGISTRY = "europe-west1-docker.pkg.dev/p/customer-stream"
STAND_IN = """#!/bin/sh
echo "$(basename "$0") $*" >> "$CALLS"
case "$(basename "$0") $*" in
  "gcloud artifacts docker images describe "*)
    for ref in $IN_REGISTRY; do [ "$5" = "$ref" ] && echo sha256:0 && exit 0; done
    echo "ERROR: (gcloud.artifacts.docker.images.describe) NOT_FOUND" >&2; exit 1;;
  "docker image inspect "*) echo "digest of $*";;
esac
"""


def script(build: dict, step_id: str, workspace: str = "/workspace") -> str:
    """A bash step's script as Cloud Build runs it: substitutions replaced, `$$` -> `$`."""
    (step,) = [s for s in build["steps"] if s["id"] == step_id]
    assert step["entrypoint"] == "bash" and step["args"][0] == "-c"
    text = step["args"][1]
    for placeholder, value in {
        "${_REGION}": "europe-west1",
        "${_REPOSITORY}": "customer-stream",
        "$PROJECT_ID": "p",
        "$COMMIT_SHA": SHA,
    }.items():
        text = text.replace(placeholder, value)
    return text.replace("$$", "$").replace("/workspace", workspace)


def run_build_steps(build: dict, tmp_path: Path, in_registry: tuple[str, ...]) -> list[list[str]]:
    """Runs the registry step, then both build steps, in one workspace (as Cloud Build does);
    returns every gcloud and docker command they ran."""
    bin_dir, workspace, calls = tmp_path / "bin", tmp_path / "workspace", tmp_path / "calls"
    bin_dir.mkdir()
    workspace.mkdir()
    for tool in ("gcloud", "docker"):
        (bin_dir / tool).write_text(STAND_IN)
        (bin_dir / tool).chmod(0o755)
    env = {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "CALLS": str(calls),
        "IN_REGISTRY": " ".join(f"{REGISTRY}/{image}:{SHA}" for image in in_registry),
        "BUILDER_OUTPUT": str(tmp_path),
    }
    for step_id in ("registry", "build-pipeline", "build-producer"):
        result = subprocess.run(
            ["bash", "-c", script(build, step_id, str(workspace))],
            capture_output=True, text=True, check=False, cwd=workspace, env=env,
        )  # fmt: skip
        assert result.returncode == 0, f"{step_id}: {result.stderr}"
    return [shlex.split(line) for line in calls.read_text().splitlines()]


@pytest.mark.parametrize(
    "in_registry",
    [(), ("customer-pipeline",), ("customer-producer",), IMAGES],
    ids=["none", "pipeline", "producer", "both"],
)
def test_an_image_already_in_the_registry_is_neither_built_nor_pushed(build, tmp_path, in_registry):
    """Tags are immutable (terraform/artifact_registry.tf): a second push of customer-*:<commit>
    fails, so a retried build, or the trigger and `make build` on one commit, would always fail."""
    calls = run_build_steps(build, tmp_path, in_registry)
    described = {
        call[5]
        for call in calls
        if call[:5] == ["gcloud", "artifacts", "docker", "images", "describe"]
    }
    assert described == {f"{REGISTRY}/{image}:{SHA}" for image in IMAGES}
    for image in IMAGES:
        ref = f"{REGISTRY}/{image}:{SHA}"
        built = [c for c in calls if c[:2] == ["docker", "build"] and f"--tag={ref}" in c]
        pushed = [c for c in calls if c == ["docker", "push", ref]]
        expected = 0 if image in in_registry else 1
        assert (len(built), len(pushed)) == (expected, expected), image
    if len(in_registry) < len(IMAGES):
        assert "digest of" in (tmp_path / "output").read_text()


def test_the_spec_is_written_whether_or_not_the_images_were_built(build):
    """The template step does not depend on a build having happened: it runs after the build
    step, which succeeds when the image was in the registry already, and overwrites the spec."""
    (step,) = [s for s in build["steps"] if s["id"] == "template"]
    assert step["waitFor"] == ["build-pipeline"]
    assert step["entrypoint"] == "bash"
    assert step["args"][0] == "scripts/flex-template.sh"


def template_step(build: dict) -> list[str]:
    (step,) = [s for s in build["steps"] if s["id"] == "template"]
    assert step["waitFor"] == ["build-pipeline"]
    return step["args"]


def test_template_step_writes_one_spec_per_commit(build):
    """scripts/flex-template.sh TEMPLATE IMAGE PROJECT, as `make template` runs it."""
    assert template_step(build) == [
        "scripts/flex-template.sh",
        "gs://${_BUCKET}/templates/customers-$COMMIT_SHA.json",
        "${_REGION}-docker.pkg.dev/$PROJECT_ID/${_REPOSITORY}/customer-pipeline:$COMMIT_SHA",
        "$PROJECT_ID",
    ]
    assert (ROOT / "metadata.json").exists()


def make_dry_run(target: str, **variables: str) -> subprocess.CompletedProcess:
    """`make -n TARGET` with every Terraform output given: the commands it would run."""
    assignments = [f"{name}={value}" for name, value in {**OUTPUTS, **variables}.items()]
    return run("make", "--no-print-directory", "-n", target, *assignments)


def command_args(output: str, command: str) -> list[str]:
    """The arguments of the one `COMMAND ...` line of a `make -n` output."""
    joined = output.replace("\\\n", " ")
    (line,) = [line for line in joined.splitlines() if line.strip().startswith(command)]
    return shlex.split(line)


def gcloud_args(output: str, command: str) -> list[str]:
    """The arguments of the one `gcloud COMMAND ...` line of a `make -n` output."""
    return command_args(output, f"gcloud {command}")


def flag(args: list[str], name: str) -> list[str]:
    return [arg.split("=", 1)[1] for arg in args if arg.startswith(f"--{name}=")]


def deploy_environment(output: str) -> dict[str, str]:
    """The variables `make -n deploy` gives scripts/deploy.sh (VAR=value ... scripts/deploy.sh)."""
    words = command_args(output, "PROJECT=")
    assert words[-1] == "scripts/deploy.sh", words
    return dict(word.split("=", 1) for word in words[:-1])


def test_deploy_runs_one_image_as_launcher_and_workers(build):
    """`make deploy TAG=C` launches the spec cloudbuild.yaml wrote for commit C, whose launcher
    image is customer-pipeline:C, and passes that same image as sdk_container_image."""
    result = make_dry_run("deploy", TAG=SHA)
    assert result.returncode == 0, result.stderr
    deploy = deploy_environment(result.stdout)
    # What the build wrote for commit SHA, with the same names substituted.
    substitutions = {
        "${_BUCKET}": OUTPUTS["BUCKET"],
        "${_REGION}": OUTPUTS["REGION"],
        "${_REPOSITORY}": OUTPUTS["REPOSITORY"],
        "$PROJECT_ID": OUTPUTS["PROJECT"],
        "$COMMIT_SHA": SHA,
    }
    built = template_step(build)
    for placeholder, value in substitutions.items():
        built = [arg.replace(placeholder, value) for arg in built]
    spec_image = built[2]
    # scripts/deploy.sh launches TEMPLATES/customers-TAG.json with sdk_container_image=JOB_IMAGE
    assert f"{deploy['TEMPLATES']}/customers-{deploy['TAG']}.json" == built[1]
    assert deploy["JOB_IMAGE"] == spec_image == f"{OUTPUTS['PIPELINE_IMAGE']}:{SHA}"
    launch = (ROOT / "scripts" / "deploy.sh").read_text()
    assert '--parameters="sdk_container_image=$JOB_IMAGE"' in launch
    assert 'template="$TEMPLATES/customers-$TAG.json"' in launch
    assert "write_method" not in launch, "the template default STREAMING_INSERTS only"


def test_template_target_writes_the_spec_deploy_reads():
    template = command_args(make_dry_run("template", TAG=SHA).stdout, "scripts/flex-template.sh")
    deploy = deploy_environment(make_dry_run("deploy", TAG=SHA).stdout)
    assert f"{deploy['TEMPLATES']}/customers-{SHA}.json" == template[1]
    assert template[2:] == [f"{OUTPUTS['PIPELINE_IMAGE']}:{SHA}", OUTPUTS["PROJECT"]]


def test_cloud_targets_default_to_the_checked_out_commit():
    head = run("git", "rev-parse", "HEAD").stdout.strip()
    result = make_dry_run("deploy")
    assert result.returncode == 0, result.stderr
    deploy = deploy_environment(result.stdout)
    assert (deploy["TAG"], deploy["JOB_IMAGE"]) == (head, f"{OUTPUTS['PIPELINE_IMAGE']}:{head}")
    build = gcloud_args(make_dry_run("build").stdout, "builds submit")
    assert f"COMMIT_SHA={head}" in flag(build, "substitutions")[0].split(",")


def test_deploy_has_one_stable_job_name_and_updates_by_default():
    """An in-place update replaces the running job of the same name: the name never changes."""
    deploy = deploy_environment(make_dry_run("deploy", TAG=SHA).stdout)
    assert (deploy["JOB"], deploy["STRATEGY"]) == ("customers", "update")
    later = deploy_environment(make_dry_run("deploy", TAG=SHA).stdout)
    assert later["JOB"] == deploy["JOB"]


# --- continuous delivery: the deploy step, off unless the trigger says update or replace ---------


def deploy_step_env(build: dict, tmp_path: Path, deploy: str) -> dict[str, str] | None:
    """Runs the deploy step's script with _DEPLOY=deploy (every other one v<NAME>),
    with a scripts/deploy.sh that records its environment; returns it, or None if not run."""
    (step,) = [s for s in build["steps"] if s["id"] == "deploy"]
    assert step["entrypoint"] == "bash" and step["args"][0] == "-c"
    text = step["args"][1]
    values = {"PROJECT_ID": "p", "COMMIT_SHA": SHA, "_DEPLOY": deploy}
    for name in build["substitutions"]:
        values.setdefault(name, f"v{name}")
    for name, value in values.items():
        text = text.replace("${" + name + "}", value).replace(f"${name}", value)
    text = text.replace("$$", "$")
    (tmp_path / "scripts").mkdir()
    recorder = tmp_path / "scripts" / "deploy.sh"
    recorder.write_text(f"#!/bin/sh\nenv > {tmp_path / 'env'}\n")
    recorder.chmod(0o755)
    result = subprocess.run(
        ["bash", "-c", text], capture_output=True, text=True, check=False, cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    if not (tmp_path / "env").exists():
        return None
    lines = (tmp_path / "env").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line)


def test_continuous_delivery_is_off_by_default_and_then_deploys_nothing(build, tmp_path):
    assert build["substitutions"]["_DEPLOY"] == "off"
    assert deploy_step_env(build, tmp_path, "off") is None


@pytest.mark.parametrize("strategy", ["update", "replace"])
def test_continuous_delivery_runs_make_deploys_script_with_what_make_deploy_gives(
    build, tmp_path, strategy
):
    """The deploy step is scripts/deploy.sh with the same variables as `make deploy`, the build's
    commit as TAG and the build's spec and image; only JOB (its default) and STOP_TIMEOUT differ."""
    env = deploy_step_env(build, tmp_path, strategy)
    assert env is not None, "the deploy step did not run scripts/deploy.sh"
    made = deploy_environment(make_dry_run("deploy", TAG=SHA).stdout)
    assert set(made) - {"JOB", "STOP_TIMEOUT"} <= set(env)
    assert (env["STRATEGY"], env["TAG"]) == (strategy, SHA)
    assert env["TEMPLATES"] == "gs://v_BUCKET/templates"
    built = template_step(build)[1].replace("${_BUCKET}", "v_BUCKET").replace("$COMMIT_SHA", SHA)
    assert f"{env['TEMPLATES']}/customers-{env['TAG']}.json" == built
    assert env["JOB_IMAGE"] == f"v_REGION-docker.pkg.dev/p/v_REPOSITORY/customer-pipeline:{SHA}"


def test_the_deploy_step_runs_after_the_whole_build(build):
    (step,) = [s for s in build["steps"] if s["id"] == "deploy"]
    assert build["steps"][-1] is step
    assert set(step["waitFor"]) == {"template", "build-producer"}


@pytest.mark.parametrize("target", ["deploy", "template", "producer"])
@pytest.mark.parametrize("tag", ["latest", "main", "0123456", ""])
def test_cloud_targets_refuse_a_mutable_tag(target, tag):
    result = make_dry_run(target, TAG=tag)
    assert result.returncode != 0
    assert "is not a commit SHA" in result.stderr and "never latest" in result.stderr
    assert "gcloud" not in result.stdout and "docker run" not in result.stdout


def make_build_in_a_clone(tmp_path: Path, untracked: str) -> subprocess.CompletedProcess:
    """`make build` (for real, with a `gcloud` that only prints) in a repository that has
    committed this Makefile, after `untracked` was written there."""
    clone = tmp_path / "repo"
    (clone / Path(untracked).parent).mkdir(parents=True)
    (clone / "Makefile").write_text((ROOT / "Makefile").read_text())
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-C", str(clone)]
    subprocess.run([*git, "init", "--quiet"], check=True)
    subprocess.run([*git, "add", "Makefile"], check=True)
    subprocess.run([*git, "commit", "--quiet", "-m", "Makefile"], check=True)
    (clone / untracked).write_text("written after the commit\n")
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "gcloud").write_text('#!/bin/sh\necho "gcloud $*"\n')
    (fake / "gcloud").chmod(0o755)
    assignments = [f"{name}={value}" for name, value in OUTPUTS.items()]
    env = {"PATH": f"{fake}:/usr/local/bin:/usr/bin:/bin", "HOME": str(tmp_path)}
    return subprocess.run(
        ["make", "--no-print-directory", "build", *assignments],
        capture_output=True, text=True, check=False, cwd=clone, env=env,
    )  # fmt: skip


def test_build_runs_after_make_infra_wrote_the_terraform_lock_file(tmp_path):
    """`terraform init` (make infra, step 1 of the README) writes terraform/.terraform.lock.hcl;
    it goes into no image, so step 2 (`make build`) must not take it for an uncommitted change."""
    result = make_build_in_a_clone(tmp_path, "terraform/.terraform.lock.hcl")
    assert result.returncode == 0, result.stderr
    assert "gcloud builds submit" in result.stdout


def test_build_refuses_an_untracked_file_the_images_would_carry(tmp_path):
    result = make_build_in_a_clone(tmp_path, "pipeline/not_committed.py")
    assert result.returncode == 2
    assert "uncommitted changes" in result.stderr
    assert "gcloud builds submit" not in result.stdout


# --- the test step installs with the locked tools only -------------------------------------------

LOCK_FILE = re.compile(r"requirements/[\w-]+\.txt")


def pip_installs(text: str) -> list[list[str]]:
    """Each `pip install` of a step's script, as its arguments after `install`."""
    installs = []
    for line in text.splitlines():
        words = shlex.split(line, comments=True)
        if "pip" in " ".join(words[:3]) and "install" in words:
            installs.append(words[words.index("install") + 1 :])
    return installs


def locked_tools(lock: str) -> set[str]:
    text = (ROOT / lock).read_text()
    return {name for name in ("pip", "setuptools") if re.search(rf"^{name}==\S+ \\$", text, re.M)}


def install_problems(text: str) -> list[str]:
    """How a script's installs could take something not locked: a package outside a hashed lock
    file, or a build environment pip fills with the newest setuptools (build isolation, the
    default; https://pip.pypa.io/en/stable/cli/pip_install/#cmdoption-no-build-isolation)."""
    problems, locked = [], set()
    installs = pip_installs(text)
    if not installs:
        return ["no pip install"]
    for args in installs:
        requirements = [args[i + 1] for i, arg in enumerate(args[:-1]) if arg == "-r"]
        targets = [a for i, a in enumerate(args) if not a.startswith("-") and args[i - 1] != "-r"]
        if "--no-deps" not in args:
            problems.append(f"{args}: without --no-deps pip resolves what the lock left out")
        if requirements:
            if "--require-hashes" not in args:
                problems.append(f"{args}: a lock file without --require-hashes")
            if not all(LOCK_FILE.fullmatch(r) for r in requirements):
                problems.append(f"{args}: {requirements} is not a lock file of requirements/")
            locked |= {tool for r in requirements for tool in locked_tools(r)}
        elif targets == ["."]:
            if "--no-build-isolation" not in args:
                problems.append(f"{args}: build isolation fetches an unpinned setuptools")
            if locked != {"pip", "setuptools"}:
                problems.append(f"{args}: pip and setuptools are not installed from a lock first")
        else:
            problems.append(f"{args}: installs {targets} from no lock file")
    return problems


def test_test_step_installs_only_from_hashed_locks_without_build_isolation(build):
    (step,) = [s for s in build["steps"] if s["id"] == "test"]
    problems = install_problems(step["args"][1])
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(
    ("script", "problem"),
    [
        ("pip install --no-deps -r requirements/dev.txt\npip install --no-deps "
         "--no-build-isolation -e .", "without --require-hashes"),
        ("pip install --require-hashes --no-deps -r requirements/dev.txt\n"
         "pip install --no-deps -e .", "build isolation"),
        ("pip install --no-deps --no-build-isolation -e .", "not installed from a lock first"),
        ("pip install --require-hashes --no-deps -r requirements/dev.txt\npip install pytest",
         "from no lock file"),
    ],
)  # fmt: skip
def test_install_check_catches_unlocked_installs(script, problem):
    assert any(problem in found for found in install_problems(script)), install_problems(script)


def _default_seconds(script: str, variable: str) -> int:
    text = (ROOT / "scripts" / script).read_text(encoding="utf-8")
    return int(re.search(rf"\${{{variable}:-(\d+)}}", text).group(1))


def test_the_build_outlives_a_replace_by_continuous_delivery(build):
    # Cloud Build stops a build at its `timeout` (https://cloud.google.com/build/docs/build-config-file-schema#timeout_2);
    # a replace by the deploy step drains for up to STOP_TIMEOUT, then waits DEPLOY_TIMEOUT for
    # the new job, after the tests, the images and the spec (about half an hour on the default
    # pool): cut short, the build would fail with the job drained and none started.
    drain = _default_seconds("stop-job.sh", "STOP_TIMEOUT")
    start = _default_seconds("deploy.sh", "DEPLOY_TIMEOUT")
    assert int(build["timeout"].removesuffix("s")) >= 1800 + drain + start
