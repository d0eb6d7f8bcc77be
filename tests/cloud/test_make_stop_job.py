"""`make stop-job` as typed, the real gcloud against the Dataflow fake.

The fake moves a job through the states Dataflow reports (RUNNING -> DRAINING -> DRAINED after a
drain, CANCELLING -> CANCELLED after a cancel; https://cloud.google.com/dataflow/docs/reference/rest/v1b3/projects.jobs#jobstate)
one step per read, so the wait loop has to poll until the job has stopped.
"""

from __future__ import annotations

from tests.cloud.cloud_support import PROJECT, REGION

FAST = {"STOP_POLL": "0.1"}


def requested(cloud) -> dict[str, str]:
    """requestedState of every job update gcloud sent, by job id."""
    return {
        r.request.path.rsplit("/", 1)[1]: r.request.json()["requestedState"]
        for r in cloud.google.dataflow.records
        if r.request.method == "PUT"
    }


def test_stop_job_drains_our_running_job_until_drained_and_leaves_others(cloud):
    ours = cloud.google.dataflow.add_job(PROJECT, REGION, "customers-20261206-101010")
    other = cloud.google.dataflow.add_job(PROJECT, REGION, "someone-elses-job")
    stopped = cloud.run(f"make stop-job PROJECT={PROJECT}", **FAST)
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr + cloud.refusals()
    out = stopped.stdout
    assert f"active: {ours['id']} customers-20261206-101010 Running" in out
    assert f"not ours, left running: {other['id']} someone-elses-job Running" in out
    assert out.index(": JOB_STATE_DRAINING") < out.index(": JOB_STATE_DRAINED")
    assert f"{ours['id']} customers-20261206-101010: was Running, drain -> JOB_STATE_DRAINED" in out
    assert requested(cloud) == {ours["id"]: "JOB_STATE_DRAINED"}
    assert cloud.google.dataflow.jobs[other["id"]].state == "JOB_STATE_RUNNING"
    assert not cloud.google.refusals(), cloud.refusals()


def test_force_cancels_and_says_what_is_lost(cloud):
    ours = cloud.google.dataflow.add_job(PROJECT, REGION, "customers")
    stopped = cloud.run(f"make stop-job PROJECT={PROJECT} FORCE=1", **FAST)
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr + cloud.refusals()
    assert "read but not yet written to BigQuery are LOST" in stopped.stdout
    assert "was Running, cancel -> JOB_STATE_CANCELLED" in stopped.stdout
    assert requested(cloud) == {ours["id"]: "JOB_STATE_CANCELLED"}


def test_a_job_not_started_is_cancelled_and_one_draining_is_waited_for(cloud):
    pending = cloud.google.dataflow.add_job(PROJECT, REGION, "customers-1", "JOB_STATE_PENDING")
    draining = cloud.google.dataflow.add_job(PROJECT, REGION, "customer-stream")
    cloud.google.dataflow.jobs[draining["id"]].resource["currentState"] = "JOB_STATE_DRAINING"
    cloud.google.dataflow.jobs[draining["id"]].pending = ["JOB_STATE_DRAINING", "JOB_STATE_DRAINED"]
    stopped = cloud.run(f"make stop-job PROJECT={PROJECT}", **FAST)
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr + cloud.refusals()
    assert "it has read nothing, cancelling loses nothing" in stopped.stdout
    assert "was Draining, waited -> JOB_STATE_DRAINED" in stopped.stdout
    # Dataflow drains only a running job: the pending one is cancelled, the draining one left be.
    assert requested(cloud) == {pending["id"]: "JOB_STATE_CANCELLED"}
    assert not cloud.google.refusals(), cloud.refusals()


def test_nothing_running_is_said_and_is_no_error(cloud):
    done = cloud.google.dataflow.add_job(PROJECT, REGION, "customers-1", "JOB_STATE_DRAINED")
    stopped = cloud.run(f"make stop-job PROJECT={PROJECT}", **FAST)
    assert stopped.returncode == 0, stopped.stderr
    assert "nothing to stop" in stopped.stdout
    assert not requested(cloud) and done["id"] not in stopped.stdout


def test_a_drain_longer_than_stop_timeout_fails_and_says_how_to_go_on(cloud):
    job = cloud.google.dataflow.add_job(PROJECT, REGION, "customers-1")
    cloud.google.dataflow.jobs[job["id"]].resource["currentState"] = "JOB_STATE_DRAINING"
    stopped = cloud.run(f"make stop-job PROJECT={PROJECT} STOP_TIMEOUT=1", **FAST)
    assert stopped.returncode != 0
    assert "still JOB_STATE_DRAINING after STOP_TIMEOUT=1 s" in stopped.stderr
    assert "run make stop-job again" in stopped.stderr


def test_stop_job_without_project_says_how_to_call_it(cloud):
    stopped = cloud.run("make stop-job")
    assert stopped.returncode != 0
    assert "PROJECT is not set: run `make stop-job PROJECT=<project id>`" in stopped.stderr
    assert not cloud.google.records
