"""An offline source of randomuser.me 1.4-shaped users, with the API's field types per nationality.

Faker supplies the localised names, places and phone numbers, but one Faker call costs 50-170 us;
drawing each user from small per-nationality pools Faker fills once keeps generation at tens of
thousands of users per second while every value is still Faker's.
"""

from __future__ import annotations

import functools
import hashlib
import random
import string
import unicodedata
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from faker import Faker

from contract import SCHEMA
from producer.nationalities import NATIONALITIES, Nationality

POOL_SIZE = 64


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
_YEAR = 365.25 * 86400


def _ascii(text: str) -> str:
    """Lower-case ASCII for e-mail addresses ('' for scripts without a Latin decomposition)."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in decomposed if c.isascii() and (c.isalnum() or c in "-'"))


@dataclass(frozen=True)
class _Pools:
    first: tuple[tuple[str, ...], tuple[str, ...]]  # male, female
    last: tuple[str, ...]
    street: tuple[str, ...]
    city: tuple[str, ...]
    state: tuple[str, ...]
    phone: tuple[str, ...]
    postcode: tuple[str, ...]
    ascii: dict[str, str]  # name -> its e-mail form, computed once


def _pools(nat: Nationality, seed: str | None) -> _Pools:
    fake = Faker(nat.locale)
    if seed is not None:
        fake.seed_instance(f"{seed}/{nat.locale}")

    def pool(make) -> tuple[str, ...]:
        return tuple(make() for _ in range(POOL_SIZE))

    state = nat.states
    for provider in ("administrative_unit", "state", "region"):
        if not state and hasattr(fake, provider):
            state = pool(getattr(fake, provider))
    first, last = (pool(fake.first_name_male), pool(fake.first_name_female)), pool(fake.last_name)
    return _Pools(
        first=first,
        last=last,
        street=pool(fake.street_name),
        city=pool(fake.city),
        state=state or pool(fake.city),
        phone=pool(fake.phone_number),
        postcode=pool(fake.postcode) if nat.postcode == "text" else (),
        ascii={name: _ascii(name) for name in (*first[0], *first[1], *last)},
    )


@functools.cache
def _template(pattern: str) -> tuple[str, int, int]:
    """'##-?' -> ('{0[0]}{0[1]}-{1[0]}', 2, 1): one str.format fills a whole pattern."""
    parts, digits, letters = [], 0, 0
    for char in pattern:
        if char == "#":
            parts.append(f"{{0[{digits}]}}")
            digits += 1
        elif char == "?":
            parts.append(f"{{1[{letters}]}}")
            letters += 1
        else:
            parts.append(char.replace("{", "{{").replace("}", "}}"))
    return "".join(parts), digits, letters


class _Random(random.Random):
    """`choice` and `randrange` by scaling `random()`: uniform enough for fake people, and
    several times faster than the stdlib's exact rejection sampling."""

    def choice(self, seq):
        return seq[int(self.random() * len(seq))]

    def randrange(self, start, stop=None, step=1):
        low, high = (0, start) if stop is None else (start, stop)
        return low + int(self.random() * (high - low))


class FakeSource:
    """Users like the API's: same keys, same JSON types per nationality, credentials included.

    `registered.date` is the moment the user is generated: this source simulates sign-ups, so
    the event time is now (the API's own dates are random instants of the past 20 years).
    """

    name = "fake"
    schema = SCHEMA

    def __init__(self, nat: tuple[str, ...] = (), seed: str = "") -> None:
        self.nationalities = tuple(nat) or tuple(NATIONALITIES)
        self._rng = _Random(seed or None)
        self._pools = {
            code: _pools(NATIONALITIES[code], seed or None) for code in self.nationalities
        }
        self.skipped = 0
        self.retries = 0

    def users(self, limit: int | None = None) -> Iterator[dict]:
        """An endless stream; the caller stops it (`limit` is only a hint for fetching sources)."""
        while True:
            yield self.user()

    def _pattern(self, pattern: str) -> str:
        template, digits, letters = _template(pattern)
        rng = self._rng
        number = f"{rng.randrange(10**digits):0{digits}d}" if digits else ""
        if not letters:  # most patterns: skip building an empty string of letters
            return template.format(number, "")
        return template.format(number, "".join(rng.choices(string.ascii_uppercase, k=letters)))

    def user(self, now: datetime | None = None) -> dict:
        rng = self._rng
        code = rng.choice(self.nationalities)
        nat, pools = NATIONALITIES[code], self._pools[code]
        now = now or datetime.now(UTC)
        female = rng.random() < 0.5
        gender = "female" if female else "male"
        first, last = rng.choice(pools.first[female]), rng.choice(pools.last)
        username = f"{rng.choice(ADJECTIVES)}{rng.choice(ANIMALS)}{rng.randrange(100, 1000)}"
        local = ".".join(p for p in (pools.ascii[first], pools.ascii[last]) if p) or username
        password = rng.choice(PASSWORDS)
        salt = "".join(rng.choices(string.ascii_letters + string.digits, k=8))
        salted = (password + salt).encode()
        born = now - timedelta(seconds=rng.uniform(18 * _YEAR, 80 * _YEAR))
        offset, description = rng.choice(TIMEZONES)
        portrait = f"{'women' if female else 'men'}/{rng.randrange(100)}.jpg"
        if nat.postcode == "text":
            postcode: int | str = rng.choice(pools.postcode)
        else:
            postcode = int(self._pattern(nat.postcode))
        return {
            "gender": gender,
            "name": {"title": rng.choice(nat.titles[female]), "first": first, "last": last},
            "location": {
                "street": {"number": rng.randrange(1, 10000), "name": rng.choice(pools.street)},
                "city": rng.choice(pools.city),
                "state": rng.choice(pools.state),
                "country": nat.country,
                "postcode": postcode,
                "coordinates": {
                    "latitude": f"{rng.uniform(-90, 90):.4f}",
                    "longitude": f"{rng.uniform(-180, 180):.4f}",
                },
                "timezone": {"offset": offset, "description": description},
            },
            "email": f"{local}@example.com",
            "login": {
                "uuid": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "username": username,
                "password": password,
                "salt": salt,
                "md5": hashlib.md5(salted, usedforsecurity=False).hexdigest(),
                "sha1": hashlib.sha1(salted, usedforsecurity=False).hexdigest(),
                "sha256": hashlib.sha256(salted).hexdigest(),
            },
            "dob": {"date": _iso(born), "age": int((now - born).total_seconds() // _YEAR)},
            "registered": {"date": _iso(now), "age": 0},
            "phone": rng.choice(pools.phone),
            "cell": rng.choice(pools.phone),
            "id": {
                "name": nat.id_name,
                "value": self._pattern(nat.id_pattern) if nat.id_pattern else None,
            },
            "picture": {
                "large": f"https://randomuser.me/api/portraits/{portrait}",
                "medium": f"https://randomuser.me/api/portraits/med/{portrait}",
                "thumbnail": f"https://randomuser.me/api/portraits/thumb/{portrait}",
            },
            "nat": code,
        }


def _iso(instant: datetime) -> str:
    """The API's format: milliseconds and a Z."""
    return instant.isoformat(timespec="milliseconds").replace("+00:00", "Z")
