"""Property-based: however a valid user is mangled, it becomes a row or a dead letter."""

import copy
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import contract
from pipeline import schema, transforms
from tests.support import FIXTURES

USERS = [
    user
    for name in ("28_api_nat_all_v1.4_results50.json", "09_api_v1.3_results2.json")
    for user in json.loads((FIXTURES / name).read_text(encoding="utf-8"))["results"]
]
# As JSON strings: a password such as "trace" is also a word of the DLQ's column names.
SECRETS = {json.dumps(user["login"][key]) for user in USERS for key in contract.CREDENTIAL_FIELDS}
DELETE = object()

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=50)
    | st.text(min_size=2040, max_size=2100)
    | st.sampled_from(["2020-02-30T00:00:00Z", "1990-01-01", "", "NaN", "1e999", "-0"]),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=6,
)


def _paths(value, prefix=()):
    """Every key path in a nested user, intermediate objects included."""
    if isinstance(value, dict):
        for key, child in value.items():
            yield (*prefix, key)
            yield from _paths(child, (*prefix, key))


@st.composite
def mutated_users(draw):
    user = copy.deepcopy(draw(st.sampled_from(USERS)))
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        paths = list(_paths(user))
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


def _payloads():
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
    )


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_users())
def test_to_customer_row_returns_a_valid_row_or_raises_invalid_customer(user):
    try:
        row = transforms.to_customer_row(user)
    except transforms.InvalidCustomer as error:
        assert str(error)
    else:
        assert schema.row_errors(row, schema.fields(schema.CUSTOMERS)) == []


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_payloads(), st.dictionaries(st.text(max_size=10), st.text(max_size=20), max_size=3))
def test_process_message_never_raises_and_accounts_for_the_message(payload, attributes):
    outcome = transforms.process_message(payload, attributes, message_id="1")

    assert outcome.rows or outcome.dead_letters
    for row in outcome.rows:
        assert schema.row_errors(row, schema.fields(schema.CUSTOMERS)) == []
    for letter in outcome.dead_letters:
        assert schema.row_errors(letter, schema.fields(schema.CUSTOMERS_DLQ)) == []
        assert letter["stage"] in ("parse", "validate")
        assert letter["errorMessage"]
    stored = [json.dumps(row) for row in outcome.rows]
    stored += [letter["payloadString"] for letter in outcome.dead_letters]
    assert not any(secret in text for secret in SECRETS for text in stored)
