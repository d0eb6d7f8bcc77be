"""README.md's "Deploy to Google Cloud" section, run as written, against the fakes.

Its shell blocks run in order in one `bash` with `set -euo pipefail`, in a clean clone of the
repository, with no variable set but those the README itself sets: an unset variable, an unknown
flag, a failed command or a request a fake refuses fails the test. The two logins go through
gcloud's console flow to the OAuth fake (the codes are typed on stdin, then `y` for
`make infra`'s question). What cannot run here is a recording stand-in that says so on stderr:
`terraform` (no provider registry; `output` answers what outputs.tf makes of the defaults) and
`docker` on this machine (`make producer` runs an image only Artifact Registry holds). Step 5's
`bq query` commands run the real `bq` against the BigQuery emulator holding a few rows (the
`emulated` fixture: `~/.bigqueryrc` names the emulator; bq signs in with the account of
`gcloud auth login`), and their tables are checked.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import UTC, datetime

from localrun.resources import SHORT_RETRY
from pipeline import dead_letters, rows
from tests.cloud.cloud_support import REGION, install_docker_stand_in, terraform_outputs
from tests.support import FIXTURES, ROOT

OUT = terraform_outputs()
USERS = json.loads((FIXTURES / "05_api_results10_nat_br_us_de_fr_gb.json").read_text())["results"]


def deploy_section() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Deploy to Google Cloud", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```(?:sh|bash)\n(.*?)```", section, re.DOTALL)
    assert blocks, "README.md's deploy section has no shell block"
    return "\n".join(blocks)


def host_stand_ins(cloud) -> None:
    """The docker stand-in first on PATH (see the module docstring)."""
    bin_dir = cloud.home / "host-bin"
    install_docker_stand_in(bin_dir, "http://127.0.0.1:1/not-a-registry")
    cloud.env["PATH"] = f"{bin_dir}:{cloud.env['PATH']}"


def some_rows(emulated) -> Counter:
    """Customers and two dead letters for step 5's queries; the customers per country."""
    now = datetime.now(UTC)
    customers = [rows.to_customer_row(user, rows.Lineage(message_id=f"m-{i}", ingested_at=now))
                 for i, user in enumerate(USERS)]  # fmt: skip
    letters = [
        dead_letters.dead_letter(stage="parse", error="payload is not JSON", payload=b"{",
                                 message_id=f"d-{i}", now=now)
        for i in range(2)
    ]  # fmt: skip
    for table, new in ((emulated.names.customers, customers),
                       (emulated.names.customers_dlq, letters)):  # fmt: skip
        assert not emulated.bigquery.insert_rows_json(table, new, retry=SHORT_RETRY, timeout=10)
    return Counter(row["country"] for row in customers)


def bq_table(output: str) -> list[list[str]]:
    """The cells of every row of the tables `bq query` printed (its default pretty format)."""
    return [
        [cell.strip() for cell in line.strip("|").split("|")]
        for line in output.splitlines()
        if line.startswith("| ")
    ]


def docker_runs(cloud) -> list[list[str]]:
    lines = (cloud.home / "host-bin" / "docker-calls.jsonl").read_text().splitlines()
    return [args for args in map(json.loads, lines) if args[:1] == ["run"]]


def test_the_readme_deploy_section_runs_as_written(cloud, emulated):
    countries = some_rows(emulated)
    cloud.provision()  # what `make infra` creates that a fake serves: the bucket, the repository
    clone = cloud.checkout()
    host_stand_ins(cloud)
    commit = cloud.run("git rev-parse HEAD", cwd=clone).stdout.strip()
    script = "set -euo pipefail\n" + deploy_section()
    oauth = cloud.google.oauth.records
    answers = [
        (lambda: True, "code-1"),  # gcloud auth login
        (lambda: len(oauth) >= 1, "code-2"),  # gcloud auth application-default login
        (lambda: len(oauth) >= 2, "y"),  # make infra: "Apply this plan?"
    ]
    done = cloud.run_typing(script, answers, cwd=clone)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:] + cloud.refusals()
    assert not cloud.google.refusals(), cloud.refusals()
    subcommands = [next(a for a in args if not a.startswith("-")) for args in cloud.terraform()]
    assert subcommands[:3] == ["init", "plan", "apply"]
    (job,) = cloud.google.dataflow.jobs.values()
    assert job.resource["parameters"]["sdk_container_image"] == f"{OUT['pipeline_image']}:{commit}"
    assert job.resource["requestedState"] == "JOB_STATE_DRAINED"
    (producer,) = docker_runs(cloud)
    assert producer[-1] == f"{OUT['producer_image']}:{commit}"
    assert f"PRODUCER_TOPIC={OUT['topic']}" in producer
    assert (cloud.home / ".docker" / "config.json").exists()  # gcloud auth configure-docker
    docker_config = json.loads((cloud.home / ".docker" / "config.json").read_text())
    assert docker_config["credHelpers"] == {f"{REGION}-docker.pkg.dev": "gcloud"}
    printed = bq_table(done.stdout)
    by_country = [row for row in printed if len(row) == 2 and row[0] in countries]
    assert sorted(by_country) == sorted([c, str(n)] for c, n in countries.items()), printed
    counts = [int(count) for _, count in by_country]
    assert counts == sorted(counts, reverse=True)  # ORDER BY 2 DESC
    assert ["parse", "payload is not JSON", "2"] in printed, done.stdout[-3000:]
