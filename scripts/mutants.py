"""make mutants: mutmut over the modules that decide data, one module at a time.

Each module is mutated in its own copy of the work tree (.run/mutants/<module>/, so one run
never sees another's mutants) with only the unit test files that exercise it; mutmut then
runs, for each mutant, only the tests that called the mutated function. Prints each module's
score (killed / mutants) and its surviving mutants; `mutmut show <name>` in the copy shows one.
Not part of `make test`: a full run takes about 12 minutes on 2 shared cores (tests/README.md).
`--survivors` re-runs only the last run's survivors, in the same copy with today's tests
(a module changed since is mutated again in full): the loop of writing a test per survivor.

    .venv/bin/python scripts/mutants.py [--survivors] [pipeline/rows.py ...]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / ".run" / "mutants"
MUTMUT = Path(sys.executable).parent / "mutmut"
# module -> the unit test files that exercise it (mutmut picks, per mutant, those that reach it).
MODULES = {
    "pipeline/rows.py": ["test_pipeline_rows.py", "test_pipeline_messages.py"],
    "pipeline/messages.py": ["test_pipeline_messages.py"],
    "pipeline/dead_letters.py": ["test_pipeline_dead_letters.py", "test_pipeline_messages.py"],
    "pipeline/tables.py": [
        "test_pipeline_tables.py",
        "test_pipeline_insert_rules.py",
        "test_pipeline_rows.py",
    ],
    "pipeline/timestamps.py": ["test_pipeline_timestamps.py", "test_pipeline_rows.py"],
    "pipeline/insert_rules.py": ["test_pipeline_insert_rules.py"],
    "pipeline/dedupe.py": ["test_pipeline_dedupe.py"],
    "contract/__init__.py": ["test_contract.py"],
    "producer/publish_loop.py": ["test_producer_publish_loop.py"],
    "replay/plan.py": ["test_replay_plan.py"],
}
PACKAGES = ["bench", "contract", "localrun", "pipeline", "producer", "replay", "views"]
# Left out of every mutant's tests: under tracemalloc and mutmut's call trampolines it takes
# ~40 s, and it ran for each mutant of rows or messages no quicker test kills. Leaving a test
# out can only let more mutants survive: the scores never look better for it.
PYTEST_ARGS = ["-p", "no:cacheprovider", "-p", "no:randomly"] + [
    f"--deselect={test}"
    for test in [
        "tests/unit/test_pipeline_messages.py::test_memory_stays_flat_on_a_10_mb_envelope_of_bad_users"
    ]
]


def _copy_tree(module: str) -> Path:
    """The work tree's files (tracked and new, not ignored) in a fresh folder for `module`."""
    where = WORK / module.replace("/", ".")
    shutil.rmtree(where, ignore_errors=True)
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout.split(b"\0")
    for name in filter(None, listed):
        source = ROOT / os.fsdecode(name)
        if source.is_file():
            target = where / os.fsdecode(name)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    tests = [f"tests/unit/{name}" for name in MODULES[module]]
    with (where / "pyproject.toml").open("a", encoding="utf-8") as config:
        config.write(
            "\n[tool.mutmut]\n"
            f"source_paths = {json.dumps(PACKAGES)}\n"
            f"only_mutate = {json.dumps([module])}\n"
            f"pytest_add_cli_args_test_selection = {json.dumps(tests)}\n"
            f"pytest_add_cli_args = {json.dumps(PYTEST_ARGS)}\n"
        )
    return where


def _sources(root: Path) -> dict[Path, bytes]:
    return {
        path.relative_to(root): path.read_bytes()
        for package in PACKAGES
        for path in (root / package).rglob("*.py")
    }


def _refresh_tests(module: str) -> Path | None:
    """The copy of the last run of `module` with today's tests/, or None if there is none or
    the code changed since (its mutants, or what they call, would not be the ones that ran)."""
    where = WORK / module.replace("/", ".")
    if not (where / "mutants").is_dir() or _sources(where) != _sources(ROOT):
        return None
    shutil.copytree(ROOT / "tests", where / "tests", dirs_exist_ok=True)
    return where


def _mutmut(where: Path, *args: str) -> str:
    command = ["nice", "-n", "19", str(MUTMUT), *args]
    result = subprocess.run(command, check=False, cwd=where, capture_output=True, text=True)
    if result.returncode:
        sys.exit(f"mutmut {' '.join(args)} failed in {where}:\n{result.stdout}{result.stderr}")
    return result.stdout


def _results(where: Path) -> list[str]:
    """`name: status` of every mutant not killed (timeouts are listed, and count as killed)."""
    return [line.strip() for line in _mutmut(where, "results").splitlines() if line.strip()]


def run(module: str, *, survivors_only: bool = False) -> tuple[int, int, list[str]]:
    """(killed, mutants, survivors) of `module`; timeouts count as killed, as mutmut does."""
    where = _refresh_tests(module) if survivors_only else None
    if where is None:
        where = _copy_tree(module)
        _mutmut(where, "run", "--max-children", "1")
    elif names := [line.split(":")[0] for line in _results(where)]:
        _mutmut(where, "run", "--max-children", "1", *names)
    _mutmut(where, "export-cicd-stats")
    stats = json.loads((where / "mutants" / "mutmut-cicd-stats.json").read_text())
    return stats["killed"] + stats["timeout"], stats["total"], _results(where)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", help=f"default: {' '.join(MODULES)}")
    parser.add_argument(
        "--survivors", action="store_true", help="re-run only the last run's survivors"
    )
    arguments = parser.parse_args()
    modules = arguments.modules or list(MODULES)
    if unknown := [module for module in modules if module not in MODULES]:
        parser.error(f"not a module it mutates: {' '.join(unknown)}")
    scores = {}
    for module in modules:
        print(f"==> {module}: {' '.join(MODULES[module])}", flush=True)
        killed, total, survivors = run(module, survivors_only=arguments.survivors)
        scores[module] = (killed, total)
        for survivor in survivors:
            print(f"    {survivor}", flush=True)
    print("\n| module | killed | mutants | score |\n|---|---|---|---|")
    for module, (killed, total) in scores.items():
        print(f"| `{module}` | {killed} | {total} | {100 * killed / max(total, 1):.1f}% |")


if __name__ == "__main__":
    main()
