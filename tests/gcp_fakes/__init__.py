"""Local fakes of the Google APIs our cloud commands call, for the real gcloud to talk to.

`FakeGoogle` starts one small threaded HTTP server per API (`server.Service` subclasses:
`storage.Storage`, `dataflow.Dataflow`, ...) and a trap for every other API gcloud knows. It
writes a throwaway gcloud configuration (`configure(directory)`) whose
`api_endpoint_overrides/<api>` properties send each request to its fake, with
`auth/disable_credentials` so no credential is needed or read. Each fake checks a body against
gcloud's own generated message of the API (`schema.decode`) and the documented rules it cites,
and records every request (`records`) and every refusal (`refusals()`): a test asserts on what
gcloud sent and that nothing was refused. A request to an API nobody faked reaches the trap,
which refuses it and fails the test (`unfaked()`).
"""

from __future__ import annotations

import functools
import json
import shutil
import subprocess
from pathlib import Path

from tests.gcp_fakes.dataflow import Dataflow
from tests.gcp_fakes.schema import INSTALL_GCLOUD
from tests.gcp_fakes.server import Record, Server, Service
from tests.gcp_fakes.storage import Storage

# Properties of the throwaway configuration: nothing prompts, reports usage or checks updates.
QUIET = {
    "core": {
        "disable_usage_reporting": "true",
        "check_gce_metadata": "false",
        "disable_prompts": "true",
    },
    "auth": {"disable_credentials": "true"},
    "component_manager": {"disable_update_check": "true"},
    "survey": {"disable_prompts": "true"},
}


@functools.cache
def overridable_apis() -> tuple[str, ...]:
    """Every `api_endpoint_overrides/<api>` property the installed gcloud knows."""
    gcloud = shutil.which("gcloud")
    if gcloud is None:
        raise RuntimeError(INSTALL_GCLOUD)
    listed = subprocess.run(
        [gcloud, "config", "list", "--all", "--format=json"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return tuple(sorted(json.loads(listed.stdout)["api_endpoint_overrides"]))


class FakeGoogle:
    """The fakes, each on its own port; `stop()` (or `with`) ends them."""

    def __init__(self) -> None:
        self.storage = Storage()
        self.dataflow = Dataflow(self.storage)
        self.trap = Service(api="unfaked")
        self.servers: dict[str, Server] = {}
        for service in (self.storage, self.dataflow, self.trap):
            self.add(service)

    def add(self, service: Service) -> Service:
        """Serve one more fake (a `Service` whose `api` is its override property's name)."""
        self.servers[service.api] = Server(service)
        return service

    def endpoint(self, api: str) -> str:
        """The URL gcloud's `api_endpoint_overrides/<api>` must hold to reach `api`'s fake."""
        url = self.servers[api].url if api in self.servers else self.servers["unfaked"].url
        return url + "storage/v1/" if api == "storage" else url

    def properties(self) -> dict[str, dict[str, str]]:
        overrides = {api: self.endpoint(api) for api in overridable_apis()}
        return {**QUIET, "api_endpoint_overrides": overrides}

    def configure(self, directory: Path, **sections: dict[str, str]) -> Path:
        """Write a gcloud configuration into `directory` (a CLOUDSDK_CONFIG) pointing here."""
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "configurations").mkdir(exist_ok=True)
        (directory / "active_config").write_text("default", encoding="utf-8")
        properties = self.properties()
        for section, values in sections.items():
            properties[section] = {**properties.get(section, {}), **values}
        lines = []
        for section, values in properties.items():
            lines += [f"[{section}]", *(f"{k} = {v}" for k, v in values.items()), ""]
        (directory / "configurations" / "config_default").write_text(
            "\n".join(lines), encoding="utf-8"
        )
        return directory

    @property
    def records(self) -> list[Record]:
        """Every request any fake received, in the order each fake received them."""
        return [r for server in self.servers.values() for r in server.service.records]

    def refusals(self) -> list[Record]:
        return [r for server in self.servers.values() for r in server.service.refusals()]

    def unfaked(self) -> list[Record]:
        return list(self.trap.records)

    def stop(self) -> None:
        for server in self.servers.values():
            server.stop()

    def __enter__(self) -> FakeGoogle:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
