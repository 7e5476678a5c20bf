"""Snowflake through its real SQLAlchemy dialect and connector, answered by fakesnow (a
DuckDB-backed fake of the connector; no Snowflake server is reachable here): every type of
warehouse_types.py in Snowflake's own types (NUMBER, TIMESTAMP_TZ/NTZ, DATE, ARRAY and
VARIANT, which the connector hands over as JSON text), two real runs into the sandbox."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.integration.fakesnow_compat import load
from tests.integration.warehouse_types import (
    BIG,
    CONTENTS_JSON,
    EMAILS,
    PHONES,
    Times,
    run_and_check,
)

from capisync.sandbox import SandboxServer

URL = "snowflake://capisync:not-a-password@my_org-my_account/ANALYTICS/MARTS?warehouse=W"


@pytest.fixture
def snowflake(tmp_path: Path) -> Iterator[Any]:
    """A fake Snowflake for this test: `snowflake.connector.connect` answered by fakesnow,
    its databases kept under tmp_path."""
    fakesnow = load()
    import snowflake.connector

    (tmp_path / "snow").mkdir()
    with fakesnow.patch(db_path=str(tmp_path / "snow")):
        con = snowflake.connector.connect(database="ANALYTICS", schema="MARTS")
        con.cursor().execute("CREATE SCHEMA IF NOT EXISTS ANALYTICS.MARTS")
        yield con
        con.close()


def constructed(values: tuple[str, ...] | tuple[int, ...]) -> str:
    return (
        "ARRAY_CONSTRUCT("
        + ", ".join(f"'{v}'" if isinstance(v, str) else str(v) for v in values)
        + ")"
    )


@pytest.mark.filterwarnings("ignore:Arrow output on a DB-API result:UserWarning")
def test_snowflake_types_end_to_end(snowflake: Any, tmp_path: Path, sandbox: SandboxServer) -> None:
    t = Times.now()
    cur = snowflake.cursor()
    cur.execute(
        "CREATE TABLE conversions (order_id NUMBER(19,0), event_name VARCHAR, "
        "ts_tz TIMESTAMP_TZ, ts_naive TIMESTAMP_NTZ, day DATE, value NUMBER(12,2), "
        "currency VARCHAR, em ARRAY, ph ARRAY, external_id NUMBER(19,0), content_ids ARRAY, "
        "contents VARIANT)"
    )
    cur.execute(
        f"INSERT INTO conversions SELECT {BIG}, 'Purchase', "
        f"'{t.aware_text}'::TIMESTAMP_TZ, '{t.naive_text}'::TIMESTAMP_NTZ, "
        f"'{t.day_text}'::DATE, 1234.56, 'EUR', {constructed(EMAILS)}, "
        f"{constructed(PHONES)}, {BIG}, {constructed((BIG, 42))}, "
        f"PARSE_JSON('{CONTENTS_JSON}')"
    )
    # what the connector hands over: ARRAY and VARIANT as JSON text, NUMBER as Decimal
    row = cur.execute("SELECT em, content_ids, contents, order_id FROM conversions").fetchone()
    assert all(isinstance(v, str) for v in row[:3]) and str(row[3]) == str(BIG)
    run_and_check(tmp_path, f'{{url: "{URL}"}}', sandbox, t)
