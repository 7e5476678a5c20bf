"""build_batch gives, row for row, exactly what build gives: event, body, warnings, reasons."""

from __future__ import annotations

import gc
import importlib.util
from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from capisync.capi.event import BuildOptions, BuiltEvent, EventBuilder, Rejection
from capisync.capi.mapping import resolve_mapping
from capisync.demo import demo_rows

NOW = datetime(2026, 6, 1, 12, 0, 0)
NOW_EPOCH = int(NOW.replace(tzinfo=UTC).timestamp())
_BENCH_DATA = Path(__file__).resolve().parents[2] / "bench" / "data.py"


def _bench_data() -> Any:
    spec = importlib.util.spec_from_file_location("bench_data", _BENCH_DATA)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _builder(
    columns: list[str] | tuple[str, ...],
    *,
    explicit: dict[str, str | None],
    static: dict[str, object] | None = None,
    options: BuildOptions | None = None,
) -> EventBuilder:
    mapping = resolve_mapping(columns, identifier="order_id", explicit=explicit, static=static)
    return EventBuilder(
        mapping,
        options or BuildOptions(default_country="us", event_id_template="{event_name}:{order_id}"),
    )


def _quickstart(columns: list[str] | tuple[str, ...]) -> EventBuilder:
    return _builder(
        columns, explicit={"client_user_agent": "user_agent", "event_source_url": "page_url"}
    )


def _snapshot(outcome: BuiltEvent | Rejection) -> tuple[Any, ...]:
    """Everything an outcome says, with the key order of the event (through its JSON)."""
    if isinstance(outcome, Rejection):
        return ("rejected", outcome.identifier, outcome.reasons, outcome.warnings, outcome.expired)
    return (
        "built",
        outcome.identifier,
        outcome.event_id,
        orjson.dumps(outcome.event),
        outcome.warnings,
        outcome.match_keys,
        list(outcome.event),
    )


def assert_same_as_build(rows: list[dict[str, Any]], make: Any, now: int) -> None:
    """Row by row on one builder, the batch on a fresh one and again on a warm one."""
    one_by_one, batched = make(), make()
    expected = [_snapshot(one_by_one.build(row, now=now)) for row in rows]
    assert [_snapshot(o) for o in batched.build_batch(rows, now=now)] == expected
    assert [_snapshot(o) for o in batched.build_batch(rows, now=now)] == expected


def test_bench_rows_match_build_row_by_row() -> None:
    data = _bench_data()
    for start in (0, 1000, 2000):  # every fault of data._break, 3,000 rows
        rows = data.messy_batch(start, 1000)
        assert_same_as_build(rows, lambda: _quickstart(data.COLUMNS), data.NOW_EPOCH)


def test_bench_batch_holds_every_kind_of_outcome() -> None:
    """The comparison above is only worth something if it meets rejections and warnings."""
    data = _bench_data()
    outcomes = _quickstart(data.COLUMNS).build_batch(data.messy_batch(0, 1000), now=data.NOW_EPOCH)
    built = [o for o in outcomes if isinstance(o, BuiltEvent)]
    rejected = [o for o in outcomes if isinstance(o, Rejection)]
    assert any(o.expired for o in rejected) and any(not o.expired for o in rejected)
    assert any(o.warnings for o in built)
    assert len(built) + len(rejected) == 1000


def test_quickstart_rows_match_build_row_by_row() -> None:
    now = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
    rows = [_model_row(row) for row in demo_rows(now)]
    columns = list(rows[0])
    assert_same_as_build(rows, lambda: _quickstart(columns), int(now.timestamp()))


def _model_row(row: Mapping[str, object]) -> dict[str, object]:
    """An orders row as capisync.demo.MODEL_SQL selects it."""
    renamed = {
        "created_at": "event_time",
        "channel": "action_source",
        "ip_address": "client_ip_address",
        "total": "value",
    }
    out: dict[str, object] = {"event_name": "Purchase"}
    out.update({renamed.get(k, k): v for k, v in row.items()})
    return out


def test_gc_state_is_restored() -> None:
    data = _bench_data()
    builder = _quickstart(data.COLUMNS)
    rows = data.messy_batch(0, 10)
    assert gc.isenabled()
    builder.build_batch(rows, now=data.NOW_EPOCH)
    assert gc.isenabled()
    gc.disable()
    try:
        builder.build_batch(rows, now=data.NOW_EPOCH)
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_empty_batch_and_generator_input() -> None:
    data = _bench_data()
    builder = _quickstart(data.COLUMNS)
    assert builder.build_batch([], now=data.NOW_EPOCH) == []
    rows = data.messy_batch(0, 50)
    from_generator = builder.build_batch((row for row in rows), now=data.NOW_EPOCH)
    assert [_snapshot(o) for o in from_generator] == [
        _snapshot(o) for o in builder.build_batch(rows, now=data.NOW_EPOCH)
    ]


class _Row(Mapping[str, object]):
    """A row that is a Mapping but no dict: build_batch reads it with .get, like build."""

    def __init__(self, cells: dict[str, object]) -> None:
        self._cells = cells

    def __getitem__(self, key: str) -> object:
        return self._cells[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._cells)

    def __len__(self) -> int:
        return len(self._cells)


def test_mapping_rows_and_ragged_rows() -> None:
    data = _bench_data()
    rows = data.messy_batch(0, 200)
    ragged = [dict(row) for row in rows]
    for row in ragged[::7]:
        del row["phone"]  # a column missing from some rows reads as NULL
    ragged[3]["extra"] = 1
    for batch in ([_Row(row) for row in rows], ragged):
        assert_same_as_build(batch, lambda: _quickstart(data.COLUMNS), data.NOW_EPOCH)


# ---- hypothesis: messy cells of every type, several mappings ------------------------------

_COLUMNS = (
    "order_id",
    "event_name",
    "event_time",
    "action_source",
    "event_id",
    "email",
    "phone",
    "first_name",
    "city",
    "state",
    "zip",
    "country",
    "ip",
    "user_agent",
    "page_url",
    "value",
    "currency",
    "external_id",
    "gender",
    "dob",
    "content_ids",
    "coupon",
)
_HASH = "A" * 64
_texts = st.sampled_from(
    [
        "",
        "  ",
        "N/A",
        "null",
        "nan",
        "Nan",
        "[]",
        '["a@b.co", "A@B.CO"]',
        "[1",
        _HASH,
        "Jane.Doe@Example.COM ",
        "customer@gmail",
        "+33 6 12 34 56 78",
        "06 12 34 56 78",
        "(415) 555-0134",
        "415.555.0134",
        "0044 20 7946 0123",
        "12",
        "ext 5",
        "Zoë",
        "O'Neil",
        "São Paulo",
        "California",
        " ny ",
        "Bavaria",
        "94110-1234",
        "SW1A 1AA",
        "France",
        "United States",
        "U.S.",
        "XX",
        "203.0.113.7",
        "2001:db8::1",
        "not-an-ip",
        "female",
        "M",
        "1997-02-16",
        "2/16/1997",
        "31/12/1899",
        "Purchase",
        "purchase",
        "Lead",
        "website",
        "Physical Store",
        "app",
        "",
        "usd",
        "EUR",
        "DOLLARS",
        "12.50",
        "abc",
        "1780000000",
        "2026-05-30T10:00:00Z",
        "2026-05-30 10:00",
        "x" * 70,
        "x" * 501,  # longer than the ledger holds (an identifier, an event_id)
        "someone@example.com",  # customer data where Meta reads it unhashed
        "+44 20 7946 0958",
        "https://shop.example/thanks",
        "https://shop.example/?email=someone%40example.com",
        "shop.example/thanks",
    ]
)
_cells = st.one_of(
    st.none(),
    _texts,
    st.text(max_size=12),
    st.integers(min_value=-5, max_value=2_000_000_000_000),
    st.booleans(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.decimals(allow_nan=False, allow_infinity=False, places=2),
    st.just(Decimal("NaN")),
    st.datetimes(min_value=datetime(2026, 5, 1), max_value=datetime(2026, 6, 3)),
    st.dates(min_value=date(1950, 1, 1), max_value=date(2026, 6, 1)),
    st.lists(_texts, max_size=3),
    st.tuples(_texts, _texts),
    st.dictionaries(st.sampled_from(["a", "b"]), _texts, max_size=2),
)
_rows = st.lists(
    st.fixed_dictionaries({column: _cells for column in _COLUMNS}), min_size=1, max_size=25
)

_EXPLICIT: dict[str, str | None] = {
    "em": "email",
    "ph": "phone",
    "fn": "first_name",
    "ct": "city",
    "st": "state",
    "zp": "zip",
    "country": "country",
    "client_ip_address": "ip",
    "client_user_agent": "user_agent",
    "event_source_url": "page_url",
    "external_id": "external_id",
    "ge": "gender",
    "db": "dob",
    "content_ids": "content_ids",
    "custom_data.coupon": "coupon",
}
_MAPPINGS: list[tuple[dict[str, str | None], dict[str, object], BuildOptions]] = [
    (
        _EXPLICIT,
        {},
        BuildOptions(default_country="us", event_id_template="{event_name}:{order_id}"),
    ),
    (
        {**_EXPLICIT, "country": None},
        {"country": "FR"},
        BuildOptions(naive_timezone="Europe/Paris", dob_order="dmy", hash_external_id=False),
    ),
    (
        {**_EXPLICIT, "event_name": None},
        {"event_name": "Lead", "currency": "USD"},
        BuildOptions(event_id_template="{order_id}-{event_time}-{coupon}"),
    ),
]


def _with_event_time(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Most rows get a usable identifier and time, so that they reach every later step."""
    for n, row in enumerate(rows):
        if n % 3:
            row["order_id"] = f"o-{n}"
            row["event_time"] = NOW - timedelta(hours=n)
    return rows


def _messy_builder(index: int) -> EventBuilder:
    explicit, static, options = _MAPPINGS[index]
    if "currency" in static:
        explicit = {**explicit, "currency": None}
    return _builder(_COLUMNS, explicit=explicit, static=static, options=options)


@settings(max_examples=150, deadline=None)
@given(rows=_rows, index=st.integers(min_value=0, max_value=len(_MAPPINGS) - 1))
def test_messy_rows_match_build_row_by_row(rows: list[dict[str, Any]], index: int) -> None:
    assert_same_as_build(_with_event_time(rows), lambda: _messy_builder(index), NOW_EPOCH)


def test_messy_mappings_compile() -> None:
    """The hypothesis mappings are valid ones (a ConfigError would void the property)."""
    for index in range(len(_MAPPINGS)):
        builder = _messy_builder(index)
        assert builder.build_batch([], now=NOW_EPOCH) == []


def test_a_bracketed_text_reads_the_same_whatever_came_before() -> None:
    """ "[]" inside an array once cached its outcome as text, which a later top-level "[]"
    (an empty array: no value, no warning) then read back as a dropped name."""
    from capisync.capi.normalize import NormalizeContext, user_data_value

    inside: list[Any] = []
    user_data_value("fn", ["[]", "Ann"], NormalizeContext(), inside)
    assert [w.code for w in inside] == ["name_malformed"]
    top: list[Any] = []
    assert user_data_value("fn", "[]", NormalizeContext(), top) is None
    assert top == []


def test_now_may_be_a_float_as_time_time_gives_it() -> None:
    data = _bench_data()
    rows = data.messy_batch(0, 60)
    batched, one_by_one = _quickstart(data.COLUMNS), _quickstart(data.COLUMNS)
    at_float = [_snapshot(o) for o in batched.build_batch(rows, now=data.NOW_EPOCH + 0.75)]
    at_int = [_snapshot(one_by_one.build(row, now=data.NOW_EPOCH)) for row in rows]
    assert at_float == at_int
    assert one_by_one.build(rows[0], now=float(data.NOW_EPOCH)) is not None


# ---- the clock's year and customer data in ids: both builders alike -----------------------

_PERSONAL = [
    "someone@example.com",
    " Jane+promo@Example.COM ",
    "lead-JOHN@EXAMPLE.ORG",
    "+1 650 555 1212",
    "(650) 555-1212",
    "o-1",
    "1234567890123456",
    "release@2026.11",
    None,
]


def test_personal_identifiers_and_event_ids_match_build_row_by_row() -> None:
    columns = ["order_id", "event_name", "event_time", "action_source", "email", "ref", "event_id"]
    rows = [
        {
            "order_id": ident if n % 2 == m % 2 else f"o-{n}-{m}",
            "event_name": "Lead",
            "event_time": NOW - timedelta(minutes=5),
            "action_source": "email",
            "email": "a@b.co",
            "ref": ref,
            "event_id": ref,
        }
        for n, ident in enumerate(_PERSONAL)
        for m, ref in enumerate(_PERSONAL)
    ]
    explicit: dict[str, str | None] = {"em": "email", "event_id": "event_id"}
    by_column = lambda: _builder(columns, explicit=explicit, options=BuildOptions())  # noqa: E731
    templated = lambda: _builder(  # noqa: E731
        columns,
        explicit={"em": "email", "event_id": None},
        options=BuildOptions(event_id_template="{event_name}:{ref}"),
    )
    for make in (by_column, templated):
        assert_same_as_build(rows, make, NOW_EPOCH)
        codes = {
            r.code
            for o in make().build_batch(rows, now=NOW_EPOCH)
            if isinstance(o, Rejection)
            for r in o.reasons
        }
        assert {"identifier_personal_data", "event_id_personal_data"} <= codes
        stored = [o for o in make().build_batch(rows, now=NOW_EPOCH) if o.identifier]
        personal = {text.strip() for text in _PERSONAL[:5] if text is not None}
        assert not personal & {o.identifier.strip() for o in stored}
        assert {"release@2026.11", "o-1", "1234567890123456"} <= {o.identifier for o in stored}


def test_dates_of_birth_around_a_new_year_match_build_row_by_row() -> None:
    new_year = int(datetime(2027, 1, 1, tzinfo=UTC).timestamp())
    columns = ["order_id", "event_name", "event_time", "action_source", "email", "dob"]
    dobs = ["2027-01-05", "1/5/27", "12/31/26", "2026-12-31", "1997-02-16", "05/01/27"]
    for now in (new_year - 1, new_year, new_year + 31 * 86400):
        rows = [
            {
                "order_id": f"o-{i}",
                "event_name": "Lead",
                "event_time": now - 60,
                "action_source": "email",
                "email": "a@b.co",
                "dob": dob,
            }
            for i, dob in enumerate(dobs)
        ]
        make = lambda: _builder(  # noqa: E731
            columns,
            explicit={"db": "dob"},
            static={"ge": "f"},
            options=BuildOptions(event_id_template="{order_id}"),
        )
        assert_same_as_build(rows, make, now)


def test_one_builder_follows_the_clock_across_a_new_year_in_both_paths() -> None:
    new_year = int(datetime(2027, 1, 1, tzinfo=UTC).timestamp())
    columns = ["order_id", "event_name", "event_time", "action_source", "email", "dob"]
    b = _builder(columns, explicit={"db": "dob"}, options=BuildOptions())

    def dob_sent(now: int) -> list[bool]:
        rows = [
            {
                "order_id": "o",
                "event_name": "Lead",
                "event_time": now - 60,
                "action_source": "email",
                "email": "a@b.co",
                "dob": "2027-01-05",
            }
        ]
        one = b.build(rows[0], now=now)
        (batched,) = b.build_batch(rows, now=now)
        return [isinstance(o, BuiltEvent) and "db" in o.event["user_data"] for o in (one, batched)]

    assert dob_sent(new_year - 1) == [False, False]
    assert dob_sent(new_year + 86400) == [True, True]
    assert dob_sent(new_year - 3600) == [False, False]  # the clock may go back (a re-run)
