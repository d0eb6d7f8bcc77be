"""BigQuery views over `customers` and `customers_dlq`, one SQL file per view (`<view name>.sql`).

Terraform (terraform/bigquery.tf) and the local stack (localrun.resources) both create the views
from these files. In them `{project}` and `{dataset}` stand for where the tables live: BigQuery
views must name their tables with the dataset, and the names differ per project and per test.
The first comment line of each file is the view's description.
"""

from __future__ import annotations

from importlib import resources


def _load() -> dict[str, str]:
    files = resources.files(__name__)
    return {
        item.name.removesuffix(".sql"): item.read_text("utf-8")
        for item in sorted(files.iterdir(), key=lambda item: item.name)
        if item.name.endswith(".sql")
    }


VIEWS: dict[str, str] = _load()


def render(name: str, project: str, dataset: str) -> str:
    """The SQL of view `name` with its tables in `project`.`dataset`."""
    return VIEWS[name].replace("{project}", project).replace("{dataset}", dataset)


def description(name: str) -> str:
    """The first line of the file, without its `-- `."""
    return VIEWS[name].splitlines()[0].removeprefix("--").strip()
