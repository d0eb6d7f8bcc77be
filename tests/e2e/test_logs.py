"""No log line of the producer, the pipeline, the replay or `make forget` carries a personal value.

Each runs on captured randomuser.me users against the emulators, as in production, and all it
prints (stdout, stderr, the pipeline's log file) is searched for every value of every personal
column (pipeline/schemas/classification.json) of every user that went through, customer ids
included, and for the national id value, which is never stored. A plain number of five digits
or fewer (a street number, most postcodes) is left out of the search: the same digits are
message ids, counts and ports in any log.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import pytest

from localrun.stack import Counts, child_env, start_pipeline, wait_for
from pipeline import rows
from pipeline.tables import CUSTOMERS, CUSTOMERS_DLQ, CUSTOMERS_DLQ_REPLAYS, ERASURE_REQUESTS
from tests.support import FIXTURES, personal_columns, run_python

pytestmark = pytest.mark.timeout(420)

USERS = json.loads((FIXTURES / "28_api_nat_all_v1.4_results50.json").read_text())["results"]
SPOILED = 3  # users whose registration date is text: validate dead letters, then replayed
SHORT_NUMBER = re.compile(r"-?\d{1,5}")


@dataclass(frozen=True)
class Personal:
    column: str
    value: str


def personal_values(users: list[dict]) -> list[Personal]:
    """Every personal value of `users`: their rows' personal columns, and id.value."""
    found = []
    for user in users:
        row = rows.to_customer_row(user)
        found += [
            Personal(column, str(row[column]))
            for column in sorted(personal_columns("customers"))
            if row[column] is not None
        ]
        if user["id"]["value"]:
            found.append(Personal("id.value", user["id"]["value"]))
    return [p for p in found if not SHORT_NUMBER.fullmatch(p.value)]


def leaks(text: str, values: list[Personal]) -> list[str]:
    lowered = text.lower()
    return sorted({f"{p.column}={p.value!r}" for p in values if p.value.lower() in lowered})


def _tables(r) -> list[str]:
    return [
        f"--dlq-table={r.names.beam_table(CUSTOMERS_DLQ)}",
        f"--output-table={r.names.beam_table(CUSTOMERS)}",
        f"--replays-table={r.names.beam_table(CUSTOMERS_DLQ_REPLAYS)}",
        f"--erasures-table={r.names.beam_table(ERASURE_REQUESTS)}",
        f"--bigquery-endpoint={r.bigquery_endpoint}",
    ]


def _run(r, *args: str) -> str:
    result = run_python(*args, env=child_env(r.pubsub_address), timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


def test_no_log_line_carries_a_personal_value(fresh_resources, tmp_path, report):
    r = fresh_resources
    spoiled = [{**user, "registered": {"date": "last tuesday"}} for user in USERS[:SPOILED]]
    users = tmp_path / "users.jsonl"
    users.write_text("".join(json.dumps(u) + "\n" for u in [*USERS[SPOILED:], *spoiled]))
    values = personal_values(USERS)
    assert len(values) > 12 * len(USERS), "every user's names, contacts, address, ids"

    pipeline = start_pipeline(r.names, r.pubsub_address, r.bigquery_endpoint, tmp_path)
    logs = {}
    try:
        logs["producer"] = _run(
            r, "-m", "producer", f"--topic={r.names.topic_path}", "--source=file",
            f"--input={users}", "--log-format=json",
        )  # fmt: skip
        expected = Counts(len(USERS) - SPOILED, SPOILED)
        wait_for(r.bigquery, r.names, expected, 180, watch=[pipeline])
        replay = ["-m", "replay", f"--topic={r.names.topic_path}", *_tables(r), "--all"]
        logs["replay"] = _run(r, *replay, "--list") + _run(r, *replay, "--execute")
        wait_for(r.bigquery, r.names, Counts(expected.rows, 2 * SPOILED), 180, watch=[pipeline])
        forget = ["-m", "replay", "forget", *_tables(r), f"--customer={USERS[0]['login']['uuid']}"]
        logs["forget"] = _run(r, *forget) + _run(r, *forget, "--execute")
        logs["forget"] += _run(r, "-m", "replay", "forget", *_tables(r), "--complete")
    finally:
        pipeline.stop()
    logs["pipeline"] = pipeline.log_path.read_text(encoding="utf-8", errors="replace")

    for program, text in logs.items():
        report(f"{program}: {len(text.splitlines())} log lines searched for {len(values)} values")
        assert text.strip(), f"{program} logged nothing: the search would prove nothing"
        assert leaks(text, values) == [], f"{program} logged personal values"


def test_the_search_finds_a_value_in_a_log():
    values = personal_values(USERS[:1])
    line = f'{{"message": "publish failed", "contact": "{USERS[0]["cell"]}"}}'
    assert leaks(line, values) == [f"cell={USERS[0]['cell']!r}"]
    assert leaks(USERS[0]["login"]["uuid"].upper(), values) == [
        f"customer_id={USERS[0]['login']['uuid']!r}"
    ]
    assert leaks("published 8929 messages on port 40000", values) == []
