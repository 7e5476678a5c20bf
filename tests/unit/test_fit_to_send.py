"""What may reach the ledger and Meta: identifiers and event_ids the ledger can hold, no
customer data in a parameter Meta reads unhashed, advice that fits the row, static errors
that point at `static:`. Every case runs through both builders (row and batch)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import orjson
import pytest
import sqlalchemy as sa

from capisync.capi.event import BuildOptions, BuiltEvent, EventBuilder, Rejection
from capisync.capi.mapping import resolve_mapping
from capisync.capi.outcome import LEDGER_TEXT_CHARS, ledger_identifier
from capisync.capi.personal import is_contact, screen
from capisync.errors import MappingError
from capisync.state.schema import LEDGER

NOW = 1767225600  # 2026-01-01T00:00:00Z
UA = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_2) Safari/605.1.15"
EMAIL = "someone@example.com"
COLUMNS = (
    "order_id",
    "event_name",
    "email",
    "ordered_at",
    "user_agent",
    "page_url",
    "referrer",
    "ref",
    "skus",
    "product",
    "search",
    "note",
    "page_id",
)


def builder(
    *,
    static: dict[str, object] | None = None,
    explicit: dict[str, str | None] | None = None,
    options: BuildOptions | None = None,
) -> EventBuilder:
    mapping = resolve_mapping(
        COLUMNS,
        identifier="order_id",
        explicit={
            "event_name": "event_name",
            "em": "email",
            "event_time": "ordered_at",
            "client_user_agent": "user_agent",
            "event_source_url": "page_url",
            "referrer_url": "referrer",
            "content_ids": "skus",
            "content_name": "product",
            "search_string": "search",
            "custom_data.note": "note",
            "page_id": "page_id",
            **(explicit or {}),
        },
        static={"action_source": "website", **(static or {})},
    )
    return EventBuilder(mapping, options)


def row(**overrides: object) -> dict[str, object]:
    base: dict[str, object] = {
        "order_id": "o-1",
        "event_name": "ViewContent",
        "email": "john@example.com",
        "ordered_at": NOW - 60,
        "user_agent": UA,
        "page_url": "https://shop.example/p/1?utm_source=mail",
        "referrer": "https://www.google.com/",
        "ref": "r-1",
        "skus": ["SKU-1"],
        "product": "Blue shirt",
        "search": "blue shirt",
        "note": "gift",
        "page_id": "1234",
    }
    base.update(overrides)
    return base


def _snapshot(outcome: BuiltEvent | Rejection) -> tuple[Any, ...]:
    if isinstance(outcome, Rejection):
        return ("rejected", outcome.identifier, outcome.reasons, outcome.warnings, outcome.expired)
    body = orjson.dumps(outcome.event)
    return ("built", outcome.identifier, outcome.event_id, body, outcome.warnings)


def outcome(make: Any, one: dict[str, object]) -> BuiltEvent | Rejection:
    """``build`` of one row, after checking ``build_batch`` gives the same in a batch."""
    rows = [row(order_id="o-first"), one, row(order_id="o-last")]
    expected = [_snapshot(make().build(r, now=NOW)) for r in rows]
    assert [_snapshot(o) for o in make().build_batch(rows, now=NOW)] == expected
    return make().build(one, now=NOW)


def codes(issues: tuple[Any, ...]) -> list[str]:
    return [i.code for i in issues]


# ---- 1. identifiers and event_ids the ledger can hold -----------------------------------


def test_the_ledger_columns_are_as_wide_as_the_builders_allow() -> None:
    for column in (LEDGER.c.identifier, LEDGER.c.event_id):
        assert isinstance(column.type, sa.String)
        assert column.type.length == LEDGER_TEXT_CHARS == 500


@pytest.mark.parametrize(
    "identifier",
    [
        "x" * 501,
        "é" * 501,  # characters, not bytes: PostgreSQL's VARCHAR counts characters
        Decimal("1" + "0" * 5000),  # NUMERIC 1E+5000 as PostgreSQL hands it over: 5,001 digits
        b"y" * 600,  # bytes read as "b'...'"
        10**600,  # an int of 601 digits (under Python's 4,300-digit limit)
    ],
)
def test_an_identifier_longer_than_the_ledger_holds_is_neither_sent_nor_stored(
    identifier: object,
) -> None:
    rejection = outcome(builder, row(order_id=identifier))
    assert isinstance(rejection, Rejection)
    assert rejection.identifier == ""  # not stored: no row of the ledger can hold it
    assert codes(rejection.reasons) == ["identifier_too_long"]
    assert "500 characters" in rejection.reasons[0].message
    assert ledger_identifier(identifier) is None  # duplicates and reports skip it too


def test_an_identifier_of_exactly_500_characters_is_sent() -> None:
    event = outcome(builder, row(order_id="x" * 500))
    assert isinstance(event, BuiltEvent)
    assert event.identifier == event.event_id == "x" * 500
    assert ledger_identifier("x" * 500) == "x" * 500


def test_an_event_id_longer_than_the_ledger_holds_is_rejected_from_a_column() -> None:
    make = lambda: builder(explicit={"event_id": "ref"})  # noqa: E731
    rejection = outcome(make, row(ref="e" * 501))
    assert isinstance(rejection, Rejection)
    assert rejection.identifier == "o-1"  # the row is known, its event_id unsendable
    assert codes(rejection.reasons) == ["event_id_too_long"]
    built = outcome(make, row(ref="e" * 500))
    assert isinstance(built, BuiltEvent) and built.event_id == "e" * 500


def test_an_event_id_longer_than_the_ledger_holds_is_rejected_from_a_template() -> None:
    options = BuildOptions(event_id_template="{event_name}:{ref}")
    make = lambda: builder(options=options)  # noqa: E731
    rejection = outcome(make, row(ref="e" * 490))  # "ViewContent:" + 490 = 502 characters
    assert isinstance(rejection, Rejection)
    assert codes(rejection.reasons) == ["event_id_too_long"]
    built = outcome(make, row(ref="e" * 488))  # 500 characters
    assert isinstance(built, BuiltEvent) and len(built.event_id) == 500


# ---- 2. no customer data in a value Meta reads unhashed ----------------------------------


@pytest.mark.parametrize(
    ("column", "value", "key"),
    [
        ("product", EMAIL, "content_name"),
        ("product", "Gift card for someone@example.com", "content_name"),
        ("search", "SOMEONE@EXAMPLE.COM", "search_string"),
        ("search", "+1 650 555 1212", "search_string"),
        ("note", EMAIL, "note"),  # a custom property
        ("note", '{"buyer": "someone@example.com"}', "note"),  # inside a JSON object
        ("skus", ["SKU-1", EMAIL], "content_ids"),
        ("page_id", EMAIL, "page_id"),  # a raw user_data key
        ("user_agent", EMAIL, "client_user_agent"),
        ("user_agent", "(650) 555-1212", "client_user_agent"),
        ("referrer", "https://mail.example/?to=someone@example.com", "referrer_url"),
    ],
)
def test_customer_data_in_an_optional_parameter_is_dropped_with_a_warning(
    column: str, value: object, key: str
) -> None:
    event = outcome(builder, row(**{column: value}))
    if key == "client_user_agent":  # required by a website event: the row cannot go
        assert isinstance(event, Rejection)
        assert codes(event.reasons) == ["website_missing_client_user_agent"]
        warnings = event.warnings
    else:
        assert isinstance(event, BuiltEvent)
        body = orjson.dumps(event.event).decode()
        assert "someone@example.com" not in body.lower() and "555" not in body
        warnings = event.warnings
    assert codes(warnings) == [f"{key}_personal_data"]
    assert all("someone" not in w.message and "555" not in w.message for w in warnings)


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("search", "@home decor"),  # an "@" is no address
        ("search", "release@2026.11"),
        ("product", "Shirt (size 42)"),
        ("note", "A+ 12345678"),
        ("referrer", "https://www.google.com/search?q=shirts+blue&tbm=shop"),
        ("page_url", "HTTPS://Shop.Example/p/1?id=123%20456"),
        ("user_agent", "Mozilla/5.0 (compatible; ExampleBot/2.1; +mailto:bot@example.com)"),
    ],
)
def test_ordinary_values_are_kept(column: str, value: str) -> None:
    event = outcome(builder, row(**{column: value}))
    assert isinstance(event, BuiltEvent), event
    assert event.warnings == ()


@pytest.mark.parametrize(
    "url",
    [
        "https://shop.example/thanks?email=someone@example.com",
        "https://shop.example/thanks?email=someone%40example.com",  # percent-escaped
        "https://shop.example/thanks?e=SOMEONE%40EXAMPLE.COM&x=1",
        "https://shop.example/thanks?phone=%2B16505551212",
        "https://shop.example/u/someone@example.com/orders",
    ],
)
def test_a_website_url_holding_customer_data_rejects_the_row_without_quoting_it(
    url: str,
) -> None:
    rejection = outcome(builder, row(page_url=url))
    assert isinstance(rejection, Rejection)
    assert codes(rejection.warnings) == ["event_source_url_personal_data"]
    assert codes(rejection.reasons) == ["website_missing_event_source_url"]
    message = rejection.reasons[0].message
    assert "column `page_url`" in message and "event_source_url_personal_data" in message
    assert "someone" not in message.lower() and "555" not in message


@pytest.mark.parametrize(
    "url", ["shop.example/thanks", "/thanks", "ftp://shop.example/x", "https://", "thank you"]
)
def test_an_event_source_url_that_is_no_http_url_is_dropped(url: str) -> None:
    rejection = outcome(builder, row(page_url=url))  # website: it is required
    assert isinstance(rejection, Rejection)
    assert codes(rejection.warnings) == ["event_source_url_not_a_url"]
    assert codes(rejection.reasons) == ["website_missing_event_source_url"]
    email = lambda: builder(static={"action_source": "email"})  # noqa: E731
    sent = outcome(email, row(page_url=url, referrer=url))  # optional: left out, row sent
    assert isinstance(sent, BuiltEvent)
    assert "event_source_url" not in sent.event and "referrer_url" not in sent.event
    assert codes(sent.warnings) == ["event_source_url_not_a_url", "referrer_url_not_a_url"]


@pytest.mark.parametrize("name", [EMAIL, "Lead someone@example.com", "+44 20 7946 0958"])
def test_an_event_name_holding_customer_data_rejects_the_row(name: str) -> None:
    rejection = outcome(builder, row(event_name=name))
    assert isinstance(rejection, Rejection)
    assert codes(rejection.reasons) == ["event_name_personal_data"]
    assert "someone" not in rejection.reasons[0].message


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("event_source_url", "https://shop.example/?email=someone%40example.com"),
        ("event_source_url", "shop.example"),
        ("content_name", EMAIL),
        ("custom_data.note", EMAIL),
        ("event_name", EMAIL),
    ],
)
def test_a_static_value_holding_customer_data_is_a_mapping_error(key: str, value: str) -> None:
    with pytest.raises(MappingError) as raised:
        builder(static={key: value}, explicit={key: None})
    (problem,) = raised.value.problems
    assert f"static value for '{key}'" in problem and "`static:`" in problem
    assert "someone" not in problem


def test_is_contact_judges_the_whole_value() -> None:
    assert is_contact(" someone@example.com ")
    assert is_contact("+1 (650) 555-1212")
    assert is_contact("ｓｏｍｅｏｎｅ＠ｅｘａｍｐｌｅ.com")  # full-width forms
    assert not is_contact("Bot/1.0 (+http://bot.example; bot@example.com)")
    assert not is_contact("Mozilla/5.0")


def test_keys_that_are_hashed_or_shaped_are_not_screened() -> None:
    assert screen("em", "none") is None
    check = screen("referrer_url", "url")
    assert check is not None
    assert check(123) is not None  # no text at all is no URL either


# ---- 3. advice that fits the row --------------------------------------------------------


@pytest.mark.parametrize(
    ("column", "key"), [("user_agent", "client_user_agent"), ("page_url", "event_source_url")]
)
def test_a_mapped_required_key_empty_in_a_row_says_so(column: str, key: str) -> None:
    rejection = outcome(builder, row(**{column: None}))
    assert isinstance(rejection, Rejection)
    (reason,) = rejection.reasons
    assert reason.message == (
        f"website events need {key}, which is empty in this row (column `{column}`): fill "
        f"it, or filter such rows out of the model"
    )
    assert "map the column" not in reason.message


def test_an_unmapped_required_key_still_says_map_the_column() -> None:
    rejection = outcome(lambda: builder(explicit={"client_user_agent": None}), row())
    assert isinstance(rejection, Rejection)
    (reason,) = rejection.reasons
    assert reason.code == "website_missing_client_user_agent"
    assert "map the column holding the browser's User-Agent" in reason.message


def test_a_mapped_messaging_channel_empty_in_a_row_says_so() -> None:
    make = lambda: builder(  # noqa: E731
        static={"action_source": "business_messaging"},
        explicit={"messaging_channel": "ref"},
    )
    rejection = outcome(make, row(ref=None))
    assert isinstance(rejection, Rejection)
    reason = rejection.reasons[0]
    assert reason.code == "missing_messaging_channel"
    assert "which is empty in this row (column `ref`)" in reason.message


def test_no_customer_keys_names_the_codes_of_the_dropped_values() -> None:
    make = lambda: builder(static={"action_source": "email"}, explicit={"ph": "ref"})  # noqa: E731
    rejection = outcome(make, row(email="not-an-email", ref="12", user_agent=None, page_id=None))
    assert isinstance(rejection, Rejection)
    (reason,) = rejection.reasons
    assert reason.code == "no_customer_keys"
    assert "(email_malformed, phone_malformed;" in reason.message
    assert "not-an-email" not in reason.message and "see this row's warnings" not in reason.message


# ---- 4. a static value's error points at `static:` --------------------------------------


@pytest.mark.parametrize(
    ("key", "value"),
    [("currency", 12), ("value", "lots"), ("action_source", "web"), ("content_type", "sku")],
)
def test_a_bad_static_value_says_it_is_under_static(key: str, value: object) -> None:
    with pytest.raises(MappingError) as raised:
        builder(static={key: value})
    (problem,) = raised.value.problems
    assert problem.startswith(f"the static value for '{key}'")
    assert problem.endswith("fix it under `static:`")
    assert "in the mapping" not in problem


def test_a_mapped_messaging_key_empty_in_a_row_names_its_column_and_warning() -> None:
    make = lambda: builder(  # noqa: E731
        static={
            "action_source": "business_messaging",
            "messaging_channel": "whatsapp",
            "whatsapp_business_account_id": "1234567890",
        },
        explicit={"ctwa_clid": "ref", "page_id": None},
    )
    rejection = outcome(make, row(event_name="LeadSubmitted", ref="not a click id"))
    assert isinstance(rejection, Rejection)
    (reason,) = [r for r in rejection.reasons if r.code == "messaging_missing_channel_keys"]
    assert reason.message.startswith("this business messaging channel needs ctwa_clid, which")
    assert "(column `ref`), or its value was left out (" in reason.message
    assert "not a click id" not in reason.message
