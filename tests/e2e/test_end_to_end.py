"""Producer -> Pub/Sub emulator -> pipeline subprocess -> BigQuery emulator, with bad input.

2,000 fake customers from the producer CLI, 50 malformed messages and 100 re-sent duplicates:
every customer lands exactly once, every malformed message is exactly one dead letter, and no
credential reaches BigQuery.
"""

from __future__ import annotations

import json
import re
import time

import pytest
from e2e_support import customer_ids, recorded_users, refused_by_bigquery

from contract import CREDENTIAL_FIELDS, SCHEMA, strip_credentials
from localrun.bad_messages import BadMessage, bad_messages
from localrun.resources import query
from localrun.stack import Counts, counts, publish, start_pipeline, start_producer, wait_for
from producer.publish_loop import to_message
from tests.support import BAD_MESSAGE_CORPUS as CORPUS

pytestmark = pytest.mark.timeout(360)

CUSTOMERS, MALFORMED, DUPLICATES = 2000, 50, 100


def malformed_messages() -> list[BadMessage]:
    """The shared bad-message corpus (each file is one dead letter) topped up to MALFORMED."""
    files = sorted(p for p in CORPUS.glob("*-*.*") if "among_good" not in p.name)
    attributes = {"source": "file", "schema": SCHEMA}
    corpus = [BadMessage(p.stem, p.read_bytes(), attributes) for p in files]
    return corpus + list(bad_messages(MALFORMED - len(corpus)))


def corpus_credentials() -> set[str]:
    """Credential values inside the corpus: none of them may reach a table."""
    values = set()
    for path in CORPUS.glob("*.json"):
        try:
            document = json.loads(path.read_bytes())
        except (ValueError, RecursionError):  # the corpus holds broken and absurdly deep JSON
            continue
        users = document.get("results", [document]) if isinstance(document, dict) else []
        for user in users:
            login = user.get("login") if isinstance(user, dict) else None
            if isinstance(login, dict):
                values |= {str(login[k]) for k in CREDENTIAL_FIELDS if login.get(k)}
    return values


def all_cells(resources) -> list[str]:
    cells = []
    for table in (resources.names.customers, resources.names.customers_dlq):
        for row in resources.bigquery.list_rows(table):
            cells += [str(value) for value in row.values() if value is not None]
    return cells


def test_every_message_lands_once_as_a_row_or_a_dead_letter(fresh_resources, tmp_path, report):
    r = fresh_resources
    record = tmp_path / "published.jsonl"
    started = time.monotonic()
    pipeline = start_pipeline(r.names, r.pubsub_address, r.bigquery_endpoint, tmp_path)
    try:
        producer = start_producer(
            r.names, r.pubsub_address, tmp_path, CUSTOMERS, "fake", "--rate=0",
            f"--record={record}", "--seed=e2e",
        )  # fmt: skip
        assert producer.wait(120) == 0, producer.log_tail()
        users = recorded_users(record)
        assert len({u["login"]["uuid"] for u in users}) == CUSTOMERS
        malformed = malformed_messages()
        assert len(malformed) == MALFORMED
        publish(r.names.topic_path, malformed)
        resent = [to_message(strip_credentials(u), "fake", SCHEMA) for u in users[:DUPLICATES]]
        publish(r.names.topic_path, resent)

        wait_for(r.bigquery, r.names, Counts(CUSTOMERS, MALFORMED), 240, watch=[pipeline])
        elapsed = time.monotonic() - started
        # The duplicates were published last: give them time to (not) arrive.
        settled = counts(r.bigquery, r.names)
        for _ in range(5):
            time.sleep(1)
            assert counts(r.bigquery, r.names) == settled
        assert pipeline.running(), pipeline.log_tail()
    finally:
        pipeline.stop()

    per_customer = customer_ids(r)
    assert sum(per_customer.values()) == CUSTOMERS
    assert set(per_customer) == {u["login"]["uuid"] for u in users}
    stages = dict(
        query(r.bigquery, "SELECT stage, COUNT(*) FROM {customers_dlq} GROUP BY stage", r.names)
    )
    assert sum(stages.values()) == MALFORMED
    assert set(stages) <= {"parse", "validate"}
    cells = all_cells(r)
    leaked = corpus_credentials() & set(cells)
    assert not leaked
    # Dead letters keep the payload, with every credential's value nulled.
    credential = re.compile(rf'"({"|".join(CREDENTIAL_FIELDS)})"\s*:(?!\s*null)')
    assert not [cell for cell in cells if credential.search(cell)]
    assert refused_by_bigquery(r) == []
    report(
        f"{CUSTOMERS} customers + {MALFORMED} malformed + {DUPLICATES} duplicates: "
        f"all landed in {elapsed:.1f}s ({(CUSTOMERS + MALFORMED) / elapsed:.0f} rows/s "
        f"incl. pipeline start); dead letters by stage {stages}"
    )
