"""The common message, one current-API user, decoded and checked in one pass by msgspec.

Most messages are one user of API 1.3 or 1.4. msgspec decodes such a payload straight into
typed structs, checking every type, length, range and pattern in C as it reads the bytes, in
less time than `json.loads` alone takes (bench/README.md). Whatever it refuses (another API
version, an envelope, a null object, any fault) is left to the walker (`messages.iter_users`,
`rows.to_customer_row`), which takes every version and names each fault. So the structs, with
the few checks `decode` makes before them, accept only payloads the walker turns into the very
same row: tests/unit/test_pipeline_typed_users.py checks that on every fixture and edge case,
tests/unit/test_pipeline_properties.py on mangled payloads.

The structs are generated from `rows.USER_COLUMNS`, the one list of a user's columns.
"""

import re
import sys
from collections.abc import Callable
from operator import attrgetter
from typing import Annotated, Any

import msgspec

from pipeline import rows, schema

# Text the walker takes as it is. msgspec counts code points, as `len` does, and refuses a lone
# surrogate ("\ud800"), which UTF-8 cannot encode.
_Text = Annotated[str, msgspec.Meta(max_length=rows.MAX_TEXT_LENGTH)] | None
_Int64 = Annotated[int, msgspec.Meta(ge=schema.INT64_MIN, le=schema.INT64_MAX)] | None
# msgspec searches with the pattern, so it is anchored at both ends (\Z: "$" allows a newline).
_Uuid = Annotated[str, msgspec.Meta(pattern=rf"^{rows.UUID_PATTERN}\Z")]
# The API's forms only: a coordinate sent as a number, say, is left to the walker.
_LEAF_TYPES: dict[Callable[..., Any], Any] = {rows.check_postcode: _Text | _Int64}
# (type, default) of what the walker reads besides USER_COLUMNS, in the 1.3-1.4 form only.
_REQUIRED = msgspec.NODEFAULT
_OTHER_LEAVES: dict[tuple[str, ...], tuple[Any, Any]] = {
    ("login", "uuid"): (_Uuid, _REQUIRED),
    ("dob", "date"): (_Text, None),
    ("registered", "date"): (_Text, None),
    ("location", "street", "number"): (_Int64, None),
    ("location", "street", "name"): (_Text, None),
    # A user holding `results` is an envelope to the walker; UNSET decodes from no JSON value.
    ("results",): (msgspec.UnsetType, msgspec.UNSET),
}


def _struct(name: str, tree: dict[str, Any]) -> tuple[type[msgspec.Struct], bool]:
    """The struct of one object of the user, and whether it is required (it holds a required
    field). An absent optional object decodes as an empty one, so every column's path can be
    read without a test; a null one is refused (the walker reads null as absent)."""
    fields: list[tuple[str, Any, Any]] = []
    required = False
    for key, node in tree.items():
        if isinstance(node, dict):
            kind, child_required = _struct(f"{name}_{key}", node)
            default = _REQUIRED if child_required else msgspec.field(default_factory=kind)
        else:
            kind, default = node
        required |= default is _REQUIRED
        fields.append((key, kind, default))
    return msgspec.defstruct(name, fields, kw_only=True, gc=False), required


def _user_tree() -> dict[str, Any]:
    leaves = {
        (*parent, key): (_LEAF_TYPES.get(check, _Text), None)
        for _column, parent, key, _path, check in rows.USER_COLUMNS
    }
    tree: dict[str, Any] = {}
    for path, leaf in {**leaves, **_OTHER_LEAVES}.items():
        node = tree
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = leaf
    return tree


User, _ = _struct("User", _user_tree())
_DECODER = msgspec.json.Decoder(User)
# Every column's value in one call, in USER_COLUMNS' order. Text is taken as decoded; the
# postcode and the coordinates go through the walker's own checks, so that a value becomes the
# same column value both ways.
_COLUMNS = tuple(column for column, *_ in rows.USER_COLUMNS)
_VALUES = attrgetter(*(path for *_, path, _check in rows.USER_COLUMNS))
_CHECKED = tuple(
    (column, path, check)
    for column, _parent, _key, path, check in rows.USER_COLUMNS
    if check is not rows.check_text
)


# 0: no limit (python -X int_max_str_digits=0), nothing to refuse.
_INT_MAX_STR_DIGITS = sys.get_int_max_str_digits()
_LONG_DIGITS = re.compile(rb"[0-9]{%d}" % (_INT_MAX_STR_DIGITS + 1))
# Far below the depth where json's scanner meets the recursion limit (1,000 less the stack its
# caller has already used: ~390 under 600 frames, measured); a user has about a dozen.
_MAX_BRACKETS = 64


def _is_utf8(payload: bytes) -> bool:
    try:
        payload.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _walker_may_refuse(payload: bytes) -> bool:
    """Whether the payload holds what msgspec accepts and the walker's `json` may refuse, even
    in a field no column reads: invalid UTF-8 (msgspec checks only the text it decodes), an
    integer of more digits than CPython converts (sys.get_int_max_str_digits, 4,300), or
    nesting near the recursion limit (json's scanner recurses once per level, msgspec less).
    Each test is free for a common user (~1 KB, ~12 brackets)."""
    if not payload.isascii() and not _is_utf8(payload):
        return True
    if 0 < _INT_MAX_STR_DIGITS < len(payload) and _LONG_DIGITS.search(payload):
        return True
    return payload.count(b"[") + payload.count(b"{") >= _MAX_BRACKETS


def decode(payload: bytes) -> msgspec.Struct | None:
    """The payload as a `User` if it is one current-API user whose values all have the right
    type, length and form; None if not."""
    if _walker_may_refuse(payload):
        return None
    try:
        return _DECODER.decode(payload)
    except (msgspec.DecodeError, RecursionError):  # ValidationError is a DecodeError
        return None


def user_columns(payload: bytes) -> dict[str, Any] | None:
    """The row of `payload` without its lineage columns if it is one current-API user whose
    values are all valid; None if not, and then the walker decides."""
    if (user := decode(payload)) is None:
        return None
    row = rows.blank_row()
    row.update(zip(_COLUMNS, _VALUES(user), strict=True))
    try:
        for column, path, check in _CHECKED:
            if (value := row[column]) is not None:
                row[column] = check(path, value)
        if (born := user.dob.date) is not None:
            row["date_of_birth"] = schema.utc_timestamp(born)[:10]
        if (registered := user.registered.date) is not None:
            row["registered_at"] = schema.utc_timestamp(registered)
    except ValueError:  # InvalidCustomer too: the walker gives the reason
        return None
    row["customer_id"] = user.login.uuid
    row["street_number"] = user.location.street.number
    row["street_name"] = user.location.street.name
    return row
