"""`customer-producer` / `python -m producer`: wire config, source and publisher; exit with a code.

Exit codes: 0 every customer published; 2 configuration error (one line says what to fix);
3 some publishes finally failed (each logged with its customer id) or could not be confirmed
within the stop grace; 4 the source failed or had records that are not users. SIGTERM and
SIGINT stop fetching and flush every pending publish; if the flush has not finished
STOP_GRACE_SECONDS after the signal, the summary is printed with the number of messages whose
publish was not confirmed (`unconfirmed`) and the process exits before the platform's own
grace ends (docker stop: 10 s, Kubernetes: terminationGracePeriodSeconds, 30 s) kills it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
import time
from typing import Any

from producer import logs
from producer.config import EXIT_CONFIG, Config, ConfigError, parse_config
from producer.publish_loop import Stopper, Tally, produce, report_progress
from producer.publisher import Publisher
from producer.sources import Source, SourceError, build_source

EXIT_OK = 0
EXIT_PUBLISH_FAILED = 3
EXIT_SOURCE_FAILED = 4
# From SIGTERM/SIGINT to exit at the latest: inside docker stop's default 10 s grace, with room
# for the interpreter to exit. The README tells container users to allow at least 10 s.
STOP_GRACE_SECONDS = 8.0

log = logging.getLogger("producer")


class Summary:
    """The run's one closing `summary` line, logged exactly once by whoever ends the run."""

    def __init__(self, source: Source, publisher: Publisher, stopper: Stopper, tally: Tally):
        self.source, self.publisher, self.stopper, self.tally = source, publisher, stopper, tally
        self.started = time.monotonic()
        self.source_error: str | None = None
        self._lock = threading.Lock()
        self._done = False

    def exit_code(self, unconfirmed: int) -> int:
        if self.publisher.failed or unconfirmed:
            return EXIT_PUBLISH_FAILED
        if self.source_error or self.source.skipped:
            return EXIT_SOURCE_FAILED
        return EXIT_OK

    def log(self, unconfirmed: int = 0) -> int | None:
        """Logs the summary and returns the exit code; None if it was logged already."""
        with self._lock:
            if self._done:
                return None
            self._done = True
        elapsed = time.monotonic() - self.started
        code = self.exit_code(unconfirmed)
        fields: dict[str, Any] = {
            "published": self.publisher.published,
            "failed": self.publisher.failed,
            "unconfirmed": unconfirmed,
            "incomplete": self.tally.incomplete,
            "skipped": self.source.skipped,
            "retries": self.source.retries,
            "elapsed_s": round(elapsed, 3),
            "rate": round(self.publisher.published / elapsed, 1) if elapsed else 0.0,
            "stop_reason": self.stopper.reason,
            "exit_code": code,
        }
        log.info("summary", extra=fields)
        return code

    def give_up(self) -> None:
        """The stop grace is over: report what is still unconfirmed and exit now."""
        pending = self.publisher.pending
        code = self.log(unconfirmed=pending)
        if code is None:  # the flush finished meanwhile and the main thread reports
            return
        log.error(
            "stop grace over: exiting with publishes unconfirmed; they may or may not have "
            "reached Pub/Sub",
            extra={"unconfirmed": pending, "grace_s": STOP_GRACE_SECONDS},
        )
        with contextlib.suppress(Exception):
            if self.publisher.record is not None:
                self.publisher.record.flush()
        logging.shutdown()
        sys.stderr.flush()
        os._exit(code)  # the main thread may be blocked in the client's flow control


def _on_signals(stopper: Stopper, publisher: Publisher, summary: Summary) -> None:
    grace: list[threading.Timer] = []

    def handle(signum, _frame) -> None:
        if stopper.is_set():
            log.info("already stopping: flushing", extra={"pending": publisher.pending})
        stopper.stop(signal.Signals(signum).name)
        if not grace:  # the grace runs from the first signal
            grace.append(threading.Timer(STOP_GRACE_SECONDS, summary.give_up))
            grace[0].daemon = True
            grace[0].start()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)


def main(argv: list[str] | None = None) -> int:
    config = parse_config(argv)
    logs.configure(config.log_format, config.log_level)
    stopper = Stopper()
    try:
        source = build_source(config, stopper.event)
        record = open(config.record, "ab") if config.record else None  # noqa: SIM115
    except (ConfigError, OSError) as exc:
        log.error(str(exc))
        return EXIT_CONFIG
    with record or contextlib.nullcontext():
        try:
            publisher = Publisher.from_config(config, record)
            publisher.check_topic()
        except ConfigError as exc:
            log.error(str(exc))
            return EXIT_CONFIG
        return _run(config, source, publisher, stopper)


def _run(config: Config, source: Source, publisher: Publisher, stopper: Stopper) -> int:
    tally = Tally()
    summary = Summary(source, publisher, stopper, tally)
    _on_signals(stopper, publisher, summary)
    if config.duration:
        timer = threading.Timer(config.duration, stopper.stop, args=("duration",))
        timer.daemon = True
        timer.start()
    done = threading.Event()
    progress = threading.Thread(
        target=report_progress,
        args=(publisher, source, done, config.progress_interval),
        name="progress",
        daemon=True,
    )
    progress.start()
    log.info(
        "producing",
        extra={"source": source.name, "topic": config.topic, "rate": config.rate or "unlimited"},
    )
    try:
        produce(source, publisher, stopper, count=config.count, rate=config.rate, tally=tally)
    except SourceError as exc:
        summary.source_error = str(exc)
        stopper.stop("source error")
        log.error(summary.source_error)
    finally:
        log.info("flushing", extra={"pending": publisher.pending, "reason": stopper.reason})
        publisher.close()
        done.set()
    code = summary.log()
    if code is None:  # the stop grace ran out just now: give_up reports and exits
        time.sleep(STOP_GRACE_SECONDS)
        return EXIT_PUBLISH_FAILED
    return code
