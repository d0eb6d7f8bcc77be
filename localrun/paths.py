"""Where the local stack lives on disk: the repository root and the run directory under it."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUN_DIR = ROOT / ".run"  # the kept-stack record (stack.json), published.jsonl, logs/
LOG_DIR = RUN_DIR / "logs"
