"""`make forget`: `python -m replay forget` against the stack left up by `make run KEEP=1`.

.venv/bin/python -m localrun.forget --customer ID             # dry run
.venv/bin/python -m localrun.forget --customer ID --execute   # erase
"""

from __future__ import annotations

import sys

from localrun.replay import load, table_flags
from replay import forget


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if {"-h", "--help"} & set(argv):  # no stack needed to read the flags
        return forget.main(argv, prog="make forget")
    return forget.main([*table_flags(load("make forget")), *argv], prog="make forget")


if __name__ == "__main__":
    sys.exit(main())
