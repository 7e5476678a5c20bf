"""Warehouse error text: customer values never survive, identifiers do, and the line points
into the user's own SQL. Messages as each engine prints them (PostgreSQL, DuckDB, MariaDB and
SQLite are also tested against real servers in tests/integration/test_source_errors.py;
Snowflake and BigQuery as their connectors print them)."""

from __future__ import annotations

import pytest

from capisync.sources.messages import describe_model_failure, model_line, scrub_message, wrap_model

EMAIL = "someone@example.com"

# (engine, message as printed, what must be shown)
SCRUBBED = [
    (
        "postgresql",
        f'invalid input syntax for type integer: "{EMAIL}"\nLINE 1: select cast(email as int)',
        'invalid input syntax for type integer: "…"',
    ),
    (  # PostgreSQL does not escape a quote inside the value
        "postgresql",
        'invalid input syntax for type date: "Jo "JJ" Smith"',
        'invalid input syntax for type date: "…"',
    ),
    (
        "postgresql",
        'duplicate key value violates unique constraint "people_pkey"\n'
        f"DETAIL:  Key (email)=({EMAIL}) already exists.",
        'duplicate key value violates unique constraint "people_pkey"',
    ),
    (
        "duckdb",
        f"Conversion Error: Could not convert string '{EMAIL}' to INT32\n\nLINE 1: select",
        "Conversion Error: Could not convert string '…' to INT32",
    ),
    (
        "duckdb",
        f'Conversion Error: invalid date field format: "{EMAIL}", expected format is (YYYY-MM-DD)',
        'Conversion Error: invalid date field format: "…", expected format is (YYYY-MM-DD)',
    ),
    (  # DuckDB prints the raw value alone on the next line
        "duckdb",
        f'Invalid Input Error: Could not parse string "{EMAIL}" according to format '
        f'specifier "%Y"\n{EMAIL}\n^\nError: Expected a number',
        'Invalid Input Error: Could not parse string "…"',
    ),
    (
        "mariadb",
        f"Incorrect integer value: '{EMAIL}' for column ``.``.`to_int('{EMAIL}')` at row 0",
        "Incorrect integer value: '…'",
    ),
    (
        "mariadb",
        "Truncated incorrect DOUBLE value: 'Jane Doe'",
        "Truncated incorrect DOUBLE value: '…'",
    ),
    ("mariadb", f"Duplicate entry '{EMAIL}' for key 'PRIMARY'", "Duplicate entry '…'"),
    ("sqlite", f"JSON path error near '{EMAIL}'", "JSON path error near '…'"),
    ("sqlite", "JSON path error near 'janedoe'", "JSON path error near '…'"),
    ("sqlite", f"bad JSON path: '{EMAIL}'", "bad JSON path: '…'"),
    (
        "snowflake",
        f"100038 (22018): 01aa153d-0606-b80e-0000-682122c74986: Numeric value '{EMAIL}' is not "
        "recognized\n  File 'x.csv', line 1, character 1",
        "100038 (22018): 01aa153d-0606-b80e-0000-682122c74986: Numeric value '…' is not recognized",
    ),
    (
        "snowflake",
        f"100040 (22007): Date '{EMAIL}' is not recognized",
        "100040 (22007): Date '…' is not recognized",
    ),
    (
        "snowflake",
        "100046 (22003): Number out of representable range: type FIXED[SB16](26,0), "
        "value 16505551212",
        "100046 (22003): Number out of representable range: type FIXED[SB16](26,0), value …",
    ),
    (  # BigQuery does not quote the value at all
        "bigquery",
        f"400 Bad int64 value: {EMAIL}; reason: invalidQuery, location: query, "
        f"message: Bad int64 value: {EMAIL}",
        "400 Bad int64 value: …; reason: invalidQuery, location: query, "
        "message: Bad int64 value: …",
    ),
    ("bigquery", "Bad double value: +1 650 555 1212", "Bad double value: …"),
    (
        "bigquery",
        f'Could not cast literal "{EMAIL}" to type DATE at [3:8]',
        'Could not cast literal "…" to type DATE at [3:8]',
    ),
    ("bigquery", "Invalid timestamp: '1980-05-17 00:00:00'", "Invalid timestamp: '…'"),
    # the net under everything: an address or a phone or birth date outside any quotes
    (
        "any",
        f"failed on row {EMAIL} (phone 650-555-1212, born 1980-05-17)",
        "failed on row … (phone …, born …)",
    ),
]

# identifiers stay: the user needs them to fix the model
KEPT = [
    (
        'column "emial" does not exist\nLINE 1: SELECT\n'
        'HINT:  Perhaps you meant to reference the column "t.email".',
        'column "emial" does not exist\n'
        'HINT:  Perhaps you meant to reference the column "t.email".',
    ),
    ('relation "orders" does not exist', 'relation "orders" does not exist'),
    ('syntax error at or near ")"', 'syntax error at or near ")"'),
    (
        'Binder Error: Referenced column "emial" not found in FROM clause!\n'
        'Candidate bindings: "email", "t.order_id"\n\nLINE 1: SELECT',
        'Binder Error: Referenced column "emial" not found in FROM clause!\n'
        'Candidate bindings: "email", "t.order_id"',
    ),
    ("Unknown column 'emial' in 'field list'", "Unknown column 'emial' in 'field list'"),
    ("Table 'test.orders' doesn't exist", "Table 'test.orders' doesn't exist"),
    ("no such column: emial", "no such column: emial"),
    (
        "000904 (42000): SQL compilation error: error line 3 at position 7\n"
        "invalid identifier 'EMIAL'",
        "000904 (42000): SQL compilation error: error line 3 at position 7\n"
        "invalid identifier 'EMIAL'",
    ),
    (
        "001003 (42000): SQL compilation error:\nsyntax error line 2 at position 0 unexpected ')'.",
        "001003 (42000): SQL compilation error:\nsyntax error line 2 at position 0 unexpected ')'.",
    ),
    ("Unrecognized name: emial at [2:3]", "Unrecognized name: emial at [2:3]"),
]


@pytest.mark.parametrize("engine, message, shown", SCRUBBED)
def test_values_are_scrubbed_in_every_engines_quoting(
    engine: str, message: str, shown: str
) -> None:
    assert scrub_message(message) == shown


@pytest.mark.parametrize("message, shown", KEPT)
def test_identifiers_stay(message: str, shown: str) -> None:
    assert scrub_message(message) == shown


def test_a_value_shaped_like_an_identifier_is_still_scrubbed_where_values_go() -> None:
    assert scrub_message('invalid input syntax for type integer: "janedoe"') == (
        'invalid input syntax for type integer: "…"'
    )
    assert scrub_message('column "jane@example.com" does not exist') == 'column "…" does not exist'


MODEL = "-- purchases\nselect order_id,\n  emial,\n  value,\nfrom orders\n;\n"


def test_the_model_keeps_its_line_numbers_inside_the_wrapper() -> None:
    wrapped = wrap_model(MODEL, limit=0)
    assert wrapped.splitlines()[2] == "  emial,"  # line 3 of the query is line 3 of the file
    assert wrapped.endswith("from orders\n) AS capisync_model LIMIT 0")


@pytest.mark.parametrize(
    "text, position, expected",
    [
        ("", wrap_model(MODEL).index("emial") + 1, (3, False)),  # PostgreSQL statement_position
        ("LINE 3:   emial,", 999, (3, False)),  # a cursor's DECLARE shifts the position only
        ("", wrap_model(MODEL).index(") AS capisync_model") + 1, (5, True)),  # past the end
        ('syntax error at or near ")"\nLINE 6: ) AS capisync_model', None, (5, True)),
        ("Binder Error: x\n\nLINE 3:   emial,", None, (3, False)),  # DuckDB
        ("... near 'emial,' at line 3", None, (3, False)),  # MariaDB / MySQL
        ("syntax error line 4 at position 2 unexpected ','.", None, (4, False)),  # Snowflake
        ("Unrecognized name: emial at [3:3]", None, (3, False)),  # BigQuery
        ('near ",": syntax error', None, None),  # SQLite says no line
    ],
)
def test_the_error_points_at_the_users_own_line(
    text: str, position: int | None, expected: tuple[int, bool] | None
) -> None:
    assert model_line(MODEL, text, position) == expected


def test_the_message_names_the_file_and_line_not_the_wrapper() -> None:
    message, line = describe_model_failure(
        MODEL,
        "models/purchases.sql",
        "You have an error in your SQL syntax; check the manual that corresponds to your "
        "MariaDB server version for the right syntax to use near ') AS capisync_model' at line 6",
    )
    assert line == 5 and "capisync_model" not in message and "at line 6" not in message
    assert message.endswith(
        "(at the end of models/purchases.sql, line 5: is a clause unfinished, or is there a "
        "trailing comma?)"
    )
    message, line = describe_model_failure(MODEL, "models/purchases.sql", 'near ",": syntax error')
    assert (message, line) == ('near ",": syntax error (in models/purchases.sql)', None)
