"""Deliberately unusable messages, so a local run shows the dead-letter path.

Each is a near-valid customer with one defect (or no customer at all), built from a fake user
without its credentials: what lands in the dead-letter table must not hold a password either.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from contract import ATTR_CUSTOMER_ID, ATTR_SCHEMA, ATTR_SOURCE, SCHEMA, strip_credentials
from producer.fake import FakeSource


@dataclass(frozen=True)
class BadMessage:
    kind: str
    data: bytes
    attributes: dict[str, str]


def _json(value) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode()


def _without_uuid(user: dict) -> bytes:
    del user["login"]["uuid"]
    return _json(user)


def _bad_registered_date(user: dict) -> bytes:
    user["registered"]["date"] = "last tuesday"
    return _json(user)


def _bad_street_number(user: dict) -> bytes:
    user["location"]["street"]["number"] = "twelve"
    return _json(user)


def _bad_birth_date(user: dict) -> bytes:
    user["dob"]["date"] = "1990-13-45T00:00:00.000Z"
    return _json(user)


def _envelope_without_uuid(user: dict) -> bytes:
    del user["login"]["uuid"]
    return _json({"results": [user], "info": {"seed": "bad", "results": 1, "version": "1.4"}})


# kind -> how to spoil a fresh user (given its serial number, so every message is distinct)
DEFECTS: dict[str, Callable[[dict, int], bytes]] = {
    "truncated JSON": lambda user, i: _json(user)[: 40 + i % 40],
    "not UTF-8": lambda user, i: b"\xff\xfe customer #%d \xc3\x28" % i,
    "JSON array, not an object": lambda user, i: _json(["customer", i]),
    "no login.uuid": lambda user, i: _without_uuid(user),
    "registered.date is not a date": lambda user, i: _bad_registered_date(user),
    "street number is not a number": lambda user, i: _bad_street_number(user),
    "dob.date is not a date": lambda user, i: _bad_birth_date(user),
    "envelope with a user without login.uuid": lambda user, i: _envelope_without_uuid(user),
}


def bad_messages(count: int, seed: str = "bad-messages") -> Iterator[BadMessage]:
    """`count` distinct unusable messages, cycling through every kind of defect."""
    users = FakeSource(seed=seed)
    kinds = list(DEFECTS.items())
    for i in range(count):
        kind, spoil = kinds[i % len(kinds)]
        user = strip_credentials(users.user())
        data = spoil(user, i)
        attributes = {ATTR_SOURCE: users.name, ATTR_SCHEMA: SCHEMA}
        if "uuid" in user["login"]:  # like the producer: no id, no customer_id attribute
            attributes[ATTR_CUSTOMER_ID] = user["login"]["uuid"]
        yield BadMessage(kind, data, attributes)
