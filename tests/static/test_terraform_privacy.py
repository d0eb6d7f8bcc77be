"""terraform/privacy.tf, erasure.tf and modules/personal_data: the taxonomy, the policy tags on
exactly the personal columns, the masking rules, who may read what, retention, the erasure
schedule.

The module is pure expressions, so the real terraform evaluates it here, offline, wired as
privacy.tf wires it (terraform_data, Terraform's built-in resource, stands in for the policy
tags a real apply creates): the schemas it gives bigquery.tf are checked column by column.
"""

from __future__ import annotations

import json
import re
from functools import cache

import pytest
from terraform_files import apply_module, merged
from terraform_schema import read_package

from tests.support import (
    MASKING_RULES,
    ROOT,
    classification,
    leaf_fields,
    personal_columns,
)

SCHEMAS = ROOT / "pipeline" / "schemas"
TABLES = ("customers", "customers_dlq", "customers_dlq_replays", "erasure_requests")
DATAFLOW = "${google_service_account.dataflow.member}"
ERASURE = "${google_service_account.erasure.member}"
FINE_GRAINED_READER = "roles/datacatalog.categoryFineGrainedReader"
MASKED_READER = "roles/bigquerydatapolicy.maskedReader"


@cache
def hcl() -> dict:
    return merged()


def resources(rtype: str) -> dict:
    return hcl()["resource"].get(rtype, {})


def schema_files() -> dict:
    return {table: json.loads((SCHEMAS / f"{table}.json").read_text()) for table in TABLES}


@pytest.fixture(scope="module")
def module_outputs(tmp_path_factory) -> dict:
    code, outputs, errors = apply_module(tmp_path_factory.mktemp("personal_data"), schema_files())
    assert code == 0, errors
    return outputs


def tags_in(fields: list[dict], prefix: str = "") -> dict[str, list[str]]:
    """{column path: its policy tag names} of every column of a BigQuery JSON schema."""
    found = {}
    for field in fields:
        path = f"{prefix}{field['name']}"
        assert "policyTags" not in field or field["type"] != "RECORD", f"{path}: a tagged RECORD"
        if field["type"] == "RECORD":
            found.update(tags_in(field["fields"], f"{path}."))
        else:
            found[path] = field.get("policyTags", {}).get("names", [])
    return found


def test_policy_tags_are_on_exactly_the_personal_columns(module_outputs):
    """Each personal column carries the one policy tag of its class and masking rule (BigQuery
    allows one per column); every other column carries none; nothing else changes."""
    entries = classification()
    for table, resource in schema_files().items():
        tagged = json.loads(module_outputs["schemas"][table])
        assert leaf_fields(tagged).keys() == leaf_fields(resource["schema"]["fields"]).keys()
        for path, tags in tags_in(tagged).items():
            entry = entries[table][path]
            if path in personal_columns(table):
                key = f"{entry['class']}_{entry['masking'].lower()}"
                assert tags == [f"projects/p/locations/eu/taxonomies/1/policyTags/{key}"], path
            else:
                assert tags == [], f"{table}.{path} is not personal, yet tagged"
        assert untagged(tagged) == resource["schema"]["fields"], "only policy tags are added"


def untagged(fields: list[dict]) -> list[dict]:
    return [
        {k: untagged(v) if k == "fields" else v for k, v in field.items() if k != "policyTags"}
        for field in fields
    ]


def test_one_policy_tag_per_class_and_rule_under_one_parent_per_class(module_outputs):
    used = {
        (entry["class"], entry["masking"])
        for table in TABLES
        for entry in classification()[table].values()
        if entry.get("masking")
    }
    assert {(v["class"], v["masking"]) for v in module_outputs["masked_keys"].values()} == used
    assert set(module_outputs["classes"]) == {"direct", "quasi", "pseudonym"}
    assert len(module_outputs["column_keys"]) == sum(len(personal_columns(t)) for t in TABLES)


def test_a_column_without_classification_fails_the_apply(tmp_path):
    tables = schema_files()
    tables["customers"]["schema"]["fields"].append({"name": "loyalty_card", "type": "STRING"})
    code, _, errors = apply_module(tmp_path, tables)
    assert code != 0
    assert "Error: Invalid index" in errors and 'field.name is "loyalty_card"' in errors


@cache
def provider_docs(type_name: str, prop: str) -> str:
    """The doc of a property of the google 6.50 provider's jsii assembly (make tools)."""
    (wheel,) = (ROOT / ".tools" / "terraform-schema").glob("cdktf_cdktf_provider_google-*.whl")
    assembly, _ = read_package(wheel)
    (found,) = [t for name, t in assembly["types"].items() if name.endswith(f".{type_name}")]
    (docs,) = [p["docs"] for p in found["properties"] if p["name"] == prop]
    return f"{docs.get('summary', '')} {docs.get('remarks', '')}"


def possible_values(doc: str) -> list[str]:
    return json.loads(re.search(r"Possible values: (\[[^\]]*\])", doc).group(1))


def test_masking_rules_are_the_provider_s_predefined_expressions():
    """google 6.50's google_bigquery_datapolicy_data_policy accepts these names, and the
    classification uses only those."""
    doc = provider_docs("BigqueryDatapolicyDataPolicyDataMaskingPolicy", "predefinedExpression")
    assert set(possible_values(doc)) == set(MASKING_RULES)
    policy = provider_docs("BigqueryDatapolicyDataPolicyConfig", "dataPolicyType")
    assert "DATA_MASKING_POLICY" in possible_values(policy)
    taxonomy = provider_docs("DataCatalogTaxonomyConfig", "activatedPolicyTypes")
    assert "FINE_GRAINED_ACCESS_CONTROL" in possible_values(taxonomy)


def test_the_taxonomy_enforces_access_control_and_each_tag_masks():
    (taxonomy,) = resources("google_data_catalog_taxonomy").values()
    assert taxonomy["activated_policy_types"] == ["FINE_GRAINED_ACCESS_CONTROL"]
    assert taxonomy["region"] == "${local.privacy_location}"
    masked = resources("google_data_catalog_policy_tag")["masked"]
    assert masked["for_each"] == "${module.personal_data.masked_keys}"
    assert (
        masked["parent_policy_tag"]
        == "${google_data_catalog_policy_tag.class[each.value.class].id}"
    )
    (policy,) = resources("google_bigquery_datapolicy_data_policy").values()
    assert policy["for_each"] == "${module.personal_data.masked_keys}"
    assert policy["policy_tag"] == "${google_data_catalog_policy_tag.masked[each.key].name}"
    assert policy["data_policy_type"] == "DATA_MASKING_POLICY"
    (masking,) = policy["data_masking_policy"]
    assert masking["predefined_expression"] == "${each.value.masking}"
    assert policy["location"] == taxonomy["region"], "data policies live with their tags"
    # The policy tags privacy.tf creates are the ones the module tags the columns with.
    module = hcl()["module"]["personal_data"]
    assert "google_data_catalog_policy_tag.masked" in module["policy_tags"]


def grants(rtype: str) -> dict[str, dict]:
    return {name: body for name, body in resources(rtype).items()}


def test_only_the_listed_principals_read_in_clear_and_analysts_masked():
    fine = grants("google_data_catalog_policy_tag_iam_member")
    assert {body["role"] for body in fine.values()} == {FINE_GRAINED_READER}
    assert fine["personal_data_readers"]["member"] == "${each.value.member}"
    assert "var.personal_data_readers" in str(fine["personal_data_readers"]["for_each"])
    assert fine["erasure_reader"]["member"] == ERASURE
    assert set(fine) == {"personal_data_readers", "erasure_reader"}
    (masked,) = grants("google_bigquery_datapolicy_data_policy_iam_member").values()
    assert masked["role"] == MASKED_READER
    assert "var.masked_readers" in str(masked["for_each"])
    variables = hcl()["variable"]
    assert variables["personal_data_readers"]["default"] == []
    assert variables["masked_readers"]["default"] == []


def test_the_pipeline_writes_every_column_without_reading_any():
    """ "BigQuery lets you stream data into destination table columns even without
    fine-grained read permission" (https://cloud.google.com/bigquery/docs/column-level-security-writes):
    the Dataflow service account gets no policy-tag or data-policy role at all."""
    for rtype in ("google_data_catalog_policy_tag_iam_member",
                  "google_bigquery_datapolicy_data_policy_iam_member"):  # fmt: skip
        assert all(body["member"] != DATAFLOW for body in grants(rtype).values())
    (editor,) = [
        body for body in grants("google_bigquery_dataset_iam_member").values()
        if body["member"] == DATAFLOW
    ]  # fmt: skip
    assert editor["role"] == "roles/bigquery.dataEditor"


# The aliases of complete_erasures.sql: each names a table (a, the dead letter's attributes).
SQL_ALIASES = {
    "c": "customers",
    "d": "customers_dlq",
    "r": "customers_dlq_replays",
    "e": "erasure_requests",
    "a": "customers_dlq.attributes",
}


def test_the_erasure_account_reads_exactly_the_personal_columns_its_query_scans():
    """DELETE and UPDATE need fine-grained read on the columns they scan
    (https://cloud.google.com/bigquery/docs/column-level-security-writes); erasure.tf lists
    them, and grants the reader role on their policy tags only."""
    sql = (ROOT / "replay" / "complete_erasures.sql").read_text()
    code = "\n".join(line for line in sql.splitlines() if not line.startswith("--"))
    scanned = {f"{SQL_ALIASES[a]}.{c}" for a, c in re.findall(r"\b([a-z])\.(\w+)\b", code)}
    personal = {f"{t}.{c}" for t in TABLES for c in personal_columns(t)}
    reads = hcl()["locals"]["erasure_reads"]
    assert set(reads) == scanned & personal
    reader = resources("google_data_catalog_policy_tag_iam_member")["erasure_reader"]
    assert "local.erasure_reads" in reader["for_each"]
    assert "module.personal_data.column_keys" in reader["for_each"]


def test_the_erasure_schedule_runs_the_shipped_sql_as_its_own_account():
    (config,) = resources("google_bigquery_data_transfer_config").values()
    assert config["data_source_id"] == "scheduled_query"
    assert config["service_account_name"] == "${google_service_account.erasure.email}"
    assert config["params"] == {"query": "${local.erasure_query}"}
    assert "destination_dataset_id" not in config, "DML only"
    query = hcl()["locals"]["erasure_query"]
    assert "templatefile(" in query and "/../replay/complete_erasures.sql" in query
    assert config["schedule"] == "${var.erasure_schedule}"
    editors = grants("google_bigquery_table_iam_member")["erasure_editor"]
    assert editors["role"] == "roles/bigquery.dataEditor" and editors["member"] == ERASURE
    assert (
        "customers_dlq_replays" in editors["for_each"] and "erasure_requests" in editors["for_each"]
    )
    token = grants("google_service_account_iam_member")["erasure_token_creator"]
    assert token["service_account_id"] == "${google_service_account.erasure.name}"
    assert token["member"] == "${google_project_service_identity.bigquery_data_transfer.member}"


def test_dead_letters_expire_and_customers_are_kept_unless_told():
    local = hcl()["locals"]
    assert set(local["retention_days"]) == set(local["table_files"]), "a retention per table"
    assert local["retention_days"]["customers_dlq"] == "${var.dead_letter_retention_days}"
    assert local["retention_days"]["customers_dlq_replays"] == "${var.dead_letter_retention_days}"
    assert local["retention_days"]["customers"] == "${var.customer_retention_days}"
    assert local["retention_days"]["erasure_requests"] is None
    variables = hcl()["variable"]
    assert variables["dead_letter_retention_days"]["default"] == 30
    assert variables["customer_retention_days"]["default"] is None
    # Deleted rows, an erased customer's too, stay recoverable for the time travel window,
    # 2 to 7 days (https://cloud.google.com/bigquery/docs/time-travel): the least by default.
    assert variables["time_travel_hours"]["default"] == 48
    (dataset,) = resources("google_bigquery_dataset").values()
    assert dataset["max_time_travel_hours"] == "${tostring(var.time_travel_hours)}"
    table = resources("google_bigquery_table")["tables"]
    (partitioning,) = table["dynamic"]
    content = partitioning["time_partitioning"]["content"]
    (content,) = content if isinstance(content, list) else [content]
    days = "local.retention_days[each.key]"
    assert content["expiration_ms"] == f"${{{days} == null ? null : {days} * 86400000}}"
