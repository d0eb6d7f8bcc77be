"""The replay's SQL and its failure paths on the real BigQuery and Pub/Sub emulators."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from google.auth import exceptions as auth_exceptions

from contract import ATTR_CUSTOMER_ID
from localrun.resources import SHORT_RETRY, query
from pipeline import dead_letters, rows
from pipeline.tables import CUSTOMERS, CUSTOMERS_DLQ, CUSTOMERS_DLQ_REPLAYS
from replay import cli, tables
from replay.selection import Selection
from tests.support import FIXTURES

USER = json.loads((FIXTURES / "08_api_v1.4_results2.json").read_text())["results"][0]
NOV_1, NOV_2 = datetime(2026, 11, 1, 9, tzinfo=UTC), datetime(2026, 11, 2, 9, tzinfo=UTC)


def _tables(r) -> tables.Tables:
    n = r.names
    return tables.Tables(n.customers_dlq, n.customers, n.customers_dlq_replays, n.erasure_requests)


def _insert(r, table: str, rows: list[dict]) -> None:
    assert not r.bigquery.insert_rows_json(table, rows, retry=SHORT_RETRY, timeout=10)


def _dead_letters(r) -> None:
    letters = [
        dead_letters.dead_letter(
            stage="validate", error="registered.date is missing", payload=b'{"x": "\\u00e9"}',
            attributes={ATTR_CUSTOMER_ID: "c-1", "source": "fake"}, message_id="m-1", now=NOV_1,
        ),
        dead_letters.dead_letter(
            stage="parse", error="payload is not JSON", payload=b"\\xff\\xfe",
            message_id="m-2", now=NOV_2,
        ),
        dead_letters.dead_letter(
            stage="validate", error="login.uuid is missing", payload=b'{"login": {}}',
            attributes={ATTR_CUSTOMER_ID: "c-3"}, message_id="m-3", now=NOV_2,
        ),
    ]  # fmt: skip
    _insert(r, r.names.customers_dlq, letters)


@pytest.mark.parametrize(
    ("selection", "expected"),
    [
        (Selection(stages=("validate",)), ["m-1", "m-3"]),
        (Selection(since=NOV_2), ["m-2", "m-3"]),
        (Selection(until=NOV_2), ["m-1"]),
        (Selection(error="registered.date"), ["m-1"]),
        (Selection(error="' OR TRUE --"), []),
        (Selection(message_ids=("m-2", "m-9")), ["m-2"]),
        (Selection(stages=("validate",), since=NOV_2), ["m-3"]),
        (Selection(), ["m-1", "m-2", "m-3"]),
    ],
)
def test_selection_on_the_emulator(fresh_resources, selection, expected):
    _dead_letters(fresh_resources)
    letters = tables.select(fresh_resources.bigquery, _tables(fresh_resources), selection)
    assert sorted(letter.message_id for letter in letters) == expected


def test_bytes_and_attributes_come_back_as_written(fresh_resources):
    _dead_letters(fresh_resources)
    (letter,) = tables.select(
        fresh_resources.bigquery, _tables(fresh_resources), Selection(message_ids=("m-1",))
    )
    assert letter.data() == b'{"x": "\\u00e9"}'
    assert letter.attributes == {ATTR_CUSTOMER_ID: "c-1", "source": "fake"}
    assert letter.payload_state == "original"


def test_replays_and_rows_already_written_are_found(fresh_resources):
    r = fresh_resources
    row = rows.to_customer_row(USER, rows.Lineage(message_id="m-9", replay_of="m-3"))
    _insert(r, r.names.customers, [row])
    _insert(r, r.names.customers_dlq_replays, [
        {"message_id": "m-1", "replay_message_id": "n-1", "replayed_at": NOV_2.isoformat(),
         "run_id": "run", "again": False},
    ])  # fmt: skip
    found = _tables(r)
    assert tables.replayed(r.bigquery, found, ["m-1", "m-2"]) == {"m-1"}
    assert tables.written(r.bigquery, found, ["m-1", "m-3"], [row["customer_id"], "c-9"]) == (
        {"m-3"},
        {row["customer_id"]},
    )
    assert tables.written(r.bigquery, found, [], []) == (set(), set())


def _cli(r, capsys, *args: str) -> tuple[int, str, str]:
    code = cli.main([
        f"--topic={r.names.topic_path}",
        f"--dlq-table={r.names.beam_table(CUSTOMERS_DLQ)}",
        f"--output-table={r.names.beam_table(CUSTOMERS)}",
        f"--replays-table={r.names.beam_table(CUSTOMERS_DLQ_REPLAYS)}",
        f"--bigquery-endpoint={r.bigquery_endpoint}",
        *args,
    ])  # fmt: skip
    out, err = capsys.readouterr()
    return code, out, err


def test_a_failed_publish_is_reported_and_not_recorded(fresh_resources, capsys):
    r = fresh_resources
    _dead_letters(r)
    missing = r.names.topic_path + "-gone"
    code, out, err = _cli(r, capsys, "--stage=validate", "--execute", f"--topic={missing}")
    assert code == 1
    assert "published 0/2" in out
    assert err.count("not published: m-") == 2
    assert "NotFound" in err
    assert query(r.bigquery, "SELECT COUNT(*) FROM {customers_dlq_replays}", r.names)[0][0] == 0


def test_a_missing_table_is_one_line(fresh_resources, capsys):
    r = fresh_resources
    code, _, err = _cli(
        r, capsys, "--all", f"--dlq-table={r.names.project}:{r.names.dataset}.nothing_here"
    )
    assert code == 1
    assert err.startswith("python -m replay: error: NotFound")
    assert err.count("\n") == 1


def test_table_names_are_checked_before_they_reach_sql():
    assert tables.sql_table("my-project:ds.customers_dlq") == "my-project.ds.customers_dlq"
    assert tables.sql_table("my-project.ds.t") == "my-project.ds.t"
    with pytest.raises(ValueError, match="is not a table"):
        tables.sql_table("my-project.ds.t` WHERE TRUE --")


@pytest.mark.parametrize(
    ("error", "shown"),
    [
        (
            auth_exceptions.DefaultCredentialsError(
                "Your default credentials were not found. To set up ADC, see\nhttps://x"
            ),
            "DefaultCredentialsError: Your default credentials were not found. To set up ADC, see",
        ),
        (
            auth_exceptions.RefreshError("invalid_grant: Invalid JWT Signature.", {"error": "x"}),
            "RefreshError: invalid_grant: Invalid JWT Signature.",
        ),
        (auth_exceptions.TransportError(), "TransportError: "),
    ],
)
def test_a_credential_problem_is_one_line_with_the_fix(error, shown):
    line = tables.credentials_problem(error)
    assert line == f"no usable Google credentials ({shown}): {tables.ADC_FIX}"
    assert "\n" not in line
