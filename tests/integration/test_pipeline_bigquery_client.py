"""The one BigQuery client, against the emulator: parameters bound, errors within seconds."""

from __future__ import annotations

import pytest
from google.api_core import exceptions
from google.cloud import bigquery

from pipeline import bigquery_client


def test_a_query_binds_its_parameters(fresh_resources):
    r = fresh_resources
    client = bigquery_client.client(r.names.project, r.bigquery_endpoint)
    rows = bigquery_client.query(
        client,
        "SELECT @name AS name, ARRAY_LENGTH(@ids) AS ids",
        [
            bigquery.ScalarQueryParameter("name", "STRING", "' OR TRUE --"),
            bigquery.ArrayQueryParameter("ids", "STRING", ["a", "b", "c"]),
        ],
    )
    assert [tuple(row.values()) for row in rows] == [("' OR TRUE --", 3)]


def test_run_gives_the_finished_job_with_its_rows(fresh_resources):
    r = fresh_resources
    client = bigquery_client.client(r.names.project, r.bigquery_endpoint)
    job, rows = bigquery_client.run(client, f"SELECT COUNT(*) FROM `{r.names.customers}`")
    assert job.done()
    assert [tuple(row.values()) for row in rows] == [(0,)]


@pytest.mark.timeout(90)
def test_an_error_comes_back_as_an_error_not_after_ten_minutes(fresh_resources):
    """The emulator answers some errors with HTTP 500, which the client's default retry would
    repeat for 600 s: SHORT_RETRY gives up within 20 s."""
    r = fresh_resources
    client = bigquery_client.client(r.names.project, r.bigquery_endpoint)
    with pytest.raises(exceptions.GoogleAPIError):
        bigquery_client.query(client, f"SELECT * FROM `{r.names.project}.nowhere.none`")
