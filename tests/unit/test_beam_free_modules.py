"""The modules that say they need no Beam import none, each in a fresh interpreter.

The producer image has no Beam at all; `python -m replay` and the row builder are meant to run
without it; and `import apache_beam` alone loads ~1,900 modules. A test process has imported
Beam long before, so only a fresh interpreter's `sys.modules` shows what one import pulls in.
"""

from __future__ import annotations

import pkgutil

import pytest

import capacity
import producer
import replay
from tests.support import run_python

# Every module of the packages that ship without Beam or are run without it, and the pipeline
# modules whose docstrings say they need none (plain functions the DoFns call).
BEAM_FREE = [
    "contract",
    "views",
    *(f"capacity.{module.name}" for module in pkgutil.iter_modules(capacity.__path__)),
    *(f"producer.{module.name}" for module in pkgutil.iter_modules(producer.__path__)),
    *(f"replay.{module.name}" for module in pkgutil.iter_modules(replay.__path__)),
    "pipeline",
    "pipeline.bigquery_client",
    "pipeline.dead_letters",
    "pipeline.insert_rules",
    "pipeline.messages",
    "pipeline.rows",
    "pipeline.tables",
    "pipeline.timestamps",
]
# `python -m` entry points run their program when imported; they import only `cli`.
BEAM_FREE = [name for name in BEAM_FREE if not name.endswith(".__main__")]

LOADED = (
    "import sys, importlib; importlib.import_module(sys.argv[1]); "
    "print(sorted(name for name in sys.modules if name.partition('.')[0] == 'apache_beam'))"
)


@pytest.mark.parametrize("module", BEAM_FREE)
def test_importing_it_loads_no_beam(module):
    result = run_python("-c", LOADED, module)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]", f"importing {module} loads Beam"


def test_the_check_sees_beam_where_it_is_loaded():
    result = run_python("-c", LOADED, "pipeline.sinks")
    assert "'apache_beam'" in result.stdout
