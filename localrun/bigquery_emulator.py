"""`python -m localrun.bigquery_emulator ARGS`: `bqemulator ARGS`, closer to BigQuery where the
project depends on it.

- **No per-insert table copy when time travel is off.** bqemulator copies the whole table into
  a time-travel snapshot after every write (bqemulator/versioning/snapshots.py:
  `SnapshotManager.record_change` -> `capture`, a `CREATE TABLE ... AS SELECT * FROM` the
  table), so each streaming insert costs more than the last (localrun/README.md, "Where the time
  goes as N grows"). The local stack runs it with a retention of 0 days (localrun/emulators.py),
  where no `FOR SYSTEM_TIME AS OF` can resolve to such a copy: those are skipped. Snapshots a
  user asks for (kind USER) and the change events are untouched.
- **A column added in place keeps the rows.** bqemulator's `tables.patch` and `tables.update`
  (bqemulator/api/routes/tables.py: `patch_table`, `update_table`) change only its catalog, not
  the DuckDB table, whose every later insert then fails (HTTP 500, DuckDB's "table has 28
  columns but 29 values were supplied"). BigQuery adds the column to the table, keeping every
  row, at the end of the schema, and refuses what it cannot do in place: a REQUIRED column
  added, a column dropped, retyped or made stricter ("Modifying table schemas",
  https://cloud.google.com/bigquery/docs/managing-table-schemas: "Add an empty column",
  "Schema updates in BigQuery don't cause data loss").
- **An unknown field is the row's error.** bqemulator's `tabledata.insertAll`
  (bqemulator/api/routes/tabledata.py: `insert_all`, `bq_rows_to_arrow`) drops a field the
  table lacks and stores the row. BigQuery treats it as an error unless `ignoreUnknownValues`
  ("Default is false, which treats unknown values as errors"; with `skipInvalidRows` the valid
  rows are inserted, else none: https://cloud.google.com/bigquery/docs/reference/rest/v2/tabledata/insertAll)
  and answers HTTP 200 with the row in `insertErrors`, reason `invalid`, message
  `no such field: <name>.` (the other rows of a request without `skipInvalidRows`: reason
  `stopped`, https://cloud.google.com/bigquery/docs/error-messages). Beam's sink sends
  `skipInvalidRows` and not `ignoreUnknownValues` (apache_beam/io/gcp/bigquery.py,
  `BigQueryWriteFn._flush_batch`), so such a row becomes one `write` dead letter.

Only top-level columns are compared; the project's tables add no nested field. Real BigQuery
is not affected either way.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Annotated, Any

from bqemulator import cli
from bqemulator.api.dependencies import AppContext, get_context
from bqemulator.api.routes import tabledata, tables
from bqemulator.domain.errors import ValidationError
from bqemulator.storage.sql_identifiers import quoted_table_ref
from bqemulator.storage.type_map import bq_schema_to_duckdb_columns
from bqemulator.versioning.snapshots import SnapshotManager
from fastapi import APIRouter, Depends, Request

_capture = SnapshotManager.capture
# What FastAPI injects into bqemulator's routes (bqemulator/api/routes/tables.py: `_Ctx`).
Context = Annotated[AppContext, Depends(get_context)]
Endpoint = Callable[..., Awaitable[dict[str, Any]]]
# Type names BigQuery takes as the same type (its legacy and GoogleSQL names).
_SAME_TYPE = {"INT64": "INTEGER", "FLOAT64": "FLOAT", "BOOL": "BOOLEAN", "STRUCT": "RECORD"}
# Mode changes BigQuery makes in place: only a REQUIRED column relaxed to NULLABLE.
_RELAXED = ("REQUIRED", "NULLABLE")


def capture_unless_time_travel_is_off(
    self: SnapshotManager, project_id: str, dataset_id: str, table_id: str, *, kind: str = "AUTO"
):
    """`SnapshotManager.capture`, except an AUTO snapshot no query can read (retention 0)."""
    if kind == "AUTO" and self._retention_days == 0:
        return None
    return _capture(self, project_id, dataset_id, table_id, kind=kind)


def _type(field: Mapping[str, Any]) -> str:
    kind = str(field.get("type", "STRING")).upper()
    return _SAME_TYPE.get(kind, kind)


def _mode(field: Mapping[str, Any]) -> str:
    return str(field.get("mode") or "NULLABLE").upper()


def schema_change_error(
    table: str, before: Sequence[Mapping[str, Any]], after: Sequence[Mapping[str, Any]]
) -> str | None:
    """Why BigQuery refuses to change the columns `before` into `after` in place, or None."""
    new = {field["name"]: field for field in after}
    mismatch = f"Provided Schema does not match Table {table}."
    for old in before:
        name = old["name"]
        if name not in new:
            return f"{mismatch} Field {name} is missing in new schema"
        if _type(old) != _type(new[name]):
            return (
                f"{mismatch} Field {name} has changed type from {_type(old)} to {_type(new[name])}"
            )
        if _mode(old) != _mode(new[name]) and (_mode(old), _mode(new[name])) != _RELAXED:
            return (
                f"{mismatch} Field {name} has changed mode from {_mode(old)} to {_mode(new[name])}"
            )
    known = {field["name"] for field in before}
    for field in after:
        if field["name"] not in known and _mode(field) == "REQUIRED":
            return (
                f"{mismatch} Cannot add required fields to an existing schema. "
                f"(field: {field['name']})"
            )
    return None


def evolved_fields(
    before: Sequence[Mapping[str, Any]], after: Sequence[Mapping[str, Any]]
) -> list[Mapping[str, Any]]:
    """`after` with the columns of `before` first, in their order, and the new ones at the end:
    where BigQuery puts them, and where DuckDB's ADD COLUMN does."""
    known = [field["name"] for field in before]
    new = {field["name"]: field for field in after}
    return [new[name] for name in known] + [f for f in after if f["name"] not in known]


def _table_fields(meta: Any) -> list[dict[str, Any]]:
    return [{"name": f.name, "type": f.type, "mode": f.mode} for f in meta.schema_.fields]


def _add_columns(ctx: AppContext, project_id: str, dataset_id: str, table_id: str, fields) -> None:
    """Add to the DuckDB table each of `fields` it lacks (NULL in every row it holds).

    `quoted_table_ref` checks the ids (bqemulator/storage/sql_identifiers.py), as its own DDL
    does; a column name is quoted as an SQL identifier.
    """
    target = quoted_table_ref(project_id, dataset_id, table_id)
    described = ctx.engine.execute(f"SELECT * FROM {target} LIMIT 0").description  # noqa: S608
    stored = {column[0] for column in described}
    missing = [field for field in fields if field["name"] not in stored]
    for name, duckdb_type in bq_schema_to_duckdb_columns(missing):
        column = name.replace('"', '""')
        ctx.engine.execute(f'ALTER TABLE {target} ADD COLUMN "{column}" {duckdb_type}')


def keeping_rows(original: Endpoint) -> Endpoint:
    """bqemulator's `tables.patch`/`tables.update`, changing a table's columns as BigQuery does."""

    async def endpoint(
        project_id: str, dataset_id: str, table_id: str, request: Request, ctx: Context
    ) -> dict[str, Any]:
        existing = ctx.catalog.get_table(project_id, dataset_id, table_id)
        body = await request.json()  # Starlette keeps it: `original` reads this same dict
        after = (body.get("schema") or {}).get("fields") if isinstance(body, dict) else None
        if existing is None or existing.table_type != "TABLE" or not after:
            return await original(project_id, dataset_id, table_id, request, ctx)
        before = _table_fields(existing)
        if error := schema_change_error(f"{project_id}:{dataset_id}.{table_id}", before, after):
            raise ValidationError(error)
        body["schema"]["fields"] = evolved_fields(before, after)
        async with ctx.engine.write_lock():
            _add_columns(ctx, project_id, dataset_id, table_id, body["schema"]["fields"])
            return await original(project_id, dataset_id, table_id, request, ctx)

    return endpoint


def unknown_field_errors(rows: Sequence[Any], columns: set[str]) -> dict[int, list[dict[str, str]]]:
    """BigQuery's errors for each row (by index) holding a field the table lacks."""
    found = {}
    for index, row in enumerate(rows):
        values = row.get("json", row) if isinstance(row, Mapping) else {}
        unknown = [name for name in values if name not in columns]
        if unknown:
            found[index] = [
                {
                    "reason": "invalid",
                    "location": name,
                    "debugInfo": "",
                    "message": f"no such field: {name}.",
                }
                for name in unknown
            ]
    return found


def _response(errors: Mapping[int, list[dict[str, str]]]) -> dict[str, Any]:
    insert_errors = [{"index": index, "errors": errors[index]} for index in sorted(errors)]
    return {"kind": "bigquery#tableDataInsertAllResponse", "insertErrors": insert_errors}


def refusing_unknown_fields(original: Endpoint) -> Endpoint:
    """bqemulator's `tabledata.insertAll`, with a field the table lacks as the row's error."""

    async def endpoint(
        project_id: str, dataset_id: str, table_id: str, request: Request, ctx: Context
    ) -> dict[str, Any]:
        meta = ctx.catalog.get_table(project_id, dataset_id, table_id)
        body = await request.json()  # Starlette keeps it: `original` reads this same dict
        if meta is None or not isinstance(body, dict) or body.get("ignoreUnknownValues"):
            return await original(project_id, dataset_id, table_id, request, ctx)
        rows = body.get("rows") or []
        errors = unknown_field_errors(rows, {field.name for field in meta.schema_.fields})
        if not errors:
            return await original(project_id, dataset_id, table_id, request, ctx)
        if not body.get("skipInvalidRows"):
            stopped = [{"reason": "stopped", "location": "", "debugInfo": "", "message": ""}]
            return _response({i: errors.get(i, stopped) for i in range(len(rows))})
        kept = [index for index in range(len(rows)) if index not in errors]
        body["rows"] = [rows[index] for index in kept]
        answer = await original(project_id, dataset_id, table_id, request, ctx) if kept else {}
        for error in answer.get("insertErrors", []):
            errors[kept[error["index"]]] = error["errors"]
        return _response(errors)

    return endpoint


def replace_route(router: APIRouter, name: str, wrap: Callable[[Endpoint], Endpoint]) -> None:
    """Serve the route `name` of `router` by `wrap(its endpoint)`, at the same path and place.
    Before the app is built: FastAPI copies a router's routes when it includes it."""
    (index,) = [i for i, route in enumerate(router.routes) if getattr(route, "name", "") == name]
    route = router.routes.pop(index)
    router.add_api_route(
        route.path.removeprefix(router.prefix),
        wrap(route.endpoint),
        methods=sorted(route.methods),
        name=name,
        status_code=route.status_code,
        tags=route.tags,
    )
    router.routes.insert(index, router.routes.pop())


def install() -> None:
    SnapshotManager.capture = capture_unless_time_travel_is_off
    replace_route(tables.router, "patch_table", keeping_rows)
    replace_route(tables.router, "update_table", keeping_rows)
    replace_route(tabledata.router, "insert_all", refusing_unknown_fields)


if __name__ == "__main__":
    install()
    cli.main()
