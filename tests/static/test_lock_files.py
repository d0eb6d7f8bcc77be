"""Every lock file pins each package to exact versions and sha256 hashes, and every installer
uses them in hash-checking mode: a package that differs from the one locked cannot be installed."""

from __future__ import annotations

import re

import pytest

from tests.support import ROOT

LOCKS = sorted((ROOT / "requirements").glob("*.txt"))
# One requirement: `name==version \` followed by its `--hash=sha256:...` lines.
REQUIREMENT = re.compile(
    r"^([A-Za-z0-9._-]+)==(\S+)((?:\s*\\\n\s+--hash=sha256:[0-9a-f]{64})+)", re.M
)


def test_there_are_lock_files():
    assert {lock.stem for lock in LOCKS} == {
        "bootstrap",
        "checkov",
        "dev",
        "mitmproxy",
        "pipeline",
        "producer",
        "run",
        "terraform-schema",
    }


@pytest.mark.parametrize("lock", LOCKS, ids=lambda path: path.name)
def test_every_pin_carries_hashes(lock):
    text = lock.read_text()
    pins = [line for line in text.splitlines() if re.match(r"^[A-Za-z0-9._-]+==", line)]
    hashed = REQUIREMENT.findall(text)
    assert pins and len(hashed) == len(pins), f"{lock.name}: a pin without --hash lines"
    assert not re.search(r"^[A-Za-z0-9._-]+\s*(>=|<=|~=|>|<|$)", text, re.M), (
        f"{lock.name}: an unpinned requirement"
    )


@pytest.mark.parametrize("script", ["scripts/venv.sh", "scripts/tools.sh"])
def test_virtualenvs_install_in_hash_checking_mode(script):
    installs = [
        line
        for line in (ROOT / script).read_text().splitlines()
        if "pip install" in line and " -r " in line
    ]
    assert installs and all("--require-hashes --no-deps" in line for line in installs)
    assert "--upgrade pip" not in (ROOT / script).read_text()


def test_lock_script_generates_hashes():
    assert "--generate-hashes" in (ROOT / "scripts/lock.sh").read_text()


def test_make_run_installs_only_the_run_lock_and_make_test_the_dev_lock():
    """`make run` needs no test tool; dev.txt holds every pin of run.txt at the same version."""
    makefile = (ROOT / "Makefile").read_text()
    assert 'scripts/venv.sh "$(PYTHON)" "$(VENV)" run' in makefile
    assert 'scripts/venv.sh "$(PYTHON)" "$(VENV)" dev' in makefile
    assert re.search(r"^run: venv ", makefile, re.M)
    assert re.search(r"^test: dev ", makefile, re.M)
    run, dev = (
        dict(
            re.findall(
                r"^([A-Za-z0-9._-]+)==(\S+)", (ROOT / f"requirements/{name}.txt").read_text(), re.M
            )
        )
        for name in ("run", "dev")
    )
    assert {name: dev.get(name) for name in run} == run
    assert not {"pytest", "ruff", "hypothesis"} & run.keys()


def test_every_lock_is_made_by_the_lock_script():
    script = (ROOT / "scripts/lock.sh").read_text()
    made = set(re.search(r"^for lock in (.+); do$", script, re.M).group(1).split())
    assert made == {lock.stem for lock in LOCKS} - {"terraform-schema"}
