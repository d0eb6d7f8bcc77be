"""The fake source gives users shaped like the API's, which the pipeline accepts."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from pipeline.rows import InvalidCustomer, Lineage, to_customer_row
from producer.fake import FakeSource
from producer.nationalities import NATIONALITIES
from tests.support import FIXTURES

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def _real_users() -> list[dict]:
    users = []
    for name in ("28_api_nat_all_v1.4_results50.json", "03_api_results100_seed_kbs.json"):
        users += json.loads((FIXTURES / name).read_text())["results"]
    return users


REAL = {user["nat"]: user for user in _real_users()}


def shape(value):
    """Keys and JSON types, recursively: what the pipeline's parsing depends on."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    return type(value).__name__


@pytest.fixture(scope="module")
def fake() -> FakeSource:
    return FakeSource(seed="unit")


@pytest.fixture(scope="module")
def users_by_nat(fake) -> dict[str, list[dict]]:
    users: dict[str, list[dict]] = {code: [] for code in NATIONALITIES}
    for _ in range(3000):
        user = fake.user(NOW)
        users[user["nat"]].append(user)
    return users


def test_knows_every_nationality_of_the_api():
    assert set(NATIONALITIES) == set(REAL)


def test_covers_every_nationality(users_by_nat):
    assert all(users_by_nat[code] for code in NATIONALITIES)


@pytest.mark.parametrize("code", sorted(NATIONALITIES))
def test_same_keys_and_types_as_the_api(users_by_nat, code):
    """Including the quirks: postcode int or str, id.value null for IR, NZ, TR, UA."""
    expected = shape(REAL[code])
    for user in users_by_nat[code][:20]:
        assert shape(user) == expected
        assert user["location"]["country"] == REAL[code]["location"]["country"]
        assert user["id"]["name"] == REAL[code]["id"]["name"]


@pytest.mark.parametrize("code", sorted(NATIONALITIES))
def test_every_user_passes_the_pipelines_validation(users_by_nat, code):
    for user in users_by_nat[code]:
        try:
            row = to_customer_row(user, Lineage(source="fake"))
        except InvalidCustomer as error:  # pragma: no cover - the message is the diagnosis
            pytest.fail(f"{code} user rejected by the pipeline: {error}\n{json.dumps(user)}")
        assert row["customer_id"] == user["login"]["uuid"]
        assert row["nationality"] == code


def test_carries_credentials_like_the_api_so_stripping_is_exercised(fake):
    login = fake.user(NOW)["login"]
    assert set(REAL["US"]["login"]) == set(login)


def test_a_seed_makes_users_reproducible():
    """Pools and picks both come from the seed, not from the clock at start."""

    def users(seed: str, nat: tuple[str, ...] = ("GB", "IR")) -> list[dict]:
        fake = FakeSource(nat=nat, seed=seed)
        return [fake.user(NOW + timedelta(hours=i)) for i in range(300)]

    assert users("s") == users("s")
    assert users("s", nat=()) == users("s", nat=())
    assert users("s") != users("t")


def test_variety_is_the_product_of_the_pools_not_their_size():
    """Users are assembled from pre-built parts (1,024 people, places, ids per nationality), yet
    20,000 users of one nationality are 20,000 different people with thousands of names."""
    fake = FakeSource(nat=("US",), seed="variety")
    users = [fake.user(NOW) for _ in range(20_000)]

    def person(user: dict) -> str:
        return json.dumps({k: v for k, v in user.items() if k not in ("login", "registered")})

    assert len({person(user) for user in users}) == len(users)
    assert len({(u["name"]["first"], u["name"]["last"]) for u in users}) > 2000
    assert len({u["location"]["street"]["name"] for u in users}) >= 50
    assert len({u["id"]["value"] for u in users}) > 1000
    assert len({u["login"]["username"] for u in users}) > 5000
    assert len({u["location"]["timezone"]["offset"] for u in users}) == 31


def test_every_uuid_is_a_fresh_version_4_uuid():
    fake = FakeSource(seed="uuids")
    ids = [fake.user(NOW)["login"]["uuid"] for _ in range(100_000)]
    assert len(set(ids)) == len(ids)
    for value in ids[:1000]:
        parsed = uuid.UUID(value)
        assert (parsed.version, parsed.variant, str(parsed)) == (4, uuid.RFC_4122, value)


def test_credentials_are_the_api_s_hashes_of_password_and_salt(fake):
    login = fake.user(NOW)["login"]
    salted = (login["password"] + login["salt"]).encode()
    assert login["sha256"] == hashlib.sha256(salted).hexdigest()
    assert login["md5"] == hashlib.md5(salted, usedforsecurity=False).hexdigest()


def test_restricts_to_the_requested_nationalities():
    fake = FakeSource(nat=("NO", "CA"))
    assert {fake.user(NOW)["nat"] for _ in range(200)} == {"NO", "CA"}


def test_registration_is_the_sign_up_moment(fake):
    user = fake.user(NOW)
    assert user["registered"] == {"date": "2026-11-25T12:00:00.000Z", "age": 0}
    later = fake.user(NOW + timedelta(seconds=1.2345))
    assert later["registered"]["date"] == "2026-11-25T12:00:01.234Z"
    assert fake.user()["registered"]["date"][:10] == datetime.now(UTC).date().isoformat()


@pytest.mark.parametrize("days", [0, 1, 400])
def test_ages_count_from_the_sign_up_moment_on_any_day(fake, days):
    """Birth dates are formatted once a day: on a later day they move on with the clock."""
    now = NOW + timedelta(days=days, hours=5)
    for _ in range(500):
        dob = fake.user(now)["dob"]
        born = datetime.fromisoformat(dob["date"].replace("Z", "+00:00"))
        assert 18 <= dob["age"] <= 80
        assert dob["age"] == int((now - born).total_seconds() // (365.25 * 86400))


def test_ids_are_unique(fake):
    ids = [fake.user(NOW)["login"]["uuid"] for _ in range(5000)]
    assert len(set(ids)) == len(ids)
