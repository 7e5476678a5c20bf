"""The demo project: a DuckDB warehouse of messy, realistic orders, a model, a project file.

Used by `capisync init` and `capisync quickstart`. The data is deterministic (seeded) and
its times are relative to `now`, so the counts in DEMO_EXPECTED always hold: of 300 orders,
12 are too old for Meta's 7-day window and 9 are invalid in ways a real warehouse produces.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb

DEMO_ROWS = 300
DEMO_EXPECTED = {"read": 300, "sent": 279, "rejected": 9, "expired": 12}

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
]
DOMAINS = ["gmail.com", "Yahoo.com", "outlook.com", "example.org", "ICLOUD.COM"]
US_PLACES = [
    ("San Francisco", "California", "94103-1234"),
    ("St. Louis", "MO", "63101"),
    ("New York", "new york", "10001"),
    ("Austin", " tx ", "73301-0001"),
    ("Seattle", "Washington", "98101"),
]
US_COUNTRY = ["United States", "USA", "U.S.", "us", "US "]
UA = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Safari/605.1.15"
)

PROJECT_YML = """\
# capisync project file: one or more syncs from a SQL model to Meta's Conversions API.
# Docs: README.md. Validate with `capisync check`, send with `capisync run`.
state:
  path: .capisync/state.db          # the ledger of what was sent (SQLite); or url: postgresql+psycopg://...

syncs:
  purchases:
    source:
      duckdb: warehouse.duckdb      # or url: <any SQLAlchemy URL>
    model: models/purchases.sql     # or inline SQL
    identifier: order_id            # one row = one event; sent once
    event_id: "{event_name}:{order_id}"   # the same id your pixel sends, for deduplication
    default_country: us             # for national phone numbers of rows without a country
    mapping:                        # parameter: column (same-named columns map themselves)
      client_user_agent: user_agent
      event_source_url: page_url
    destination:
      dataset_id: "${META_DATASET_ID:-1234567890}"
      access_token: "${META_ACCESS_TOKEN:-sandbox-token}"
      base_url: "${CAPISYNC_BASE_URL:-http://127.0.0.1:8765}"   # the local sandbox; Meta: https://graph.facebook.com
"""

MODEL_SQL = """\
-- One row per conversion event. capisync reads this model, maps its columns to
-- Conversions API parameters, normalizes and hashes customer data, and sends new rows.
SELECT
    order_id,
    'Purchase'       AS event_name,
    created_at       AS event_time,
    channel          AS action_source,
    email,
    phone,
    first_name,
    last_name,
    city,
    state,
    zip,
    country,
    ip_address       AS client_ip_address,
    user_agent,
    page_url,
    total            AS value,
    currency
FROM orders
"""


@dataclass(frozen=True)
class DemoProject:
    root: Path
    config: Path
    warehouse: Path


def write_demo_project(root: Path, *, now: datetime | None = None) -> DemoProject:
    """Create (or recreate) the demo warehouse, model and project file under `root`."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "models").mkdir(exist_ok=True)
    config = root / "capisync.yml"
    config.write_text(PROJECT_YML, encoding="utf-8")
    (root / "models" / "purchases.sql").write_text(MODEL_SQL, encoding="utf-8")
    warehouse = root / "warehouse.duckdb"
    for leftover in (warehouse, root / "warehouse.duckdb.wal"):
        leftover.unlink(missing_ok=True)
    write_demo_warehouse(warehouse, now=now or datetime.now(UTC))
    return DemoProject(root, config, warehouse)


def write_demo_warehouse(path: Path, *, now: datetime) -> None:
    rows = demo_rows(now)
    with duckdb.connect(str(path)) as con:
        con.execute(ORDERS_DDL)
        con.executemany(
            f"INSERT INTO orders VALUES ({', '.join('?' * len(COLUMNS))})",
            [[row[c] for c in COLUMNS] for row in rows],
        )


COLUMNS = [
    "order_id",
    "created_at",
    "channel",
    "email",
    "phone",
    "first_name",
    "last_name",
    "city",
    "state",
    "zip",
    "country",
    "ip_address",
    "user_agent",
    "page_url",
    "total",
    "currency",
]
ORDERS_DDL = """
CREATE TABLE orders (
    order_id VARCHAR PRIMARY KEY, created_at TIMESTAMP, channel VARCHAR, email VARCHAR,
    phone VARCHAR, first_name VARCHAR, last_name VARCHAR, city VARCHAR, state VARCHAR,
    zip VARCHAR, country VARCHAR, ip_address VARCHAR, user_agent VARCHAR, page_url VARCHAR,
    total DECIMAL(10, 2), currency VARCHAR)
"""


def demo_rows(now: datetime) -> list[dict[str, object]]:
    rng = random.Random(20261126)
    naive_now = now.astimezone(UTC).replace(tzinfo=None, microsecond=0)
    rows = [_good_row(rng, i, naive_now) for i in range(DEMO_ROWS)]
    for i in range(12):  # website orders 8 to 30 days old: outside Meta's 7-day window
        rows[10 + i * 20]["created_at"] = naive_now - timedelta(days=8 + i * 2, hours=3)
        rows[10 + i * 20]["channel"] = "website"
        _make_web(rows[10 + i * 20], rng)
    _break(rows, naive_now)
    return rows


def new_demo_row(index: int, now: datetime) -> dict[str, object]:
    """One more valid order, as a user would add to the model between two runs."""
    naive_now = now.astimezone(UTC).replace(tzinfo=None, microsecond=0)
    return _good_row(random.Random(index), index, naive_now)


def insert_rows(path: Path, rows: list[dict[str, object]]) -> None:
    with duckdb.connect(str(path)) as con:
        con.executemany(
            f"INSERT INTO orders VALUES ({', '.join('?' * len(COLUMNS))})",
            [[row[c] for c in COLUMNS] for row in rows],
        )


def _good_row(rng: random.Random, i: int, now: datetime) -> dict[str, object]:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    local = f"{first.strip().split('-')[0]}.{last.split(' ')[0]}{i}".replace("'", "")
    email = f"{local}@{rng.choice(DOMAINS)}"
    email = email.upper() if i % 7 == 0 else (f"  {email} " if i % 5 == 0 else email)
    row: dict[str, object] = {
        "order_id": f"ord-{10001 + i}",
        "created_at": now - timedelta(minutes=rng.randint(5, 6 * 24 * 60)),
        "channel": "physical_store" if i % 3 == 0 else "website",
        "email": email,
        "first_name": first,
        "last_name": last,
        "total": round(rng.uniform(9, 480), 2),
        "currency": rng.choice(["USD", "usd", "USD"]),
        "ip_address": None,
        "user_agent": None,
        "page_url": None,
    }
    row.update(_place(rng, i))
    if row["channel"] == "website":
        _make_web(row, rng)
    return row


def _place(rng: random.Random, i: int) -> dict[str, object]:
    if i % 10 == 7:
        return {
            "city": "Paris",
            "state": None,
            "zip": "75001",
            "country": "France",
            "phone": f"06 12 34 {i % 100:02d} 78",
        }
    if i % 10 == 9:
        return {
            "city": "London",
            "state": None,
            "zip": "SW1A 1AA",
            "country": "United Kingdom",
            "phone": f"+44 20 7946 {i % 10000:04d}",
        }
    city, state, zip_code = rng.choice(US_PLACES)
    national = f"{rng.randint(201, 989)}555{rng.randint(0, 9999):04d}"
    formats = [
        f"({national[:3]}) {national[3:6]}-{national[6:]}",
        f"+1 {national[:3]}-{national[3:6]}-{national[6:]}",
        f"{national[:3]}.{national[3:6]}.{national[6:]}",
        f"1{national}",
        national,
    ]
    return {
        "city": city,
        "state": state,
        "zip": zip_code,
        "country": rng.choice(US_COUNTRY),
        "phone": rng.choice(formats) if i % 11 else None,
    }


def _make_web(row: dict[str, object], rng: random.Random) -> None:
    row["ip_address"] = f"203.0.113.{rng.randint(1, 254)}"
    row["user_agent"] = UA
    row["page_url"] = f"https://shop.example.com/checkout/thank-you?o={row['order_id']}"


def _break(rows: list[dict[str, object]], now: datetime) -> None:
    """Nine invalid orders, each the kind of mistake a real model makes."""
    for i in (4, 104, 204):  # store orders captured without any customer data
        rows[i].update(
            channel="physical_store",
            email=None,
            phone=None,
            first_name=None,
            last_name=None,
            city=None,
            state=None,
            zip=None,
            country=None,
            ip_address=None,
            user_agent=None,
            page_url=None,
        )
    for i in (16, 116):  # purchases with no amount
        rows[i]["total"] = None
    for i in (28, 128):  # web orders from a server-side checkout that lost the user agent
        rows[i].update(
            channel="website",
            user_agent=None,
            page_url="https://shop.example.com/checkout",
            ip_address="203.0.113.7",
        )
    for i in (40, 140):  # a typo'd email: dropped with a warning, the phone still matches
        rows[i]["email"] = f"customer{i}@gmail"
    rows[52]["created_at"] = now + timedelta(days=2)  # a clock-skewed point of sale
    rows[64]["currency"] = "DOLLARS"  # not an ISO 4217 code
