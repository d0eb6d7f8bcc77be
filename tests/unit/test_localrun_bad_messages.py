"""The bad messages make run publishes: distinct, every defect, no credential."""

from __future__ import annotations

from contract import CREDENTIAL_FIELDS
from localrun.bad_messages import DEFECTS, bad_messages


def test_bad_messages_are_distinct_cover_every_defect_and_hold_no_credential():
    messages = list(bad_messages(2 * len(DEFECTS)))
    assert len({m.data for m in messages}) == len(messages)
    assert {m.kind for m in messages} == set(DEFECTS)
    for message in messages:
        assert not any(f'"{key}"'.encode() in message.data for key in CREDENTIAL_FIELDS)
