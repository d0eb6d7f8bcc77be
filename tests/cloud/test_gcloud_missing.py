"""Without gcloud the cloud tier fails and says how to install it: it never skips."""

from __future__ import annotations

import os
import shutil
import sys

from tests.support import run


def test_the_tier_fails_and_names_the_install_when_gcloud_is_missing(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("bash", "git", "make"):  # what the tier needs besides gcloud
        os.symlink(shutil.which(tool), bin_dir / tool)
    env = {**os.environ, "PATH": str(bin_dir)}
    test = "tests/cloud/test_gcloud_dataflow.py::test_draining_a_drained_job_is_refused"
    result = run(sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rA", test, env=env)
    assert result.returncode == 1, result.stdout
    assert "gcloud is not on PATH: install the Google Cloud CLI" in result.stdout
    assert "1 error" in result.stdout or "1 failed" in result.stdout
    assert "skipped" not in result.stdout
