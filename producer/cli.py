"""`customer-producer` / `python -m producer`: wire config, source and publisher; exit with a code.

Exit codes: 0 every customer published; 2 configuration error (one line says what to fix);
3 some publishes finally failed (each logged with its customer id); 4 the source failed or had
records that are not users. SIGTERM and SIGINT stop fetching, flush every pending publish and
still exit 0 when nothing was lost.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import time

from producer import logs
from producer.config import EXIT_CONFIG, Config, ConfigError, parse_config
from producer.publish_loop import Stopper, produce, report_progress
from producer.publisher import Publisher
from producer.sources import Source, SourceError, build_source

EXIT_OK = 0
EXIT_PUBLISH_FAILED = 3
EXIT_SOURCE_FAILED = 4

log = logging.getLogger("producer")


def _on_signals(stopper: Stopper, publisher: Publisher) -> None:
    def handle(signum, _frame) -> None:
        if stopper.is_set():
            log.info("already stopping: flushing", extra={"pending": publisher.pending})
        stopper.stop(signal.Signals(signum).name)

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
    _on_signals(stopper, publisher)
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
    started = time.monotonic()
    source_error, incomplete = None, 0
    try:
        incomplete = produce(source, publisher, stopper, count=config.count, rate=config.rate)
    except SourceError as exc:
        source_error = str(exc)
        stopper.stop("source error")
        log.error(source_error)
    finally:
        log.info("flushing", extra={"pending": publisher.pending, "reason": stopper.reason})
        publisher.close()
        done.set()
    elapsed = time.monotonic() - started
    if publisher.failed:
        code = EXIT_PUBLISH_FAILED
    elif source_error or source.skipped:
        code = EXIT_SOURCE_FAILED
    else:
        code = EXIT_OK
    log.info(
        "summary",
        extra={
            "published": publisher.published,
            "failed": publisher.failed,
            "incomplete": incomplete,
            "skipped": source.skipped,
            "retries": source.retries,
            "elapsed_s": round(elapsed, 3),
            "rate": round(publisher.published / elapsed, 1) if elapsed else 0.0,
            "stop_reason": stopper.reason,
            "exit_code": code,
        },
    )
    return code
