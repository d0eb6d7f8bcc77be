"""The fault-injecting proxy of the tests: mitmproxy's `mitmdump` with the addon beside this file.

One process reverse-proxies every upstream a test names, each on a free port of its own: HTTP
(the BigQuery emulator's REST API, a randomuser server) or raw TCP (the Pub/Sub emulator's gRPC).
`proxy.fault(...)` switches a fault on for the flows of one upstream until the `with` block ends.
mitmproxy lives in its own virtualenv, `.tools/mitmproxy`, installed by `make tools` from
requirements/mitmproxy.txt: its pins must not move the pipeline's dependencies.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path

from localrun.emulators import free_port
from localrun.processes import ManagedProcess, spawn
from tests.support import ROOT

MITMDUMP = ROOT / ".tools" / "mitmproxy" / "bin" / "mitmdump"
ADDON = Path(__file__).with_name("addon.py")


class FaultProxyError(RuntimeError):
    pass


@dataclass(frozen=True)
class Upstream:
    protocol: str  # "http" or "tcp"
    address: str  # host:port of the real server


@dataclass
class FaultProxy:
    """A running mitmdump: `address(name)` is where clients connect instead of `name`'s server."""

    process: ManagedProcess
    ports: dict[str, int]
    upstreams: dict[str, Upstream]
    rules_path: Path
    log_path: Path
    _rules: list[dict] = field(default_factory=list)

    def address(self, name: str) -> str:
        return f"127.0.0.1:{self.ports[name]}"

    def url(self, name: str) -> str:
        return f"http://{self.address(name)}"

    def _write(self, rules: list[dict]) -> None:
        self._rules = rules
        partial = self.rules_path.with_suffix(".tmp")
        partial.write_text(json.dumps(rules), encoding="utf-8")
        os.replace(partial, self.rules_path)  # the addon never reads half a file

    def injected(self) -> int:
        """Faults injected so far (one per flow the proxy broke)."""
        try:
            return len(self.log_path.read_text(encoding="utf-8").splitlines())
        except FileNotFoundError:
            return 0

    @contextlib.contextmanager
    def fault(self, name: str, kind: str, *, path: str = "", **spec) -> Iterator[None]:
        """Fault `kind` on `name`'s flows (HTTP: whose path matches the regex `path`) while the
        block runs; several may be on at once, the first switched on wins."""
        rule = {"port": self.ports[name], "protocol": self.upstreams[name].protocol}
        rule |= {"kind": kind, "path": path, **spec}
        self._write([*self._rules, rule])
        try:
            yield
        finally:
            self._write([r for r in self._rules if r is not rule])

    def stop(self) -> None:
        self.process.stop()


def google_error(status: int, reason: str, message: str) -> dict:
    """A `status` rule answering as Google APIs do: a JSON error body and the reason phrase
    (https://cloud.google.com/bigquery/docs/error-messages)."""
    body = {
        "error": {
            "code": status,
            "message": message,
            "errors": [{"message": message, "domain": "global", "reason": reason}],
            "status": HTTPStatus(status).name,
        }
    }
    headers = {"content-type": "application/json"}
    return {"status": status, "body": json.dumps(body), "headers": headers}


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def start(log_dir: Path, upstreams: dict[str, Upstream], timeout: float = 30.0) -> FaultProxy:
    if not MITMDUMP.exists():
        raise FaultProxyError(f"{MITMDUMP} is missing: run `make tools` (installs mitmproxy)")
    log_dir.mkdir(parents=True, exist_ok=True)
    rules, log = log_dir / "faults.json", log_dir / "faults.log"
    rules.write_text("[]", encoding="utf-8")
    ports = {name: free_port() for name in upstreams}
    argv = [str(MITMDUMP), "--quiet", "-s", str(ADDON)]
    argv += ["--set", f"faults_file={rules}", "--set", f"faults_log={log}"]
    for name, upstream in upstreams.items():
        argv += ["--mode", f"reverse:{upstream.protocol}://{upstream.address}@{ports[name]}"]
    process = spawn("fault-proxy", argv, log_dir)
    proxy = FaultProxy(process, ports, upstreams, rules, log)
    deadline = time.monotonic() + timeout
    while not all(_listening(port) for port in ports.values()):
        if not process.running() or time.monotonic() > deadline:
            proxy.stop()
            raise FaultProxyError(f"mitmdump did not start:\n{process.log_tail()}")
        time.sleep(0.1)
    return proxy
