"""A deterministic stream of messy order rows, the quickstart's kind of data at scale.

Rows have the columns of the demo model (``capisync.demo.MODEL_SQL``), as a warehouse
source hands them over: naive UTC datetimes, DECIMAL totals, strings as typed by people.
They are generated lazily, one batch at a time, and a batch depends only on the seed and
its first row number: any batch can be regenerated, and no more than one batch exists at once.

What makes them messy (roughly, per 1,000 rows):
  - emails: all distinct; a seventh uppercased, a fifth padded with spaces;
  - phones: US numbers in five formats, French national numbers ("06 12 34 56 78") and UK
    national ("020 7946 0123") or international ones, with the country as a full name
    ("France", "United Kingdom", "United States", "USA", "U.S.", "us"); about 9% empty;
  - names with accents, apostrophes, hyphens, particles, odd case and padding;
  - US states as full names, codes or padded lowercase codes; ZIP and ZIP+4 codes;
  - ~30 too-old website rows (8 to 30 days), and ~8 invalid rows: no customer data, a
    purchase without an amount, a currency that is no ISO code, a website row without a
    user agent, a point-of-sale clock two days ahead.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal

NOW = datetime(2026, 6, 1, 12, 0, 0)  # naive UTC, as DuckDB returns TIMESTAMP columns
NOW_EPOCH = int((NOW - datetime(1970, 1, 1)).total_seconds())
SEED = 20260601
COLUMNS = (
    "order_id",
    "event_name",
    "event_time",
    "action_source",
    "email",
    "phone",
    "first_name",
    "last_name",
    "city",
    "state",
    "zip",
    "country",
    "client_ip_address",
    "user_agent",
    "page_url",
    "value",
    "currency",
)

FIRST = [
    "Mary-Ann",
    "JOHN",
    " Valéry ",
    "Zoë",
    "O'Neil",
    "chloé",
    "Ahmed",
    "Lucía",
    "Wei",
    "Brendan",
    "Priya",
    "Jean-Luc",
    "Sofia",
    "Liam",
    "Noah",
    "Émilie",
    "José",
    "Anne Marie",
    "François",
    "Björn",
    "Siobhán",
    "D'Arcy",
    "Łukasz",
    "Øyvind",
    "Renée",
    "Mohammed",
    "Yuki",
    "Olivia",
    "EMMA",
    "ava",
    "Isabella",
    "Mia",
    "Charlotte",
    "Amelia",
    "Harper",
    "Evelyn",
    "Abigail",
    "Ella",
    "Lucas",
    "Mason",
    "Ethan",
    "Logan",
    "Jackson",
    "Aiden",
    "Sebastián",
    "Mateo",
    "Léa",
    "Zoé",
    "Hélène",
    "Inès",
    "Chloë",
    "Jürgen",
    "Søren",
    "Ana-María",
    "St. John",
    "Mary Jo",
    "J.R.",
    "Kai",
    "Nguyễn",
    "Dvořák",
]
LAST = [
    "Smith",
    "O'Brien",
    "García-López",
    "Müller",
    "NGUYEN",
    "van der Berg",
    "Dubois",
    "Kowalski",
    "Smith Jr.",
    "Takahashi",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Miller",
    "Davis",
    "Rodríguez",
    "Martínez",
    "Hernández",
    "Lopez",
    "Gonzalez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Pérez",
    "Thompson",
    "White",
    "Harris",
    "Sánchez",
    "Clark",
    "Ramírez",
    "Lewis",
    "Robinson",
    "Walker",
    "Young",
    "Allen",
    "King",
    "Wright",
    "Scott",
    "Torres",
    "Nguyen",
    "Hill",
    "Flores",
    "Green",
    "Adams",
    "Nelson",
    "Baker",
    "Hall",
    "Rivera",
    "Campbell",
    "Mitchell",
    "Carter",
    "Roberts",
    "Lefèvre",
    "Moreau",
    "Fontaine",
    "d'Alembert",
    "MacDonald",
    "McAllister",
    "O'Connor",
    "Ó Briain",
    "Schröder",
    "Weiß",
    "Öztürk",
    "de la Cruz",
    "St. Pierre",
    "Fitzgerald-Smythe",
    "Kim",
    "Park",
    "Chen",
    "Wang",
    "Singh",
    "Patel",
]
DOMAINS = [
    "gmail.com",
    "Yahoo.com",
    "outlook.com",
    "example.org",
    "ICLOUD.COM",
    "hotmail.fr",
    "orange.fr",
    "btinternet.com",
    "proton.me",
    "company.co.uk",
]
US_PLACES = [
    ("San Francisco", "California", "941"),
    ("St. Louis", "MO", "631"),
    ("New York", "new york", "100"),
    ("Austin", " tx ", "733"),
    ("Seattle", "Washington", "981"),
    ("Chicago", "IL", "606"),
    ("Los Angeles", "CA", "900"),
    ("Boston", "Massachusetts", "021"),
    ("Miami", "florida", "331"),
    ("Denver", "CO", "802"),
    ("Portland", "Oregon", "972"),
    ("Atlanta", "GA", "303"),
    ("Winston-Salem", "North Carolina", "271"),
    ("Coeur d'Alene", "Idaho", "838"),
    ("Washington", "District of Columbia", "200"),
    ("Phoenix", "AZ", "850"),
    ("Philadelphia", "Pennsylvania", "191"),
    ("Salt Lake City", "ut", "841"),
]
US_COUNTRY = ["United States", "USA", "U.S.", "us", "US ", "United States of America"]
FR_PLACES = [("Paris", "750"), ("Lyon", "690"), ("Marseille", "130"), ("Saint-Étienne", "420")]
UK_PLACES = [("London", "SW1A 1AA"), ("Manchester", "M1 1AE"), ("Edinburgh", "EH1 1YZ")]
UA = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.5 Safari/605.1.15"
)
CURRENCIES = ["USD", "usd", "USD", "USD ", "EUR"]


def messy_batches(
    rows: int, batch_size: int = 1000, seed: int = SEED
) -> Iterator[list[dict[str, object]]]:
    """``rows`` rows in lists of ``batch_size``, each list built only when asked for."""
    for start in range(0, rows, batch_size):
        yield messy_batch(start, min(batch_size, rows - start), seed)


def messy_batch(start: int, size: int, seed: int = SEED) -> list[dict[str, object]]:
    """Rows ``start`` to ``start + size - 1`` of the stream (their own random state)."""
    rng = random.Random(seed * 1_000_003 + start)
    batch = [_row(rng, start + i) for i in range(size)]
    _break(batch, rng)
    return batch


def _row(rng: random.Random, n: int) -> dict[str, object]:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    local = f"{first.strip().split('-')[0]}.{last.split(' ')[-1]}{n}"
    local = local.replace("'", "").replace(" ", "")
    email = f"{local}@{rng.choice(DOMAINS)}"
    email = email.upper() if n % 7 == 0 else (f"  {email} " if n % 5 == 0 else email)
    channel = "physical_store" if n % 3 == 0 else "website"
    row: dict[str, object] = {
        "order_id": f"ord-{n + 10001}",
        "event_name": "Purchase",
        "event_time": NOW - timedelta(seconds=rng.randint(300, 6 * 24 * 3600)),
        "action_source": channel,
        "email": email,
        "first_name": first,
        "last_name": last,
        "client_ip_address": None,
        "user_agent": None,
        "page_url": None,
        "value": Decimal(rng.randint(900, 48000)) / 100,
        "currency": rng.choice(CURRENCIES),
    }
    row.update(_place(rng, n))
    if channel == "website":
        _make_web(row, rng)
    return row


def _place(rng: random.Random, n: int) -> dict[str, object]:
    kind = n % 10
    if kind == 7:
        city, zip3 = rng.choice(FR_PLACES)
        return {
            "city": city,
            "state": None,
            "zip": f"{zip3}{rng.randint(1, 20):02d}",
            "country": rng.choice(["France", "FR", "france"]),
            "phone": f"0{rng.choice('67')} {rng.randint(0, 99999999):08d}",
        }
    if kind == 9:
        city, postcode = rng.choice(UK_PLACES)
        national = f"20 7946 {rng.randint(0, 9999):04d}"
        phone = f"0{national}" if n % 20 == 9 else f"+44 {national}"
        return {
            "city": city,
            "state": None,
            "zip": postcode,
            "country": rng.choice(["United Kingdom", "UK", "GB"]),
            "phone": phone,
        }
    city, state, zip3 = rng.choice(US_PLACES)
    zip_code = f"{zip3}{rng.randint(1, 99):02d}"
    if n % 4 == 0:
        zip_code += f"-{rng.randint(0, 9999):04d}"
    return {
        "city": city,
        "state": state,
        "zip": zip_code,
        "country": rng.choice(US_COUNTRY),
        "phone": _us_phone(rng) if n % 11 else None,
    }


def _us_phone(rng: random.Random) -> str:
    national = f"{rng.randint(201, 989)}555{rng.randint(0, 9999):04d}"
    area, exchange, line = national[:3], national[3:6], national[6:]
    return rng.choice(
        [
            f"({area}) {exchange}-{line}",
            f"+1 {area}-{exchange}-{line}",
            f"{area}.{exchange}.{line}",
            f"1{national}",
            national,
        ]
    )


def _make_web(row: dict[str, object], rng: random.Random) -> None:
    if rng.random() < 0.1:
        row["client_ip_address"] = f"2001:db8::{rng.randint(1, 0xFFFF):x}"
    else:
        row["client_ip_address"] = f"203.0.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
    row["user_agent"] = UA
    row["page_url"] = f"https://shop.example.com/checkout/thank-you?o={row['order_id']}"


def _break(batch: list[dict[str, object]], rng: random.Random) -> None:
    """Too-old website rows and a few invalid rows, at fixed positions of each batch."""
    size = len(batch)
    for i in range(1, size, 33):  # ~3%: website orders 8 to 30 days old
        batch[i]["event_time"] = NOW - timedelta(days=rng.randint(8, 30), hours=3)
        batch[i]["action_source"] = "website"
        _make_web(batch[i], rng)
    faults = [
        (4, _no_customer_data),
        (104, _no_customer_data),
        (16, _no_amount),
        (28, _no_user_agent),
        (40, _typo_email),
        (52, _future),
        (64, _bad_currency),
        (500, _no_customer_data),
    ]
    for i, fault in faults:
        if i < size:
            fault(batch[i])


def _no_customer_data(row: dict[str, object]) -> None:
    row.update(
        action_source="physical_store",
        email=None,
        phone=None,
        first_name=None,
        last_name=None,
        city=None,
        state=None,
        zip=None,
        country=None,
        client_ip_address=None,
        user_agent=None,
        page_url=None,
    )


def _no_amount(row: dict[str, object]) -> None:
    row["value"] = None


def _no_user_agent(row: dict[str, object]) -> None:
    row.update(
        action_source="website",
        user_agent=None,
        page_url="https://shop.example.com/checkout",
        client_ip_address="203.0.113.7",
    )


def _typo_email(row: dict[str, object]) -> None:
    row["email"] = "customer@gmail"  # dropped with a warning; the other keys still match


def _future(row: dict[str, object]) -> None:
    row["event_time"] = NOW + timedelta(days=2)


def _bad_currency(row: dict[str, object]) -> None:
    row["currency"] = "DOLLARS"
