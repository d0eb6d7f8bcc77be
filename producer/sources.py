"""Where customers come from: the randomuser.me API, a saved file, or the offline fake source.

A source is an iterator of user dicts; the caller decides when to stop pulling, so a source only
holds one API response (at most 5,000 users) in memory, whatever the run length.
"""

from __future__ import annotations

import email.utils
import json
import logging
import random
import threading
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import requests
from requests.adapters import HTTPAdapter
from urllib3.util import Retry

from contract import SCHEMA, utf8_error
from producer.config import Config, ConfigError
from producer.fake import FakeSource

log = logging.getLogger(__name__)

# On 429 without Retry-After: the API counts users per time window, so wait long enough for
# the window to move on; each wait gets up to 10% jitter so restarted producers spread out.
RATE_LIMIT_WAITS = (10.0, 30.0, 60.0)
MAX_RETRY_AFTER = 900.0
CONNECT_TIMEOUT = 5.0


class SourceError(Exception):
    """The source cannot go on (bad URL, error body, garbage); the message says why."""


class Source(Protocol):
    name: str  # the `source` attribute: one of contract.SOURCES
    schema: str  # the `schema` attribute
    retries: int  # HTTP retries and rate-limit waits so far
    skipped: int  # input records that are not users (logged where found)

    def users(self, limit: int | None = None) -> Iterator[dict]:
        """Users until exhausted; `limit` lets a fetching source ask for no more than needed."""
        ...


def http_session(retries: int, backoff: float = 0.5, pool_size: int = 2) -> requests.Session:
    """A pooled session retrying connection errors and 5xx with jittered exponential backoff."""
    retry = Retry(
        total=retries,
        status_forcelist=(500, 502, 503, 504),
        allowed_methods=frozenset({"GET"}),
        backoff_factor=backoff,
        backoff_jitter=backoff,
        backoff_max=30.0,
        respect_retry_after_header=False,  # 429 + Retry-After: RandomUserSource, interruptibly
        raise_on_status=False,  # the final 5xx response reaches the caller, which names it
    )
    session = requests.Session()
    adapter = HTTPAdapter(max_retries=retry, pool_connections=1, pool_maxsize=pool_size)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers["User-Agent"] = "customer-stream-producer"
    return session


def retry_after_seconds(value: str | None) -> float | None:
    """Retry-After as seconds (delta or HTTP date), capped; None when absent or unreadable."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = (when - datetime.now(UTC)).total_seconds()
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def _snippet(text: str, size: int = 120) -> str:
    text = " ".join(text.split())
    return text if len(text) <= size else text[:size] + "..."


class RandomUserSource:
    """`GET {api_url}/{version}/?results=N[&nat=..][&seed=..&page=..]`, validated."""

    name = "randomuser"

    def __init__(
        self,
        api_url: str,
        version: str = "1.4",
        *,
        batch_size: int = 1000,
        nat: Sequence[str] = (),
        seed: str = "",
        session: requests.Session | None = None,
        read_timeout: float = 30.0,
        stop: threading.Event | None = None,
        rate_limit_waits: Sequence[float] = RATE_LIMIT_WAITS,
    ) -> None:
        self.url = api_url.rstrip("/") + "/" + (f"{version}/" if version else "")
        self.schema = f"randomuser/{version}" if version else SCHEMA
        self.batch_size = batch_size
        self.nat = ",".join(nat).lower()
        self.seed = seed
        self.session = session or http_session(retries=5)
        self.timeout = (CONNECT_TIMEOUT, read_timeout)
        self.stop = stop or threading.Event()
        self.rate_limit_waits = tuple(rate_limit_waits)
        self.retries = 0
        self.skipped = 0

    def users(self, limit: int | None = None) -> Iterator[dict]:
        page = 1
        while limit is None or limit > 0:
            wanted = self.batch_size if limit is None else min(self.batch_size, limit)
            batch = self.fetch(wanted, page)
            if batch is None:  # stopped while waiting out a rate limit
                return
            yield from batch
            page += 1
            if limit is not None:
                limit -= wanted

    def fetch(self, results: int, page: int = 1) -> list[dict] | None:
        """One validated page of users; None if stopped while rate-limited."""
        params: dict[str, Any] = {"results": results}
        if self.nat:
            params["nat"] = self.nat
        if self.seed:  # with a seed, pages are what makes consecutive batches differ
            params.update(seed=self.seed, page=page)
        waits = 0
        while True:
            response = self._get(params)
            if response.status_code != 429:
                return self._results(response, results)
            wait = retry_after_seconds(response.headers.get("Retry-After"))
            if wait is None:
                base = self.rate_limit_waits[min(waits, len(self.rate_limit_waits) - 1)]
                wait = base * (1 + random.random() / 10)  # noqa: S311 - jitter, not crypto
            waits += 1
            self.retries += 1
            log.warning(
                "randomuser API rate limit: waiting before the next request",
                extra={"wait_s": round(wait, 2), "waits": waits, "api": _snippet(response.text)},
            )
            if self.stop.wait(wait):
                return None

    def _get(self, params: dict[str, Any]) -> requests.Response:
        try:
            response = self.session.get(self.url, params=params, timeout=self.timeout)
        except requests.RequestException as exc:
            raise SourceError(
                f"randomuser API at {self.url} unreachable after retries: {exc}"
            ) from exc
        history = getattr(getattr(response.raw, "retries", None), "history", ())
        self.retries += len(history)
        return response

    def _results(self, response: requests.Response, expected: int) -> list[dict]:
        where = f"randomuser API {response.url}"
        if response.status_code == 404:
            raise SourceError(f"{where} answered 404 Not Found: check --api-url and --api-version")
        if not response.ok:
            raise SourceError(
                f"{where} answered HTTP {response.status_code}: {_snippet(response.text)}"
            )
        try:
            body = response.json()
        except ValueError:
            raise SourceError(
                f"{where} answered with a body that is not JSON: {_snippet(response.text)!r}"
            ) from None
        if isinstance(body, dict) and "error" in body:
            raise SourceError(f"{where} answered an error: {_snippet(str(body['error']))}")
        results = body.get("results") if isinstance(body, dict) else None
        if not isinstance(results, list) or not all(isinstance(user, dict) for user in results):
            raise SourceError(f"{where} answered JSON without a list of users in 'results'")
        if len(results) != expected:
            # The API answers bad parameters (results=abc, nat=zz) with 1 random user.
            raise SourceError(
                f"{where} returned {len(results)} users for results={expected}: "
                "check --batch-size, --nat and --api-version"
            )
        return results


class FileSource:
    """Replays JSON lines (one user or one API response per line) or one saved API response."""

    name = "file"
    schema = SCHEMA

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise ConfigError(f"--input {self.path}: no such file")
        self.retries = 0
        self.skipped = 0

    def users(self, limit: int | None = None) -> Iterator[dict]:
        try:
            lines = self.path.open(encoding="utf-8", errors="replace")
        except OSError as exc:
            raise SourceError(f"--input {self.path}: cannot read it: {exc.strerror}") from None
        with lines:
            first = lines.readline()
            try:
                json.loads(first)
            except (ValueError, RecursionError):
                if first.strip() and first.strip()[0] in "{[":  # a pretty-printed document
                    lines.seek(0)
                    yield from self._from_document(lines)
                    return
            lines.seek(0)
            for number, line in enumerate(lines, start=1):
                if line.strip():
                    yield from self._from_line(line, number)

    def _from_line(self, line: str, number: int) -> Iterator[dict]:
        try:
            value = json.loads(line)
        except ValueError as exc:
            self._skip(number, f"not JSON: {exc}")
            return
        except RecursionError:
            self._skip(number, "JSON nested too deeply")
            return
        yield from self._users_in(value, number)

    def _from_document(self, lines) -> Iterator[dict]:
        try:
            value = json.load(lines)
        except (ValueError, RecursionError) as exc:
            raise SourceError(
                f"--input {self.path} is neither JSON lines nor JSON: {exc or 'nested too deeply'}"
            ) from None
        yield from self._users_in(value, 1)

    def _users_in(self, value: Any, number: int) -> Iterator[dict]:
        if isinstance(value, dict) and isinstance(value.get("results"), list):
            values = value["results"]  # a whole API response
        elif isinstance(value, list):
            values = value
        else:
            values = [value]
        for user in values:
            if not isinstance(user, dict):
                self._skip(number, f"a JSON {type(user).__name__}, not a user object")
            elif where := unencodable_text(user):
                # JSON can escape a lone UTF-16 surrogate ("\\ud800"); UTF-8 cannot encode it,
                # so it can be neither published as the contract's UTF-8 JSON nor stored.
                self._skip(number, f"{where} holds a lone surrogate, which UTF-8 cannot encode")
            else:
                yield user

    def _skip(self, number: int, reason: str) -> None:
        self.skipped += 1
        log.warning(
            "skipped input record", extra={"file": str(self.path), "line": number, "reason": reason}
        )


def unencodable_text(user: Any) -> str | None:
    """The path of a key or string in `user` that UTF-8 cannot encode, else None.

    Iterative: a user nested as deep as `json.loads` allows must not overflow the stack here.
    """
    stack: list[tuple[str, Any]] = [("", user)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, str) and utf8_error(node):
            return path or "the value"
        if isinstance(node, dict):
            for key, child in node.items():
                if utf8_error(key):
                    return f"a key of {path or 'the user'}"
                stack.append((f"{path}.{key}" if path else key, child))
        elif isinstance(node, list):
            stack.extend((f"{path}[{index}]", child) for index, child in enumerate(node))
    return None


def build_source(config: Config, stop: threading.Event) -> Source:
    if config.source == "fake":
        return FakeSource(nat=config.nat, seed=config.seed)
    if config.source == "file":
        return FileSource(config.input)
    return RandomUserSource(
        config.api_url,
        config.api_version,
        batch_size=config.batch_size,
        nat=config.nat,
        seed=config.seed,
        session=http_session(config.api_retries),
        read_timeout=config.api_timeout,
        stop=stop,
    )
