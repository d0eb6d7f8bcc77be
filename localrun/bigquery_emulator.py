"""`python -m localrun.bigquery_emulator ARGS`: `bqemulator ARGS` without a per-insert table copy
when time travel is off.

bqemulator copies the whole table into a time-travel snapshot after every write
(bqemulator/versioning/snapshots.py: `SnapshotManager.record_change` -> `capture`, a
`CREATE TABLE ... AS SELECT * FROM` the table), so each streaming insert costs more than the
last: at 12,000 rows the copies were a quarter of the emulator's CPU, growing with the table
(localrun/README.md, "Where the time goes as N grows"). The local stack runs it with a
retention of 0 days (localrun/emulators.py), where no `FOR SYSTEM_TIME AS OF` can ever resolve
to such a copy and its garbage collector drops them within a minute: this module skips them.
Snapshots a user asks for (`CREATE SNAPSHOT TABLE`, kind USER) and the change events the
emulator publishes after every write are untouched. Real BigQuery is not affected either way.
"""

from __future__ import annotations

from bqemulator import cli
from bqemulator.versioning.snapshots import SnapshotManager

_capture = SnapshotManager.capture


def capture_unless_time_travel_is_off(
    self: SnapshotManager, project_id: str, dataset_id: str, table_id: str, *, kind: str = "AUTO"
):
    """`SnapshotManager.capture`, except an AUTO snapshot no query can read (retention 0)."""
    if kind == "AUTO" and self._retention_days == 0:
        return None
    return _capture(self, project_id, dataset_id, table_id, kind=kind)


def install() -> None:
    SnapshotManager.capture = capture_unless_time_travel_is_off


if __name__ == "__main__":
    install()
    cli.main()
