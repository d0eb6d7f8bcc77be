"""Start and stop the real emulators the local stack and the tests run against.

Each emulator runs in its own process group on a free loopback port so that stopping it
also stops the Java (or Python) children it forks: no orphan process, no port left bound.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

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


@dataclass
class EmulatorProcess:
    """A started emulator: its address, its process group and where its output goes."""

    name: str
    host: str
    port: int
    process: subprocess.Popen
    log_path: Path
    extra: dict = field(default_factory=dict)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the whole process group: SIGTERM, then SIGKILL if it lingers."""
        if self.process.poll() is not None:
            return
        for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(self.process.pid, sig)
            except ProcessLookupError:
                return
            try:
                self.process.wait(timeout=wait)
                return
            except subprocess.TimeoutExpired:
                continue

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def _start(name: str, argv: list[str], port: int, log_dir: Path, env: dict | None = None):
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}.log"
    log = log_path.open("wb")
    process = subprocess.Popen(
        argv,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,  # own process group, so stop() reaches every child
        env={**os.environ, **(env or {})},
    )
    log.close()
    return EmulatorProcess(name, "127.0.0.1", port, process, log_path)


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


def start_pubsub_emulator(log_dir: Path, port: int | None = None, timeout: float = 60.0):
    """Start gcloud's Pub/Sub emulator; it answers `Ok` on / once it serves."""
    binary = find_pubsub_emulator()
    if binary is None:
        raise EmulatorError(f"Pub/Sub emulator not found: {PUBSUB_INSTALL_HINT}")
    if shutil.which("java") is None:
        raise EmulatorError(
            "the Pub/Sub emulator needs Java 11+: `apt-get install default-jre-headless`"
        )
    port = port or free_port()
    emulator = _start(
        "pubsub-emulator", [str(binary), "--host=127.0.0.1", f"--port={port}"], port, log_dir
    )
    _wait_until(emulator, lambda: _http_ok(f"http://127.0.0.1:{port}/"), timeout)
    return emulator
