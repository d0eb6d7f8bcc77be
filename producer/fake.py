"""An offline source of randomuser.me 1.4-shaped users, with the API's field types per nationality.

Faker supplies the localised names, places and phone numbers, but one Faker call costs 50-170 us
and the producer's whole budget per customer is a few us (bench/README.md). So each source
builds, once, pools per nationality: Faker values per field, then people (name, title, e-mail,
portrait) and places (street, city, state, postcode) combined from them, and id values; plus
shared usernames, credentials (password, salt, hashes), coordinates and ages. A user is then a
dozen random picks plus what must be fresh: `login.uuid`, the sign-up time and the age at it:
~5 us instead of ~20. Variety is the product of the pool sizes (more than 10^20 users per
nationality), memory is bounded by them (~30 MB for all 21 nationalities), and a seed
reproduces both the pools and the picks.
"""

from __future__ import annotations

import hashlib
import math
import random
import string
import time
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import NamedTuple

from faker import Faker

from contract import SCHEMA
from producer.nationalities import NATIONALITIES, Nationality

# Pool sizes are powers of two, so a pick is one getrandbits call.
FAKER_BITS = 6  # Faker values per field and nationality (64): what the startup cost is made of
PEOPLE_BITS = 12  # people (name, title, e-mail, portrait) per nationality (4,096)
COMBINED_BITS = 10  # places and id values per nationality (1,024 each)
SHARED_BITS = 12  # credentials, coordinates, birth dates, shared by all nationalities (4,096)
USERNAME_BITS = 14  # usernames, shared (16,384 of 202,500 adjective+animal+number)

# The API's own list: a user's time zone is drawn independently of the country.
TIMEZONES = (
    ("-12:00", "Eniwetok, Kwajalein"), ("-11:00", "Midway Island, Samoa"), ("-10:00", "Hawaii"),
    ("-9:00", "Alaska"), ("-8:00", "Pacific Time (US & Canada)"),
    ("-7:00", "Mountain Time (US & Canada)"), ("-6:00", "Central Time (US & Canada), Mexico City"),
    ("-5:00", "Eastern Time (US & Canada), Bogota, Lima"),
    ("-4:00", "Atlantic Time (Canada), Caracas, La Paz"), ("-3:30", "Newfoundland"),
    ("-3:00", "Brazil, Buenos Aires, Georgetown"), ("-2:00", "Mid-Atlantic"),
    ("-1:00", "Azores, Cape Verde Islands"),
    ("0:00", "Western Europe Time, London, Lisbon, Casablanca"),
    ("+1:00", "Brussels, Copenhagen, Madrid, Paris"), ("+2:00", "Kaliningrad, South Africa"),
    ("+3:00", "Baghdad, Riyadh, Moscow, St. Petersburg"), ("+3:30", "Tehran"),
    ("+4:00", "Abu Dhabi, Muscat, Baku, Tbilisi"), ("+4:30", "Kabul"),
    ("+5:00", "Ekaterinburg, Islamabad, Karachi, Tashkent"),
    ("+5:30", "Bombay, Calcutta, Madras, New Delhi"), ("+5:45", "Kathmandu"),
    ("+6:00", "Almaty, Dhaka, Colombo"), ("+7:00", "Bangkok, Hanoi, Jakarta"),
    ("+8:00", "Beijing, Perth, Singapore, Hong Kong"),
    ("+9:00", "Tokyo, Seoul, Osaka, Sapporo, Yakutsk"), ("+9:30", "Adelaide, Darwin"),
    ("+10:00", "Eastern Australia, Guam, Vladivostok"),
    ("+11:00", "Magadan, Solomon Islands, New Caledonia"),
    ("+12:00", "Auckland, Wellington, Fiji, Kamchatka"),
)  # fmt: skip
ADJECTIVES = ("tiny", "lazy", "happy", "sad", "big", "small", "heavy", "crazy", "organic",
              "ticklish", "golden", "silver", "blue", "red", "white")  # fmt: skip
ANIMALS = ("rabbit", "wolf", "frog", "koala", "bear", "tiger", "panda", "duck", "swan",
           "zebra", "goose", "meercat", "ladybug", "gorilla", "peacock")  # fmt: skip
PASSWORDS = ("klingon", "flipper", "rainman", "snuffy", "cookie", "poker", "tigger", "matrix")
_PICTURES = tuple(  # male, female: (large, medium, thumbnail) per portrait number
    tuple(
        tuple(
            f"https://randomuser.me/api/portraits/{size}{folder}/{n}.jpg"
            for size in ("", "med/", "thumb/")
        )
        for n in range(100)
    )
    for folder in ("men", "women")
)
_UUID4 = "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}".format  # version 4, variant 10: 122 random bits
_YEAR = 365.25 * 86400
_AGES = (18 * _YEAR, 80 * _YEAR)


def _ascii(text: str) -> str:
    """Lower-case ASCII for e-mail addresses ('' for scripts without a Latin decomposition)."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in decomposed if c.isascii() and (c.isalnum() or c in "-'"))


def _pattern(rng: random.Random, pattern: str) -> str:
    """'##-?' -> e.g. '07-K': '#' a digit, '?' a capital letter."""
    return "".join(
        str(rng.randrange(10))
        if c == "#"
        else rng.choice(string.ascii_uppercase)
        if c == "?"
        else c
        for c in pattern
    )


def _iso(timestamp: float) -> str:
    """The API's format: milliseconds and a Z."""
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


class _Person(NamedTuple):
    gender: str
    title: str
    first: str
    last: str
    email: str
    picture: tuple[str, str, str]  # large, medium, thumbnail


class _Place(NamedTuple):
    number: int
    street: str
    city: str
    state: str
    postcode: int | str  # int where the API's is, else the locale's own form


@dataclass(frozen=True)
class _Pools:
    """One nationality's pre-built parts, each 2**(its _BITS) long."""

    nat: Nationality
    people: tuple[_Person, ...]
    places: tuple[_Place, ...]
    phones: tuple[str, ...]  # 2**FAKER_BITS, Faker's
    ids: tuple[str, ...] | None  # None: id.value is null, like the API's


def _pools(code: str, seed: str | None) -> _Pools:
    nat = NATIONALITIES[code]
    fake = Faker(nat.locale)
    rng = random.Random(None if seed is None else f"{seed}/{code}")  # noqa: S311 - not crypto
    if seed is not None:
        fake.seed_instance(f"{seed}/{nat.locale}")

    def faker(make) -> tuple[str, ...]:
        return tuple(make() for _ in range(1 << FAKER_BITS))

    def combined(make) -> tuple:
        return tuple(make() for _ in range(1 << COMBINED_BITS))

    state = nat.states
    for provider in ("administrative_unit", "state", "region"):
        if not state and hasattr(fake, provider):
            state = faker(getattr(fake, provider))
    firsts, lasts = (
        (faker(fake.first_name_male), faker(fake.first_name_female)),
        faker(fake.last_name),
    )
    streets, cities, states = faker(fake.street_name), faker(fake.city), state or faker(fake.city)
    phones = faker(fake.phone_number)
    postcodes = faker(fake.postcode) if nat.postcode == "text" else ()
    ascii_names = {name: _ascii(name) for name in (*firsts[0], *firsts[1], *lasts)}

    def person() -> _Person:
        female = rng.random() < 0.5
        first, last = rng.choice(firsts[female]), rng.choice(lasts)
        local = ".".join(p for p in (ascii_names[first], ascii_names[last]) if p) or _username(rng)
        return _Person(
            "female" if female else "male",
            rng.choice(nat.titles[female]),
            first,
            last,
            f"{local}@example.com",
            _PICTURES[female][rng.randrange(100)],
        )

    def place() -> _Place:
        postcode = rng.choice(postcodes) if postcodes else int(_pattern(rng, nat.postcode))
        return _Place(
            rng.randrange(1, 10000),
            rng.choice(streets),
            rng.choice(cities),
            rng.choice(states),
            postcode,
        )

    return _Pools(
        nat=nat,
        people=tuple(person() for _ in range(1 << PEOPLE_BITS)),
        places=combined(place),
        phones=phones,
        ids=combined(lambda: _pattern(rng, nat.id_pattern)) if nat.id_pattern else None,
    )


def _username(rng: random.Random) -> str:
    return f"{rng.choice(ADJECTIVES)}{rng.choice(ANIMALS)}{rng.randrange(100, 1000)}"


def _credentials(rng: random.Random) -> tuple[tuple[str, str, str, str, str], ...]:
    """Credentials like the API's (password, salt, hashes of both), there to be stripped."""

    def credentials() -> tuple[str, str, str, str, str]:
        password = rng.choice(PASSWORDS)
        salt = "".join(rng.choices(string.ascii_letters + string.digits, k=8))
        salted = (password + salt).encode()
        return (
            password,
            salt,
            hashlib.md5(salted, usedforsecurity=False).hexdigest(),
            hashlib.sha1(salted, usedforsecurity=False).hexdigest(),
            hashlib.sha256(salted).hexdigest(),
        )

    return tuple(credentials() for _ in range(1 << SHARED_BITS))


class FakeSource:
    """Users like the API's: same keys, same JSON types per nationality, credentials included.

    `registered.date` is the moment the user is generated: this source simulates sign-ups, so
    the event time is now (the API's own dates are random instants of the past 20 years).
    """

    name = "fake"
    schema = SCHEMA

    def __init__(self, nat: tuple[str, ...] = (), seed: str = "") -> None:
        self.nationalities = tuple(nat) or tuple(NATIONALITIES)
        self._rng = random.Random(seed or None)  # noqa: S311 - fake people, not crypto
        self._pools = tuple((code, _pools(code, seed or None)) for code in self.nationalities)
        self._credentials = _credentials(self._rng)
        self._usernames = tuple(_username(self._rng) for _ in range(1 << USERNAME_BITS))
        self._coordinates = tuple(
            (f"{self._rng.uniform(-90, 90):.4f}", f"{self._rng.uniform(-180, 180):.4f}")
            for _ in range(1 << SHARED_BITS)
        )
        self._ages = tuple(self._rng.uniform(*_AGES) for _ in range(1 << SHARED_BITS))  # seconds
        self._day, self._births = -1.0, ()
        self._second, self._second_iso = -1, ""
        self.skipped = 0
        self.retries = 0

    def users(self, limit: int | None = None) -> Iterator[dict]:
        """An endless stream; the caller stops it (`limit` is only a hint for fetching sources)."""
        while True:
            yield self.user()

    def _births_on(self, day: float) -> tuple[tuple[str, float], ...]:
        """Birth instants (ISO form, timestamp) `_ages` before midnight of `day`: formatted once a
        day, not per user; a user's age is still counted from the moment of sign-up."""
        if day != self._day:
            midnight = day * 86400
            self._day, self._births = (
                day,
                tuple((_iso(midnight - age), midnight - age) for age in self._ages),
            )
        return self._births

    def _now_iso(self, now: float) -> str:
        """`_iso(now)`, formatting each second once: sign-ups come in order, many per second."""
        second = math.floor(now)
        if second != self._second:
            self._second, self._second_iso = second, _iso(second)[:-5]
        return f"{self._second_iso}.{int((now - second) * 1000):03d}Z"

    def user(self, now: datetime | None = None) -> dict:
        rng = self._rng
        pick = rng.getrandbits  # pools are 2**bits long: one C call per pick, no rejection loop
        code, pools = self._pools[int(rng.random() * len(self._pools))]
        nat = pools.nat
        gender, title, first, last, email, picture = pools.people[pick(PEOPLE_BITS)]
        number, street, city, state, postcode = pools.places[pick(COMBINED_BITS)]
        id_value = None if pools.ids is None else pools.ids[pick(COMBINED_BITS)]
        password, salt, md5, sha1, sha256 = self._credentials[pick(SHARED_BITS)]
        latitude, longitude = self._coordinates[pick(SHARED_BITS)]
        phone, cell = pools.phones[pick(FAKER_BITS)], pools.phones[pick(FAKER_BITS)]
        offset, description = TIMEZONES[int(rng.random() * len(TIMEZONES))]
        timestamp = time.time() if now is None else now.timestamp()
        born, birth = self._births_on(timestamp // 86400)[pick(SHARED_BITS)]
        large, medium, thumbnail = picture
        return {
            "gender": gender,
            "name": {"title": title, "first": first, "last": last},
            "location": {
                "street": {"number": number, "name": street},
                "city": city,
                "state": state,
                "country": nat.country,
                "postcode": postcode,
                "coordinates": {"latitude": latitude, "longitude": longitude},
                "timezone": {"offset": offset, "description": description},
            },
            "email": email,
            "login": {
                "uuid": _UUID4(pick(32), pick(16), pick(12), pick(14) | 0x8000, pick(48)),
                "username": self._usernames[pick(USERNAME_BITS)],
                "password": password,
                "salt": salt,
                "md5": md5,
                "sha1": sha1,
                "sha256": sha256,
            },
            "dob": {"date": born, "age": int((timestamp - birth) // _YEAR)},
            "registered": {"date": self._now_iso(timestamp), "age": 0},
            "phone": phone,
            "cell": cell,
            "id": {
                "name": nat.id_name,
                "value": id_value,
            },
            "picture": {
                "large": large,
                "medium": medium,
                "thumbnail": thumbnail,
            },
            "nat": code,
        }
