"""Run one SQL query against the BigQuery emulator of a stack left up by `make run KEEP=1`.

.venv/bin/python -m localrun.query "SELECT COUNT(*) FROM {customers}"   # or any DML
"""

from __future__ import annotations

import sys

from google.api_core import exceptions

from localrun import kept_stack
from localrun.resources import with_tables
from pipeline import bigquery_client as bq


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        sys.exit('usage: python -m localrun.query "SQL"')
    try:
        kept = kept_stack.load()
    except kept_stack.KeptStackError as error:
        sys.exit(f"localrun.query: error: {error}")
    client = bq.client(kept["project"], kept["bigquery_endpoint"])
    try:
        job, rows = bq.run(client, with_tables(argv[0], kept_stack.names(kept)), timeout=60)
    except (exceptions.GoogleAPIError, KeyError, IndexError) as error:
        sys.exit(f"localrun.query: error: {error}")
    try:
        if rows:
            print("\t".join(rows[0].keys()))
        for row in rows:
            print("\t".join("" if value is None else str(value) for value in row.values()))
        if job.num_dml_affected_rows is not None:  # UPDATE, INSERT, DELETE, MERGE
            print(f"{job.num_dml_affected_rows} rows changed")
    except BrokenPipeError:  # `| head` closed the pipe: the reader has what it wanted
        sys.stderr.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
