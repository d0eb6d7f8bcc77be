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

import contextlib
import json
import os
import shlex
import shutil
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from google.cloud import bigquery, pubsub_v1

from localrun.resources import StackNames, create_bigquery, create_pubsub
from pipeline import bigquery_client
from tests.gcp_fakes import FakeGoogle
from tests.static.terraform_files import parse
from tests.support import ROOT

# The project and region every cloud test deploys to (README's example project id).
PROJECT = "my-project-id"
REGION = "europe-west1"
# Variables a user's environment may carry that would send gcloud or a client library elsewhere
# or change a target.
CLEARED = (
    "CLOUDSDK_", "GOOGLE_", "PUBSUB_", "BIGQUERY_", "PROJECT", "REGION", "TAG", "JOB", "KEY",
    "BUCKET",
)  # fmt: skip


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


DOCKER_STAND_IN = """#!{python}
# A recording stand-in for docker in the Cloud Build fake's steps (no registry can be pushed to
# here): every call is appended to {calls}; `push REF` puts REF into the Artifact Registry fake;
# `image inspect` prints the pushed digest. It builds nothing.
import json, sys, urllib.request
args = sys.argv[1:]
with open({calls!r}, "a") as calls:
    calls.write(json.dumps(args) + "\\n")
print("docker stand-in: recorded, not run:", " ".join(args), file=sys.stderr)
if args[:1] == ["push"]:
    request = urllib.request.Request({push!r}, data=json.dumps({{"reference": args[1]}}).encode(),
                                     headers={{"Content-Type": "application/json"}})
    try:
        digest = json.load(urllib.request.urlopen(request))["digest"]
    except urllib.error.HTTPError as error:
        sys.exit(f"denied: {{error.read().decode()}}")
    open({digests!r}, "a").write(args[1] + " " + digest + "\\n")
elif args[:2] == ["image", "inspect"]:
    pushed = dict(line.split() for line in open({digests!r}))
    print(args[-1].rsplit(":", 1)[0] + "@" + pushed[args[-1]])
"""


def install_docker_stand_in(bin_dir: Path, push_url: str) -> Path:
    """Write `bin_dir/docker` (the Cloud Build steps' docker); returns its call log."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    calls, digests = bin_dir / "docker-calls.jsonl", bin_dir / "docker-digests"
    digests.touch()
    script = bin_dir / "docker"
    script.write_text(
        DOCKER_STAND_IN.format(
            python=sys.executable, calls=str(calls), push=push_url, digests=str(digests)
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
        config = google.configure(home / ".config" / "gcloud")  # where a user's gcloud keeps it
        bin_dir = home / "bin"
        calls = install_terraform_stand_in(bin_dir, terraform_outputs())
        env = {k: v for k, v in os.environ.items() if not k.startswith(CLEARED)}
        env.update(
            CLOUDSDK_CONFIG=str(config),
            HOME=str(home),
            PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}",
            NO_PROXY="127.0.0.1,localhost",
            OAUTHLIB_INSECURE_TRANSPORT="1",  # the OAuth fake's token endpoint is plain http
            no_proxy="127.0.0.1,localhost",
        )
        google.cloudbuild.env = dict(env)
        google.cloudbuild.docker = home / "cloudbuild-bin"
        push = google.servers["artifactregistry"].url + "fake-only/push"
        install_docker_stand_in(google.cloudbuild.docker, push)
        return cls(google, home, env, calls)

    def run(
        self,
        command: str,
        timeout: float = 300,
        cwd: Path = ROOT,
        input: str | None = None,
        **env: str,
    ) -> subprocess.CompletedProcess:
        """`command` as typed in bash in the repository root (or `cwd`), output captured; `env`
        adds variables (a script's poll interval, say) to the fixture's environment."""
        return subprocess.run(
            ["bash", "-c", command],
            cwd=cwd,
            env={**self.env, **env},
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def run_typing(
        self, command: str, answers: list[tuple[Callable[[], bool], str]], cwd: Path, timeout=900
    ) -> subprocess.CompletedProcess:
        """`command` as `run` runs it, with each answer typed once its condition holds.

        A user types a line when asked; a program may read all of stdin that is there at once
        (gcloud's login prompt does), so each line is written only when it is due.
        """
        out, err = self.home / "typed.stdout", self.home / "typed.stderr"
        with out.open("w") as stdout, err.open("w") as stderr:
            process = subprocess.Popen(
                ["bash", "-c", command], cwd=cwd, env=self.env, text=True,
                stdin=subprocess.PIPE, stdout=stdout, stderr=stderr,
            )  # fmt: skip
            try:
                for due, line in answers:
                    while not due() and process.poll() is None:
                        time.sleep(0.1)
                    with contextlib.suppress(BrokenPipeError):
                        process.stdin.write(line + "\n")
                        process.stdin.flush()
                process.stdin.close()
                process.wait(timeout=timeout)
            finally:
                process.kill()
        stdout, stderr = out.read_text(), err.read_text()
        return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)

    def checkout(self) -> Path:
        """A clone of the working tree, committed (`make build` builds only a clean checkout)."""
        clone = self.home / "customer-stream"
        listed = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT, capture_output=True, check=True,
        )  # fmt: skip
        for name in filter(None, listed.stdout.decode().split("\0")):
            source = ROOT / name
            if source.is_file():
                (clone / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, clone / name)
        git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
        for command in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "checkout"]):
            subprocess.run([*git, *command], cwd=clone, check=True, capture_output=True)
        return clone

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
        """The resources `make infra` creates that the fakes serve (bucket, repository); outputs."""
        outputs = terraform_outputs()
        if outputs["bucket"] not in self.google.storage.buckets:
            self.google.storage.add_bucket(outputs["bucket"], PROJECT)
            self.google.artifactregistry.add_repository(PROJECT, REGION, outputs["repository"])
            self.google.resourcemanager.add_project(PROJECT)
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


def stack_names(outputs: dict[str, str]) -> StackNames:
    """The topic, subscription and dataset `terraform output` names, as the emulators name them."""
    dataset = outputs["output_table"].split(":", 1)[1].split(".", 1)[0]
    subscription = outputs["subscription"].rsplit("/", 1)[1]
    return StackNames(outputs["project_id"], outputs["topic_name"], subscription, dataset)


@dataclass
class Emulated:
    """The data `make infra` would hold, on the real emulators: `.names`, `.bigquery` (a client
    of the emulator), `.pubsub_address`, `.bigquery_endpoint`."""

    names: StackNames
    bigquery: bigquery.Client
    pubsub_address: str
    bigquery_endpoint: str

    def aim_client_libraries(self, cloud: Cloud) -> None:
        """`cloud.env` pointed at the emulators the way the client libraries allow, with no
        flag a user would not type: google-cloud-pubsub reads `PUBSUB_EMULATOR_HOST` (and
        needs no credentials then); google-cloud-bigquery reads `BIGQUERY_EMULATOR_HOST`, its
        own variable (google/cloud/bigquery/_helpers.py, `_get_bigquery_host`), and still takes
        Application Default Credentials: a service-account key whose token the OAuth fake
        issues (`GOOGLE_APPLICATION_CREDENTIALS`)."""
        key = cloud.home / "operator-key.json"
        account = f"operator@{self.names.project}.iam.gserviceaccount.com"
        token_uri = cloud.google.servers["oauth"].url + "token"
        made = cloud.google.oauth.service_account_key(account, self.names.project, token_uri)
        key.write_text(json.dumps(made), encoding="utf-8")
        key.chmod(0o600)
        cloud.env.update(
            PUBSUB_EMULATOR_HOST=self.pubsub_address,
            BIGQUERY_EMULATOR_HOST=self.bigquery_endpoint,
            GOOGLE_APPLICATION_CREDENTIALS=str(key),
        )

    def delete(self) -> None:
        self.bigquery.delete_dataset(self.names.dataset, delete_contents=True, not_found_ok=True)
        with pubsub_v1.SubscriberClient() as subscriber:
            subscriber.delete_subscription(subscription=self.names.subscription_path)
        with pubsub_v1.PublisherClient() as publisher:  # type: ignore[attr-defined]
            publisher.delete_topic(topic=self.names.topic_path)


def emulate(cloud: Cloud, pubsub_address: str, bigquery_endpoint: str) -> Emulated:
    """Topic, subscription, dataset, tables and views as `make infra` names them, on the real
    Pub/Sub and BigQuery emulators; and `~/.bigqueryrc`, the file bq reads default flags from,
    naming the emulator (`--api`) and the Cloud SDK's copy of BigQuery's discovery document
    (`--discovery_file`: the emulator serves none), so that `bq` runs as typed."""
    names = stack_names(terraform_outputs())
    create_pubsub(names)  # with tests/conftest.py's PUBSUB_EMULATOR_HOST
    client = bigquery_client.client(names.project, bigquery_endpoint)
    create_bigquery(client, names)
    sdk = Path(os.path.realpath(shutil.which("gcloud") or "gcloud")).parent.parent
    discovery = sdk / "platform" / "bq" / "discovery_next" / "bigquery.json"
    (cloud.home / ".bigqueryrc").write_text(
        f"--api={bigquery_endpoint}\n--discovery_file={discovery}\n", encoding="utf-8"
    )
    return Emulated(names, client, pubsub_address, bigquery_endpoint)
