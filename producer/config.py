"""Every producer setting, in one table: each field is a `--flag` and a `PRODUCER_*` variable.

Precedence: command line, then environment (for `docker run -e`), then the default. A bad value
anywhere ends the program with one readable line and exit code 2.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, NoReturn
from urllib.parse import urlsplit

from contract import SOURCES, topic_path
from producer.nationalities import NATIONALITIES

ENV_PREFIX = "PRODUCER_"
EXIT_CONFIG = 2

_DURATION = re.compile(r"^(\d+(?:\.\d*)?)\s*([smhd]?)$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


class ConfigError(Exception):
    """Bad configuration or environment: the message is the one line the user sees."""


def require_input(source: str, input: str | None) -> None:
    """`--source file` reads `--input`; the other sources need none (localrun checks the same)."""
    if source == "file" and not input:
        raise ConfigError("--source file needs --input FILE")


def http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise argparse.ArgumentTypeError(f"{value!r} is not an http(s) URL")
    return value


def duration(value: str) -> float:
    """Seconds from `90`, `90s`, `15m`, `2h` or `1d`."""
    match = _DURATION.match(value.strip().lower())
    if not match:
        raise argparse.ArgumentTypeError(f"{value!r} is not a duration like 90s, 15m, 2h")
    return float(match[1]) * _UNITS[match[2]]


def nationalities(value: str) -> tuple[str, ...]:
    """Validated here because the API silently ignores unknown codes."""
    codes = tuple(code.strip().upper() for code in value.split(",") if code.strip())
    unknown = [code for code in codes if code not in NATIONALITIES]
    if unknown:
        known = ",".join(sorted(NATIONALITIES)).lower()
        raise argparse.ArgumentTypeError(f"unknown nationality {unknown[0]!r}; known: {known}")
    return codes


def _bounded(kind: Callable[[str], Any], low: float, high: float = float("inf")):
    def parse(value: str):
        number = kind(value)
        if not low <= number <= high:
            expected = f"at least {low:g}" if high == float("inf") else f"{low:g} to {high:g}"
            raise argparse.ArgumentTypeError(f"{value} is out of range: expected {expected}")
        return number

    parse.__name__ = kind.__name__  # argparse names the type in its messages
    return parse


def _setting(default: Any, parse: Callable[[str], Any], help: str, **argparse_kwargs) -> Any:
    return field(default=default, metadata={"parse": parse, "help": help, **argparse_kwargs})


@dataclass(frozen=True)
class Config:
    """The settings; `--help` is generated from this table."""

    topic: str = _setting(
        None, topic_path, "Pub/Sub topic, projects/PROJECT/topics/TOPIC (required)", metavar="PATH"
    )
    source: str = _setting("randomuser", str, "where customers come from", choices=SOURCES)
    rate: float = _setting(
        10.0, _bounded(float, 0), "customers per second, smooth; 0 = as fast as possible"
    )
    count: int = _setting(0, _bounded(int, 0), "stop after N customers; 0 = no limit", metavar="N")
    duration: float = _setting(
        0.0, duration, "stop after this long (90s, 15m, 2h); 0 = no limit", metavar="TIME"
    )
    record: str | None = _setting(
        None, str, "append every published customer to FILE as JSON lines", metavar="FILE"
    )
    input: str | None = _setting(
        None, str, "--source file: JSON lines of users, or a saved API response", metavar="FILE"
    )
    api_url: str = _setting(
        "https://randomuser.me/api/",
        http_url,
        "randomuser API base URL (self-hosted servers too)",
        metavar="URL",
    )
    api_version: str = _setting(
        "1.4", str, "API version path segment; empty = the server's default", metavar="V"
    )
    nat: tuple[str, ...] = _setting(
        (), nationalities, "nationalities, comma-separated (us,gb,fr); empty = all", metavar="LIST"
    )
    seed: str = _setting("", str, "seed for reproducible users (randomuser, fake)")
    batch_size: int = _setting(
        1000, _bounded(int, 1, 5000), "users per API request (the API caps it at 5000)", metavar="N"
    )
    api_timeout: float = _setting(
        30.0, _bounded(float, 0.1), "API read timeout, seconds", metavar="SECONDS"
    )
    api_retries: int = _setting(
        5, _bounded(int, 0), "API retries on connection errors and HTTP 5xx", metavar="N"
    )
    max_batch_messages: int = _setting(
        1000, _bounded(int, 1, 1000), "publish batch: most messages per request", metavar="N"
    )
    max_batch_bytes: int = _setting(
        5_000_000,
        _bounded(int, 1000, 9_500_000),
        "publish batch: most bytes per request",
        metavar="BYTES",
    )
    max_batch_latency: float = _setting(
        0.05,
        _bounded(float, 0),
        "publish batch: longest wait for more messages, seconds",
        metavar="SECONDS",
    )
    max_outstanding_messages: int = _setting(
        20_000,
        _bounded(int, 1),
        "flow control: unacknowledged messages before publish blocks",
        metavar="N",
    )
    max_outstanding_bytes: int = _setting(
        64_000_000,
        _bounded(int, 10_000),
        "flow control: unacknowledged bytes before publish blocks",
        metavar="BYTES",
    )
    progress_interval: float = _setting(
        10.0, _bounded(float, 0.1), "seconds between progress lines", metavar="SECONDS"
    )
    log_format: str = _setting("json", str, "log line format on stderr", choices=("json", "text"))
    log_level: str = _setting(
        "INFO", str.upper, "log level", choices=("DEBUG", "INFO", "WARNING", "ERROR")
    )


def env_name(name: str) -> str:
    return ENV_PREFIX + name.upper()


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        """One line instead of argparse's usage block: config errors land in container logs."""
        self.exit(EXIT_CONFIG, f"{self.prog}: error: {message} (see --help)\n")


def _parser(environ: Mapping[str, str]) -> _Parser:
    parser = _Parser(
        prog="producer",
        description="Publish one Pub/Sub message per new customer (randomuser.me user).",
        epilog="Every flag can be set by the environment variable shown. Exit codes: 0 all "
        "published, 2 configuration error, 3 some publishes failed, 4 the source failed.",
    )
    for setting in fields(Config):
        meta = setting.metadata
        env = env_name(setting.name)
        default = setting.default
        if env in environ:
            try:
                default = meta["parse"](environ[env])
            except (argparse.ArgumentTypeError, ValueError) as exc:
                parser.error(f"{env}={environ[env]!r}: {exc}")
        extra = {k: meta[k] for k in ("choices", "metavar") if k in meta}
        shown = f"; default {setting.default}" if setting.default not in (None, "", ()) else ""
        parser.add_argument(
            "--" + setting.name.replace("_", "-"),
            type=meta["parse"],
            default=default,
            help=f"{meta['help']} [env {env}{shown}]",
            **extra,
        )
    return parser


def parse_config(
    argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None
) -> Config:
    """The Config from flags and environment; exits 2 with one line on any bad value."""
    parser = _parser(os.environ if environ is None else environ)
    args = vars(parser.parse_args(sys.argv[1:] if argv is None else argv))
    if not args["topic"]:
        parser.error(f"--topic is required (or {env_name('topic')})")
    try:
        require_input(args["source"], args["input"])
    except ConfigError as error:
        parser.error(str(error))
    return Config(**args)
