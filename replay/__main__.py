import sys

from replay import cli, forget

# `python -m replay forget ...` erases a customer; anything else is a replay.
if sys.argv[1:2] == ["forget"]:
    sys.exit(forget.main(sys.argv[2:]))
sys.exit(cli.main())
