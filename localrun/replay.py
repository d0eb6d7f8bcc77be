"""`make replay`: `python -m replay` against the stack left up by `make run KEEP=1`.

.venv/bin/python -m localrun.replay --stage validate            # dry run
.venv/bin/python -m localrun.replay --stage validate --execute  # publish
"""

from __future__ import annotations

import os
import sys

from localrun import kept_stack
from localrun.emulators import OFFLINE_AUTH_ENV
from pipeline.tables import CUSTOMERS, CUSTOMERS_DLQ, CUSTOMERS_DLQ_REPLAYS
from replay import cli


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if {"-h", "--help"} & set(argv):  # no stack needed to read the flags
        return cli.main(argv, prog="make replay")
    try:
        kept = kept_stack.load()
    except kept_stack.KeptStackError as error:
        sys.exit(f"make replay: error: {error}")
    names = kept_stack.names(kept)
    os.environ.update(OFFLINE_AUTH_ENV, PUBSUB_EMULATOR_HOST=kept["pubsub_emulator_host"])
    stack = [
        f"--topic={names.topic_path}",
        f"--dlq-table={names.table(CUSTOMERS_DLQ)}",
        f"--output-table={names.table(CUSTOMERS)}",
        f"--replays-table={names.table(CUSTOMERS_DLQ_REPLAYS)}",
        f"--bigquery-endpoint={kept['bigquery_endpoint']}",
    ]
    return cli.main([*stack, *argv], prog="make replay")


if __name__ == "__main__":
    sys.exit(main())
