"""`make replay`: `python -m replay` against the stack left up by `make run KEEP=1`.

.venv/bin/python -m localrun.replay --stage validate            # dry run
.venv/bin/python -m localrun.replay --stage validate --execute  # publish
"""

from __future__ import annotations

import os
import sys

from localrun import kept_stack
from localrun.emulators import OFFLINE_AUTH_ENV
from pipeline.tables import CUSTOMERS, CUSTOMERS_DLQ, CUSTOMERS_DLQ_REPLAYS, ERASURE_REQUESTS
from replay import cli


def table_flags(kept: dict) -> list[str]:
    """The flags naming the kept stack's tables and emulator (replay's and forget's)."""
    names = kept_stack.names(kept)
    return [
        f"--dlq-table={names.table(CUSTOMERS_DLQ)}",
        f"--output-table={names.table(CUSTOMERS)}",
        f"--replays-table={names.table(CUSTOMERS_DLQ_REPLAYS)}",
        f"--erasures-table={names.table(ERASURE_REQUESTS)}",
        f"--bigquery-endpoint={kept['bigquery_endpoint']}",
    ]


def load(prog: str) -> dict:
    """The kept stack, with this process set up to reach its emulators; exits if none."""
    try:
        kept = kept_stack.load()
    except kept_stack.KeptStackError as error:
        sys.exit(f"{prog}: error: {error}")
    os.environ.update(OFFLINE_AUTH_ENV, PUBSUB_EMULATOR_HOST=kept["pubsub_emulator_host"])
    return kept


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if {"-h", "--help"} & set(argv):  # no stack needed to read the flags
        return cli.main(argv, prog="make replay")
    kept = load("make replay")
    topic = f"--topic={kept_stack.names(kept).topic_path}"
    return cli.main([topic, *table_flags(kept), *argv], prog="make replay")


if __name__ == "__main__":
    sys.exit(main())
