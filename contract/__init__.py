"""The message contract between producer and pipeline (README: "The producer", **Messages**).

Both images ship this module, so the credential list, the attribute names, the schema tag and the
Pub/Sub resource-name rules exist exactly once. It imports nothing beyond the standard library:
the producer image has no Beam.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

SCHEMA = "randomuser/1.4"
SOURCES = ("randomuser", "fake", "file")

# Keys under `login` that are credentials: never published, never stored.
CREDENTIAL_FIELDS = ("password", "salt", "md5", "sha1", "sha256")
# The national id's value (`id.value`): never published, never stored (`publishable`).
NATIONAL_ID, NATIONAL_ID_VALUE = "id", "value"

ATTR_CUSTOMER_ID = "customer_id"
ATTR_EVENT_TIME = "event_time"
ATTR_SOURCE = "source"
ATTR_SCHEMA = "schema"
# Set only by `python -m replay`: the message_id of the dead letter a message re-publishes.
ATTR_REPLAY_OF = "replay_of"

# Project ids: 6-30 lowercase letters, digits and hyphens, starting with a letter, not ending with
# a hyphen (https://cloud.google.com/resource-manager/docs/creating-managing-projects).
PROJECT_ID = r"[a-z][-a-z0-9]{4,28}[a-z0-9]"
# Topic and subscription ids: a letter, then letters, digits and -_.~+%, 3-255 characters in all,
# not starting with "goog" (google.pubsub.v1.Topic.name and Subscription.name in googleapis'
# google/pubsub/v1/pubsub.proto). "Not goog" is four branches, not a lookahead: these strings are
# also the Flex Template metadata's `regexes`, and engines such as RE2 have no lookaround.
_C, _NOT_O, _NOT_G = "[-A-Za-z0-9._~%+]", "[-A-Za-np-z0-9._~%+]", "[-A-Za-fh-z0-9._~%+]"
_PUBSUB_ID = (
    f"(?:[A-Za-fh-z]{_C}{{2,254}}|g{_NOT_O}{_C}{{1,253}}|go{_NOT_O}{_C}{{0,252}}"
    f"|goo(?:{_NOT_G}{_C}{{0,251}})?)"
)
TOPIC_PATH = rf"^projects/{PROJECT_ID}/topics/{_PUBSUB_ID}$"
SUBSCRIPTION_PATH = rf"^projects/{PROJECT_ID}/subscriptions/{_PUBSUB_ID}$"


def topic_path(value: str) -> str:
    """`value` if it is a topic path: the argparse type of every command that takes `--topic`."""
    if not re.fullmatch(TOPIC_PATH, value):
        raise argparse.ArgumentTypeError(f"{value!r} is not a topic path projects/PROJECT/topics/T")
    return value


def utf8_error(text: str) -> UnicodeEncodeError | None:
    """Why UTF-8 cannot encode `text`, or None if it can.

    JSON can escape a lone UTF-16 surrogate ("\\ud800"), so a decoded message may hold one; no
    UTF-8 encoder accepts it. The contract's messages are UTF-8 JSON, BigQuery's STRING is
    UTF-8, and Beam's coders encode text as UTF-8 between steps: such text is refused everywhere.
    """
    if text.isascii():
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        return error
    return None


def strip_credentials(user: Mapping[str, Any]) -> dict[str, Any]:
    """`user` without any credential under `login`; the input is left untouched.

    Copies only the top level and `login` (the one object it changes): a deep copy cost 6x more
    and was the producer's largest per-message cost.
    """
    clean = dict(user)
    login = clean.get("login")
    if isinstance(login, Mapping):
        clean["login"] = {k: v for k, v in login.items() if k not in CREDENTIAL_FIELDS}
    return clean


def publishable(user: Mapping[str, Any]) -> dict[str, Any]:
    """What the producer publishes of `user`: no credential, and no national id value.

    The national id's value (`id.value`: a social security number, say) serves no purpose
    downstream and is the most damaging value to leak, so it is never collected
    (docs/privacy.md); `id.name`, the kind of id, stays. The input is left untouched.
    """
    clean = strip_credentials(user)
    national_id = clean.get(NATIONAL_ID)
    if isinstance(national_id, Mapping) and NATIONAL_ID_VALUE in national_id:
        clean[NATIONAL_ID] = {k: v for k, v in national_id.items() if k != NATIONAL_ID_VALUE}
    return clean


def to_rfc3339(value: str) -> str:
    """Normalise an ISO 8601 instant (the API's `...Z` form) to RFC 3339 UTC, in milliseconds."""
    parsed = datetime.fromisoformat(value)  # reads the "Z" suffix since Python 3.11
    if parsed.tzinfo is None:
        raise ValueError(f"timestamp without a time zone: {value!r}")
    return parsed.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def attributes_for(user: Mapping[str, Any], source: str, schema: str = SCHEMA) -> dict[str, str]:
    """Pub/Sub attributes of one user; KeyError/TypeError/ValueError if it lacks an id or a date."""
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}; expected one of {', '.join(SOURCES)}")
    return {
        ATTR_CUSTOMER_ID: str(user["login"]["uuid"]),
        ATTR_EVENT_TIME: to_rfc3339(user["registered"]["date"]),
        ATTR_SOURCE: source,
        ATTR_SCHEMA: schema,
    }
