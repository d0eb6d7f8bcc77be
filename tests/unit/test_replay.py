"""Replay: what the pipeline records for it, which dead letters it re-publishes, and why not."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest

import contract
from pipeline import dead_letters, messages, rows, schema
from replay import cli, tables
from replay.plan import (
    ALREADY_REPLAYED,
    ALREADY_WRITTEN,
    CONFLICTING,
    EDITED,
    NO_MESSAGE_ID,
    NO_PAYLOAD,
    NOT_A_ROW,
    REDACTED,
    TRUNCATED,
    UNKNOWN_STATE,
    DeadLetter,
    plan,
    written_messages,
)
from replay.selection import Selection, parse_time
from tests.support import FIXTURES

USER = json.loads((FIXTURES / "08_api_v1.4_results2.json").read_text())["results"][0]
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def _letter_row(payload: bytes, **kwargs) -> dict:
    """A customers_dlq row as the pipeline builds it, read back as BigQuery returns it."""
    row = dead_letters.dead_letter(
        stage=kwargs.pop("stage", "validate"),
        error="registered.date is missing",
        payload=payload,
        attributes=kwargs.pop("attributes", {"source": "fake", "customer_id": "c-1"}),
        message_id=kwargs.pop("message_id", "m-1"),
        now=NOW,
    )
    row["payloadBytes"] = base64.b64decode(row["payloadBytes"])
    return {**row, **kwargs}


def _letter(payload: bytes = b'{"login": {}}', **kwargs) -> DeadLetter:
    return DeadLetter.from_row(_letter_row(payload, **kwargs))


# --- what the pipeline records ------------------------------------------------------------


def test_a_clean_payload_is_kept_as_the_original():
    payload = json.dumps({"login": {"uuid": "x", "password": None}}).encode()
    assert _letter_row(payload)["payload_state"] == schema.PAYLOAD_ORIGINAL


def test_a_payload_with_a_credential_is_marked_redacted():
    payload = json.dumps({"login": {"uuid": "x", "password": "hunter2"}}).encode()
    row = _letter_row(payload)
    assert b"hunter2" not in row["payloadBytes"]
    assert row["payload_state"] == schema.PAYLOAD_REDACTED


def test_a_cut_payload_is_marked_truncated_even_when_also_redacted():
    payload = (
        b'{"login": {"password": "hunter2"}, "x": "' + b"y" * dead_letters.MAX_DEAD_LETTER_PAYLOAD
    )
    assert _letter_row(payload)["payload_state"] == schema.PAYLOAD_TRUNCATED


def test_a_write_dead_letter_holds_a_row_not_a_message():
    row = rows.to_customer_row(USER, message_id="3", publish_time="2024-05-01T11:00:00Z")
    letter = dead_letters.write_failure(("p:d.customers", row, [{"reason": "invalid"}]), now=NOW)
    assert letter["payload_state"] == schema.PAYLOAD_ROW


def test_every_dead_letter_of_the_pipeline_has_a_known_payload_state():
    for payload in (None, b"", b"\xff", b"[1]", json.dumps({"results": [{}, {}]}).encode()):
        for letter in messages.process_message(payload, {}, message_id="1").dead_letters:
            assert letter["payload_state"] in schema.PAYLOAD_STATES


def test_the_replay_of_attribute_becomes_the_lineage_column():
    payload = json.dumps(USER).encode()
    attributes = {"source": "fake", contract.ATTR_REPLAY_OF: "dead-1"}
    (row,) = messages.process_message(payload, attributes, message_id="new-2").rows
    assert (row["message_id"], row["replay_of"]) == ("new-2", "dead-1")
    (first,) = messages.process_message(payload, {"source": "fake"}, message_id="3").rows
    assert first["replay_of"] is None


# --- which dead letters are replayed ------------------------------------------------------


def test_a_clean_dead_letter_is_replayed_with_replay_of():
    letter = _letter(b'{"a": 1}', message_id="m-7")
    result = plan([letter])
    assert result.to_send == [letter]
    assert letter.data() == b'{"a": 1}'
    assert letter.replay_attributes() == {
        "source": "fake",
        "customer_id": "c-1",
        contract.ATTR_REPLAY_OF: "m-7",
    }


def test_a_replayed_message_that_failed_again_points_at_its_own_dead_letter():
    attributes = {"source": "fake", contract.ATTR_REPLAY_OF: "first"}
    letter = _letter(attributes=attributes, message_id="second")
    assert letter.replay_attributes()[contract.ATTR_REPLAY_OF] == "second"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"payload_state": schema.PAYLOAD_REDACTED}, REDACTED),
        ({"payload_state": schema.PAYLOAD_TRUNCATED}, TRUNCATED),
        ({"payload_state": schema.PAYLOAD_ROW}, NOT_A_ROW),
        ({"payload_state": None}, UNKNOWN_STATE),
        ({"payloadString": '{"fixed": true}'}, EDITED),
        ({"message_id": None}, NO_MESSAGE_ID),
        ({"payload_state": schema.PAYLOAD_CORRECTED, "payloadString": None}, NO_PAYLOAD),
        ({"payload_state": schema.PAYLOAD_CORRECTED, "payloadString": ""}, NO_PAYLOAD),
        ({"payloadBytes": None, "payloadString": None}, NO_PAYLOAD),
    ],
)
def test_dead_letters_that_are_not_the_message_are_reported_not_sent(change, reason):
    result = plan([DeadLetter.from_row({**_letter_row(b'{"a": 1}'), **change})])
    assert result.to_send == []
    assert list(result.skipped) == [reason]


def test_a_payload_corrected_in_the_table_is_replayed_as_corrected():
    row = _letter_row(b'{"a": "caf\xc3\xa9"}', payload_state=schema.PAYLOAD_REDACTED)
    fixed = {**row, "payloadString": '{"a": "caf\u00e9 2"}', "payload_state": "corrected"}
    (sent,) = plan([DeadLetter.from_row(fixed)]).to_send
    assert sent.data() == '{"a": "café 2"}'.encode()
    assert plan([DeadLetter.from_row({**fixed, "payload_state": "original"})]).skipped == {
        EDITED: ["m-1"]
    }


def test_an_envelope_with_several_bad_users_is_replayed_once():
    letters = [_letter(b'{"results": [{}, {}]}', message_id="env") for _ in range(2)]
    result = plan(letters)
    assert (result.dead_letters, result.messages, len(result.to_send)) == (2, 1, 1)


def test_dead_letters_of_one_message_that_disagree_are_not_sent():
    letters = [_letter(b'{"a": 1}', message_id="m"), _letter(b'{"a": 2}', message_id="m")]
    assert list(plan(letters).skipped) == [CONFLICTING]


def test_a_replayed_dead_letter_is_not_sent_twice_unless_asked():
    letter = _letter(message_id="m-1")
    assert plan([letter], replayed={"m-1"}).skipped == {ALREADY_REPLAYED: ["m-1"]}
    assert plan([letter], replayed={"m-1"}, again=True).to_send == [letter]


def test_a_customer_already_written_is_not_sent_unless_asked():
    letters = [_letter(message_id="m-1"), _letter(message_id="m-2", attributes={})]
    written = written_messages(letters, message_ids={"m-2"}, customer_ids={"c-1"})
    assert written == {"m-1", "m-2"}
    result = plan(letters, written=written)
    assert result.skipped == {ALREADY_WRITTEN: ["m-1", "m-2"]}
    assert len(plan(letters, written=written, include_written=True).to_send) == 2


def test_reasons_are_counted_per_message_in_a_fixed_order():
    letters = [
        _letter(message_id="a", payload_state=schema.PAYLOAD_ROW),
        _letter(message_id="b", payload_state=schema.PAYLOAD_REDACTED),
        _letter(message_id="c"),
        _letter(message_id="d"),
    ]
    result = plan(letters, replayed={"c"})
    assert result.skipped == {ALREADY_REPLAYED: ["c"], REDACTED: ["b"], NOT_A_ROW: ["a"]}
    assert [letter.message_id for letter in result.to_send] == ["d"]
    assert result.skipped_count == 3


# --- selection ----------------------------------------------------------------------------


def test_selection_is_one_parameterised_condition():
    since = datetime(2026, 11, 1, tzinfo=UTC)
    selection = Selection(
        stages=("validate",), since=since, error="x' OR TRUE --", message_ids=("1", "2")
    )
    where, parameters = selection.where()
    assert where == (
        "stage IN UNNEST(@stages) AND timestamp >= @since AND STRPOS(errorMessage, @error) > 0 "
        "AND message_id IN UNNEST(@message_ids)"
    )
    assert "OR TRUE" not in where
    values = {p.name: getattr(p, "value", None) or getattr(p, "values", None) for p in parameters}
    assert values == {
        "stages": ["validate"],
        "since": since,
        "error": "x' OR TRUE --",
        "message_ids": ["1", "2"],
    }
    assert Selection().where() == ("TRUE", [])


def test_times_are_dates_instants_or_durations_ago():
    assert parse_time("2026-11-01") == datetime(2026, 11, 1, tzinfo=UTC)
    assert parse_time("2026-11-01T10:00:00Z") == datetime(2026, 11, 1, 10, tzinfo=UTC)
    assert parse_time("90m", NOW) == NOW - timedelta(minutes=90)
    assert parse_time("7d", NOW) == NOW - timedelta(days=7)
    with pytest.raises(ValueError, match="is not a time"):
        parse_time("last tuesday")


def test_table_names_are_checked_before_they_reach_sql():
    assert tables.sql_table("my-project:ds.customers_dlq") == "my-project.ds.customers_dlq"
    assert tables.sql_table("my-project.ds.t") == "my-project.ds.t"
    with pytest.raises(ValueError, match="is not a table"):
        tables.sql_table("my-project.ds.t` WHERE TRUE --")


def _cli(capsys, *args: str) -> tuple[int, str]:
    where = ["--topic=projects/my-project/topics/customers", "--dlq-table=my-project:ds.c_dlq"]
    code = cli.main([*where, *args])
    return code, capsys.readouterr().err.strip()


def test_the_command_refuses_to_select_everything_by_accident(capsys):
    code, err = _cli(capsys)
    assert code == 2
    assert err == (
        "python -m replay: error: choose dead letters with --stage, --since, --until, --error "
        "or --message-id (or --all for every one)"
    )


def test_a_bad_time_is_one_line(capsys):
    code, err = _cli(capsys, "--since", "yesterday")
    assert (code, err.count("\n")) == (2, 0)
    assert "'yesterday' is not a time" in err


def test_the_report_counts_messages_and_reasons():
    letters = [_letter(message_id="a"), _letter(message_id="b", payload_state="redacted")]
    text = cli.render(
        plan(letters), "p.d.customers_dlq", Selection(stages=("validate",)), listing=True
    )
    assert text.splitlines() == [
        "selected 2 dead letters of 2 messages in p.d.customers_dlq (stage validate)",
        "  to replay:      1 (1 original)",
        "  not replayed:   1",
        f"        1  {REDACTED}",
        "  replay:",
        "    a",
        f"  {REDACTED}:",
        "    b",
    ]
