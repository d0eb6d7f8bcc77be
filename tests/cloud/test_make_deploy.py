"""`make deploy` as typed, the real gcloud against the Dataflow fake: start, update, replace,
rollback.

The job has one name (`customers`); a second `make deploy` updates it in place with
`gcloud dataflow flex-template run --update` ("Launch a replacement job",
https://cloud.google.com/dataflow/docs/guides/updating-a-pipeline: the replacement has the
running job's name, LaunchFlexTemplateParameter.update and .transformNameMappings,
https://cloud.google.com/dataflow/docs/reference/rest/v1b3/projects.locations.flexTemplates/launch),
or, with STRATEGY=replace, drains it (requestedState JOB_STATE_DRAINED, RUNNING -> DRAINING ->
DRAINED) before it starts the new one ("Upgrade a streaming pipeline", drain then launch:
https://cloud.google.com/dataflow/docs/guides/upgrade-guide). Each build's update contract is
the one `make template` (scripts/flex-template.sh) writes beside its spec; a test that needs a
build whose graph differs writes that build's contract over it.
"""

from __future__ import annotations

import json

from tests.cloud.cloud_support import PROJECT, terraform_outputs
from tests.gcp_fakes.dataflow import ACTIVE
from tests.support import ROOT

OUT = terraform_outputs()
A, B, C = ("a" * 40, "b" * 40, "c" * 40)  # three builds (full commit SHAs)
FAST = {"STOP_POLL": "0.1"}
CONTRACT = json.loads((ROOT / "pipeline" / "update_contract.json").read_text())
RENAMED = {"ToCustomerRows/Parse": "ToCustomerRows/ParseCustomers"}
DEDUPE = "ToCustomerRows/Deduplicate/DropRepeats"


def built(cloud, tag: str, contract: dict | None = None, mappings: dict | None = None) -> None:
    """`make template TAG=tag` (spec and this tree's contract); then `contract`, if given, as
    that build's, with `mappings` as its update_mappings.json."""
    made = cloud.run(f"make template PROJECT={PROJECT} TAG={tag}")
    assert made.returncode == 0, made.stdout + made.stderr + cloud.refusals()
    if contract is not None:
        folder = f"templates/customers-{tag}.update"
        for name, value in (("update_contract", contract), ("update_mappings", mappings)):
            data = json.dumps(value).encode()
            cloud.google.storage.put(OUT["bucket"], f"{folder}/{name}.json", data, "text/json")


def renamed_build(cloud, tag: str) -> None:
    """A build whose graph renamed ToCustomerRows/Parse, with the mapping recorded."""
    contract = json.loads(json.dumps(CONTRACT).replace(*next(iter(RENAMED.items()))))
    record = {"from": CONTRACT, "strategy": "update", "transform_name_mappings": RENAMED, "why": ""}
    built(cloud, tag, contract, record)


def incompatible_build(cloud, tag: str) -> None:
    """A build whose dedupe state changed its coder: no update can carry the state over."""
    contract = json.loads(json.dumps(CONTRACT))
    contract["stateful_steps"][DEDUPE]["state"]["seen"] = "bag_spec beam:coder:varint:v1"
    record = {"from": CONTRACT, "strategy": "replace", "transform_name_mappings": {}, "why": "x"}
    built(cloud, tag, contract, record)


def deploy(cloud, tag: str, extra: str = ""):
    return cloud.run(f"make deploy PROJECT={PROJECT} TAG={tag} {extra}".strip(), **FAST)


def deployed(cloud, tag: str, extra: str = ""):
    done = deploy(cloud, tag, extra)
    assert done.returncode == 0, done.stdout + done.stderr + cloud.refusals()
    return done


def launches(cloud) -> list[dict]:
    """The launchParameter of every flex-template launch gcloud sent, in order."""
    return [
        r.request.json()["launchParameter"]
        for r in cloud.google.dataflow.records
        if r.request.path.endswith("/flexTemplates:launch")
    ]


def drains(cloud) -> list[str]:
    return [
        r.request.json()["requestedState"]
        for r in cloud.google.dataflow.records
        if r.request.method == "PUT"
    ]


def active(cloud) -> list[dict]:
    return [j.resource for j in cloud.google.dataflow.jobs.values() if j.state in ACTIVE]


def test_the_first_deploy_starts_the_job_labelled_with_its_build(cloud):
    cloud.provision()
    built(cloud, A)
    done = deployed(cloud, A)
    (job,) = active(cloud)
    assert (job["name"], job["labels"], job["currentState"]) == (
        "customers",
        {"commit": A},
        "JOB_STATE_RUNNING",
    )
    (launch,) = launches(cloud)
    assert "update" not in launch
    assert f"==> started: customers is job {job['id']}" in done.stdout
    assert f"==> customers ({job['id']}) is running build {A}" in done.stdout
    assert not cloud.google.refusals(), cloud.refusals()


def test_a_second_deploy_updates_the_job_in_place_with_the_mappings(cloud):
    cloud.provision()
    built(cloud, A)
    deployed(cloud, A)
    (first,) = active(cloud)
    renamed_build(cloud, B)
    done = deployed(cloud, B)
    _, update = launches(cloud)
    assert update["update"] is True and update["jobName"] == "customers"
    assert update["transformNameMappings"] == RENAMED
    (job,) = active(cloud)
    assert job["labels"] == {"commit": B} and job["replaceJobId"] == first["id"]
    assert cloud.google.dataflow.jobs[first["id"]].state == "JOB_STATE_UPDATED"
    assert f"replaced job {first['id']}: JOB_STATE_UPDATED" in done.stdout
    assert not drains(cloud)
    assert not cloud.google.refusals(), cloud.refusals()


def test_an_update_without_a_renamed_step_sends_no_mappings_and_the_same_build_is_a_no_op(cloud):
    cloud.provision()
    built(cloud, A)
    built(cloud, B)
    deployed(cloud, A)
    deployed(cloud, B)
    again = deployed(cloud, B)
    assert "runs build " + B + " already: nothing to do" in again.stdout
    _, update = launches(cloud)
    assert update["update"] is True and not update.get("transformNameMappings")
    assert len(active(cloud)) == 1


def test_rollback_is_make_deploy_of_the_older_build_with_the_mappings_reversed(cloud):
    cloud.provision()
    built(cloud, A)
    renamed_build(cloud, B)
    deployed(cloud, A)
    deployed(cloud, B)
    deployed(cloud, A)
    *_, rollback = launches(cloud)
    assert rollback["update"] is True
    assert rollback["transformNameMappings"] == {new: old for old, new in RENAMED.items()}
    (job,) = active(cloud)
    assert job["labels"] == {"commit": A}
    assert job["parameters"]["sdk_container_image"] == f"{OUT['pipeline_image']}:{A}"
    assert not cloud.google.refusals(), cloud.refusals()


def test_an_update_the_contracts_refuse_changes_nothing_and_says_replace(cloud):
    cloud.provision()
    built(cloud, A)
    incompatible_build(cloud, C)
    deployed(cloud, A)
    (job,) = active(cloud)
    refused = deploy(cloud, C)
    assert refused.returncode != 0, refused.stdout + refused.stderr
    assert f"build {C} cannot update customers in place" in refused.stderr
    assert DEDUPE in refused.stderr and "STRATEGY=replace" in refused.stderr
    assert len(launches(cloud)) == 1 and not drains(cloud)
    assert active(cloud) == [job] and job["currentState"] == "JOB_STATE_RUNNING"


def test_replace_drains_the_running_job_until_drained_then_starts_the_new_one(cloud):
    cloud.provision()
    built(cloud, A)
    incompatible_build(cloud, C)
    deployed(cloud, A)
    (old,) = active(cloud)
    done = deployed(cloud, C, "STRATEGY=replace")
    assert drains(cloud) == ["JOB_STATE_DRAINED"]
    out = done.stdout
    assert out.index(": JOB_STATE_DRAINING") < out.index(": JOB_STATE_DRAINED")
    assert out.index(": JOB_STATE_DRAINED") < out.index("==> replaced: customers is job")
    # The new job was launched only after the drain was asked for and seen to end.
    records = cloud.google.dataflow.records
    drain = next(i for i, r in enumerate(records) if r.request.method == "PUT")
    starts = [i for i, r in enumerate(records) if r.request.path.endswith("/flexTemplates:launch")]
    assert starts[0] < drain < starts[1]
    _, replacement = launches(cloud)
    assert "update" not in replacement
    assert cloud.google.dataflow.jobs[old["id"]].state == "JOB_STATE_DRAINED"
    (job,) = active(cloud)
    assert job["labels"] == {"commit": C} and job["currentState"] == "JOB_STATE_RUNNING"
    assert not cloud.google.refusals(), cloud.refusals()


def test_a_job_of_an_older_name_on_the_subscription_is_drained_only_by_replace(cloud):
    """A `customers-<time>` job of an older make deploy reads the same subscription and cannot be
    updated under the name `customers`: starting `customers` next to it is refused."""
    cloud.provision()
    built(cloud, A)
    legacy = cloud.google.dataflow.add_job(PROJECT, "europe-west1", "customers-20261206-101010")
    refused = deploy(cloud, A)
    assert refused.returncode != 0
    assert "customers-20261206-101010 reads" in refused.stderr
    assert not launches(cloud)
    deployed(cloud, A, "STRATEGY=replace")
    assert cloud.google.dataflow.jobs[legacy["id"]].state == "JOB_STATE_DRAINED"
    assert [job["name"] for job in active(cloud)] == ["customers"]


def test_deploy_refuses_an_unknown_strategy(cloud):
    cloud.provision()
    built(cloud, A)
    refused = deploy(cloud, A, "STRATEGY=blue-green")
    assert refused.returncode != 0
    assert "STRATEGY=blue-green: it is update (the default) or replace" in refused.stderr
    assert not launches(cloud)


def test_replace_starts_nothing_while_the_old_job_has_not_drained(cloud):
    """A drain longer than STOP_TIMEOUT: the old job still reads the subscription, so the new one
    is not started (two jobs would split it, each with its own dedupe state)."""
    cloud.provision()
    built(cloud, A)
    incompatible_build(cloud, C)
    deployed(cloud, A)
    (old,) = active(cloud)
    stuck = deploy(cloud, C, "STRATEGY=replace STOP_TIMEOUT=0")
    assert stuck.returncode != 0, stuck.stdout + stuck.stderr
    assert "has not drained" in stuck.stderr and "customers was not started" in stuck.stderr
    assert drains(cloud) == ["JOB_STATE_DRAINED"] and len(launches(cloud)) == 1
    assert [job["id"] for job in active(cloud)] == [old["id"]]
    # Run again, as the message says, once the old job has drained: the new job starts.
    deployed(cloud, C, "STRATEGY=replace")
    assert cloud.google.dataflow.jobs[old["id"]].state == "JOB_STATE_DRAINED"
    (job,) = active(cloud)
    assert job["labels"] == {"commit": C}
