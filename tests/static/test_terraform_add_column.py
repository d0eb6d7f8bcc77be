"""Adding a NULLABLE column to a table's schema file makes Terraform update the table in place,
never replace it (docs/operate.md, "Add a column").

What replaces a `google_bigquery_table` is the google provider's CustomizeDiff on `schema`
(hashicorp/terraform-provider-google, google/services/bigquery/resource_bigquery_table.go:
`resourceBigQueryTableSchemaCustomizeDiffFunc` sets ForceNew unless
`resourceBigQueryTableSchemaIsChangeable` accepts the change). `in_place` below states that
rule: a new column must not be REQUIRED; a kept column keeps its name, its type (INTEGER/INT64,
FLOAT/FLOAT64, BOOLEAN/BOOL are one type) and its mode (REQUIRED may become NULLABLE), and a
RECORD keeps every field; top-level columns may be dropped in place, but not together with an
addition (a rename, to the provider); descriptions and policy tags change in place. The other
arguments that force a new table (`table_id`, `dataset_id`, `project`) are not derived from the
columns.

Checked here, offline: the schema string Terraform gives each table is what the real
`terraform` makes of the schema files (terraform/modules/personal_data, as bigquery.tf wires
it), before and after a column is added; the rule decides on those two strings. Not checked:
the provider itself (this machine cannot download it, so `terraform plan` never runs): the rule
is read from its source, version 6.x as pinned in terraform/versions.tf. Should anything still
plan a replacement, `deletion_protection` (true unless `make destroy DELETE_DATA=1`) makes the
apply fail before the table is deleted.
"""

from __future__ import annotations

import copy
import json

import pytest
from terraform_files import apply_module, merged

from tests.support import ROOT

SCHEMAS = ROOT / "pipeline" / "schemas"
DATA_TABLES = ("customers", "customers_dlq", "customers_dlq_replays", "erasure_requests")
_SAME_TYPE = {"INT64": "INTEGER", "FLOAT64": "FLOAT", "BOOL": "BOOLEAN"}
NEW_COLUMN = {"name": "picture_thumbnail", "type": "STRING", "mode": "NULLABLE"}


def _type(field: dict) -> str:
    kind = str(field.get("type", "")).upper()
    return _SAME_TYPE.get(kind, kind)


def _mode(field: dict) -> str:
    return str(field.get("mode") or "NULLABLE").upper()


def _field_in_place(old: dict, new: dict) -> bool:
    if old["name"] != new["name"] or _type(old) != _type(new):
        return False
    if _mode(old) != _mode(new) and (_mode(old), _mode(new)) != ("REQUIRED", "NULLABLE"):
        return False
    if "fields" in old or "fields" in new:
        return in_place(old.get("fields", []), new.get("fields", []), top_level=False)
    return True


def in_place(old: list[dict], new: list[dict], *, top_level: bool = True) -> bool:
    """Whether the google provider updates a table whose columns go from `old` to `new` in place
    (the module docstring); False: it plans a replacement."""
    before = {field["name"]: field for field in old}
    after = {field["name"]: field for field in new}
    added = [name for name in after if name not in before]
    if any(_mode(after[name]) == "REQUIRED" for name in added):
        return False
    dropped = [name for name in before if name not in after]
    if dropped and (not top_level or added):
        return False
    return all(_field_in_place(before[name], after[name]) for name in before if name in after)


def schema_files() -> dict:
    return {name: json.loads((SCHEMAS / f"{name}.json").read_text()) for name in DATA_TABLES}


def classification() -> dict:
    return json.loads((SCHEMAS / "classification.json").read_text())


def terraform_schemas(tmp_path, tables: dict, classes: dict) -> dict[str, list[dict]]:
    """The `schema` Terraform gives each table of bigquery.tf, decoded."""
    code, outputs, errors = apply_module(tmp_path, tables, classes)
    assert code == 0, errors
    return {name: json.loads(text) for name, text in outputs["schemas"].items()}


@pytest.fixture(scope="module")
def committed(tmp_path_factory) -> dict[str, list[dict]]:
    return terraform_schemas(tmp_path_factory.mktemp("now"), schema_files(), classification())


def _with_column(table: str, column: dict, entry: dict) -> tuple[dict, dict]:
    """The schema files and classification with `column` appended to `table`."""
    tables, classes = schema_files(), classification()
    tables[table]["schema"]["fields"].append(column)
    classes["tables"][table][column["name"]] = entry
    return tables, classes


@pytest.mark.parametrize(
    "entry",
    [
        {"class": "none", "why": "test"},
        {"class": "direct", "masking": "ALWAYS_NULL", "why": "test: policy-tagged"},
    ],
    ids=["not-personal", "personal"],
)
def test_a_nullable_column_appended_updates_every_table_in_place(committed, tmp_path, entry):
    for table in DATA_TABLES:
        tables, classes = _with_column(table, NEW_COLUMN, entry)
        after = terraform_schemas(tmp_path / table, tables, classes)
        assert after[table][:-1] == committed[table], "the other columns are unchanged"
        assert after[table][-1]["name"] == NEW_COLUMN["name"]
        assert in_place(committed[table], after[table]), table


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (lambda f: [*f, {**NEW_COLUMN, "mode": "REQUIRED"}], "a REQUIRED column added"),
        (lambda f: [{**f[0], "type": "INTEGER"}, *f[1:]], "a column retyped"),
        (lambda f: [{**f[0], "name": "id"}, *f[1:]], "a column renamed"),
        (lambda f: [f[0], {**f[1], "mode": "REQUIRED"}, *f[2:]], "a NULLABLE column made REQUIRED"),
        (lambda f: [*f[:-1], NEW_COLUMN], "a column dropped and one added"),
    ],
    ids=["required-added", "retyped", "renamed", "made-required", "dropped-and-added"],
)
def test_what_the_provider_replaces_the_table_for(committed, change, why):
    fields = committed["customers"]
    assert not in_place(fields, change(copy.deepcopy(fields))), why


def test_what_the_provider_changes_in_place(committed):
    fields = committed["customers"]
    assert in_place(fields, fields)
    assert in_place(fields, fields[:-1]), "a top-level column dropped alone"
    relaxed = [{**fields[0], "mode": "NULLABLE"}, *fields[1:]]
    assert fields[0]["mode"] == "REQUIRED" and in_place(fields, relaxed)
    described = [{**fields[1], "description": "new words"}, *fields[2:]]
    assert in_place(fields[1:], described)
    untagged = [{k: v for k, v in f.items() if k != "policyTags"} for f in fields]
    assert in_place(fields, untagged), "policy tags change in place"
    assert in_place([{**fields[1], "type": "INT64"}], [{**fields[1], "type": "INTEGER"}])


def test_a_nested_field_dropped_replaces_the_table(committed):
    (attributes,) = [f for f in committed["customers_dlq"] if f["type"] == "RECORD"]
    fewer = {**attributes, "fields": attributes["fields"][:-1]}
    assert not in_place([attributes], [fewer])


def test_the_tables_take_their_schema_from_the_files_and_stay_protected():
    """The schema is the module's, from pipeline/schemas: nothing else feeds it. Nothing makes
    a change of the columns replace the table (`replace_triggered_by`) or hides one from the
    plan (`ignore_changes`), and deletion_protection is on by default."""
    hcl = merged()
    tables = hcl["resource"]["google_bigquery_table"]["tables"]
    assert tables["for_each"] == "${local.tables}"
    assert tables["schema"] == "${module.personal_data.schemas[each.key]}"
    assert tables["deletion_protection"] == "${var.deletion_protection}"
    assert hcl["variable"]["deletion_protection"]["default"] is True
    assert "lifecycle" not in tables
    assert set(schema_files()) == set(DATA_TABLES)
    assert sorted(hcl["locals"]["table_files"]) == sorted(DATA_TABLES)
