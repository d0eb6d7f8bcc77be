"""`make destroy` as typed: its gcloud parts against the fakes, its Terraform steps recorded.

The Google provider cannot be installed here (the Terraform registry is out of reach), so
`terraform` is a stand-in (`STAND_IN`) that says so on stderr and keeps a state: a list of
resource instances, one per resource of terraform/ (two keys for a `for_each`). `state list`
prints it, `plan -destroy [-target=...] -out=F` writes F with what would go, `apply F` removes
that from the state, any other `apply` and `init` only record. What terraform would refuse is
checked statically (tests/static/test_terraform_destroy.py); this checks what the target does
with gcloud and the order and arguments of its terraform commands.
"""

from __future__ import annotations

import json
import re
import stat
import sys
from pathlib import Path

import pytest

from tests.cloud.cloud_support import PROJECT, REGION, terraform_outputs
from tests.static.terraform_files import TERRAFORM, merged

STAND_IN = """#!{python}
import json, sys
from pathlib import Path
home = Path({home!r})
args = [a for a in sys.argv[1:] if not a.startswith("-chdir=")]
with open(home / "calls.jsonl", "a") as calls:
    calls.write(json.dumps(args) + "\\n")
state = json.loads((home / "state.json").read_text())
plans = home / "plans"
print("terraform stand-in: recorded, not run:", " ".join(args), file=sys.stderr)
if args[:2] == ["state", "list"]:
    print("\\n".join(state)) if state else None
elif args[:1] == ["output"]:
    print(json.loads((home / "outputs.json").read_text())[args[-1]], end="")
elif args[:2] == ["plan", "-destroy"]:
    targets = [a.split("=", 1)[1] for a in args if a.startswith("-target=")]
    doomed = [i for i in state if not targets or i in targets]
    out = [a.split("=", 1)[1] for a in args if a.startswith("-out=")][0]
    plans.mkdir(exist_ok=True)
    (plans / out).write_text(json.dumps(doomed))
    print("\\n".join(f"  # {{i}} will be destroyed" for i in doomed))
    print(f"Plan: 0 to add, 0 to change, {{len(doomed)}} to destroy.")
elif args[:1] == ["apply"] and (plans / args[-1]).exists():
    doomed = json.loads((plans / args[-1]).read_text())
    (home / "state.json").write_text(json.dumps([i for i in state if i not in doomed]))
    print(f"Destroy complete! Resources: {{len(doomed)}} destroyed.")
"""


def instances() -> list[str]:
    """A state as `make infra` leaves it: every resource of terraform/, a `for_each` twice."""
    found = []
    for rtype, named in merged(TERRAFORM)["resource"].items():
        for name, body in named.items():
            address = f"{rtype}.{name}"
            if rtype == "google_dataflow_flex_template_job":
                found.append(f"{address}[0]")
            elif "for_each" in body:
                keys = ["customers", "customers_dlq"] if address.endswith(".tables") else ["a", "b"]
                found += [f'{address}["{key}"]' for key in keys]
            else:
                found.append(address)
    return found


class Terraform:
    """The stand-in on the cloud tier's PATH, its state and the commands it received."""

    def __init__(self, home: Path) -> None:
        self.home = home
        home.mkdir(exist_ok=True)
        (home / "state.json").write_text(json.dumps(instances()))
        (home / "outputs.json").write_text(json.dumps(terraform_outputs()))

    def install(self, bin_dir: Path) -> None:
        script = bin_dir / "terraform"
        script.write_text(STAND_IN.format(python=sys.executable, home=str(self.home)))
        script.chmod(script.stat().st_mode | stat.S_IXUSR)

    @property
    def state(self) -> list[str]:
        return json.loads((self.home / "state.json").read_text())

    @property
    def calls(self) -> list[list[str]]:
        lines = (self.home / "calls.jsonl").read_text().splitlines()
        return [json.loads(line) for line in lines]

    def applies(self) -> list[list[str]]:
        return [call for call in self.calls if call[0] == "apply"]


@pytest.fixture
def terraform(cloud) -> Terraform:
    stand_in = Terraform(cloud.home / "terraform")
    stand_in.install(cloud.home / "bin")
    return stand_in


def kept() -> set[str]:
    lines = (TERRAFORM / "kept-by-destroy.txt").read_text().splitlines()
    return {re.sub(r"#.*", "", line).strip() for line in lines} - {""}


def resource(instance: str) -> str:
    return instance.split("[", 1)[0]


def test_destroy_drains_the_job_first_then_keeps_the_data_and_a_second_is_a_no_op(cloud, terraform):
    job = cloud.google.dataflow.add_job(PROJECT, REGION, "customers-20261206-101010")
    before = terraform.state
    done = cloud.run(f"make destroy PROJECT={PROJECT} AUTO_APPROVE=1", STOP_POLL="0.1")
    assert done.returncode == 0, done.stdout + done.stderr + cloud.refusals()
    assert cloud.google.dataflow.jobs[job["id"]].state == "JOB_STATE_DRAINED"
    assert done.stdout.index("drain -> JOB_STATE_DRAINED") < done.stdout.index("==> keeping")
    assert f"{PROJECT}-customer-stream-tfstate" in cloud.google.storage.buckets
    left = terraform.state
    assert {resource(i) for i in left} == kept()
    assert set(left) == {i for i in before if resource(i) in kept()}
    (plan,) = [call for call in terraform.calls if call[:2] == ["plan", "-destroy"]]
    assert (
        f"-var=project_id={PROJECT}" in plan
        and '-target=google_bigquery_table.views["a"]' not in plan
    )
    assert "-target=google_pubsub_subscription.dataflow" in plan

    again = cloud.run(f"make destroy PROJECT={PROJECT} AUTO_APPROVE=1", STOP_POLL="0.1")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "nothing to stop" in again.stdout and "nothing to destroy" in again.stdout
    assert len(terraform.applies()) == 1, "the second destroy applied something"


def test_destroy_asks_before_deleting(cloud, terraform):
    declined = cloud.run(f"echo n | make destroy PROJECT={PROJECT}")
    assert declined.returncode != 0
    assert "nothing destroyed" in declined.stdout
    assert not terraform.applies() and terraform.state == instances()


def test_delete_data_needs_the_project_typed_and_names_what_goes(cloud, terraform):
    wrong = cloud.run(f"echo yes | make destroy PROJECT={PROJECT} DELETE_DATA=1")
    assert wrong.returncode != 0 and "not confirmed: nothing deleted" in wrong.stdout
    assert not terraform.applies()
    out = wrong.stdout
    assert f"BigQuery dataset {PROJECT}:customer_stream and every table in it" in out
    assert "customers,customers_dlq,a,b" in out
    assert f"bucket gs://{PROJECT}-customer-stream and every object" in out

    done = cloud.run(f"echo {PROJECT} | make destroy PROJECT={PROJECT} DELETE_DATA=1")
    assert done.returncode == 0, done.stdout + done.stderr
    lift, destroy = terraform.applies()
    assert (
        "-var=delete_data=true" in lift
        and "-var=deletion_protection=false" in lift
        and "-auto-approve" in lift
    )
    assert {a for a in lift if a.startswith("-target=")} == {
        "-target=google_bigquery_dataset.customers",
        "-target=google_bigquery_table.tables",
        "-target=google_bigquery_table.views",
        "-target=google_storage_bucket.dataflow",
    }
    assert destroy == ["apply", "-input=false", "destroy.tfplan"]
    assert terraform.state == []
    assert f"gcloud storage rm --recursive gs://{PROJECT}-customer-stream-tfstate" in done.stdout

    again = cloud.run(f"make destroy PROJECT={PROJECT} DELETE_DATA=1")
    assert again.returncode == 0 and "holds no resource" in again.stdout
    assert len(terraform.applies()) == 2
