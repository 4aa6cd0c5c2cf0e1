"""Random draws of the simulator: weighted choices, amounts, ids and generated PII.

Every function takes the caller's seeded :class:`random.Random`, so a run is
reproducible. All personal data is invented here (no real person's data).
"""

from __future__ import annotations

import math
import random
import uuid
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import TypeVar

from workers.sim import data
from workers.sim.data import City

T = TypeVar("T")

CENT = Decimal("0.01")
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_TAG_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def pick(rng: random.Random, weights: Mapping[T, int]) -> T:
    """One key of ``weights`` drawn with probability proportional to its weight."""
    keys = list(weights)
    return rng.choices(keys, weights=[weights[k] for k in keys])[0]


def pick_city(rng: random.Random, cities: Sequence[City] = data.CITIES) -> City:
    """A city drawn by its weight."""
    return rng.choices(cities, weights=[c.weight for c in cities])[0]


def event_id(rng: random.Random) -> str:
    """A version-4 UUID drawn from ``rng`` (reproducible, unlike ``uuid.uuid4``)."""
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def run_tag(rng: random.Random, size: int = 4) -> str:
    """Short upper-case tag that keeps ids of different seeds apart."""
    return "".join(rng.choice(_TAG_ALPHABET) for _ in range(size))


def money(value: float | Decimal) -> Decimal:
    """Round to cents, clamped to [1.00, MONEY_CAP]."""
    amount = Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_UP)
    return min(max(amount, Decimal("1.00")), data.MONEY_CAP)


def estimated_amount(rng: random.Random) -> Decimal:
    """Log-normal loss estimate: median 6,000 CNY, long tail (σ = 1.4)."""
    return money(math.exp(rng.gauss(math.log(6000.0), 1.4)))


def vary(rng: random.Random, amount: Decimal, low: float, high: float) -> Decimal:
    """``amount`` times a uniform factor in [low, high], in cents."""
    return money(amount * Decimal(str(round(rng.uniform(low, high), 4))))


def minutes(rng: random.Random, low: float, high: float) -> timedelta:
    """A uniform duration in minutes, rounded to whole seconds."""
    return timedelta(seconds=round(rng.uniform(low * 60, high * 60)))


def person_name(rng: random.Random) -> str:
    """A Chinese full name (surname + 1–2 characters; compound surnames rarely)."""
    surname = rng.choice(data.COMPOUND_SURNAMES) if rng.random() < 0.02 else rng.choice(
        data.SURNAMES
    )
    given = "".join(rng.choice(data.GIVEN_CHARS) for _ in range(1 if rng.random() < 0.3 else 2))
    return surname + given


def phone(rng: random.Random) -> str:
    """An 11-digit mainland mobile number starting 13x/15x/18x."""
    return rng.choice(data.PHONE_PREFIXES) + f"{rng.randrange(10**8):08d}"


def resident_id(rng: random.Random, city: City, today: date) -> str:
    """An 18-character resident ID: area code, birth date, sequence, ISO 7064 check."""
    area = city.area_code[:4] + f"{rng.randint(1, 12):02d}"
    birth = today - timedelta(days=rng.randint(18 * 365, 75 * 365))
    body = f"{area}{birth:%Y%m%d}{rng.randrange(1000):03d}"
    total = sum(int(d) * w for d, w in zip(body, _ID_WEIGHTS, strict=True))
    return body + _ID_CHECK[total % 11]


def policy_no(rng: random.Random, insurer: str, line: str, city: City, year: int) -> str:
    """An insurer policy number (PII), e.g. ``PDAA202544030012345678``."""
    code = data.INSURERS[insurer][1]
    return f"P{code}{data.LINE_CODE[line]}{year}{city.area_code}{rng.randrange(10**8):08d}"


def report_no(insurer: str, line: str, city: City, year: int, serial: str) -> str:
    """The insurer's report number (报案号), e.g. ``RDAA2026440300K7QX000123``."""
    code = data.INSURERS[insurer][1]
    return f"R{code}{data.LINE_CODE[line]}{year}{city.area_code}{serial}"


def address(rng: random.Random, city: City, district: str) -> str:
    """A street address in ``district`` (PII)."""
    street = rng.choice(data.STREETS)
    text = f"{district}{street} {rng.randint(1, 9999)} 号"
    if rng.random() < 0.5:
        text += f" {rng.randint(1, 30)} 栋 {rng.randint(1, 33)}{rng.randint(1, 8):02d} 室"
    return text


def plate(rng: random.Random, city: City) -> str:
    """A licence plate of the city, e.g. ``粤B·3K8M2``."""
    tail = "".join(rng.choice("0123456789ABCDEFGHJKLMNPQRSTUVWXYZ") for _ in range(5))
    return f"{city.plate}·{tail}"


def description(rng: random.Random, cause: str, city: City) -> str:
    """Free-text incident description (PII), sometimes naming the plate."""
    texts = data.DESCRIPTIONS.get(cause, data.DESCRIPTIONS["default"])
    return rng.choice(texts).replace("{plate}", plate(rng, city))


def stamp(value: datetime) -> str:
    """RFC 3339 text with offset; milliseconds only when present."""
    micro = value.microsecond
    spec = "seconds" if micro == 0 else "milliseconds"
    return value.replace(microsecond=micro - micro % 1000).isoformat(timespec=spec)
