"""`python -m localrun` takes its sources from the contract (the --input check: test_make_run)."""

import pytest

from localrun.__main__ import main


def test_sources_come_from_the_contract(capsys):
    with pytest.raises(SystemExit):
        main(["--source", "carrier-pigeon"])
    assert "choose from 'randomuser', 'fake', 'file'" in capsys.readouterr().err
