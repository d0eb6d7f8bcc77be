"""terraform/: formatting, checkov, and the structure that makes it least-privilege and correct.

`terraform validate` needs the Google provider from the registry (not reachable here), so the
HCL is parsed with python-hcl2 and checked for what matters: resources, IAM, schema wiring.
"""

from __future__ import annotations

import re
import shutil

import pytest
import yaml
from terraform_files import TERRAFORM, merged

from tests.support import ROOT, run

CHECKOV = ROOT / ".tools" / "checkov" / "bin" / "checkov"
PRIMITIVE_ROLES = {"roles/owner", "roles/editor", "roles/viewer"}
# The only roles a project-level binding may grant: Google offers no narrower scope for them.
PROJECT_ROLES = {
    "roles/dataflow.worker",
    "roles/logging.logWriter",
    "roles/dataflow.serviceAgent",
    "roles/cloudbuild.serviceAgent",
    "roles/bigquerydatatransfer.serviceAgent",
    "roles/bigquery.jobUser",  # the erasure scheduled query's jobs: jobs exist per project
    "roles/dataflow.developer",  # continuous delivery only (test_continuous_delivery_iam_...)
}
# What the build account gets only when continuous delivery is on (terraform/iam.tf).
DELIVERY_ROLES = {
    ("google_project_iam_member", "roles/dataflow.developer"),
    ("google_service_account_iam_member", "roles/iam.serviceAccountUser"),
}
DELIVERY_COUNT = '${var.continuous_delivery == "off" ? 0 : 1}'


@pytest.fixture(scope="module")
def hcl() -> dict:
    """Every .tf file merged: {"resource": {type: {name: body}}, "variable": {...}, ...}."""
    return merged()


def resources(hcl: dict, rtype: str) -> dict:
    return hcl["resource"].get(rtype, {})


def terraform_binary() -> str:
    binary = shutil.which("terraform")
    if not binary:
        pytest.fail("terraform is not installed: https://developer.hashicorp.com/terraform/install")
    return binary


def test_fmt():
    result = run(terraform_binary(), "fmt", "-check", "-recursive", "-diff", str(TERRAFORM))
    assert result.returncode == 0, f"run `terraform fmt -recursive terraform/`:\n{result.stdout}"


def test_checkov():
    if not CHECKOV.exists():
        pytest.fail("checkov is not installed: run `make tools` (scripts/tools.sh)")
    result = run(
        str(CHECKOV), "-d", str(TERRAFORM), "--framework", "terraform", "--skip-download",
        "--quiet", "--compact", timeout=600,
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
    assert "temp/" in prefixes
    # Every worker a streaming job starts reads the launcher's staged files, however old the job:
    # ageing staging/ out would break a long-running job (the race with lifecycle deletion that
    # apache/beam#41258 works around by re-staging old files).
    assert not any(prefix.startswith("staging") for prefix in prefixes)


def subscriptions_read_by_dataflow(hcl: dict) -> dict:
    """Every subscription the job reads: its parameter, what `make deploy` passes, its grants."""
    subscriptions = resources(hcl, "google_pubsub_subscription")
    read = {
        hcl["output"]["subscription"]["value"],  # make deploy's input_subscription
        *(job["parameters"]["input_subscription"]
          for job in resources(hcl, "google_dataflow_flex_template_job").values()),
        *(grant["subscription"]
          for grant in resources(hcl, "google_pubsub_subscription_iam_member").values()
          if grant["member"] == "${google_service_account.dataflow.member}"),
    }  # fmt: skip
    names = {
        re.fullmatch(r"\$\{google_pubsub_subscription\.(\w+)\.id\}", ref).group(1) for ref in read
    }
    return {name: subscriptions[name] for name in names}


def test_dataflow_subscription_has_no_pubsub_dead_letter_or_retry_policy(hcl):
    """Pub/Sub's "Handling message failures" page: dead-letter topics and retry policies "are not
    supported by Dataflow" (https://cloud.google.com/pubsub/docs/handling-failures). Dataflow acks
    a message once its first fused stage has committed it, so Pub/Sub never counts a failed
    delivery; a dead-letter topic would only hold what nothing reads. customers_dlq is the one
    dead-letter path."""
    read = subscriptions_read_by_dataflow(hcl)
    assert read, "no subscription is read by the Dataflow job"
    for name, subscription in read.items():
        for unsupported in ("dead_letter_policy", "retry_policy"):
            assert unsupported not in subscription, (
                f"{name}: {unsupported} (unsupported on Dataflow)"
            )
    text = "\n".join(path.read_text() for path in TERRAFORM.glob("*.tf"))
    for leftover in ("max_delivery_attempts", "gcp-sa-pubsub", "google_pubsub_topic.dead_letter"):
        assert leftover not in text, f"{leftover}: only served the Pub/Sub dead-letter topic"


def test_subscription_keeps_what_the_readme_promises(hcl):
    """terraform/README.md's Pub/Sub promises, each true on Dataflow: messages wait 7 days while
    no job runs, the subscription never expires, and the ack deadline is only the initial one
    (Dataflow keeps extending it while it processes a message:
    https://cloud.google.com/dataflow/docs/concepts/streaming-with-cloud-pubsub)."""
    (subscription,) = subscriptions_read_by_dataflow(hcl).values()
    assert subscription["message_retention_duration"] == "${var.message_retention_duration}"
    assert hcl["variable"]["message_retention_duration"]["default"] == "604800s"  # 7 days
    assert subscription["retain_acked_messages"] is False
    (expiration,) = subscription["expiration_policy"]
    assert expiration["ttl"] == "", "an empty ttl is Pub/Sub's 'never expire'"
    assert subscription["ack_deadline_seconds"] == "${var.ack_deadline_seconds}"
    assert hcl["variable"]["ack_deadline_seconds"]["default"] == 60
    deploy = (ROOT / "terraform" / "README.md").read_text()
    for promise in ("7 days", "never expires", "no dead-letter", "60 s ack deadline"):
        assert promise in deploy, f"terraform/README.md no longer says {promise!r}"


def test_tables_come_from_the_schema_files(hcl):
    files = hcl["locals"]["table_files"]
    for table in ("customers", "customers_dlq", "customers_dlq_replays", "erasure_requests"):
        path = (TERRAFORM / files[table].replace("${path.module}", ".")).resolve()
        assert path == ROOT / "pipeline" / "schemas" / f"{table}.json"
    assert "jsondecode(file(" in hcl["locals"]["tables"]
    table = resources(hcl, "google_bigquery_table")["tables"]
    assert table["for_each"] == "${local.tables}"
    # The schema files' columns, the personal ones policy-tagged (test_terraform_privacy.py).
    assert table["schema"] == "${module.personal_data.schemas[each.key]}"
    assert hcl["module"]["personal_data"]["tables"] == "${local.tables}"
    assert "each.value.clustering" in table["clustering"]
    assert "timePartitioning" in str(table["dynamic"])
    # The views come from views/*.sql, the files the local stack creates them from.
    view_table = resources(hcl, "google_bigquery_table")["views"]
    assert view_table["for_each"] == "${local.views}"
    assert "/../views" in hcl["locals"]["view_files"]
    (view,) = view_table["view"]
    assert view["use_legacy_sql"] is False
    assert "{project}" in view["query"] and "{dataset}" in view["query"]
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
        ("google_storage_bucket_iam_member", "roles/storage.objectViewer"),
        ("google_storage_bucket_iam_member", "roles/storage.legacyBucketReader"),
        ("google_artifact_registry_repository_iam_member", "roles/artifactregistry.reader"),
    }
    # input_topic mode is refused on Dataflow, so the job never creates a subscription.
    for _, _, body in iam_bindings(hcl):
        assert "pubsub.editor" not in body["role"] and "pubsub.admin" not in body["role"]


def test_cloudbuild_roles(hcl):
    assert members_roles(hcl, "cloudbuild") - DELIVERY_ROLES == {
        ("google_artifact_registry_repository_iam_member", "roles/artifactregistry.writer"),
        ("google_storage_bucket_iam_member", "roles/storage.objectAdmin"),
        ("google_storage_bucket_iam_member", "roles/storage.objectViewer"),
        ("google_storage_bucket_iam_member", "roles/storage.legacyBucketReader"),
        ("google_project_iam_member", "roles/logging.logWriter"),
    }
    (trigger,) = resources(hcl, "google_cloudbuild_trigger").values()
    assert trigger["filename"] == "cloudbuild.yaml"
    assert trigger["service_account"] == "${google_service_account.cloudbuild.id}"
    build = yaml.safe_load((ROOT / "cloudbuild.yaml").read_text())
    assert set(trigger["substitutions"]) == set(build["substitutions"]), "the trigger sets each"


def test_continuous_delivery_is_off_by_default_and_grants_nothing_then(hcl):
    variable = hcl["variable"]["continuous_delivery"]
    assert variable["default"] == "off" and variable.get("validation")
    (trigger,) = resources(hcl, "google_cloudbuild_trigger").values()
    assert trigger["substitutions"]["_DEPLOY"] == "${var.continuous_delivery}"
    delivery = [
        (rtype, name, body)
        for rtype, name, body in iam_bindings(hcl)
        if (rtype, body["role"]) in DELIVERY_ROLES
    ]
    # No other binding of these roles, and each of these exists only when delivery is on.
    assert {(rtype, body["role"]) for rtype, _, body in delivery} == DELIVERY_ROLES
    for rtype, name, body in delivery:
        assert body.get("count") == DELIVERY_COUNT, f"{rtype}.{name} exists with delivery off"
    for rtype, name, body in iam_bindings(hcl):
        if (rtype, body["role"]) not in DELIVERY_ROLES:
            assert "continuous_delivery" not in str(body.get("count", "")), f"{rtype}.{name}"


def test_continuous_delivery_grants_the_build_account_exactly_developer_and_act_as(hcl):
    """On, the build account may launch, update and drain jobs and run them as the worker
    account: roles/dataflow.developer on the project, roles/iam.serviceAccountUser on the worker
    account only (never project-wide: that would let it act as every account)."""
    build = "${google_service_account.cloudbuild.member}"
    on = {
        (rtype, body["role"])
        for rtype, _, body in iam_bindings(hcl)
        if body["member"] == build and body.get("count") == DELIVERY_COUNT
    }
    assert on == DELIVERY_ROLES
    act_as = resources(hcl, "google_service_account_iam_member")["cloudbuild_acts_as_dataflow"]
    assert act_as["service_account_id"] == "${google_service_account.dataflow.name}"
    for body in resources(hcl, "google_project_iam_member").values():
        assert body["role"] != "roles/iam.serviceAccountUser"


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


# ---------------------------------------------------------------- bucket prefixes
# Roles that let a principal create, overwrite or delete objects.
OBJECT_WRITE_ROLES = {
    "roles/storage.admin",
    "roles/storage.objectAdmin",
    "roles/storage.objectCreator",
    "roles/storage.objectUser",
    "roles/storage.legacyBucketOwner",
    "roles/storage.legacyBucketWriter",
}
OBJECTS = "projects/_/buckets/${google_storage_bucket.dataflow.name}/objects"


def prefixes_of(binding: dict) -> set[str]:
    """The object prefixes an IAM Condition allows: startsWith(".../objects/PREFIX") terms only.

    Cloud Storage names an object projects/_/buckets/BUCKET/objects/OBJECT in IAM Conditions
    (https://cloud.google.com/iam/docs/conditions-resource-attributes); anything but an OR of
    such prefixes is refused here, so the prefixes below are all a condition can allow."""
    (condition,) = binding["condition"]
    expression = condition["expression"].replace('\\"', '"')
    terms = [term.strip() for term in expression.split("||")]
    prefixes = set()
    for term in terms:
        match = re.fullmatch(
            r'resource\.name\.startsWith\("\$\{local\.objects\}/([a-z]+/)"\)', term
        )
        assert match, f"unexpected condition term {term!r}"
        prefixes.add(match.group(1))
    return prefixes


def storage_grants(hcl: dict) -> dict[tuple[str, str], set[str]]:
    """{(member, role): object prefixes it covers ("*" = the whole bucket)} for the bucket."""
    assert hcl["locals"]["objects"] == OBJECTS
    grants: dict[tuple[str, str], set[str]] = {}
    for name, binding in resources(hcl, "google_storage_bucket_iam_member").items():
        assert binding["bucket"] == "${google_storage_bucket.dataflow.name}", name
        key = (binding["member"], binding["role"])
        prefixes = prefixes_of(binding) if "condition" in binding else {"*"}
        grants.setdefault(key, set()).update(prefixes)
    return grants


def test_each_account_writes_only_its_bucket_prefixes(hcl):
    """Workers write temp/ and staging/, the build writes templates/, nobody else writes there:
    a worker can never rewrite the template spec a deploy launches."""
    writes: dict[str, set[str]] = {}
    for (member, role), prefixes in storage_grants(hcl).items():
        if role in OBJECT_WRITE_ROLES:
            assert "*" not in prefixes, f"{member} may write the whole bucket ({role})"
            writes.setdefault(member, set()).update(prefixes)
    assert writes == {
        "${google_service_account.dataflow.member}": {"temp/", "staging/"},
        "${google_service_account.cloudbuild.member}": {"templates/"},
    }


def test_template_specs_are_readable_by_the_launch(hcl):
    """The job's account (launcher VM) and Dataflow's service agent may read templates/, and the
    build may read the source archives `make build` uploads; list/get bucket where needed."""
    grants = storage_grants(hcl)
    viewer = "roles/storage.objectViewer"
    assert grants[("${google_service_account.dataflow.member}", viewer)] == {"templates/"}
    assert grants[("${google_project_service_identity.dataflow.member}", viewer)] == {"templates/"}
    assert grants[("${google_service_account.cloudbuild.member}", viewer)] == {"source/"}
    for account in ("dataflow", "cloudbuild"):
        member = f"${{google_service_account.{account}.member}}"
        assert grants[(member, "roles/storage.legacyBucketReader")] == {"*"}
    (bucket,) = resources(hcl, "google_storage_bucket").values()
    assert bucket["uniform_bucket_level_access"] is True, "IAM Conditions need it"


# ---------------------------------------------------------------- one immutable image per job
def uses_latest(text: str) -> bool:
    """`:latest` or a "latest" value outside comments (an error message may name it)."""
    code = "\n".join(line.split("#", 1)[0] for line in text.splitlines())
    return re.search(r'(:|")latest\b', code) is not None


def test_no_mutable_image_tag_in_terraform():
    for path in TERRAFORM.glob("*.tf"):
        assert not uses_latest(path.read_text()), f"{path.name} uses the mutable tag latest"


def test_image_tag_is_a_commit_and_refuses_latest(hcl):
    variable = hcl["variable"]["image_tag"]
    assert variable["default"] == "", "no default image: the job runs only a named build"
    (validation,) = variable["validation"]
    pattern = re.search(r'regex\("(.+?)", var\.image_tag\)', validation["condition"]).group(1)
    pattern = pattern.replace("\\\\", "\\")
    for refused in ("latest", "main", "v1", "0878776"):
        assert not re.fullmatch(pattern, refused), f"image_tag accepts {refused!r}"
    assert re.fullmatch(pattern, "0878776f5020349d6014b1c415f6d8fd662286e2")


def test_job_launcher_and_workers_are_one_build(hcl):
    """The spec cloudbuild.yaml wrote for commit C names customer-pipeline:C as its launcher;
    the Terraform job reads that spec and runs customer-pipeline:C on its workers."""
    (job,) = resources(hcl, "google_dataflow_flex_template_job").values()
    assert job["sdk_container_image"] == "${local.job_image}"
    assert job["container_spec_gcs_path"] == "${local.job_template}"
    assert hcl["locals"]["job_image"] == "${local.pipeline_image}:${var.image_tag}"
    templates = hcl["locals"]["templates"]
    assert templates == "gs://${google_storage_bucket.dataflow.name}/templates"
    assert hcl["locals"]["job_template"] == "${local.templates}/customers-${var.image_tag}.json"
    build = (ROOT / "cloudbuild.yaml").read_text()
    assert "gs://${_BUCKET}/templates/customers-$COMMIT_SHA.json" in build
    assert "write_method" not in job["parameters"], "STREAMING_INSERTS, the default, only"
    assert "write_method" not in hcl["variable"]


def test_registry_cleanup_never_deletes_a_tagged_image(hcl):
    """A running job (and every worker it autoscales to) pulls customer-pipeline:<commit>: the
    cleanup may delete only UNTAGGED versions, and tags cannot move, so a job's image stays.
    DELETE applies unless a KEEP matches:
    https://cloud.google.com/artifact-registry/docs/repositories/cleanup-policy-overview"""
    (repository,) = resources(hcl, "google_artifact_registry_repository").values()
    (docker,) = repository["docker_config"]
    assert docker["immutable_tags"] is True
    assert repository["cleanup_policy_dry_run"] is False
    deletes = [p for p in repository["cleanup_policies"] if p["action"] == "DELETE"]
    assert deletes, "untagged leftovers are cleaned up"
    for policy in deletes:
        (condition,) = policy["condition"]
        assert condition.get("tag_state") == "UNTAGGED", f"{policy['id']} may delete tagged images"


# ---------------------------------------------------------------- first apply on an empty project
# The API every resource type calls. A type missing here fails the test: add its API.
TYPE_API = {
    "google_artifact_registry_": "artifactregistry.googleapis.com",
    # The first prefix that matches decides: the BigQuery services with APIs of their own first.
    "google_bigquery_datapolicy_": "bigquerydatapolicy.googleapis.com",
    "google_bigquery_data_transfer_": "bigquerydatatransfer.googleapis.com",
    "google_bigquery_": "bigquery.googleapis.com",
    "google_data_catalog_": "datacatalog.googleapis.com",
    "google_cloudbuild_": "cloudbuild.googleapis.com",
    "google_dataflow_": "dataflow.googleapis.com",
    "google_logging_": "logging.googleapis.com",
    "google_monitoring_": "monitoring.googleapis.com",
    "google_project_iam_": "cloudresourcemanager.googleapis.com",
    "google_project_service_identity": "serviceusage.googleapis.com",
    "google_pubsub_": "pubsub.googleapis.com",
    "google_service_account": "iam.googleapis.com",
    "google_storage_": "storage.googleapis.com",
}
ENABLER = "google_project_service.required"
REFERENCE = re.compile(r"\b((?:data\.)?google_[a-z0-9_]+\.[a-z0-9_-]+|local\.[a-z0-9_]+)")


def dependency_graph(hcl: dict) -> dict[str, set[str]]:
    """{node: nodes it references} for resources, data sources and locals (references and
    depends_on alike: Terraform orders on both)."""
    nodes = {
        **{f"{rtype}.{name}": body
           for rtype, named in hcl.get("resource", {}).items() for name, body in named.items()},
        **{f"data.{rtype}.{name}": body
           for rtype, named in hcl.get("data", {}).items() for name, body in named.items()},
        **{f"local.{name}": value for name, value in hcl["locals"].items()},
    }  # fmt: skip
    return {node: set(REFERENCE.findall(str(body))) - {node} for node, body in nodes.items()}


def reaches(graph: dict[str, set[str]], start: str, target: str) -> bool:
    seen, todo = set(), [start]
    while todo:
        node = todo.pop()
        if node == target:
            return True
        if node not in seen:
            seen.add(node)
            todo.extend(graph.get(node, ()))
    return False


def test_every_resource_waits_for_its_api(hcl):
    """On an empty project, a resource created before its API is enabled fails the apply: each one
    depends, directly or through what it references, on google_project_service.required, and its
    API is in that set."""
    services = set(re.findall(r'"([a-z.]+\.googleapis\.com)"', hcl["locals"]["services"]))
    graph = dependency_graph(hcl)
    checked = 0
    for node in graph:
        rtype = node.removeprefix("data.").split(".")[0]
        if node.startswith("local.") or node == ENABLER or not rtype.startswith("google_"):
            continue  # hashicorp/time's time_sleep calls no API
        apis = [api for prefix, api in TYPE_API.items() if rtype.startswith(prefix)]
        assert apis, f"{node}: which API does {rtype} call? add it to TYPE_API"
        assert apis[0] in services, f"{node}: {apis[0]} is not enabled in apis.tf"
        assert reaches(graph, node, ENABLER), f"{node} does not depend on {ENABLER}"
        checked += 1
    assert checked > 20


def test_service_agents_exist_before_they_are_granted(hcl):
    """A Google-managed service agent appears on first use of its service; a binding to one on a
    fresh project fails unless google_project_service_identity created it first."""
    identities = {
        body["service"] for body in resources(hcl, "google_project_service_identity").values()
    }
    assert identities >= {"dataflow.googleapis.com", "cloudbuild.googleapis.com"}
    assert identities <= set(re.findall(r'"([a-z.]+)"', hcl["locals"]["services"])), (
        "API not enabled"
    )
    text = "\n".join(path.read_text() for path in TERRAFORM.glob("*.tf"))
    assert "gserviceaccount.com" not in text, "a service agent's address built by hand"
    (trigger,) = resources(hcl, "google_cloudbuild_trigger").values()
    assert "${google_project_service_identity.cloudbuild}" in trigger["depends_on"]


# The role Google grants each service agent when it creates the agent itself
# (https://cloud.google.com/iam/docs/service-agents). An agent created on request
# (generateServiceIdentity, i.e. google_project_service_identity) gets no role: "you must grant the
# service agents the roles that they are typically granted automatically"
# (https://cloud.google.com/iam/docs/create-service-agents).
SERVICE_AGENT_ROLES = {
    "dataflow.googleapis.com": "roles/dataflow.serviceAgent",
    "cloudbuild.googleapis.com": "roles/cloudbuild.serviceAgent",
    "bigquerydatatransfer.googleapis.com": "roles/bigquerydatatransfer.serviceAgent",
}


def test_service_agents_created_on_request_get_their_default_role(hcl):
    granted = {
        (body["member"], body["role"])
        for body in resources(hcl, "google_project_iam_member").values()
    }
    for name, identity in resources(hcl, "google_project_service_identity").items():
        role = SERVICE_AGENT_ROLES[identity["service"]]
        member = f"${{google_project_service_identity.{name}.member}}"
        assert (member, role) in granted, f"{identity['service']}'s agent lacks {role}"
    (job,) = resources(hcl, "google_dataflow_flex_template_job").values()
    assert "${google_project_iam_member.dataflow_agent}" in job["depends_on"]
    (trigger,) = resources(hcl, "google_cloudbuild_trigger").values()
    assert "${google_project_iam_member.cloudbuild_agent}" in trigger["depends_on"]
    versions = (TERRAFORM / "versions.tf").read_text()
    assert versions.count('version = "~> 6.50"') == 2, "google and google-beta pinned alike"
