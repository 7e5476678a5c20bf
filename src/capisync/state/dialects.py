"""Which databases can hold the ledger: SQLite and PostgreSQL, the one rule every side reads.

The ledger writes with each dialect's `INSERT ... ON CONFLICT` and locks with flock (SQLite) or
an advisory lock (PostgreSQL); no other database is supported. A `state.url` of any other kind
is refused when the project file is validated (exit 2) and again when a `Ledger` opens,
before any table is created or any event is sent.
"""

from __future__ import annotations

from pathlib import Path

# SQLAlchemy backend names (the part of a URL before `+driver://`)
LEDGER_BACKENDS = ("sqlite", "postgresql")
LEDGER_URL_EXAMPLES = "sqlite:///path/state.db or postgresql+psycopg://user@host/db"


def unsupported_ledger_url(url: str) -> str | None:
    """Why `url` cannot hold the ledger, or None if it can. Never quotes the URL (it may hold
    a password): only its backend name, e.g. "mysql"."""
    scheme, sep, _ = url.partition("://")
    backend = scheme.split("+", 1)[0].strip().lower()
    if sep and backend == "postgres":  # SQLAlchemy refuses this alias: say what to write
        return "write postgresql:// (or postgresql+psycopg://), not postgres://"
    if sep and backend in LEDGER_BACKENDS:
        return None
    what = f"not {backend}" if sep and backend else "not this URL (expected <backend>://...)"
    return (
        f"the ledger supports SQLite and PostgreSQL only, {what}: write a URL such as "
        f"{LEDGER_URL_EXAMPLES}, or leave `url` out for the SQLite file at `state.path`"
    )


def sqlite_file(location: str) -> Path | None:
    """The file of a SQLite ledger at `location` (a path, or a `sqlite:///` URL); None for a
    server ledger or an in-memory one."""
    if "://" not in location:
        return Path(location)
    scheme, _, rest = location.partition("://")
    if scheme.split("+", 1)[0].lower() != "sqlite":
        return None
    database = rest[1:].split("?", 1)[0] if rest.startswith("/") else ""
    return Path(database) if database and database != ":memory:" else None
