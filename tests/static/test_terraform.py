"""terraform/: formatting, checkov, and the structure that makes it least-privilege and correct.

`terraform validate` needs the Google provider from the registry (not reachable here), so the
HCL is parsed with python-hcl2 and checked for what matters: resources, IAM, schema wiring.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import hcl2
import pytest

pytestmark = pytest.mark.static

ROOT = Path(__file__).resolve().parents[2]
TERRAFORM = ROOT / "terraform"
CHECKOV = ROOT / ".tools" / "checkov" / "bin" / "checkov"
PRIMITIVE_ROLES = {"roles/owner", "roles/editor", "roles/viewer"}
# The only roles a project-level binding may grant: Google offers no narrower scope for them.
PROJECT_ROLES = {"roles/dataflow.worker", "roles/logging.logWriter"}


def unquote(value):
    """python-hcl2 keeps HCL's quotes on keys and literals: drop them, recursively."""
    if isinstance(value, str):
        return value[1:-1] if len(value) >= 2 and value[0] == value[-1] == '"' else value
    if isinstance(value, list):
        return [unquote(v) for v in value]
    if isinstance(value, dict):
        return {unquote(k): unquote(v) for k, v in value.items() if not k.startswith("__")}
    return value


@pytest.fixture(scope="module")
def hcl() -> dict:
    """Every .tf file merged: {"resource": {type: {name: body}}, "variable": {...}, ...}."""
    merged: dict = {}
    for path in sorted(TERRAFORM.glob("*.tf")):
        with path.open() as handle:
            parsed = unquote(hcl2.load(handle))
        for kind, blocks in parsed.items():
            for block in blocks:
                if kind in ("resource", "data"):
                    for rtype, named in block.items():
                        merged.setdefault(kind, {}).setdefault(rtype, {}).update(named)
                else:
                    merged.setdefault(kind, {}).update(block)
    return merged


def resources(hcl: dict, rtype: str) -> dict:
    return hcl["resource"].get(rtype, {})


def terraform_binary() -> str:
    binary = shutil.which("terraform")
    if not binary:
        pytest.fail("terraform is not installed: https://developer.hashicorp.com/terraform/install")
    return binary


def test_fmt():
    result = subprocess.run(
        [terraform_binary(), "fmt", "-check", "-recursive", "-diff", str(TERRAFORM)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, f"run `terraform fmt -recursive terraform/`:\n{result.stdout}"


def test_checkov():
    if not CHECKOV.exists():
        pytest.fail("checkov is not installed: run `make tools` (scripts/tools.sh)")
    result = subprocess.run(
        [str(CHECKOV), "-d", str(TERRAFORM), "--framework", "terraform", "--skip-download",
         "--quiet", "--compact"],
        capture_output=True, text=True, check=False, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]


def test_every_checkov_skip_is_justified():
    skips = [
        match
        for path in TERRAFORM.glob("*.tf")
        for match in re.finditer(r"#\s*checkov:skip=([A-Z0-9_]+)(?::(.*))?", path.read_text())
    ]
    assert skips, "expected the documented CMEK/access-log skips"
    for match in skips:
        assert match.group(2) and len(match.group(2).strip()) > 20, f"{match.group(1)}: no reason"


def test_required_apis(hcl):
    services = hcl["locals"]["services"]
    services = services if isinstance(services, list) else re.findall(r'"([a-z.]+)"', services)
    for api in ("dataflow", "pubsub", "bigquery", "artifactregistry", "cloudbuild", "storage"):
        assert f"{api}.googleapis.com" in services


def test_bucket_is_private_with_temp_lifecycle(hcl):
    (bucket,) = resources(hcl, "google_storage_bucket").values()
    assert bucket["uniform_bucket_level_access"] is True
    assert bucket["public_access_prevention"] == "enforced"
    prefixes = [
        prefix
        for rule in bucket["lifecycle_rule"]
        for condition in rule["condition"]
        for prefix in condition.get("matches_prefix", [])
    ]
    assert "temp/" in prefixes and "staging/" in prefixes


def test_subscription_has_dead_letter_topic_that_is_kept(hcl):
    subscriptions = resources(hcl, "google_pubsub_subscription")
    main = subscriptions["dataflow"]
    assert main["ack_deadline_seconds"] == "${var.ack_deadline_seconds}"
    assert main["message_retention_duration"] == "${var.message_retention_duration}"
    (policy,) = main["dead_letter_policy"]
    assert policy["dead_letter_topic"] == "${google_pubsub_topic.dead_letter.id}"
    # A topic without a subscription drops messages: the dead letters need one.
    assert any(
        s["topic"] == "${google_pubsub_topic.dead_letter.id}" for s in subscriptions.values()
    )
    # Pub/Sub's service agent may publish dead letters and ack the originals.
    agent = resources(hcl, "google_pubsub_topic_iam_member")["agent_dead_letter_publisher"]
    assert agent["topic"] == "${google_pubsub_topic.dead_letter.id}"


def test_tables_come_from_the_schema_files(hcl):
    files = hcl["locals"]["table_files"]
    for table in ("customers", "customers_dlq", "customers_dlq_replays"):
        path = (TERRAFORM / files[table].replace("${path.module}", ".")).resolve()
        assert path == ROOT / "pipeline" / "schemas" / f"{table}.json"
    assert "jsondecode(file(" in hcl["locals"]["tables"]
    (table,) = resources(hcl, "google_bigquery_table").values()
    assert table["for_each"] == "${local.tables}"
    assert table["schema"] == "${jsonencode(each.value.schema.fields)}"
    assert "each.value.clustering" in table["clustering"]
    assert "timePartitioning" in str(table["dynamic"])
    # No column is re-typed in HCL.
    for path in TERRAFORM.glob("*.tf"):
        assert '"customer_id"' not in path.read_text()


def iam_bindings(hcl: dict) -> list[tuple[str, str, dict]]:
    return [
        (rtype, name, body)
        for rtype, named in hcl["resource"].items()
        if rtype.endswith(("_iam_member", "_iam_binding", "_iam_policy"))
        for name, body in named.items()
    ]


def test_no_primitive_or_broad_project_roles(hcl):
    bindings = iam_bindings(hcl)
    assert bindings
    for rtype, name, body in bindings:
        assert rtype.endswith("_iam_member"), f"{rtype}.{name}: additive members only"
        assert body["role"] not in PRIMITIVE_ROLES, f"{rtype}.{name}: primitive role"
        if rtype == "google_project_iam_member":
            assert body["role"] in PROJECT_ROLES, f"{name}: {body['role']} granted project-wide"


def members_roles(hcl: dict, account: str) -> set[tuple[str, str]]:
    """(resource type, role) of every binding of service account `account`."""
    member = f"${{google_service_account.{account}.member}}"
    return {
        (rtype, body["role"]) for rtype, _, body in iam_bindings(hcl) if body["member"] == member
    }


def test_producer_may_only_publish_to_its_topic(hcl):
    assert members_roles(hcl, "producer") == {
        ("google_pubsub_topic_iam_member", "roles/pubsub.publisher")
    }
    binding = resources(hcl, "google_pubsub_topic_iam_member")["producer_publisher"]
    assert binding["topic"] == "${google_pubsub_topic.customers.id}"


def test_dataflow_worker_roles(hcl):
    assert members_roles(hcl, "dataflow") == {
        ("google_project_iam_member", "roles/dataflow.worker"),
        ("google_pubsub_subscription_iam_member", "roles/pubsub.subscriber"),
        ("google_pubsub_subscription_iam_member", "roles/pubsub.viewer"),
        ("google_bigquery_dataset_iam_member", "roles/bigquery.dataEditor"),
        ("google_storage_bucket_iam_member", "roles/storage.objectAdmin"),
        ("google_storage_bucket_iam_member", "roles/storage.legacyBucketReader"),
        ("google_artifact_registry_repository_iam_member", "roles/artifactregistry.reader"),
    }


def test_cloudbuild_roles(hcl):
    assert members_roles(hcl, "cloudbuild") == {
        ("google_artifact_registry_repository_iam_member", "roles/artifactregistry.writer"),
        ("google_storage_bucket_iam_member", "roles/storage.objectAdmin"),
        ("google_storage_bucket_iam_member", "roles/storage.legacyBucketReader"),
        ("google_project_iam_member", "roles/logging.logWriter"),
    }
    (trigger,) = resources(hcl, "google_cloudbuild_trigger").values()
    assert trigger["filename"] == "cloudbuild.yaml"
    assert trigger["service_account"] == "${google_service_account.cloudbuild.id}"
    assert set(trigger["substitutions"]) == {"_REGION", "_REPOSITORY", "_BUCKET"}


def test_flex_template_job_is_optional_and_wired(hcl):
    (job,) = resources(hcl, "google_dataflow_flex_template_job").values()
    assert job["count"] == "${var.deploy_job ? 1 : 0}"
    assert job["service_account_email"] == "${google_service_account.dataflow.email}"
    assert job["parameters"]["input_subscription"] == "${google_pubsub_subscription.dataflow.id}"
    assert job["on_delete"] == "drain"


def test_variables_are_documented_and_outputs_cover_the_makefile(hcl):
    for name, variable in hcl["variable"].items():
        assert variable.get("description"), f"variable {name} has no description"
    for name in ("project_id", "region"):
        assert hcl["variable"][name].get("validation"), f"variable {name} is not validated"
    makefile = (ROOT / "Makefile").read_text()
    used = set(re.findall(r"\$\(call out,([a-z_]+)\)", makefile))
    assert used, "the Makefile reads no Terraform output"
    assert used <= set(hcl["output"]), f"outputs missing: {used - set(hcl['output'])}"
    for name, output in hcl["output"].items():
        assert output.get("description"), f"output {name} has no description"
