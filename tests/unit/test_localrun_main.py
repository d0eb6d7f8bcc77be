"""`python -m localrun` refuses bad arguments with one line, before it starts anything."""

import pytest

from localrun.__main__ import main


def test_file_source_without_input_is_refused_like_the_producer_does():
    with pytest.raises(SystemExit) as exit_:
        main(["--source", "file", "--count", "1"])
    assert exit_.value.code == "python -m localrun: error: --source file needs --input FILE"


def test_sources_come_from_the_contract(capsys):
    with pytest.raises(SystemExit):
        main(["--source", "carrier-pigeon"])
    assert "choose from 'randomuser', 'fake', 'file'" in capsys.readouterr().err
