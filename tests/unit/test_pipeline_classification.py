"""pipeline/schemas/classification.json: every column of every table classified, once, in a
way BigQuery can enforce. A column added to a schema file without a classification fails here.
"""

from __future__ import annotations

import copy
import json
import re

import pytest

from pipeline.tables import CUSTOMERS, TABLES, column_names, fields
from tests.support import (
    CLASSIFICATION,
    MASKING_RULES,
    PERSONAL_CLASSES,
    ROOT,
    classification,
    leaf_fields,
)

CLASSES = json.loads(CLASSIFICATION.read_text())["classes"]


def problems(tables: dict[str, dict], classified: dict[str, dict[str, dict]]) -> list[str]:
    """Every way `classified` fails to cover the schemas of `tables` ({table id: resource})."""
    found = []
    for table_id in tables.keys() - classified.keys():
        found.append(f"{table_id}: no classification")
    for table_id in classified.keys() - tables.keys():
        found.append(f"{table_id}: classified, but no such table")
    for table_id in tables.keys() & classified.keys():
        columns = leaf_fields(fields(tables[table_id]))
        entries = classified[table_id]
        found += [f"{table_id}.{c}: not classified" for c in columns.keys() - entries.keys()]
        found += [f"{table_id}.{c}: no such column" for c in entries.keys() - columns.keys()]
        for path in columns.keys() & entries.keys():
            found += [
                f"{table_id}.{path}: {p}" for p in entry_problems(entries[path], columns[path])
            ]
    return sorted(found)


def entry_problems(entry: dict, field: dict) -> list[str]:
    kind, masking = entry.get("class"), entry.get("masking")
    if kind not in CLASSES:
        return [f"class {kind!r} is not one of {', '.join(CLASSES)}"]
    found = [] if len(entry.get("why", "")) >= 10 else ["no reason given (why)"]
    if kind not in PERSONAL_CLASSES:
        return found + ([f"not personal, yet masked with {masking}"] if masking else [])
    if masking not in MASKING_RULES:
        return [*found, f"personal, masking {masking!r} is no predefined masking rule"]
    types = MASKING_RULES[masking]
    if types is not None and field["type"] not in types:
        found.append(f"{masking} does not apply to a {field['type']} column")
    return found


def tables_by_id() -> dict[str, dict]:
    return {table["tableReference"]["tableId"]: table for table in TABLES}


def test_every_column_of_every_table_is_classified_once():
    assert problems(tables_by_id(), classification()) == []


def test_a_new_column_without_a_classification_fails():
    tables = copy.deepcopy(tables_by_id())
    fields(tables["customers"]).append({"name": "loyalty_card", "type": "STRING"})
    assert problems(tables, classification()) == ["customers.loyalty_card: not classified"]


def test_a_new_nested_column_and_a_new_table_fail_too():
    tables = copy.deepcopy(tables_by_id())
    (attributes,) = [f for f in fields(tables["customers_dlq"]) if f["name"] == "attributes"]
    attributes["fields"].append({"name": "note", "type": "STRING"})
    tables["audit"] = {"schema": {"fields": []}}
    assert problems(tables, classification()) == [
        "audit: no classification",
        "customers_dlq.attributes.note: not classified",
    ]


def test_a_dropped_column_leaves_no_stale_entry():
    classified = copy.deepcopy(classification())
    classified["customers"]["national_id_value"] = {"class": "direct", "masking": "ALWAYS_NULL"}
    assert problems(tables_by_id(), classified) == ["customers.national_id_value: no such column"]


@pytest.mark.parametrize(
    ("column", "entry", "expected"),
    [
        ("email", {"class": "secret", "why": "a made-up class"}, "class 'secret' is not one of"),
        ("email", {"class": "direct", "why": "no rule given"}, "no predefined masking rule"),
        ("email", {"class": "direct", "masking": "REDACT", "why": "unknown rule"}, "REDACT"),
        ("date_of_birth", {"class": "quasi", "masking": "EMAIL_MASK", "why": "wrong type"},
         "EMAIL_MASK does not apply to a DATE column"),
        ("latitude", {"class": "quasi", "masking": "SHA256", "why": "cannot hash a FLOAT"},
         "SHA256 does not apply to a FLOAT column"),
        ("email", {"class": "direct", "masking": "EMAIL_MASK"}, "no reason given"),
        ("country", {"class": "none", "masking": "ALWAYS_NULL", "why": "masked but not personal"},
         "not personal, yet masked"),
    ],
)  # fmt: skip
def test_each_entry_is_a_class_a_rule_for_its_type_and_a_reason(column, entry, expected):
    classified = copy.deepcopy(classification())
    classified["customers"][column] = entry
    (problem,) = problems(tables_by_id(), classified)
    assert problem.startswith(f"customers.{column}: ") and expected in problem


def test_the_issue_s_personal_columns_are_classified_as_it_says():
    """Direct: e-mail, phone, names, street, picture URL; quasi-identifiers: date of birth,
    coordinates, postcode. The national id's value is not stored at all (docs/privacy.md)."""
    customers = classification()["customers"]
    direct = ("email", "phone", "cell", "first_name", "last_name", "street_name", "picture_url")
    quasi = ("date_of_birth", "latitude", "longitude", "postcode")
    assert {column: customers[column]["class"] for column in direct + quasi} == {
        **dict.fromkeys(direct, "direct"),
        **dict.fromkeys(quasi, "quasi"),
    }
    assert "national_id_value" not in column_names(CUSTOMERS)
    assert customers["customer_id"]["masking"] == "SHA256", "a hash where a join key is needed"


def test_every_dead_letter_payload_and_reason_is_personal():
    """A dead letter holds a whole message: every column that can hold message text is masked."""
    dead_letters = classification()["customers_dlq"]
    for column in ("payloadString", "payloadBytes", "errorMessage", "stacktrace"):
        assert dead_letters[column]["class"] == "direct", column


def test_docs_privacy_lists_every_column_as_classified():
    """docs/privacy.md's column table says what classification.json says, row for row."""
    text = (ROOT / "docs" / "privacy.md").read_text()
    documented = {
        (table, column): (kind, masking or None)
        for table, column, kind, masking in re.findall(
            r"^\| (\w+) \| ([\w.]+) \| (direct|quasi|pseudonym|none) \|\s*(\w*)\s*\|", text, re.M
        )
    }
    assert documented == {
        (table, column): (entry["class"], entry.get("masking"))
        for table, columns in classification().items()
        for column, entry in columns.items()
    }
