"""Start and stop the real emulators the local stack and the tests run against.

Each emulator runs in its own process group on a free loopback port so that stopping it
also stops the Java (or Python) children it forks: no orphan process, no port left bound.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from localrun.paths import ROOT
from localrun.processes import ManagedProcess, spawn

# Environment that makes google-auth fail fast instead of probing the GCE metadata server.
OFFLINE_AUTH_ENV = {
    "NO_GCE_CHECK": "true",
    "GCE_METADATA_HOST": "127.0.0.1:1",
    "GCE_METADATA_IP": "127.0.0.1:1",
}


class EmulatorError(RuntimeError):
    """An emulator could not be found or started; the message says what to install or check."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_is_bound(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@dataclass(kw_only=True)
class EmulatorProcess(ManagedProcess):
    """A started emulator process: its address on the loopback interface."""

    host: str = "127.0.0.1"
    port: int

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass
class ContainerEmulator:
    """An emulator in a Docker container (testcontainers), with EmulatorProcess's interface."""

    name: str
    host: str
    port: int
    container: object  # testcontainers DockerContainer

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def container_id(self) -> str:
        return self.container.get_wrapped_container().id

    def running(self) -> bool:
        self.container.get_wrapped_container().reload()
        return self.container.get_wrapped_container().status == "running"

    def stop(self, timeout: float = 10.0) -> None:
        self.container.stop()

    def log_tail(self, lines: int = 20) -> str:
        stdout, stderr = self.container.get_logs()
        return "\n".join((stdout + stderr).decode(errors="replace").splitlines()[-lines:])


@dataclass(kw_only=True)
class BigQueryEmulator(EmulatorProcess):
    """bqemulator: REST on `port` (what client libraries use), gRPC on `grpc_port`."""

    project: str
    grpc_port: int

    @property
    def endpoint(self) -> str:
        return f"http://{self.address}"


def _wait_until(emulator: EmulatorProcess, ready, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if emulator.process.poll() is not None:
            raise EmulatorError(
                f"{emulator.name} exited with code {emulator.process.returncode} while starting; "
                f"last lines of {emulator.log_path}:\n{emulator.log_tail()}"
            )
        if ready():
            return
        time.sleep(0.1)
    emulator.stop()
    raise EmulatorError(
        f"{emulator.name} did not become ready on port {emulator.port} within {timeout:.0f}s; "
        f"last lines of {emulator.log_path}:\n{emulator.log_tail()}"
    )


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 - loopback only
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


# --------------------------------------------------------------------------- Pub/Sub

PUBSUB_INSTALL_HINT = (
    "install the Pub/Sub emulator: `gcloud components install pubsub-emulator` "
    "(or `apt-get install google-cloud-cli-pubsub-emulator`), or install Docker to use the "
    "official emulator image gcr.io/google.com/cloudsdktool/google-cloud-cli:emulators"
)


def find_pubsub_emulator() -> Path | None:
    """The gcloud CLI's emulator launcher: $PUBSUB_EMULATOR_BIN, else next to `gcloud`."""
    override = os.environ.get("PUBSUB_EMULATOR_BIN")
    if override:
        return Path(override) if Path(override).exists() else None
    roots = []
    gcloud = shutil.which("gcloud")
    if gcloud:
        # .../google-cloud-sdk/bin/gcloud -> .../google-cloud-sdk
        roots.append(Path(os.path.realpath(gcloud)).parent.parent)
    roots += [Path("/usr/lib/google-cloud-sdk"), Path("/usr/share/google-cloud-sdk")]
    for root in roots:
        candidate = root / "platform/pubsub-emulator/bin/cloud-pubsub-emulator"
        if candidate.exists():
            return candidate
    return None


PUBSUB_IMAGE = "gcr.io/google.com/cloudsdktool/google-cloud-cli:emulators"


def start_pubsub_emulator(log_dir: Path, port: int | None = None, timeout: float = 60.0):
    """Start gcloud's Pub/Sub emulator, or its official image where only Docker is present.

    The emulator answers `Ok` on / once it serves.
    """
    binary = find_pubsub_emulator()
    if binary is None:
        if shutil.which("docker"):
            return _start_pubsub_container(port or free_port(), timeout)
        raise EmulatorError(f"Pub/Sub emulator not found: {PUBSUB_INSTALL_HINT}")
    if shutil.which("java") is None:
        raise EmulatorError(
            "the Pub/Sub emulator needs Java 11+: `apt-get install default-jre-headless`"
        )
    port = port or free_port()
    argv = [str(binary), "--host=127.0.0.1", f"--port={port}"]
    emulator = spawn("pubsub-emulator", argv, log_dir, cls=EmulatorProcess, port=port)
    _wait_until(emulator, lambda: _http_ok(f"http://127.0.0.1:{port}/"), timeout)
    return emulator


def _start_pubsub_container(port: int, timeout: float) -> ContainerEmulator:
    # Ryuk (testcontainers' reaper) is an image of its own that offline machines cannot pull;
    # stop() removes the container instead.
    os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")
    try:
        from docker.errors import DockerException  # noqa: PLC0415 - only on the Docker path
        from testcontainers.community.google import PubSubContainer  # noqa: PLC0415
    except ImportError as exc:
        raise EmulatorError(
            f"no gcloud Pub/Sub emulator and no testcontainers ({exc}): {PUBSUB_INSTALL_HINT}"
        ) from exc
    container = PubSubContainer(image=PUBSUB_IMAGE, port=8085).with_bind_ports(8085, port)
    try:
        container.start()
    except DockerException as exc:
        container_error = str(exc).splitlines()[0]
        raise EmulatorError(
            f"could not start the Pub/Sub emulator image {PUBSUB_IMAGE} ({container_error}); "
            f"`docker pull {PUBSUB_IMAGE}` on a machine that reaches gcr.io, or "
            "install the gcloud emulator: `gcloud components install pubsub-emulator`"
        ) from exc
    emulator = ContainerEmulator("pubsub-emulator", "127.0.0.1", port, container)
    deadline = time.monotonic() + timeout
    while not _http_ok(f"http://127.0.0.1:{port}/"):
        if time.monotonic() > deadline:
            emulator.stop()
            raise EmulatorError(
                f"the Pub/Sub emulator container did not answer on port {port} within "
                f"{timeout:.0f}s:\n{emulator.log_tail()}"
            )
        time.sleep(0.2)
    return emulator


# --------------------------------------------------------------------------- BigQuery

# bqemulator settings for a local stream (env vars of its pydantic Settings):
BIGQUERY_ENV = {
    # It snapshots the whole table after every insert for time travel and has no switch to
    # stop that; retention 0 lets its GC (every 60 s) drop them, which bounds the memory.
    "BQEMU_TIME_TRAVEL_RETENTION_DAYS": "0",
    # The avro extension would be downloaded from extensions.duckdb.org; nothing here loads Avro.
    "BQEMU_ENABLE_FORMAT_EXTENSIONS": "false",
    # Polling row counts must see every insert at once.
    "BQEMU_QUERY_CACHE_TTL_SECONDS": "0",
    "BQEMU_LOG_FORMAT": "console",
    "BQEMU_LOG_LEVEL": "warning",
}


def install_duckdb_spatial() -> None:
    """Install DuckDB's spatial extension from its PyPI wheel into DuckDB's extension directory.

    bqemulator runs `INSTALL spatial; LOAD spatial` at start, which downloads the extension
    unless it is installed already; the `duckdb-extension-spatial` wheel carries it, built for
    one DuckDB version, which is why requirements pin both to the same version.
    """
    try:
        import duckdb  # noqa: PLC0415 - heavy, only needed here
        from duckdb_extensions import import_extension  # noqa: PLC0415
    except ImportError as exc:
        raise EmulatorError(
            f"{exc}: the BigQuery emulator needs the project's virtualenv (`make venv`)"
        ) from exc
    with duckdb.connect() as con:
        installed = con.execute(
            "SELECT installed FROM duckdb_extensions() WHERE extension_name = 'spatial'"
        ).fetchall()
        if installed and installed[0][0]:
            return
        try:
            import_extension("spatial", con=con)
        except (duckdb.Error, ModuleNotFoundError) as exc:
            raise EmulatorError(
                f"cannot install DuckDB's spatial extension from its wheel "
                f"(duckdb {duckdb.__version__}): {exc}; duckdb and duckdb-extension-spatial "
                "must have the same version: `make venv`"
            ) from exc


def start_bigquery_emulator(
    log_dir: Path, project: str = "local-project", timeout: float = 60.0
) -> BigQueryEmulator:
    """Start bqemulator (REST + gRPC) in memory on free ports; ready once /readyz answers."""
    if importlib.util.find_spec("bqemulator") is None:
        raise EmulatorError(f"bqemulator is not installed for {sys.executable}: run `make venv`")
    install_duckdb_spatial()
    rest_port, grpc_port = free_port(), free_port()
    argv = [  # bqemulator's CLI, without its per-insert table copies (see that module)
        sys.executable,
        "-m",
        "localrun.bigquery_emulator",
        "start",
        "--ephemeral",
        f"--rest-port={rest_port}",
        f"--grpc-port={grpc_port}",
        f"--project={project}",
    ]
    emulator = spawn(
        "bigquery-emulator",
        argv,
        log_dir,
        env={**BIGQUERY_ENV, "PYTHONPATH": str(ROOT)},
        cls=BigQueryEmulator,
        port=rest_port,
        project=project,
        grpc_port=grpc_port,
    )
    _wait_until(emulator, lambda: _http_ok(f"http://127.0.0.1:{rest_port}/readyz"), timeout)
    return emulator
