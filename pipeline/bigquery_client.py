"""The one place a `google.cloud.bigquery.Client` is built and queried.

The pipeline's local sink, the local stack (`localrun`) and the replay command all use it, so
the emulator's quirks are handled once. Beam-free: `python -m replay` needs no Beam.
"""

from __future__ import annotations

from collections.abc import Sequence

from google.api_core import retry as retries
from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import bigquery

# The emulator answers HTTP 500 to a badly typed request, and the client's default retry would
# repeat that for 600 s (measured with bqemulator 1.4): fail within seconds instead. Real
# BigQuery's transient errors are retried within the same 20 s.
SHORT_RETRY = retries.Retry(initial=0.2, maximum=2.0, timeout=20.0)
TIMEOUT = 10.0
QUERY_TIMEOUT = 300.0


def client(project: str, endpoint: str | None = None) -> bigquery.Client:
    """A client for `project`: Application Default Credentials, or, given an `endpoint` such
    as the emulator's `http://127.0.0.1:9050`, no credentials at that endpoint."""
    if not endpoint:
        return bigquery.Client(project=project)
    return bigquery.Client(
        project=project,
        credentials=AnonymousCredentials(),
        client_options=ClientOptions(api_endpoint=endpoint),
    )


Parameter = bigquery.ScalarQueryParameter | bigquery.ArrayQueryParameter


def run(
    bq: bigquery.Client,
    sql: str,
    parameters: Sequence[Parameter] = (),
    *,
    timeout: float = QUERY_TIMEOUT,
) -> tuple[bigquery.QueryJob, list[bigquery.Row]]:
    """Runs `sql` (GoogleSQL) with `@name` parameters bound; the finished job and its rows."""
    config = bigquery.QueryJobConfig(query_parameters=list(parameters))
    job = bq.query(sql, job_config=config, retry=SHORT_RETRY, timeout=TIMEOUT)
    return job, list(job.result(timeout=timeout))


def query(
    bq: bigquery.Client,
    sql: str,
    parameters: Sequence[Parameter] = (),
    *,
    timeout: float = QUERY_TIMEOUT,
) -> list[bigquery.Row]:
    """The rows of `sql`, with `@name` query parameters bound from `parameters`."""
    return run(bq, sql, parameters, timeout=timeout)[1]
