"""No file speaks of how it came to be, or cites a document the repository does not hold.

History lives in git: no file mentions an issue, a work session, a review or a "phase". Every
file a reader is sent to is in the repository (or on the web). Checked on every tracked text
file but the license, the lock files and the test data.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support import ROOT, run

# Built from parts, so that this file does not match itself.
ISSUE = "iss" + "ue"
HISTORY = re.compile(
    "|".join(
        [
            rf"\b{ISSUE}s?\s*#?\d+",  # an issue number
            rf"\bthe {ISSUE}\b",  # "as the issue measured", "what the issue asks"
            rf"\b{ISSUE}'s\b",
            r"\brevie" + r"w(?:s|ed|er|ers|ing)?\b",
            r"\b(?:later|earlier|previous|next|first|second|third|last|another|this) sess"
            + r"ion\b",
            r"\bphas" + r"e [A-Z]\b",
        ]
    ),
    re.IGNORECASE,
)
OUTSIDE = re.compile(r"shared/docs|\benvironment\.md\b|\bdesign\.md\b|/work/")
SKIPPED = re.compile(r"^(LICENSE|requirements/.*\.txt|tests/data/.*|.*\.(png|jpg|ico|gz))$")


def text_files() -> list[Path]:
    listed = run("git", "ls-files", "--cached", "--others", "--exclude-standard")
    assert listed.returncode == 0, listed.stderr
    return [
        ROOT / name
        for name in listed.stdout.splitlines()
        if not SKIPPED.match(name) and (ROOT / name).is_file()
    ]


def offending_lines(pattern: re.Pattern, path: Path) -> list[str]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        return []
    where = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    return [
        f"{where}:{n}: {line.strip()}" for n, line in enumerate(lines, 1) if pattern.search(line)
    ]


@pytest.mark.parametrize(
    ("pattern", "what"), [(HISTORY, "history"), (OUTSIDE, "a document outside the repository")]
)
def test_no_file_speaks_of_it(pattern, what):
    files = [path for path in text_files() if path != Path(__file__)]
    assert len(files) > 100
    found = [line for path in files for line in offending_lines(pattern, path)]
    assert not found, f"{what} (git keeps it; say what is, not how it came to be):\n" + "\n".join(
        found
    )


@pytest.mark.parametrize(
    ("line", "flagged"),
    [
        ("Until issue 10's second session the parse scenario counted", True),
        ("measured alongside a review", True),
        ("| phase B (CPU ratio) |", True),
        ("Beam pickles the corpus, as the issue measured", True),
        ("(shared/docs/environment.md)", True),
        ("subprocess.Popen(argv, start_new_session=True)", False),
        ("a pooled `requests` session retries connection errors", False),
        ("A session on the local stack, as a new user types it", False),
        ("pytest fixtures started once per session", False),
    ],
)
def test_the_patterns_flag_history_and_outside_documents_only(line, flagged, tmp_path):
    path = tmp_path / "README.md"
    path.write_text(line + "\n", encoding="utf-8")
    found = offending_lines(HISTORY, path) + offending_lines(OUTSIDE, path)
    assert bool(found) is flagged
