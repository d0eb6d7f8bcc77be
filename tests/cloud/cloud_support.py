"""The cloud tier's helpers: the real gcloud pointed at the fakes, and commands run as typed.

`Cloud` (the `cloud` fixture of conftest.py) holds the running fakes (`.google`: `.storage`,
`.dataflow`, ...), an environment (`.env`) whose throwaway `CLOUDSDK_CONFIG` sends every gcloud
request to them and whose `HOME` is the test's own, and `.run(command)`, which runs a shell
command line exactly as a user types it (bash, in the repository root).

Terraform cannot apply here (its Google provider comes from the Terraform registry), so the
Makefile's `terraform output -raw NAME` is answered by a recording stand-in put first on PATH
(`bin/terraform`): the values are what terraform/outputs.tf makes of terraform/variables.tf's
defaults for the project and region, derived in `terraform_outputs`; any other terraform
command is recorded and does nothing. It says so on stderr.
"""

from __future__ import annotations

import json
import os
import shlex
import stat
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from tests.gcp_fakes import FakeGoogle
from tests.static.terraform_files import parse
from tests.support import ROOT

# The project and region every cloud test deploys to (README's example project id).
PROJECT = "my-project-id"
REGION = "europe-west1"
# Variables a user's environment may carry that would send gcloud elsewhere or change a target.
CLEARED = ("CLOUDSDK_", "GOOGLE_", "PROJECT", "REGION", "TAG", "JOB", "KEY", "BUCKET")


def terraform_defaults() -> dict[str, object]:
    blocks = parse(ROOT / "terraform" / "variables.tf")["variable"]
    return {name: body.get("default") for block in blocks for name, body in block.items()}


def terraform_outputs(project: str = PROJECT, region: str = REGION) -> dict[str, str]:
    """terraform/outputs.tf's values after an apply with `project`, `region` and the defaults."""
    variables = terraform_defaults()
    name, dataset, topic = variables["name"], variables["dataset_id"], variables["topic_name"]
    bucket = f"{project}-{name}"
    images = f"{region}-docker.pkg.dev/{project}/{name}"

    def account(suffix: str) -> str:
        return f"{name}-{suffix}@{project}.iam.gserviceaccount.com"

    def table(table_id: str) -> str:
        return f"{project}:{dataset}.{table_id}"

    return {
        "project_id": project,
        "region": region,
        "topic": f"projects/{project}/topics/{topic}",
        "topic_name": topic,
        "subscription": f"projects/{project}/subscriptions/{topic}-dataflow",
        "output_table": table("customers"),
        "dlq_table": table("customers_dlq"),
        "replays_table": table("customers_dlq_replays"),
        "erasures_table": table("erasure_requests"),
        "erasure_service_account": account("erasure"),
        "bucket": bucket,
        "templates": f"gs://{bucket}/templates",
        "temp_location": f"gs://{bucket}/temp",
        "staging_location": f"gs://{bucket}/staging",
        "repository": name,
        "pipeline_image": f"{images}/customer-pipeline",
        "producer_image": f"{images}/customer-producer",
        "producer_service_account": account("producer"),
        "dataflow_service_account": account("dataflow"),
        "dataflow_service_agent": "service-0@dataflow-service-producer-prod.iam.gserviceaccount.com",  # noqa: E501
        "cloudbuild_service_account": f"projects/{project}/serviceAccounts/{account('build')}",
    }


TERRAFORM_STAND_IN = """#!{python}
# A recording stand-in for terraform (the cloud tier cannot reach the Terraform registry):
# `output -raw NAME` answers from {outputs}; every call is appended to {calls}.
import json, sys
args = sys.argv[1:]
with open({calls!r}, "a") as calls:
    calls.write(json.dumps(args) + "\\n")
args = [a for a in args if not a.startswith("-chdir=")]
if args[:1] == ["output"]:
    names = [a for a in args[1:] if not a.startswith("-")]
    outputs = json.load(open({outputs!r}))
    if names and names[0] in outputs:
        print(outputs[names[0]], end="")
        sys.exit(0)
    print("Warning: No outputs found", file=sys.stderr)
    sys.exit(1)
print("terraform stand-in: recorded, not run:", " ".join(args), file=sys.stderr)
"""


def install_terraform_stand_in(bin_dir: Path, outputs: dict[str, str]) -> Path:
    """Write `bin_dir/terraform`, answering `output -raw` from `outputs`; returns the call log."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    outputs_file, calls = bin_dir / "terraform-outputs.json", bin_dir / "terraform-calls.jsonl"
    outputs_file.write_text(json.dumps(outputs), encoding="utf-8")
    script = bin_dir / "terraform"
    script.write_text(
        TERRAFORM_STAND_IN.format(
            python=sys.executable, outputs=str(outputs_file), calls=str(calls)
        ),
        encoding="utf-8",
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return calls


@dataclass
class Cloud:
    google: FakeGoogle
    home: Path
    env: dict[str, str] = field(default_factory=dict)
    terraform_calls: Path | None = None

    @classmethod
    def start(cls, google: FakeGoogle, home: Path) -> Cloud:
        config = google.configure(home / "gcloud-config")
        bin_dir = home / "bin"
        calls = install_terraform_stand_in(bin_dir, terraform_outputs())
        env = {k: v for k, v in os.environ.items() if not k.startswith(CLEARED)}
        env.update(
            CLOUDSDK_CONFIG=str(config),
            HOME=str(home),
            PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}",
            NO_PROXY="127.0.0.1,localhost",
            no_proxy="127.0.0.1,localhost",
        )
        return cls(google, home, env, calls)

    def run(self, command: str, timeout: float = 300, **env: str) -> subprocess.CompletedProcess:
        """`command` as typed at a bash prompt in the repository root; output captured."""
        return subprocess.run(
            ["bash", "-c", command],
            cwd=ROOT,
            env={**self.env, **env},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def gcloud(self, *args: str) -> subprocess.CompletedProcess:
        return self.run(shlex.join(["gcloud", *args]))

    def terraform(self) -> list[list[str]]:
        """The terraform commands the stand-in received, in order."""
        if not self.terraform_calls or not self.terraform_calls.exists():
            return []
        lines = self.terraform_calls.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines]

    def refusals(self) -> str:
        return "\n".join(f"{r.request} -> {r.status} {r.error}" for r in self.google.refusals())

    def provision(self) -> dict[str, str]:
        """The resources `make infra` creates that the fakes serve (the bucket); its outputs."""
        outputs = terraform_outputs()
        if outputs["bucket"] not in self.google.storage.buckets:
            self.google.storage.add_bucket(outputs["bucket"], PROJECT)
        return outputs

    def write_template(self, tag: str) -> str:
        """The spec of build `tag`, written by the real gcloud as cloudbuild.yaml's step does."""
        outputs = self.provision()
        template = f"{outputs['templates']}/customers-{tag}.json"
        built = self.gcloud(
            "dataflow", "flex-template", "build", template, f"--project={PROJECT}",
            f"--image={outputs['pipeline_image']}:{tag}", "--sdk-language=PYTHON",
            "--metadata-file=metadata.json",
        )  # fmt: skip
        assert built.returncode == 0, built.stderr
        return template
