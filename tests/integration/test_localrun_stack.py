"""The local stack's moving parts on the real emulators: publish, count, wait, and fail early
with the log's last lines when a process dies."""

from __future__ import annotations

import sys

import pytest

from localrun import stack
from localrun.processes import spawn
from localrun.pubsub_channel import PULL_FAILED
from localrun.resources import StackNames
from tests.support import pull_messages


class Message:
    def __init__(self, n: int):
        self.data = b'{"n": %d}' % n
        self.attributes = {"source": "file"}


def test_publish_waits_for_every_message_id(pubsub_topic):
    topic, subscription = pubsub_topic
    ids = stack.publish(topic, [Message(n) for n in range(5)])
    assert len(set(ids)) == 5
    assert {m.message_id for m in pull_messages(subscription, 5)} == set(ids)


def test_waiting_counts_rows_and_dead_letters_and_times_out_with_what_arrived(fresh_resources):
    r = fresh_resources
    assert stack.counts(r.bigquery, r.names) == stack.Counts(0, 0)
    assert stack.wait_for(r.bigquery, r.names, stack.Counts(0, 0), 5) == stack.Counts(0, 0)
    with pytest.raises(stack.StackError, match="0/1 rows and 0/0 dead letters arrived"):
        stack.wait_for(r.bigquery, r.names, stack.Counts(1, 0), 1, interval=0.2)


def test_a_watched_process_that_dies_fails_the_wait_with_its_log(fresh_resources, tmp_path):
    r = fresh_resources
    dying = spawn("pipeline", [sys.executable, "-c", "print('no such table'); exit(3)"], tmp_path)
    assert dying.wait(30) == 3
    with pytest.raises(stack.StackError, match="the pipeline exited with code 3") as failed:
        stack.wait_for(r.bigquery, r.names, stack.Counts(1, 0), 60, watch=[dying])
    assert "no such table" in str(failed.value)


def test_failed_pulls_are_counted_from_the_pipeline_log(tmp_path):
    script = "import sys; [print(sys.argv[1], n) for n in range(3)]"
    pipeline = spawn("pipeline", [sys.executable, "-c", script, PULL_FAILED], tmp_path)
    assert pipeline.wait(30) == 0
    assert stack.failed_pulls(pipeline) == 3


def test_the_pipeline_runs_against_the_emulators_tables():
    names = StackNames(dataset="d1")
    argv = stack.pipeline_argv(names, "http://127.0.0.1:9050")
    assert argv[1:3] == ["-m", "localrun.local_pipeline"]
    assert "--output_table=local-project:d1.customers" in argv
    assert "--bigquery_endpoint=http://127.0.0.1:9050" in argv
    assert stack.child_env("127.0.0.1:1")["PUBSUB_EMULATOR_HOST"] == "127.0.0.1:1"
