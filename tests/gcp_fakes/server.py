"""The HTTP plumbing every fake shares: one threaded server per API, routes, recorded requests.

A fake is a `Service` subclass whose methods are decorated with `@route(METHOD, PATH_REGEX)`.
A handler gets the parsed `Request` and the regex's named groups, and returns a JSON-able body
(HTTP 200) or raises `Refused(status, message)`, answered as Google APIs answer errors:
`{"error": {"code", "message", "status"}}`. Every request and every refusal is recorded, so a
test can assert on exactly what the real gcloud sent, and that nothing was refused.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


class Refused(Exception):  # noqa: N818 (an answer, not a bug: the service refuses the request)
    """The service's refusal of a request: an HTTP status and Google's error message."""

    def __init__(self, status: int, message: str, body: dict | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.body = (
            body  # an API whose errors are not Google's usual shape (OAuth's token endpoint)
        )


@dataclass
class Request:
    api: str
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        try:
            return json.loads(self.body or b"{}")
        except ValueError as error:
            raise Refused(400, f"Invalid JSON payload received. {error}") from error

    def __str__(self) -> str:
        query = "&".join(f"{k}={v}" for k, v in sorted(self.query.items()))
        return f"{self.api}: {self.method} {self.path}{'?' + query if query else ''}"


@dataclass
class Answer:
    """What a handler may return instead of a dict: raw bytes or a status other than 200."""

    body: bytes | dict | list
    status: int = 200
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Record:
    """One request the fake received and what it answered."""

    request: Request
    status: int
    error: str = ""


def route(method: str, pattern: str) -> Callable:
    """Declare a handler for `method` and a path matching `pattern` (a full-match regex)."""

    def mark(handler: Callable) -> Callable:
        handler.route = (method, re.compile(pattern))
        return handler

    return mark


STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ALREADY_EXISTS",
    412: "FAILED_PRECONDITION",
    501: "UNIMPLEMENTED",
}


@dataclass
class Service:
    """One fake API; `api` is its api_endpoint_overrides name (gcloud's property)."""

    api: str = ""
    records: list[Record] = field(default_factory=list)
    lock: threading.RLock = field(default_factory=threading.RLock)

    def routes(self) -> list[tuple[str, re.Pattern, Callable]]:
        found = []
        for name in dir(type(self)):
            handler = getattr(self, name)
            if callable(handler) and hasattr(handler, "route"):
                found.append((*handler.route, handler))
        return found

    def dispatch(self, request: Request) -> Answer:
        for method, pattern, handler in self.routes():
            match = pattern.fullmatch(request.path)
            if match and method == request.method:
                with self.lock:
                    result = handler(request, **match.groupdict())
                return result if isinstance(result, Answer) else Answer(result)
        # 400, not 501: gcloud retries a 5xx, and nothing here would ever answer it.
        raise Refused(400, f"the {self.api} fake serves no {request.method} {request.path}")

    def refusals(self) -> list[Record]:
        """Requests refused; a lookup answered 404 (gcloud asking whether a thing exists) is not."""
        return [
            record
            for record in self.records
            if record.status >= 400
            and not (record.status == 404 and record.request.method == "GET")
        ]


def error_body(status: int, message: str) -> bytes:
    name = STATUS_NAMES.get(status, HTTPStatus(status).phrase.upper().replace(" ", "_"))
    return json.dumps({"error": {"code": status, "message": message, "status": name}}).encode()


def handler_class(service: Service) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:  # the records are the log
            pass

        def handle_any(self) -> None:
            url = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            request = Request(
                api=service.api,
                method=self.command,
                path=url.path,
                query={k: v[-1] for k, v in parse_qs(url.query).items()},
                headers={k.lower(): v for k, v in self.headers.items()},
                body=self.rfile.read(length) if length else b"",
            )
            try:
                answer = service.dispatch(request)
                record = Record(request, answer.status)
                body = answer.body
                if not isinstance(body, bytes):
                    body = json.dumps(body).encode()
                content_type, headers = answer.content_type, answer.headers
            except Refused as refusal:
                record = Record(request, refusal.status, refusal.message)
                body = (
                    json.dumps(refusal.body).encode()
                    if refusal.body is not None
                    else error_body(refusal.status, refusal.message)
                )
                content_type = "application/json"
                headers = {}
            with service.lock:
                service.records.append(record)
            self.send_response(record.status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = handle_any  # noqa: N815 (http.server's)

    return Handler


class Server:
    """`service` served on 127.0.0.1 at a free port, in a daemon thread, until `stop()`."""

    def __init__(self, service: Service) -> None:
        self.service = service
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler_class(service))
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
