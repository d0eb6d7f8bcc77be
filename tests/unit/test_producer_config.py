"""Flags, environment variables and their errors: one table, one line per mistake."""

from __future__ import annotations

import pytest

from producer.config import Config, parse_config
from tests.support import run_python

TOPIC = "projects/demo-project/topics/customers"


def test_defaults():
    config = parse_config(["--topic", TOPIC], environ={})
    assert config == Config(topic=TOPIC)
    assert (config.source, config.rate, config.count, config.duration) == ("randomuser", 10.0, 0, 0)


def test_every_flag_has_an_environment_variable():
    environ = {
        "PRODUCER_TOPIC": TOPIC,
        "PRODUCER_SOURCE": "fake",
        "PRODUCER_RATE": "250.5",
        "PRODUCER_COUNT": "1000",
        "PRODUCER_DURATION": "15m",
        "PRODUCER_RECORD": "out.jsonl",
        "PRODUCER_API_URL": "http://users.internal:3000/api/",
        "PRODUCER_NAT": "us, gb",
        "PRODUCER_BATCH_SIZE": "5000",
        "PRODUCER_MAX_BATCH_LATENCY": "0.2",
        "PRODUCER_LOG_FORMAT": "text",
        "PRODUCER_LOG_LEVEL": "debug",
    }
    config = parse_config([], environ=environ)
    assert config.topic == TOPIC
    assert config.source == "fake"
    assert config.rate == 250.5
    assert config.count == 1000
    assert config.duration == 900.0
    assert config.record == "out.jsonl"
    assert config.api_url == "http://users.internal:3000/api/"
    assert config.nat == ("US", "GB")
    assert config.batch_size == 5000
    assert config.max_batch_latency == 0.2
    assert (config.log_format, config.log_level) == ("text", "DEBUG")


def test_a_flag_wins_over_the_environment():
    config = parse_config(["--topic", TOPIC, "--rate", "3"], environ={"PRODUCER_RATE": "9"})
    assert config.rate == 3.0


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90", 90.0), ("90s", 90.0), ("1.5m", 90.0), ("2h", 7200.0), ("1d", 86400.0)],
)
def test_durations(text, seconds):
    assert parse_config(["--topic", TOPIC, "--duration", text], environ={}).duration == seconds


@pytest.mark.parametrize(
    ("argv", "environ", "message"),
    [
        ([], {}, "--topic is required (or PRODUCER_TOPIC)"),
        (["--topic", "customers"], {}, "is not a topic path"),
        (["--topic", "projects/demo-project/topics/goog-x"], {}, "is not a topic path"),
        (["--topic", "projects/demo/topics/customers"], {}, "is not a topic path"),
        (["--topic", TOPIC, "--rate", "-1"], {}, "-1 is out of range: expected at least 0"),
        (["--topic", TOPIC, "--batch-size", "6000"], {}, "out of range: expected 1 to 5000"),
        (["--topic", TOPIC, "--api-url", "randomuser.me/api"], {}, "is not an http(s) URL"),
        (["--topic", TOPIC, "--nat", "us,zz"], {}, "unknown nationality 'ZZ'"),
        (["--topic", TOPIC, "--duration", "soon"], {}, "is not a duration"),
        (["--topic", TOPIC, "--source", "ftp"], {}, "invalid choice: 'ftp'"),
        (["--topic", TOPIC, "--source", "file"], {}, "--source file needs --input FILE"),
        (["--topic", TOPIC], {"PRODUCER_COUNT": "many"}, "PRODUCER_COUNT='many'"),
    ],
)
def test_bad_configuration_is_one_line_and_exit_2(capsys, argv, environ, message):
    with pytest.raises(SystemExit) as exit_:
        parse_config(argv, environ=environ)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1, err


def test_help_lists_flags_and_their_environment_variables(capsys):
    with pytest.raises(SystemExit) as exit_:
        parse_config(["--help"], environ={})
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    for flag in ("--source", "--topic", "--rate", "--count", "--duration", "--record", "--api-url"):
        assert flag in out
        assert "PRODUCER_" + flag[2:].upper().replace("-", "_") in out


def test_config_does_not_load_faker():
    """--nat is checked against the nationality table alone: the settings never pay for Faker."""
    code = "import sys, producer.config; print('faker' in sys.modules)"
    result = run_python("-c", code)
    assert result.stdout.strip() == "False", result.stderr
