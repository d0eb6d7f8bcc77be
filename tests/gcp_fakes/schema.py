"""Each request body checked against the API's own message schema, as the service parses it.

gcloud ships the generated apitools messages of every API it calls under its SDK's
`lib/googlecloudsdk/generated_clients/apis/<api>/<version>/<api>_<version>_messages.py`, with
each field's type and documented rules. A body that does not decode into its message (a wrong
type), or that carries a field or an enum value the message does not know, is refused with the
JSON path of each offending field: Google's JSON APIs answer 400 "Invalid JSON payload
received. Unknown name ..." for both (https://cloud.google.com/apis/design/errors).
"""

from __future__ import annotations

import functools
import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from apitools.base.protorpclite import messages
from apitools.base.py import encoding

from tests.gcp_fakes.server import Refused

INSTALL_GCLOUD = (
    "gcloud is not on PATH: install the Google Cloud CLI (Debian/Ubuntu: `apt-get install "
    "google-cloud-cli`, see https://cloud.google.com/sdk/docs/install); the cloud tier runs the "
    "real gcloud against local fakes"
)


@functools.cache
def sdk_root() -> Path:
    """The installed SDK's root (the one `gcloud` on PATH runs), where its API messages are."""
    gcloud = shutil.which("gcloud")
    if gcloud is None:
        raise RuntimeError(INSTALL_GCLOUD)
    info = subprocess.run(
        [gcloud, "info", "--format=value(installation.sdk_root)"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return Path(info.stdout.strip())


@functools.cache
def api_messages(api: str, version: str) -> ModuleType:
    """gcloud's generated messages module of `api` `version`, imported from the SDK."""
    name = f"{api}_{version}_messages"
    path = sdk_root() / "lib/googlecloudsdk/generated_clients/apis" / api / version / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # apitools resolves message fields by the module's name
    spec.loader.exec_module(module)
    return module


def unknown_fields(message: messages.Message, prefix: str = "") -> list[str]:
    """Paths of the fields (and enum values) `message` was given but does not declare."""
    found = [f"{prefix}{name}" for name in message.all_unrecognized_fields()]
    for field in message.all_fields():
        if not isinstance(field, messages.MessageField):
            continue
        value = message.get_assigned_value(field.name)
        values = value if field.repeated else [value]
        for index, item in enumerate(values or []):
            if isinstance(item, messages.Message):
                where = f"{prefix}{field.name}{f'[{index}]' if field.repeated else ''}."
                found += unknown_fields(item, where)
    return found


def decode(api: str, version: str, message_name: str, body: Any) -> messages.Message:
    """`body` as the message `message_name` of `api` `version`; Refused(400) as the API would."""
    message_type = getattr(api_messages(api, version), message_name)
    try:
        message = encoding.JsonToMessage(message_type, json.dumps(body))
    except (messages.ValidationError, messages.DecodeError, ValueError, TypeError) as error:
        raise Refused(400, f"Invalid JSON payload received ({message_name}): {error}") from error
    unknown = unknown_fields(message)
    if unknown:
        raise Refused(
            400, f"Invalid JSON payload received ({message_name}). Unknown name: {unknown}"
        )
    return message
