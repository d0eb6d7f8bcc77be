"""Hypothesis strategies: real users mangled in every way, and the payloads made of them.

The property tests of `rows` and `messages` draw from these: however a valid user is mangled,
it becomes a row or a dead letter, and both survive Beam's element coder (ELEMENT_CODER, what
Dataflow and the FnApiRunner apply between stages).
"""

import copy
import json

from apache_beam.coders import registry
from apache_beam.typehints import Any
from hypothesis import strategies as st

import contract
from tests.support import FIXTURES

# What Beam encodes a dict element with between stages (FastPrimitivesCoder).
ELEMENT_CODER = registry.get_coder(Any)

USERS = [
    user
    for name in ("28_api_nat_all_v1.4_results50.json", "09_api_v1.3_results2.json")
    for user in json.loads((FIXTURES / name).read_text(encoding="utf-8"))["results"]
]
# As JSON strings: a password such as "trace" is also a word of the DLQ's column names.
SECRETS = {json.dumps(user["login"][key]) for user in USERS for key in contract.CREDENTIAL_FIELDS}
DELETE = object()

# Text with lone surrogates (category Cs: JSON can escape them, UTF-8 cannot encode them) and
# control characters (Cc), besides letters, digits, punctuation and spaces.
hostile_text = st.text(
    st.characters(categories=("Cs", "Cc", "L", "N", "P", "Zs"), codec=None), max_size=50
)


def nested(depth: int) -> list:
    value: list = []
    for _ in range(depth):
        value = [value]
    return value


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=50)
    | hostile_text
    | st.text(min_size=2040, max_size=2100)
    | st.sampled_from(["x" * 200_000, "\ud800", "a\udfffb", "\x00\x1f\x7f", "2020-01-01 10:00:00"])
    | st.integers(min_value=1, max_value=500).map(nested)
    | st.sampled_from(["2020-02-30T00:00:00Z", "1990-01-01", "", "NaN", "1e999", "-0"]),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(hostile_text, children, max_size=3)
    ),
    max_leaves=6,
)


def key_paths(value, prefix=()):
    """Every key path in a nested user, intermediate objects included."""
    if isinstance(value, dict):
        for key, child in value.items():
            yield (*prefix, key)
            yield from key_paths(child, (*prefix, key))


@st.composite
def mutated_users(draw):
    user = copy.deepcopy(draw(st.sampled_from(USERS)))
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        paths = list(key_paths(user))
        if not paths:
            break
        *parents, key = draw(st.sampled_from(paths))
        node = user
        for parent in parents:
            node = node[parent]
        replacement = draw(st.one_of(st.just(DELETE), json_values))
        if replacement is DELETE:
            del node[key]
        else:
            node[key] = replacement
    return user


def payloads():
    def encode(user):
        return json.dumps(user, allow_nan=True).encode("utf-8")

    mangled = st.tuples(
        mutated_users().map(encode), st.integers(min_value=0), st.binary(max_size=4)
    )
    return st.one_of(
        mutated_users().map(encode),
        mutated_users().map(lambda user: json.dumps({"results": [user], "info": {}}).encode()),
        mangled.map(lambda t: t[0][: t[1] % (len(t[0]) + 1)] + t[2]),  # cut, then garbage
        st.binary(max_size=64),
        # nesting deeper than any recursion limit, where a user's field should be
        mutated_users().map(encode).map(lambda data: data.replace(b"{", b"[" * 100_000 + b"{", 1)),
    )
