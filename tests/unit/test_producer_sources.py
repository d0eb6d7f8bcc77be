"""The randomuser and file sources, against a local HTTP server serving the captured responses."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
from werkzeug import Response

from producer.sources import (
    FileSource,
    RandomUserSource,
    SourceError,
    http_session,
    retry_after_seconds,
)
from tests.support import FIXTURES

API = "/api/1.4/"
USERS = json.loads((FIXTURES / "03_api_results100_seed_kbs.json").read_text())["results"]
RATE_LIMITED = (FIXTURES / "60_err_rate_limit_429.json").read_text()
NOT_FOUND = (FIXTURES / "48_err_version_9.9.txt").read_text()


class RecordingStop:
    """Stands in for the stop event: records each back-off instead of sleeping through it."""

    def __init__(self):
        self.waits = []

    def wait(self, timeout):
        self.waits.append(timeout)
        return False


def envelope(count: int) -> dict:
    return {"results": [USERS[i % len(USERS)] for i in range(count)], "info": {"version": "1.4"}}


def serve_envelopes(request):
    """Answers `results=N` with N users, as the API does."""
    return Response(json.dumps(envelope(int(request.args["results"]))), mimetype="application/json")


def source(httpserver, **kwargs) -> RandomUserSource:
    kwargs.setdefault("session", http_session(retries=3, backoff=0))
    kwargs.setdefault("stop", RecordingStop())
    return RandomUserSource(httpserver.url_for("/api/"), "1.4", **kwargs)


def test_parses_a_captured_response(httpserver):
    body = (FIXTURES / "01_api_results1.json").read_text()
    httpserver.expect_request(API, query_string="results=1").respond_with_data(
        body, content_type="application/json"
    )
    users = list(source(httpserver).users(1))
    assert users == json.loads(body)["results"]
    assert users[0]["login"]["uuid"] == "abb5423a-5333-405d-98ec-83c3b6f01294"


def test_asks_in_batches_of_batch_size_and_no_more_than_needed(httpserver):
    httpserver.expect_request(API).respond_with_handler(serve_envelopes)
    users = list(source(httpserver, batch_size=1000).users(2500))
    assert len(users) == 2500
    asked = [int(request.args["results"]) for request, _ in httpserver.log]
    assert asked == [1000, 1000, 500]


def test_sends_nat_and_pages_through_a_seed(httpserver):
    httpserver.expect_request(API).respond_with_handler(serve_envelopes)
    list(source(httpserver, batch_size=10, nat=("US", "GB"), seed="kbs").users(20))
    queries = [dict(request.args) for request, _ in httpserver.log]
    assert queries == [
        {"results": "10", "nat": "us,gb", "seed": "kbs", "page": "1"},
        {"results": "10", "nat": "us,gb", "seed": "kbs", "page": "2"},
    ]


def test_retries_server_errors(httpserver):
    httpserver.expect_oneshot_request(API).respond_with_data("boom", status=500)
    httpserver.expect_oneshot_request(API).respond_with_data("busy", status=503)
    httpserver.expect_request(API).respond_with_handler(serve_envelopes)
    src = source(httpserver)
    assert len(src.fetch(5)) == 5
    assert len(httpserver.log) == 3
    assert src.retries == 2


def test_a_server_error_that_persists_is_a_clear_error(httpserver):
    httpserver.expect_request(API).respond_with_data("still broken", status=502)
    with pytest.raises(SourceError, match=r"HTTP 502: still broken"):
        source(httpserver, session=http_session(retries=2, backoff=0)).fetch(5)
    assert len(httpserver.log) == 3


@pytest.fixture
def resetting_server():
    """An HTTP server that drops the first connection without answering, then serves users."""
    calls = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            calls.append(self.path)
            if len(calls) == 1:
                self.close_connection = True
                self.connection.close()
                return
            results = int(parse_qs(urlsplit(self.path).query)["results"][0])
            body = json.dumps(envelope(results)).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/api/", calls
    server.shutdown()
    server.server_close()


def test_retries_a_reset_connection(resetting_server):
    url, calls = resetting_server
    src = RandomUserSource(url, "1.4", session=http_session(retries=3, backoff=0))
    assert len(src.fetch(3)) == 3
    assert len(calls) == 2
    assert src.retries == 1


def test_an_unreachable_api_is_a_clear_error():
    src = RandomUserSource("http://127.0.0.1:1/api/", session=http_session(retries=1, backoff=0))
    with pytest.raises(SourceError, match=r"unreachable after retries"):
        src.fetch(1)


def test_backs_off_on_429_without_retry_after(httpserver):
    """The captured 429 has no Retry-After: wait by the bounded schedule, with jitter."""
    httpserver.expect_oneshot_request(API).respond_with_data(
        RATE_LIMITED, status=429, content_type="application/json"
    )
    httpserver.expect_oneshot_request(API).respond_with_data(
        RATE_LIMITED, status=429, content_type="application/json"
    )
    httpserver.expect_request(API).respond_with_handler(serve_envelopes)
    stop = RecordingStop()
    src = source(httpserver, stop=stop, rate_limit_waits=(10.0, 30.0))
    assert len(src.fetch(4)) == 4
    assert len(stop.waits) == 2
    assert 10.0 <= stop.waits[0] <= 11.0
    assert 30.0 <= stop.waits[1] <= 33.0
    assert src.retries == 2


def test_honours_retry_after_on_429(httpserver):
    httpserver.expect_oneshot_request(API).respond_with_data(
        RATE_LIMITED, status=429, headers={"Retry-After": "7"}
    )
    httpserver.expect_request(API).respond_with_handler(serve_envelopes)
    stop = RecordingStop()
    assert len(source(httpserver, stop=stop).fetch(2)) == 2
    assert stop.waits == [7.0]


def test_a_stop_during_a_rate_limit_wait_ends_the_source(httpserver):
    httpserver.expect_request(API).respond_with_data(RATE_LIMITED, status=429)
    stop = threading.Event()
    stop.set()
    assert list(source(httpserver, stop=stop).users(10)) == []


def test_404_is_a_clear_error(httpserver):
    httpserver.expect_request(API).respond_with_data(NOT_FOUND, status=404)
    with pytest.raises(SourceError, match=r"404 Not Found: check --api-url and --api-version"):
        source(httpserver).fetch(2)
    assert len(httpserver.log) == 1  # not retried


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("<html>gateway</html>", "not JSON"),
        ('{"error": "Uh oh, something has gone wrong."}', "answered an error: Uh oh"),
        ('{"info": {}}', "without a list of users"),
        ('{"results": [1, 2]}', "without a list of users"),
        ("[]", "without a list of users"),
    ],
)
def test_a_malformed_body_is_a_clear_error(httpserver, body, message):
    httpserver.expect_request(API).respond_with_data(body, content_type="application/json")
    with pytest.raises(SourceError, match=message):
        source(httpserver).fetch(2)


def test_silently_ignored_parameters_are_caught(httpserver):
    """The API answers bad parameters with one user; asking for 5 and getting 1 is an error."""
    httpserver.expect_request(API).respond_with_json(envelope(1))
    with pytest.raises(SourceError, match=r"returned 1 users for results=5"):
        source(httpserver).fetch(5)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [(None, None), ("", None), ("12", 12.0), ("-3", 0.0), ("99999", 900.0), ("soon", None)],
)
def test_retry_after_seconds(header, seconds):
    assert retry_after_seconds(header) == seconds


def test_retry_after_http_date():
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0


# ------------------------------------------------------------------------------- file source


def test_file_replays_a_saved_api_response():
    users = list(FileSource(FIXTURES / "03_api_results100_seed_kbs.json").users())
    assert users == USERS


def test_file_replays_json_lines_and_skips_what_is_not_a_user(tmp_path):
    path = tmp_path / "replay.jsonl"
    lines = [
        json.dumps(USERS[0]),
        "",
        "not json at all",
        json.dumps(envelope(3)),  # an old producer's whole response on one line
        "42",
        json.dumps(USERS[1]),
    ]
    path.write_text("\n".join(lines) + "\n")
    src = FileSource(path)
    users = list(src.users())
    assert users == [USERS[0], USERS[0], USERS[1], USERS[2], USERS[1]]
    assert src.skipped == 2


def test_file_replays_a_pretty_printed_response(tmp_path):
    path = tmp_path / "response.json"
    path.write_text(json.dumps(envelope(4), indent=2))
    assert len(list(FileSource(path).users())) == 4


def test_a_broken_json_document_is_a_clear_error(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{\n  "results": [\n')
    with pytest.raises(SourceError, match="neither JSON lines nor JSON"):
        list(FileSource(path).users())
