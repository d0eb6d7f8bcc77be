"""A hostile corpus through the local stack (`make run`'s functions, the real emulators).

Every class of bad input the pipeline knows (the whole `tests/data/bad_messages` corpus, poison
pills UTF-8 cannot encode, the dead-letter amplification envelope, users of API versions
1.0-1.2, inc/exc-limited users) plus messages of up to Pub/Sub's 10 MB limit. Per message it
asserts: exactly its expected rows, or exactly one dead letter of the expected stage within
`dead_letter_bound`; and afterwards the pipeline still runs and still takes a new customer.
"""

from __future__ import annotations

import base64
import copy
import json
import time
import uuid
from dataclasses import dataclass, field

import pytest
from e2e_support import refused_by_bigquery

from contract import ATTR_SOURCE
from localrun.stack import Counts, publish, start_pipeline, wait_for
from pipeline.dead_letters import MAX_DEAD_LETTER_PAYLOAD
from tests.support import BAD_MESSAGE_CORPUS, FIXTURES, dead_letter_bound

pytestmark = pytest.mark.timeout(600)

ATTRIBUTES = {ATTR_SOURCE: "file"}
PUBSUB_LIMIT = 10_000_000  # bytes per publish request (google-cloud-pubsub enforces it too)


@dataclass
class Case:
    name: str
    data: bytes
    rows: set[str] = field(default_factory=set)  # customer ids that must be rows
    stage: str | None = None  # the stage of its one dead letter; None: no dead letter
    attributes: dict[str, str] = field(default_factory=lambda: dict(ATTRIBUTES))


def _users(name: str) -> list[dict]:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))["results"]


def _fresh(users: list[dict]) -> list[dict]:
    """Copies with new login.uuids: no case may share a customer with another (dedup)."""
    fresh = [copy.deepcopy(user) for user in users]  # one copy each, even of a repeated user
    for user in fresh:
        if isinstance(user.get("login"), dict):
            user["login"]["uuid"] = str(uuid.uuid4())
    return fresh


def _envelope(users: list[dict]) -> bytes:
    return json.dumps({"results": users, "info": {"version": "1.4"}}).encode()


def _ids(users: list[dict]) -> set[str]:
    return {user["login"]["uuid"] for user in users}


def corpus_cases() -> list[Case]:
    expected = json.loads((BAD_MESSAGE_CORPUS / "expected_rows.json").read_text(encoding="utf-8"))
    return [
        Case(
            path.name, path.read_bytes(), set(expected.get(path.name, [])), path.name.split("-")[0]
        )
        for path in sorted(BAD_MESSAGE_CORPUS.glob("*-*.*"))
    ]


def row_cases() -> list[Case]:
    """Inputs the pipeline used to reject or choke on that are customers after all."""
    v12 = _fresh(_users("built_v1.2_results3.json"))
    inc = _fresh(_users("built_v1.4_inc_login_name_nat.json"))
    exc = _fresh(_users("built_v1.4_exc_registered_dob_location_id.json"))
    (single,) = _fresh(_users("01_api_results1.json"))
    unregistered = json.dumps({k: v for k, v in single.items() if k != "registered"}).encode()
    return [
        Case("API 1.2 envelope", _envelope(v12), _ids(v12)),
        Case("inc=login,name,nat envelope", _envelope(inc), _ids(inc)),
        Case("exc=registered,dob,location,id envelope", _envelope(exc), _ids(exc)),
        Case("user without registered", unregistered, {single["login"]["uuid"]}),
    ]


def large_cases() -> list[Case]:
    """Up to Pub/Sub's limit: the local read used to stop at 4 MB, and stall the stack."""
    seeded = _users("03_api_results100_seed_kbs.json")
    api_5000 = _fresh(seeded * 50)  # a 5,000-user API response: about 5.4 MB
    distinct = _fresh(seeded)
    # 10 MB of users where each of 100 customers comes about 90 times: 100 rows (dedup).
    repeats = (PUBSUB_LIMIT - 2_000) // len(_envelope(distinct))
    ten_mb_good = _envelope(distinct * repeats)
    bad = b'{"login": {"uuid": "%s"}, "name": {"first": "\\ud800"}}' % str(uuid.uuid4()).encode()
    count = (PUBSUB_LIMIT - 2_000) // (len(bad) + 1)
    ten_mb_bad = b'{"results": [' + b",".join([bad] * count) + b'], "info": {}}'
    return [
        Case("5.4 MB API response of 5,000 users", _envelope(api_5000), _ids(api_5000)),
        Case("10 MB envelope, 100 customers repeated", ten_mb_good, _ids(distinct)),
        Case("10 MB envelope of poison-pill users", ten_mb_bad, stage="validate"),
    ]


def _dead_letter_size(row) -> int:
    """A fetched customers_dlq row as the JSON insert row it was (BYTES back to base64)."""
    cells = {
        key: base64.b64encode(value).decode() if isinstance(value, bytes) else value
        for key, value in row.items()
    }
    return len(json.dumps(cells, default=str).encode())


def test_every_hostile_message_is_its_rows_or_one_bounded_dead_letter(
    fresh_resources, tmp_path, report
):
    r = fresh_resources
    cases = corpus_cases() + row_cases() + large_cases()
    assert len(cases) >= 40
    assert max(len(case.data) for case in cases) > 0.999 * PUBSUB_LIMIT
    started = time.monotonic()
    pipeline = start_pipeline(r.names, r.pubsub_address, r.bigquery_endpoint, tmp_path)
    try:
        ids = publish(r.names.topic_path, cases)
        by_id = dict(zip(ids, cases, strict=True))
        expected = Counts(
            sum(len(case.rows) for case in cases), sum(case.stage is not None for case in cases)
        )
        wait_for(r.bigquery, r.names, expected, 420, watch=[pipeline])
        # still alive: a new customer published after the corpus arrives too
        (last,) = _fresh(_users("01_api_results1.json"))
        after = Case("after the corpus", json.dumps(last).encode(), {last["login"]["uuid"]})
        by_id[publish(r.names.topic_path, [after])[0]] = after
        wait_for(r.bigquery, r.names, Counts(expected.rows + 1, expected.dead_letters), 120)
        assert pipeline.running(), pipeline.log_tail()
        elapsed = time.monotonic() - started
    finally:
        pipeline.stop()

    rows: dict[str, list[str]] = {}
    for row in r.bigquery.list_rows(r.names.customers, selected_fields=None):
        rows.setdefault(row["message_id"], []).append(row["customer_id"])
    letters: dict[str, list] = {}
    for row in r.bigquery.list_rows(r.names.customers_dlq):
        letters.setdefault(row["message_id"], []).append(row)
    assert set(rows) | set(letters) <= set(by_id), "rows or dead letters of unknown messages"
    largest_ratio = 0.0
    for message_id, case in by_id.items():
        landed = rows.get(message_id, [])
        assert sorted(landed) == sorted(case.rows), f"{case.name}: rows"
        dead = letters.get(message_id, [])
        assert len(dead) == (case.stage is not None), f"{case.name}: {len(dead)} dead letters"
        for letter in dead:
            assert letter["stage"] == case.stage, f"{case.name}: {letter['errorMessage']}"
            size = _dead_letter_size(letter)
            assert size <= dead_letter_bound(case.data, case.attributes), case.name
            if len(case.data) > MAX_DEAD_LETTER_PAYLOAD:
                assert "payload truncated" in letter["errorMessage"], case.name
            if len(case.data) >= 1_000:  # below, the fixed part of a dead letter dominates
                largest_ratio = max(largest_ratio, size / len(case.data))
    assert refused_by_bigquery(r) == []
    report(
        f"hostile corpus: {len(cases)} classes + 1 after, {expected.rows + 1} rows and "
        f"{expected.dead_letters} dead letters, each message exactly accounted for, pipeline "
        f"alive; {elapsed:.0f}s; largest dead letter / message size (messages >= 1 KB) "
        f"{largest_ratio:.2f}"
    )
