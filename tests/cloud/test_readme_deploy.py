"""README.md's "Deploy to Google Cloud" section, run as written, against the fakes.

Its shell blocks run in order in one `bash` with `set -euo pipefail`, in a clean clone of the
repository, with no variable set but those the README itself sets: an unset variable, an unknown
flag, a failed command or a request a fake refuses fails the test. The two logins go through
gcloud's console flow to the OAuth fake (the codes are typed on stdin, then `y` for
`make infra`'s question). What cannot run here is a recording stand-in that says so on stderr:
`terraform` (no provider registry; `output` answers what outputs.tf makes of the defaults),
`docker` on this machine (`make producer` runs an image only Artifact Registry holds) and `bq`
(recorded, its queries not run).
"""

from __future__ import annotations

import json
import re

from tests.cloud.cloud_support import PROJECT, REGION, install_docker_stand_in, terraform_outputs
from tests.support import ROOT

OUT = terraform_outputs()
BQ_STAND_IN = """#!/bin/sh
echo "bq stand-in: recorded, not run: $*" >&2
printf '%s\\n' "$*" >> "$HOME/bq-calls"
"""


def deploy_section() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Deploy to Google Cloud", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```(?:sh|bash)\n(.*?)```", section, re.DOTALL)
    assert blocks, "README.md's deploy section has no shell block"
    return "\n".join(blocks)


def host_stand_ins(cloud) -> None:
    """docker and bq stand-ins first on PATH (see the module docstring)."""
    bin_dir = cloud.home / "host-bin"
    install_docker_stand_in(bin_dir, "http://127.0.0.1:1/not-a-registry")
    (bin_dir / "bq").write_text(BQ_STAND_IN, encoding="utf-8")
    (bin_dir / "bq").chmod(0o755)
    cloud.env["PATH"] = f"{bin_dir}:{cloud.env['PATH']}"


def docker_runs(cloud) -> list[list[str]]:
    lines = (cloud.home / "host-bin" / "docker-calls.jsonl").read_text().splitlines()
    return [args for args in map(json.loads, lines) if args[:1] == ["run"]]


def test_the_readme_deploy_section_runs_as_written(cloud):
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
    assert PROJECT in (cloud.home / "bq-calls").read_text()
