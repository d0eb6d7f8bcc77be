"""Child processes that can always be stopped whole: each runs in its own process group.

Stopping signals the group, not just the leader, so launcher scripts cannot leave a Java or
Python child behind holding a port.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path


def group_alive(pgid: int) -> bool:
    """Whether any process of the group `pgid` still exists (zombies of ours included)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class ManagedProcess:
    """A started child: its process group (pgid == pid) and the file its output goes to."""

    name: str
    process: subprocess.Popen
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def running(self) -> bool:
        return self.process.poll() is None

    def signal(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, sig)

    def wait(self, timeout: float) -> int | None:
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM the whole group, SIGKILL whatever is left after `timeout`."""
        if self.running():
            self.signal(signal.SIGTERM)
            self.wait(timeout)
        deadline = time.monotonic() + timeout
        while group_alive(self.process.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if group_alive(self.process.pid):
            self.signal(signal.SIGKILL)
        self.wait(5.0)

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def spawn(
    name: str, argv: list[str], log_dir: Path, *, env=None, cwd=None, cls=ManagedProcess, **fields
):
    """Start `argv` in a new session (in `cwd`), output appended to `<log_dir>/<name>.log`."""
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # own process group, so stop() reaches every child
            env={**os.environ, **(env or {})},
            cwd=cwd,
        )
    return cls(name=name, process=process, log_path=log_path, **fields)
