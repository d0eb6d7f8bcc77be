"""The fault matrix: BigQuery, Pub/Sub and the randomuser API failing mid-stream, nothing lost.

One stack for every cell: the Pub/Sub emulator, the BigQuery emulator, the pipeline on the
direct runner, a randomuser server (fake users, one page per request), and mitmproxy
(tests/faultproxy) between them: the pipeline reaches BigQuery through it (HTTP: the sink's
`test_client` is the real google-cloud-bigquery client), the producer reaches Pub/Sub (raw TCP:
gRPC) and the API through it. In each cell the producer publishes at a steady rate while the
fault is on for a window; then every customer Pub/Sub confirmed must be exactly one row in
`customers` or one `write` dead letter holding its row, which `python -m replay --stage write`
then inserts, once. The pipeline must be alive after every cell. Each cell also checks that its
fault fired.

The run writes its table to .run/fault-matrix.md and prints it; the table in tests/README.md
was written by such a run (`UPDATE_FAULT_MATRIX=1 make test-integration`), and
`test_the_readme_table_is_this_matrix` fails when its cells or outcomes differ from this run's.
Counts vary with timing (how many rows a window catches), outcomes must not.
"""

from __future__ import annotations

import json
import os
import re
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from e2e_support import fake_messages
from google.cloud import bigquery

from localrun.emulators import free_port, start_pubsub_emulator
from localrun.processes import spawn
from localrun.resources import StackNames, create_bigquery, create_pubsub
from localrun.stack import child_env, publish, start_pipeline
from pipeline import bigquery_client as bq
from pipeline.tables import CUSTOMERS, CUSTOMERS_DLQ, CUSTOMERS_DLQ_REPLAYS
from producer.fake import FakeSource
from tests import faultproxy
from tests.faultproxy import Upstream, google_error
from tests.support import ROOT, producer_summary, run_python

pytestmark = pytest.mark.timeout(900)

README = ROOT / "tests" / "README.md"
BEGIN = "<!-- fault matrix: written by tests/e2e/test_fault_matrix.py (UPDATE_FAULT_MATRIX=1) -->"
END = "<!-- end of fault matrix -->"
RATE, COUNT = 25, 50  # customers/s, customers per cell (2 s of publishing)
WINDOW = 1.0  # seconds a fault stays on, once the first LEAD customers landed
LEAD = 8
INSERT_ALL = r"/tables/{table}/insertAll"
RESULTS: list[dict] = []

# Outcomes (the README table's fourth column).
RETRIED = "retried: all rows"
DEAD_LETTERED = "write dead letters holding the rows; make replay inserts them: all rows"
DLQ_RETRIED = "dead letters retried until stored (reduced); make replay inserts them: all rows"
PRODUCER_RETRIED = "producer retried, 0 unconfirmed; pipeline read on: all rows"
RESTARTED = "producer retried, 0 unconfirmed; pipeline reconnected: all rows"
API_RETRIED = "producer retried the API: all rows"
API_STOPPED = "producer stopped (exit 4) with a clear message; whole pages only: all rows"


# --- the randomuser server behind the proxy ------------------------------------------------


class RandomUserHandler(BaseHTTPRequestHandler):
    """`GET /api/1.4/?results=N`: N new fake users, as randomuser.me answers."""

    source = FakeSource(seed="fault-matrix")
    lock = threading.Lock()

    def do_GET(self):
        results = int(re.search(r"results=(\d+)", self.path).group(1))
        with self.lock:
            users = [self.source.user() for _ in range(results)]
        info = {"seed": "x", "results": results, "page": 1, "version": "1.4"}
        body = json.dumps({"results": users, "info": info}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


# --- the stack ------------------------------------------------------------------------------


@dataclass
class Stack:
    names: StackNames
    bigquery: bigquery.Client
    bigquery_endpoint: str  # the emulator itself: the replay's, once the cause is fixed
    pubsub_port: int
    pubsub: object
    proxy: faultproxy.FaultProxy
    pipeline: object
    log_dir: Path


@pytest.fixture(scope="module")
def stack(bigquery_emulator, tmp_path_factory):
    """Its own Pub/Sub emulator (a cell restarts it), a dataset of its own, the proxy and the
    pipeline; PUBSUB_EMULATOR_HOST points the test at the emulator itself."""
    log_dir = tmp_path_factory.mktemp("fault-matrix")
    port = free_port()
    previous = os.environ.get("PUBSUB_EMULATOR_HOST")
    api = ThreadingHTTPServer(("127.0.0.1", free_port()), RandomUserHandler)
    threading.Thread(target=api.serve_forever, daemon=True).start()
    names = StackNames(project=bigquery_emulator.project, dataset="fault_matrix")
    client = bq.client(names.project, bigquery_emulator.endpoint)
    started = []
    try:
        pubsub = start_pubsub_emulator(log_dir, port=port)
        os.environ["PUBSUB_EMULATOR_HOST"] = pubsub.address
        create_pubsub(names)
        create_bigquery(client, names)
        upstreams = {
            "bigquery": Upstream("http", bigquery_emulator.endpoint.removeprefix("http://")),
            "pubsub": Upstream("tcp", pubsub.address),
            "api": Upstream("http", f"127.0.0.1:{api.server_port}"),
        }
        proxy = faultproxy.start(log_dir, upstreams)
        started.append(proxy)
        pipeline = start_pipeline(names, pubsub.address, proxy.url("bigquery"), log_dir)
        started.append(pipeline)
        stack = Stack(
            names, client, bigquery_emulator.endpoint, port, pubsub, proxy, pipeline, log_dir
        )
        warm_up(stack)
        yield stack
    finally:
        for process in reversed(started):
            process.stop()
        if "stack" in locals():
            stack.pubsub.stop()
        elif "pubsub" in locals():
            pubsub.stop()
        api.shutdown()
        if previous is None:
            os.environ.pop("PUBSUB_EMULATOR_HOST", None)
        else:
            os.environ["PUBSUB_EMULATOR_HOST"] = previous


def warm_up(stack: Stack) -> None:
    """Customers through the whole stack before the first cell: a window must not fall into
    the pipeline's start."""
    messages = fake_messages(5, seed="fault-matrix-warm-up")
    publish(stack.names.topic_path, messages)
    rows, _ = settle(stack, {message.customer_id for message in messages}, timeout=180)
    assert len(rows) == len(messages), stack.pipeline.log_tail(40)


# --- one cell -------------------------------------------------------------------------------


@dataclass
class Run:
    """One producer run of a cell: what Pub/Sub confirmed, and how it ended."""

    ids: set[str]
    summary: dict
    log: str


def start_producer(stack: Stack, name: str, *extra: str):
    record = stack.log_dir / f"{name}.jsonl"
    argv = [
        sys.executable, "-m", "producer", f"--topic={stack.names.topic_path}",
        f"--rate={RATE}", f"--count={COUNT}", f"--record={record}",
        "--log-format=json", "--progress-interval=1", *extra,
    ]  # fmt: skip
    env = child_env(stack.proxy.address("pubsub"))  # the producer's Pub/Sub: through the proxy
    return spawn(f"producer-{name}", argv, stack.log_dir, env=env), record


def publishing(stack: Stack, record: Path, lead: int = LEAD, timeout: float = 60) -> None:
    """Return once the first `lead` customers of this run are rows (with `lead` 0: once the
    producer has published): the stream is flowing."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lines = record.read_text().splitlines()[:-1] if record.exists() else []
        ids = {json.loads(line)["login"]["uuid"] for line in lines[:lead]}
        if lines and len(ids) >= lead and set(landed(stack, ids)[0]) >= ids:
            return
        time.sleep(0.1)
    pytest.fail("the stream did not start flowing")


def finish_producer(process, record: Path, timeout: float = 120) -> Run:
    assert process.wait(timeout) is not None, f"the producer did not finish:\n{process.log_tail()}"
    log = process.log_path.read_text(encoding="utf-8", errors="replace")
    users = (
        [json.loads(line) for line in record.read_text().splitlines()] if record.exists() else []
    )
    return Run({user["login"]["uuid"] for user in users}, producer_summary(log), log)


def landed(stack: Stack, ids: set[str]) -> tuple[Counter, set[str]]:
    """Rows per customer of `ids` in `customers`, and the customers of `ids` that a replayable
    `write` dead letter holds."""
    parameter = [bigquery.ArrayQueryParameter("ids", "STRING", sorted(ids))]
    sql = f"SELECT customer_id FROM `{stack.names.customers}` WHERE customer_id IN UNNEST(@ids)"
    rows = Counter(row[0] for row in bq.query(stack.bigquery, sql, parameter))
    sql = (
        f"SELECT payloadBytes FROM `{stack.names.customers_dlq}` "
        "WHERE stage = 'write' AND payload_state = 'row'"
    )
    letters = set()
    for (payload,) in bq.query(stack.bigquery, sql):
        customer_id = json.loads(payload).get("customer_id")
        if customer_id in ids:
            letters.add(customer_id)
    return rows, letters


def settle(stack: Stack, ids: set[str], timeout: float = 120) -> tuple[Counter, set[str]]:
    """Wait until every customer of `ids` is a row or a replayable write dead letter."""
    deadline = time.monotonic() + timeout
    while True:
        rows, letters = landed(stack, ids)
        if set(rows) | letters >= ids or time.monotonic() > deadline:
            return rows, letters
        assert stack.pipeline.running(), f"the pipeline died:\n{stack.pipeline.log_tail(40)}"
        time.sleep(0.5)


def replay_rows(stack: Stack) -> str:
    """`python -m replay --stage write --execute`, as `make replay` runs it."""
    names = stack.names
    result = run_python(
        "-m", "replay", f"--topic={names.topic_path}",
        f"--dlq-table={names.beam_table(CUSTOMERS_DLQ)}",
        f"--output-table={names.beam_table(CUSTOMERS)}",
        f"--replays-table={names.beam_table(CUSTOMERS_DLQ_REPLAYS)}",
        f"--bigquery-endpoint={stack.bigquery_endpoint}", "--stage=write", "--execute",
        env=child_env(stack.pubsub.address),
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def record(component: str, fault: str, outcome: str, run: Run, **counts) -> None:
    row = {"component": component, "fault": fault, "outcome": outcome}
    row |= {"published": len(run.ids), **counts}
    RESULTS.append(row)
    print(f"[fault matrix] {json.dumps(row)}")


def check_cell(stack: Stack, cell: tuple[str, str, str], run: Run, injected: int) -> None:
    """Every confirmed customer is exactly one row, or one write dead letter that the replay
    makes exactly one row; the pipeline is alive; the fault fired. `cell`: component, fault,
    expected outcome."""
    component, fault, outcome = cell
    assert injected > 0, f"{component}/{fault}: the fault never fired"
    assert run.summary["unconfirmed"] == 0 and run.summary["failed"] == 0, run.summary
    rows, letters = settle(stack, run.ids)
    assert set(rows) | letters == run.ids, f"lost: {sorted(run.ids - set(rows) - letters)[:5]}"
    assert max(rows.values(), default=1) == 1, "a customer written twice"
    dead_lettered = len(letters - set(rows))
    if dead_lettered:
        assert outcome in (DEAD_LETTERED, DLQ_RETRIED), f"{fault}: {dead_lettered} dead letters"
        replay_rows(stack)
        rows, _ = landed(stack, run.ids)
    elif outcome in (DEAD_LETTERED, DLQ_RETRIED):
        pytest.fail(f"{fault}: no batch was refused, so the replay was not exercised")
    assert set(rows) == run.ids and max(rows.values()) == 1, "after the replay: each once"
    assert stack.pipeline.running(), stack.pipeline.log_tail(40)
    record(
        component, fault, outcome, run,
        rows=len(rows) - dead_lettered, dead_letters=dead_lettered,
        replayed=dead_lettered, faults=injected,
    )  # fmt: skip


def bigquery_cell(stack: Stack, name: str, table: str, kind: str, **spec) -> tuple[Run, int]:
    window = spec.pop("window", WINDOW)
    before = stack.proxy.injected()
    producer, path = start_producer(stack, name, "--source=fake")
    publishing(stack, path)
    with stack.proxy.fault("bigquery", kind, path=INSERT_ALL.format(table=table), **spec):
        time.sleep(window)
    return finish_producer(producer, path), stack.proxy.injected() - before


# --- BigQuery -------------------------------------------------------------------------------

TRANSIENT = [
    ("HTTP 429", {"kind": "status", **google_error(429, "rateLimitExceeded", "Too many")}),
    ("HTTP 500", {"kind": "status", **google_error(500, "backendError", "Backend error")}),
    ("HTTP 502", {"kind": "status", **google_error(502, "badGateway", "Bad gateway")}),
    ("HTTP 503", {"kind": "status", **google_error(503, "backendError", "Unavailable")}),
    ("HTTP 409", {"kind": "status", **google_error(409, "duplicate", "Already exists")}),
    ("connection reset", {"kind": "reset"}),
    ("response slower than the client's 10 s timeout", {"kind": "stall", "seconds": 12}),
]
PERMANENT = [
    ("HTTP 400", google_error(400, "invalid", "Invalid table-valued request")),
    ("HTTP 403", google_error(403, "accessDenied", "Access Denied: Table customers")),
    ("HTTP 404", google_error(404, "notFound", "Not found: Table customers")),
]


@pytest.mark.parametrize(("fault", "spec"), TRANSIENT, ids=[f for f, _ in TRANSIENT])
def test_bigquery_transient_faults_are_retried_into_rows(stack, fault, spec):
    spec = dict(spec)
    if spec["kind"] == "stall":
        spec["window"] = 2.0  # requests held 12 s each, so the first retry comes after 10 s
    run, injected = bigquery_cell(stack, f"bq-{fault[:8]}", "customers", **spec)
    check_cell(stack, ("BigQuery customers", fault, RETRIED), run, injected)


@pytest.mark.parametrize(("fault", "spec"), PERMANENT, ids=[f for f, _ in PERMANENT])
def test_bigquery_refused_batches_are_replayed_into_rows(stack, fault, spec):
    run, injected = bigquery_cell(stack, f"bq-{fault}", "customers", "status", **spec)
    check_cell(stack, ("BigQuery customers", fault, DEAD_LETTERED), run, injected)


def test_bigquery_dead_letter_table_refusing_too_is_retried(stack):
    """The dataset's IAM binding is gone for a while: `customers` and `customers_dlq` both
    answer 403. The dead letters are retried in the sink until the table takes them."""
    before = stack.proxy.injected()
    producer, path = start_producer(stack, "bq-dlq", "--source=fake")
    publishing(stack, path)
    denied = google_error(403, "accessDenied", "Access Denied: Dataset fault_matrix")
    customers, dlq = (INSERT_ALL.format(table=t) for t in ("customers", "customers_dlq"))
    with (
        stack.proxy.fault("bigquery", "status", path=customers, **denied),
        stack.proxy.fault("bigquery", "status", path=dlq, **denied),
    ):
        time.sleep(3.0)
    run = finish_producer(producer, path)
    cell = ("BigQuery customers + customers_dlq", "HTTP 403 on both", DLQ_RETRIED)
    check_cell(stack, cell, run, stack.proxy.injected() - before)


# --- Pub/Sub --------------------------------------------------------------------------------


def drain(stack: Stack, quiet: float = 2.0, timeout: float = 60) -> None:
    """Wait until `customers` has not grown for `quiet` seconds: with the producer held at the
    proxy, the pipeline has then written everything the emulator holds."""
    deadline, last, since = time.monotonic() + timeout, -1, time.monotonic()
    sql = f"SELECT COUNT(*) FROM `{stack.names.customers}`"
    while time.monotonic() < deadline:
        now = bq.query(stack.bigquery, sql)[0][0]
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return
        time.sleep(0.2)
    pytest.fail("the pipeline did not catch up before the restart")


def test_pubsub_emulator_restarted_mid_stream(stack):
    """The emulator stops and starts again on its port (its topic and subscriptions recreated, as
    a restarted emulator has none): the producer's publishes wait and are retried, the pipeline's
    pulls fail and then reconnect. The emulator keeps messages in memory only, so the producer's
    traffic is held at the proxy and the pipeline drained before the stop: what is lost with the
    emulator's memory is the emulator's, not the product's."""
    before = stack.proxy.injected()
    producer, path = start_producer(stack, "pubsub-restart", "--source=fake")
    publishing(stack, path)

    with stack.proxy.fault("pubsub", "hold"):
        drain(stack)
        stack.pubsub.stop()
        stack.pubsub = start_pubsub_emulator(stack.log_dir, port=stack.pubsub_port)
        create_pubsub(stack.names)
    run = finish_producer(producer, path)
    cell = ("Pub/Sub", "emulator restarted", RESTARTED)
    check_cell(stack, cell, run, stack.proxy.injected() - before)


def test_pubsub_producer_connections_reset(stack):
    before = stack.proxy.injected()
    producer, path = start_producer(stack, "pubsub-reset", "--source=fake")
    publishing(stack, path, lead=0)  # the fault is on the producer's side only
    with stack.proxy.fault("pubsub", "reset"):
        time.sleep(WINDOW)
    run = finish_producer(producer, path)
    cell = ("Pub/Sub", "producer's connections reset", PRODUCER_RETRIED)
    check_cell(stack, cell, run, stack.proxy.injected() - before)


# --- the randomuser API ---------------------------------------------------------------------

API_FAULTS = [
    ("HTTP 500", API_RETRIED, {"kind": "status", "status": 500, "body": "<html>500</html>"}),
    ("response slower than --api-timeout", API_RETRIED, {"kind": "stall", "seconds": 3}),
    (
        "429 storm (Retry-After: 1)",
        API_RETRIED,
        {
            "kind": "status",
            "status": 429,
            "headers": {"retry-after": "1", "content-type": "application/json"},
            "body": json.dumps({"error": "Rate limit exceeded, please wait"}),
        },
    ),
    ("truncated JSON", API_STOPPED, {"kind": "truncate", "keep": 300}),
    (
        '{"error": ...} body',
        API_STOPPED,
        {
            "kind": "status",
            "status": 200,
            "headers": {"content-type": "application/json"},
            "body": json.dumps({"error": "Uh oh, something has gone wrong. Please tell us"}),
        },
    ),
]


@pytest.mark.parametrize(
    ("fault", "outcome", "spec"), API_FAULTS, ids=[f for f, _, _ in API_FAULTS]
)
def test_randomuser_api_faults(stack, fault, outcome, spec):
    batch = 10
    before = stack.proxy.injected()
    producer, path = start_producer(
        stack, f"api-{fault[:10]}", "--source=randomuser",
        f"--api-url={stack.proxy.url('api')}/api/", f"--batch-size={batch}",
        "--api-timeout=1", "--api-retries=6",
    )  # fmt: skip
    publishing(stack, path, lead=0)  # the producer fetches a page every 0.4 s
    with stack.proxy.fault("api", path=r"^/api/", **spec):
        time.sleep(2.5 if "429" in fault else WINDOW)
    run = finish_producer(producer, path)
    if outcome == API_STOPPED:
        assert run.summary["exit_code"] == 4 and run.summary["stop_reason"] != "count"
        message = "not JSON" if "truncated" in fault else "answered an error"
        assert message in run.log, run.log[-2000:]
        assert len(run.ids) % batch == 0 and len(run.ids) < COUNT, "half a response published"
    else:
        assert run.summary["exit_code"] == 0 and len(run.ids) == COUNT, run.summary
    check_cell(stack, ("randomuser API", fault, outcome), run, stack.proxy.injected() - before)


# --- the table ------------------------------------------------------------------------------

COLUMNS = (
    "component",
    "fault",
    "outcome",
    "published",
    "rows",
    "dead_letters",
    "replayed",
    "faults",
)


def render(results: list[dict]) -> str:
    lines = [
        "| " + " | ".join(c.replace("_", " ") for c in COLUMNS) + " |",
        "|" + "---|" * len(COLUMNS),
    ]
    lines += ["| " + " | ".join(str(r[c]) for c in COLUMNS) + " |" for r in results]
    return "\n".join(lines)


def outcomes(table: str) -> list[tuple[str, str, str]]:
    return [
        tuple(cell.strip() for cell in line.strip("|").split("|")[:3])
        for line in table.splitlines()[2:]
        if line.startswith("|")
    ]


def test_the_readme_table_is_this_matrix(report):
    assert len(RESULTS) >= 14, f"only {len(RESULTS)} cells ran: run the whole module"
    table = render(RESULTS)
    (ROOT / ".run").mkdir(exist_ok=True)
    (ROOT / ".run" / "fault-matrix.md").write_text(table + "\n", encoding="utf-8")
    for line in table.splitlines():
        report(line)
    text = README.read_text(encoding="utf-8")
    before, rest = text.split(BEGIN + "\n", 1)
    committed, after = rest.split(END, 1)
    if os.environ.get("UPDATE_FAULT_MATRIX") == "1":
        README.write_text(f"{before}{BEGIN}\n{table}\n{END}{after}", encoding="utf-8")
        return
    assert outcomes(committed) == outcomes(table), (
        "tests/README.md's fault matrix differs from this run's cells or outcomes: "
        "rerun with UPDATE_FAULT_MATRIX=1 and commit it"
    )
