"""A warehouse's connection errors keep what is not customer data: the host (and the address
PostgreSQL resolved it to), the database, the role or user; values in a failing cast are
still scrubbed, even where they stand after the same words (real servers:
tests/integration/test_connection_messages.py)."""

from __future__ import annotations

import pytest

from capisync.sources.messages import scrub_message

KEPT = [
    'connection failed: connection to server at "127.0.0.1", port 5432 failed: FATAL:  '
    'database "no_such_db" does not exist',
    'connection to server at "db-1.internal.example.com" (10.120.33.201), port 5432 failed: '
    'FATAL:  role "capisync-ro" does not exist',
    'connection to server at "::1", port 5432 failed: FATAL:  password authentication failed '
    'for user "capisync.reader"',
    'could not translate host name "warehouse.example.com" to address',
    "Unknown database 'analytics-2' (error 1049)",
    "Access denied for user 'nobody_here'@'127.0.0.1' (error 1698)",
    "Access denied for user 'cap'@'10.120.33.201' (using password: YES) (error 1045)",
    "Access denied for user 'cap'@'%' to database 'analytics' (error 1044)",
    "Can't connect to MySQL server on 'db.example.com' ([Errno 111] Connection refused)",
    'relation "marts.orders" does not exist',
    'schema "marts" does not exist',
]


@pytest.mark.parametrize("message", KEPT)
def test_server_side_names_are_kept(message: str) -> None:
    assert scrub_message(message) == message


@pytest.mark.parametrize(
    "message, shown",
    [
        (  # a login name that is an e-mail address is a person's: scrubbed
            'password authentication failed for user "jane@example.com"',
            'password authentication failed for user "…"',
        ),
        (
            'invalid input syntax for type integer: "root"',
            'invalid input syntax for type integer: "…"',
        ),
        (
            "Incorrect integer value: 'db.example.com' for column `n` at row 1",
            "Incorrect integer value: '…' for column `n` at row 1",
        ),
        ("Could not convert string '10.0.0.5' to INT32", "Could not convert string '…' to INT32"),
        (  # an address is kept only after a host PostgreSQL resolved, not as a cast's value
            'invalid input syntax for type inet: "x" (203.0.113.77)',
            'invalid input syntax for type inet: "…" (…)',
        ),
        (  # a value after `user` that cannot be a login name (spaces) is a value
            "Access denied for user 'Jane Smith'@'localhost'",
            "Access denied for user '…'",
        ),
    ],
)
def test_values_are_still_scrubbed(message: str, shown: str) -> None:
    assert scrub_message(message) == shown
