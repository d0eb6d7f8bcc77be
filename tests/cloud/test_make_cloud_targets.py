"""The Makefile's cloud targets, run as typed, with the real gcloud against the fakes.

`make template` writes the spec the Dataflow fake reads at `make deploy`'s launch; what is
checked is the spec gcloud (and scripts/flex-template.sh) actually wrote, not metadata.json.
"""

from __future__ import annotations

import json

from tests.cloud.cloud_support import (
    PROJECT,
    REGION,
    install_docker_stand_in,
    terraform_defaults,
    terraform_outputs,
)
from tests.support import ROOT

TAG = "89abcdef0123456789abcdef0123456789abcdef"
OUT = terraform_outputs()
SPEC = f"templates/customers-{TAG}.json"


def written_spec(cloud) -> dict:
    return json.loads(cloud.google.storage.read(OUT["bucket"], SPEC))


def test_make_template_writes_a_spec_with_every_metadata_field(cloud):
    """gcloud's `flex-template build` drops streaming and the streaming modes: they are back."""
    cloud.provision()
    made = cloud.run(f"make template PROJECT={PROJECT} TAG={TAG}")
    assert made.returncode == 0, made.stdout + made.stderr + cloud.refusals()
    spec = written_spec(cloud)
    assert spec["metadata"] == json.loads((ROOT / "metadata.json").read_text(encoding="utf-8"))
    assert spec["metadata"]["streaming"] is True
    assert spec["metadata"]["supportsAtLeastOnce"] is True
    assert spec["image"] == f"{OUT['pipeline_image']}:{TAG}"
    assert spec["sdkInfo"] == {"language": "PYTHON"}
    assert not cloud.google.refusals(), cloud.refusals()


def test_make_deploy_launches_the_spec_of_its_build(cloud):
    cloud.provision()
    assert cloud.run(f"make template PROJECT={PROJECT} TAG={TAG}").returncode == 0
    deployed = cloud.run(f"make deploy PROJECT={PROJECT} TAG={TAG}")
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr + cloud.refusals()
    (job,) = cloud.google.dataflow.jobs.values()
    resource = job.resource
    assert resource["containerSpecGcsPath"] == f"gs://{OUT['bucket']}/{SPEC}"
    assert resource["parameters"]["sdk_container_image"] == f"{OUT['pipeline_image']}:{TAG}"
    assert resource["parameters"]["input_subscription"] == OUT["subscription"]
    environment = resource["environment"]
    assert environment["serviceAccountEmail"] == OUT["dataflow_service_account"]
    assert environment["tempLocation"] == OUT["temp_location"]
    assert environment["enableStreamingEngine"] is True
    assert (resource["projectId"], resource["location"]) == (PROJECT, REGION)
    assert not cloud.google.refusals(), cloud.refusals()


def test_make_deploy_of_a_commit_never_built_says_so(cloud):
    cloud.provision()
    deployed = cloud.run(f"make deploy PROJECT={PROJECT} TAG={TAG}")
    assert deployed.returncode == 2
    assert f"no Flex Template spec gs://{OUT['bucket']}/{SPEC}" in deployed.stderr
    assert not cloud.google.dataflow.jobs


def test_make_build_submits_a_build_cloud_build_accepts_and_writes_the_spec(cloud):
    cloud.provision()
    clone = cloud.checkout()
    commit = cloud.run("git rev-parse HEAD", cwd=clone).stdout.strip()
    built = cloud.run(f"make build PROJECT={PROJECT}", cwd=clone, timeout=600)
    assert built.returncode == 0, built.stdout + built.stderr + cloud.refusals()
    assert "SUCCESS" in built.stdout + built.stderr
    (build,) = cloud.google.cloudbuild.builds.values()
    assert build["substitutions"]["COMMIT_SHA"] == commit
    assert build["serviceAccount"] == OUT["cloudbuild_service_account"]
    runs = {run.step_id: run for run in cloud.google.cloudbuild.runs}
    assert list(runs) == ["registry", "build-pipeline", "build-producer", "template", "deploy"]
    assert "_DEPLOY=off: built, not deployed" in runs["deploy"].output
    assert not cloud.google.dataflow.jobs, "continuous delivery is off unless the trigger says"
    assert cloud.google.cloudbuild.not_run == ["test: python:3.11.13-slim-bookworm"]
    spec = json.loads(
        cloud.google.storage.read(OUT["bucket"], f"templates/customers-{commit}.json")
    )
    assert spec["image"] == f"{OUT['pipeline_image']}:{commit}"
    pushed = {key[1:] for key in cloud.google.artifactregistry.images}
    assert pushed == {("customer-pipeline", commit), ("customer-producer", commit)}
    assert not cloud.google.refusals(), cloud.refusals()


def test_make_producer_mounts_a_relative_key_by_its_absolute_path(cloud):
    """`KEY=sa-key.json`: `docker run -v sa-key.json:...` would make a named volume, not mount
    the file (https://docs.docker.com/engine/storage/bind-mounts/: the source is absolute)."""
    clone = cloud.checkout()
    (clone / "sa-key.json").write_text("{}", encoding="utf-8")
    install_docker_stand_in(cloud.home / "bin", "http://127.0.0.1:1/not-a-registry")
    made = cloud.run(f"make producer PROJECT={PROJECT} TAG={TAG} KEY=sa-key.json", cwd=clone)
    assert made.returncode == 0, made.stderr
    calls = (cloud.home / "bin" / "docker-calls.jsonl").read_text().splitlines()
    (run,) = [json.loads(line) for line in calls]
    (mount,) = [run[i + 1] for i, arg in enumerate(run) if arg == "-v"]
    assert mount == f"{clone / 'sa-key.json'}:/var/secrets/google.json:ro"


def test_continuous_delivery_deploys_what_the_build_built(cloud):
    """The trigger's substitutions with `_DEPLOY=update` (terraform/cloudbuild.tf): the build's
    deploy step runs scripts/deploy.sh, which starts the job of the commit just built."""
    cloud.provision()
    clone = cloud.checkout()
    commit = cloud.run("git rev-parse HEAD", cwd=clone).stdout.strip()
    substitutions = {
        "_REGION": REGION,
        "_REPOSITORY": OUT["repository"],
        "_BUCKET": OUT["bucket"],
        "COMMIT_SHA": commit,
        "_DEPLOY": "update",
        "_SUBSCRIPTION": OUT["subscription"],
        "_OUTPUT_TABLE": OUT["output_table"],
        "_DLQ_TABLE": OUT["dlq_table"],
        "_DATAFLOW_SA": OUT["dataflow_service_account"],
        "_MACHINE_TYPE": terraform_defaults()["machine_type"],
        "_MAX_WORKERS": str(terraform_defaults()["max_workers"]),
    }
    built = cloud.run(
        f"gcloud builds submit . --project={PROJECT} --config=cloudbuild.yaml "
        f"--service-account={OUT['cloudbuild_service_account']} "
        f"--gcs-source-staging-dir=gs://{OUT['bucket']}/source "
        "--substitutions=" + ",".join(f"{k}={v}" for k, v in substitutions.items()),
        cwd=clone,
        timeout=600,
    )
    assert built.returncode == 0, built.stdout + built.stderr + cloud.refusals()
    runs = {run.step_id: run for run in cloud.google.cloudbuild.runs}
    assert f"is running build {commit}" in runs["deploy"].output
    (job,) = cloud.google.dataflow.jobs.values()
    assert (job.resource["name"], job.resource["labels"]) == ("customers", {"commit": commit})
    assert job.resource["parameters"]["sdk_container_image"] == f"{OUT['pipeline_image']}:{commit}"
    assert not cloud.google.refusals(), cloud.refusals()
