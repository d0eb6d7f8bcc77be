"""The Dataflow and Storage fakes under the real gcloud: what they accept and refuse, as Dataflow.

Every command here is gcloud 528's own; the fakes check each body against gcloud's generated
Dataflow messages and the launch's parameters against the spec `flex-template build` wrote.
"""

from __future__ import annotations

import json

from tests.cloud.cloud_support import PROJECT, REGION, terraform_outputs

TAG = "0123456789abcdef0123456789abcdef01234567"
OUT = terraform_outputs()


def launch(cloud, template, *extra, job="customers", parameters=None):
    parameters = parameters or {
        "input_subscription": OUT["subscription"],
        "output_table": OUT["output_table"],
        "dlq_table": OUT["dlq_table"],
    }
    flags = [f"--parameters={name}={value}" for name, value in parameters.items()]
    return cloud.gcloud(
        "dataflow", "flex-template", "run", job, f"--project={PROJECT}", f"--region={REGION}",
        f"--template-file-gcs-location={template}", *flags, *extra,
    )  # fmt: skip


def launch_bodies(cloud) -> list[dict]:
    return [
        json.loads(r.request.body)
        for r in cloud.google.dataflow.records
        if r.request.path.endswith("flexTemplates:launch")
    ]


def test_the_spec_is_uploaded_with_the_hashes_gcloud_checks(cloud):
    template = cloud.write_template(TAG)
    spec = json.loads(cloud.google.storage.read(OUT["bucket"], f"templates/customers-{TAG}.json"))
    assert spec["image"] == f"{OUT['pipeline_image']}:{TAG}"
    described = cloud.gcloud("storage", "objects", "describe", template, f"--project={PROJECT}")
    assert described.returncode == 0, described.stderr
    assert not cloud.google.refusals(), cloud.refusals()


def test_a_launch_is_checked_against_the_spec_and_starts_a_job(cloud):
    template = cloud.write_template(TAG)
    launched = launch(cloud, template)
    assert launched.returncode == 0, launched.stderr + cloud.refusals()
    (body,) = launch_bodies(cloud)
    assert body["launchParameter"]["parameters"]["output_table"] == OUT["output_table"]
    listed = cloud.gcloud(
        "dataflow", "jobs", "list", f"--project={PROJECT}", f"--region={REGION}",
        "--status=active", "--format=value(name,state)",
    )  # fmt: skip
    assert listed.stdout.split() == ["customers", "Running"], listed.stderr


def test_a_launch_dataflow_would_refuse_is_refused(cloud):
    template = cloud.write_template(TAG)
    missing = launch(cloud, template, parameters={"output_table": OUT["output_table"]})
    undeclared = launch(
        cloud, template, parameters={**dict.fromkeys(["nope"], "x"), "output_table": "x"}
    )
    bad_value = launch(
        cloud,
        template,
        parameters={"input_subscription": OUT["subscription"], "output_table": "p:d.t"},
    )
    assert missing.returncode and "missing required parameter 'input_subscription'" in (
        missing.stderr
    )
    assert undeclared.returncode and "'nope' is not declared" in undeclared.stderr
    assert bad_value.returncode and "'output_table'='p:d.t' does not match" in bad_value.stderr
    assert not cloud.google.dataflow.jobs


def test_a_second_job_of_the_same_name_is_refused_and_update_replaces_it(cloud):
    template = cloud.write_template(TAG)
    assert launch(cloud, template).returncode == 0
    second = launch(cloud, template)
    assert second.returncode and "already an active job named customers" in second.stderr
    updated = launch(cloud, template, "--update", "--transform-name-mappings=Read=ReadMessages")
    assert updated.returncode == 0, updated.stderr + cloud.refusals()
    body = launch_bodies(cloud)[-1]["launchParameter"]
    assert body["update"] is True
    assert body["transformNameMappings"] == {"Read": "ReadMessages"}
    jobs = cloud.google.dataflow.jobs.values()
    old, new = sorted(jobs, key=lambda job: job.resource["id"])
    assert new.resource["replaceJobId"] == old.resource["id"]
    cloud.gcloud("dataflow", "jobs", "list", f"--project={PROJECT}", f"--region={REGION}")
    assert (old.state, new.state) == ("JOB_STATE_UPDATED", "JOB_STATE_RUNNING")


def test_an_update_with_no_running_job_is_refused(cloud):
    template = cloud.write_template(TAG)
    refused = launch(cloud, template, "--update")
    assert refused.returncode and "Could not find a running job" in refused.stderr


def poll_states(cloud, job_id: str, times: int) -> list[str]:
    return [
        cloud.gcloud(
            "dataflow", "jobs", "describe", job_id, f"--project={PROJECT}",
            f"--region={REGION}", "--format=value(currentState)",
        ).stdout.strip()
        for _ in range(times)
    ]  # fmt: skip


def test_drain_moves_a_running_job_through_draining_to_drained(cloud):
    job = cloud.google.dataflow.add_job(PROJECT, REGION, "customers")
    drained = cloud.gcloud("dataflow", "jobs", "drain", job["id"], f"--region={REGION}",
                           f"--project={PROJECT}")  # fmt: skip
    assert drained.returncode == 0, drained.stderr
    (put,) = [r for r in cloud.google.dataflow.records if r.request.method == "PUT"]
    assert json.loads(put.request.body)["requestedState"] == "JOB_STATE_DRAINED"
    assert poll_states(cloud, job["id"], 3) == [
        "JOB_STATE_DRAINING",
        "JOB_STATE_DRAINED",
        "JOB_STATE_DRAINED",
    ]


def test_cancel_moves_a_running_job_through_cancelling_to_cancelled(cloud):
    job = cloud.google.dataflow.add_job(PROJECT, REGION, "customers")
    cancelled = cloud.gcloud("dataflow", "jobs", "cancel", job["id"], f"--region={REGION}",
                             f"--project={PROJECT}")  # fmt: skip
    assert cancelled.returncode == 0, cancelled.stderr
    assert poll_states(cloud, job["id"], 2) == ["JOB_STATE_CANCELLING", "JOB_STATE_CANCELLED"]


def test_draining_a_drained_job_is_refused(cloud):
    job = cloud.google.dataflow.add_job(PROJECT, REGION, "customers", "JOB_STATE_DRAINED")
    cloud.gcloud("dataflow", "jobs", "drain", job["id"], f"--region={REGION}",
                 f"--project={PROJECT}")  # fmt: skip
    (refusal,) = cloud.google.refusals()
    assert refusal.status == 412


def test_a_request_to_an_api_no_fake_serves_is_caught(cloud):
    cloud.gcloud("pubsub", "topics", "list", f"--project={PROJECT}")
    caught = {record.request.path for record in cloud.google.unfaked()}
    assert caught == {f"/v1/projects/{PROJECT}/topics"}
    cloud.google.trap.records.clear()  # this test's one expected stray request
