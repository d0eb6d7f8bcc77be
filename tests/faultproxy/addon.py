"""mitmproxy addon: the faults of the fault matrix, switched on and off while traffic flows.

Loaded by `mitmdump -s addon.py --set faults_file=F --set faults_log=L` (tests/faultproxy),
in mitmproxy's own virtualenv: it imports mitmproxy and the standard library only.

`faults_file` holds a JSON list of rules; the first rule whose `port` (the proxy's listening
port) and `path` (a regex searched in an HTTP request's path) match a flow applies:

- HTTP: `status` (answer with that status, its reason phrase, `body` and `headers`, never
  forwarding the request), `stall` (hold the request `seconds`, then close the connection
  without an answer: the client's timeout fires first), `reset` (close the connection instead
  of answering), `truncate` (forward, then cut the response body to `keep` bytes).
- TCP (the gRPC of the Pub/Sub emulator): `reset` (close the connection at its next message),
  `hold` (keep every message of the connection until the rule is gone, then pass them on).

Every injected fault is one line in `faults_log`, so a test can prove its fault did fire.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import time

from mitmproxy import ctx, http, tcp


class Faults:
    def __init__(self) -> None:
        self._mtime = None
        self._rules: list[dict] = []

    def load(self, loader) -> None:
        loader.add_option("faults_file", str, "", "JSON list of fault rules, re-read on change")
        loader.add_option("faults_log", str, "", "one line per injected fault")

    def _current(self) -> list[dict]:
        path = ctx.options.faults_file
        try:
            mtime = os.stat(path).st_mtime_ns
        except OSError:
            return []
        if mtime != self._mtime:
            try:
                with open(path, encoding="utf-8") as rules:
                    self._rules = json.load(rules)
            except ValueError:  # caught mid-write: keep the previous rules
                return self._rules
            self._mtime = mtime
        return self._rules

    def _rule(self, flow, protocol: str, path: str = "") -> dict | None:
        port = flow.client_conn.sockname[1]
        for rule in self._current():
            if rule.get("protocol", "http") != protocol or rule.get("port", port) != port:
                continue
            if re.search(rule.get("path", ""), path):
                return rule
        return None

    def _log(self, rule: dict, where: str) -> None:
        if ctx.options.faults_log:
            with open(ctx.options.faults_log, "a", encoding="utf-8") as log:
                log.write(json.dumps({"at": time.time(), "fault": rule["kind"], "where": where}))
                log.write("\n")

    async def request(self, flow: http.HTTPFlow) -> None:
        rule = self._rule(flow, "http", flow.request.path)
        if rule is None or rule["kind"] == "truncate":
            return
        self._log(rule, flow.request.path)
        if rule["kind"] == "status":
            flow.response = http.Response.make(
                rule["status"], rule.get("body", ""), rule.get("headers", {})
            )
        elif rule["kind"] == "stall":
            await asyncio.sleep(rule["seconds"])
            flow.kill()
        elif rule["kind"] == "reset":
            flow.kill()

    def response(self, flow: http.HTTPFlow) -> None:
        rule = self._rule(flow, "http", flow.request.path)
        if rule is not None and rule["kind"] == "truncate" and flow.response.content:
            self._log(rule, flow.request.path)
            flow.response.content = flow.response.content[: rule["keep"]]

    async def tcp_message(self, flow: tcp.TCPFlow) -> None:
        rule = self._rule(flow, "tcp")
        if rule is None:
            return
        self._log(rule, f"tcp:{flow.client_conn.sockname[1]}")
        if rule["kind"] == "reset":
            flow.kill()
        elif rule["kind"] == "hold":
            while self._rule(flow, "tcp") is not None:
                await asyncio.sleep(0.05)


addons = [Faults()]
