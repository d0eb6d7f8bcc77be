"""replay/erasure.py: the scheduled query's file, its statements, and what makes a dead letter
an erased customer's (the replay never sends those)."""

from __future__ import annotations

import re
import string

import pytest

from replay import erasure
from replay.plan import ERASED, DeadLetter, plan
from tests.support import ROOT

SCRIPT = ROOT / "replay" / "complete_erasures.sql"
CUSTOMER = "0a58c609-827b-4991-929f-37a55c0df094"


def test_the_scheduled_query_file_is_generated_from_this_module():
    assert SCRIPT.read_text() == erasure.script(), "run `make generate`"


def test_its_statements_are_the_deletes_then_the_update():
    statements = erasure.statements(SCRIPT.read_text())
    expected = [*(erasure.delete_statement(t) for t in erasure.TARGETS), erasure.done_statement()]
    assert statements == expected
    assert [s.split()[0] for s in statements] == ["DELETE", "DELETE", "DELETE", "UPDATE"]


def test_every_delete_leaves_rows_of_the_streaming_buffer_alone():
    """BigQuery refuses DML over rows streamed in the last 30 (up to 90) minutes; each DELETE
    keeps to rows written before the horizon (replay/erasure.py cites the documentation)."""
    assert erasure.STREAMING_BUFFER_MINUTES >= 90
    for target in erasure.TARGETS:
        statement = erasure.delete_statement(target)
        assert f"WHERE {target.alias}.{target.written} < {erasure.HORIZON}\n" in statement
        assert "@run_time" in erasure.HORIZON


def test_placeholders_are_the_tables_and_nothing_else_looks_like_one():
    """Terraform's templatefile fails on a ${name} it is not given; string.Template too."""
    text = SCRIPT.read_text()
    assert set(re.findall(r"\$\{(\w+)\}", text)) == set(erasure.TABLES)
    assert text.count("$") == len(re.findall(r"\$\{\w+\}", text))
    assert "%{" not in text, "a Terraform template directive"
    rendered = erasure.render(text, {key: f"p.d.{key}" for key in erasure.TABLES})
    assert "`p.d.customers_dlq`" in rendered and "$" not in rendered
    with pytest.raises(KeyError):
        string.Template(text).substitute(customers="x")


def test_statements_split_only_at_a_semicolon_ending_a_line():
    text = "-- a comment; with a semicolon;\nSELECT ';' AS x;\n\nSELECT 2;"
    assert erasure.statements(text) == ["SELECT ';' AS x", "SELECT 2"]


def _letter(message_id, payload=b"{}", **attributes) -> DeadLetter:
    text = payload.decode("utf-8", "replace")
    return DeadLetter(message_id, "validate", payload, text, attributes, "original")


def test_an_erased_customer_s_dead_letters_are_found_by_id_attribute_or_payload():
    letters = [
        _letter("by-attribute", customer_id=CUSTOMER.upper()),
        _letter("by-payload", b'{"results": [{"login": {"uuid": "%s"}}]}' % CUSTOMER.encode()),
        _letter("by-message-id"),
        _letter("not-utf8", b"\xff" + CUSTOMER.upper().encode()),
        _letter("someone-else", b'{"login": {"uuid": "1a58c609"}}', customer_id="other"),
        _letter(None, CUSTOMER.encode()),
    ]
    erased = erasure.erased_messages(letters, {CUSTOMER}, {"by-message-id"})
    assert erased == {"by-attribute", "by-payload", "by-message-id", "not-utf8"}


def test_a_corrected_payload_is_checked_as_sent():
    letter = DeadLetter("m", "validate", b"{}", CUSTOMER, {}, "corrected")
    assert erasure.erased_messages([letter], {CUSTOMER}, set()) == {"m"}


def test_the_replay_never_sends_an_erased_customer_even_again():
    letters = [_letter("m-1"), _letter("m-2")]
    result = plan(letters, erased={"m-1"}, replayed={"m-1"}, again=True)
    assert [letter.message_id for letter in result.to_send] == ["m-2"]
    assert result.skipped == {ERASED: ["m-1"]}
