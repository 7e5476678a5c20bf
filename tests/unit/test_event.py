"""Rows to wire events (exact output), rejections with reasons, event_id templates."""

from __future__ import annotations

import hashlib
from datetime import datetime
from decimal import Decimal

import orjson
import pytest

from capisync.capi.event import BuildOptions, BuiltEvent, EventBuilder, Rejection
from capisync.capi.mapping import resolve_mapping
from capisync.errors import ConfigError, MappingError

NOW = 1767225600  # 2026-01-01T00:00:00Z
HOUR = 3600
JOHN_EM = "62a14e44f765419d10fea99367361a727c12365e2520f32218d505ed9aa0f62f"  # Meta's example
US = "79adb2a2fce5c6ba215fe5f27f532d4e7edbac4b6a5e09e1ef3a08084a904621"  # Meta's example
COLUMNS = (
    "order_id",
    "email",
    "phone",
    "first_name",
    "last_name",
    "city",
    "state",
    "zip",
    "country",
    "ordered_at",
    "total",
    "currency",
    "skus",
    "ip",
    "user_agent",
    "fbp",
    "page_url",
    "user_id",
    "coupon",
)
UA = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_2) Safari/605.1.15"
FBP = "fb.1.1767222000000.1234567890"


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def builder(
    options: BuildOptions | None = None,
    *,
    columns: tuple[str, ...] = COLUMNS,
    static: dict[str, object] | None = None,
    explicit: dict[str, str | None] | None = None,
) -> EventBuilder:
    mapping = resolve_mapping(
        columns,
        identifier="order_id",
        explicit={
            "event_time": "ordered_at",
            "value": "total",
            "content_ids": "skus",
            "event_source_url": "page_url",
            "custom_data.coupon": "coupon",
            **(explicit or {}),
        },
        static={"event_name": "Purchase", "action_source": "website", **(static or {})},
    )
    return EventBuilder(mapping, options)


def row(**overrides: object) -> dict[str, object]:
    base: dict[str, object] = {
        "order_id": 1001,
        "email": " John_Smith@Gmail.com ",
        "phone": "(650) 555-1212",
        "first_name": " Mary-Ann ",
        "last_name": "O'Brien",
        "city": "St. Louis",
        "state": "California",
        "zip": "94035-1234",
        "country": "United States",
        "ordered_at": datetime(2025, 12, 31, 23, 0),
        "total": Decimal("19.99"),
        "currency": "usd",
        "skus": '["SKU-1", "SKU-2"]',
        "ip": "203.0.113.9",
        "user_agent": UA,
        "fbp": FBP,
        "page_url": "https://shop.example/thanks",
        "user_id": "u-42",
        "coupon": None,
    }
    base.update(overrides)
    return base


def built(result: BuiltEvent | Rejection) -> BuiltEvent:
    assert isinstance(result, BuiltEvent), result
    return result


def rejected(result: BuiltEvent | Rejection) -> Rejection:
    assert isinstance(result, Rejection), result
    return result


def test_exact_wire_output_for_a_messy_us_row() -> None:
    event = built(builder().build(row(), now=NOW))
    assert event.identifier == "1001"
    assert event.event_id == "1001"  # no event_id column, no template: the identifier
    assert event.warnings == ()
    assert event.event == {
        "event_name": "Purchase",
        "action_source": "website",
        "event_time": NOW - HOUR,
        "event_source_url": "https://shop.example/thanks",
        "event_id": "1001",
        "user_data": {
            "country": US,
            "em": JOHN_EM,
            "ph": sha("16505551212"),
            "fn": sha("maryann"),
            "ln": sha("obrien"),
            "ct": sha("stlouis"),
            "st": sha("ca"),
            "zp": sha("94035"),
            "external_id": sha("u-42"),
            "client_ip_address": "203.0.113.9",
            "client_user_agent": UA,
            "fbp": FBP,
        },
        "custom_data": {
            "value": 19.99,
            "currency": "USD",
            "content_ids": ["SKU-1", "SKU-2"],
            "order_id": "1001",
        },  # the identifier column also maps by name
    }
    assert event.match_keys == {
        "country",
        "em",
        "ph",
        "fn",
        "ln",
        "ct",
        "st",
        "zp",
        "external_id",
        "client_ip_address",
        "client_user_agent",
        "fbp",
    }
    orjson.dumps(event.event)  # the event is JSON-ready as is


def test_row_country_gives_national_phones_their_calling_code() -> None:
    event = built(
        builder().build(
            row(country="France", phone="06 12 34 56 78", zip="75008", state=None), now=NOW
        )
    )
    assert event.event["user_data"]["ph"] == sha("33612345678")
    assert event.event["user_data"]["country"] == sha("fr")


def test_default_country_applies_when_the_row_has_none() -> None:
    columns = tuple(c for c in COLUMNS if c != "country")
    no_country = {k: v for k, v in row().items() if k != "country"}
    with_default = builder(BuildOptions(default_country="FR"), columns=columns)
    assert built(with_default.build({**no_country, "phone": "06 12 34 56 78"}, now=NOW)).event[
        "user_data"
    ]["ph"] == sha("33612345678")
    without = built(builder(columns=columns).build({**no_country, "phone": "6505551212"}, now=NOW))
    assert without.event["user_data"]["ph"] == sha("6505551212")
    assert [w.code for w in without.warnings] == ["phone_without_country_code"]


def test_static_country_is_hashed_once_and_used_for_phones() -> None:
    columns = tuple(c for c in COLUMNS if c != "country")
    b = builder(columns=columns, static={"country": "United Kingdom"})
    event = built(b.build({**row(), "phone": "020 7946 0958"}, now=NOW))
    assert event.event["user_data"]["country"] == sha("gb")
    assert event.event["user_data"]["ph"] == sha("442079460958")


def test_empty_and_null_cells_are_omitted() -> None:
    event = built(
        builder().build(
            row(phone="", first_name=None, last_name="  ", city=float("nan"), skus=[], coupon=""),
            now=NOW,
        )
    )
    assert not {"ph", "fn", "ln", "ct"} & set(event.event["user_data"])
    assert "content_ids" not in event.event["custom_data"]
    assert "coupon" not in event.event["custom_data"]


def test_custom_properties_and_free_keys_go_under_custom_data() -> None:
    event = built(builder().build(row(coupon=" WINTER10 "), now=NOW))
    assert event.event["custom_data"]["coupon"] == "WINTER10"


def test_unreadable_optional_value_is_dropped_with_a_warning_and_the_event_still_goes() -> None:
    b = builder(columns=(*COLUMNS, "num_items"))
    event = built(b.build(row(num_items="two", email="not-an-email"), now=NOW))
    assert "num_items" not in event.event["custom_data"]
    assert "em" not in event.event["user_data"]
    assert sorted(w.code for w in event.warnings) == ["email_malformed", "num_items_malformed"]
    assert all("not-an-email" not in w.message and "two" not in w.message for w in event.warnings)


@pytest.mark.parametrize(
    ("overrides", "codes"),
    [
        ({"ordered_at": datetime(2025, 12, 1)}, ["event_time_too_old"]),
        ({"ordered_at": datetime(2026, 1, 1, 1, 0)}, ["event_time_in_future"]),
        ({"ordered_at": "last tuesday"}, ["event_time_invalid"]),
        ({"ordered_at": None}, ["missing_event_time"]),
        ({"currency": "dollars"}, ["invalid_currency"]),
        ({"currency": None}, ["purchase_missing_value_or_currency"]),
        ({"total": "19,99"}, ["invalid_value"]),
        ({"user_agent": None}, ["website_missing_client_user_agent"]),
        ({"page_url": " "}, ["website_missing_event_source_url"]),
    ],
)
def test_invalid_rows_are_rejected_with_reasons(
    overrides: dict[str, object], codes: list[str]
) -> None:
    rejection = rejected(builder().build(row(**overrides), now=NOW))
    assert rejection.identifier == "1001"
    assert [r.code for r in rejection.reasons] == codes
    assert rejection.expired is (codes == ["event_time_too_old"])


def test_a_row_whose_every_key_is_dropped_has_no_customer_keys() -> None:
    columns = ("order_id", "email", "ordered_at")
    b = EventBuilder(
        resolve_mapping(
            columns,
            identifier="order_id",
            explicit={"event_time": "ordered_at"},
            static={"event_name": "Lead", "action_source": "email"},
        )
    )
    rejection = rejected(
        b.build({"order_id": "L-1", "email": "nobody-at-example", "ordered_at": NOW - 60}, now=NOW)
    )
    assert [r.code for r in rejection.reasons] == ["no_customer_keys"]
    assert [w.code for w in rejection.warnings] == ["email_malformed"]
    assert not rejection.expired


def test_missing_identifier_is_rejected_before_anything_else() -> None:
    for empty in (None, "", "  "):
        rejection = rejected(builder().build(row(order_id=empty), now=NOW))
        assert [r.code for r in rejection.reasons] == ["missing_identifier"]
        assert rejection.identifier == ""


def test_physical_store_events_get_62_days() -> None:
    b = builder(static={"action_source": "Physical Store"})
    sent = built(b.build(row(ordered_at=datetime(2025, 11, 15), page_url=None), now=NOW))
    assert sent.event["action_source"] == "physical_store"
    too_old = rejected(b.build(row(ordered_at=datetime(2025, 10, 1)), now=NOW))
    assert too_old.expired
    assert "INTERVAL 62 DAY" in too_old.reasons[0].message
    assert "WHERE ordered_at >=" in too_old.reasons[0].message


def test_naive_times_are_read_in_the_configured_zone() -> None:
    b = builder(BuildOptions(naive_timezone="America/New_York"))
    event = built(b.build(row(ordered_at=datetime(2025, 12, 31, 18, 0)), now=NOW))
    assert event.event["event_time"] == NOW - HOUR  # 18:00 EST is 23:00 UTC


@pytest.mark.parametrize(
    ("template", "overrides", "expected"),
    [
        ("{event_name}:{order_id}", {}, "Purchase:1001"),
        ("{event_name}:{user_id}:{event_time}", {}, f"Purchase:u-42:{NOW - HOUR}"),
        ("order-{ORDER_ID}", {}, "order-1001"),  # column names match case-insensitively
        ("{event_name}:{order_id}", {"order_id": 1001.0}, "Purchase:1001"),
    ],
)
def test_event_id_templates(template: str, overrides: dict[str, object], expected: str) -> None:
    event = built(
        builder(BuildOptions(event_id_template=template)).build(row(**overrides), now=NOW)
    )
    assert event.event_id == expected == event.event["event_id"]


def test_template_field_empty_in_a_row_is_a_rejection() -> None:
    b = builder(BuildOptions(event_id_template="{event_name}:{user_id}"))
    rejection = rejected(b.build(row(user_id=None), now=NOW))
    assert [r.code for r in rejection.reasons] == ["missing_event_id"]


def test_event_id_column_is_used_and_falls_back_to_the_identifier() -> None:
    b = builder(columns=(*COLUMNS, "event_id"))
    assert built(b.build(row(event_id="Purchase:1001"), now=NOW)).event_id == "Purchase:1001"
    fallback = built(b.build(row(event_id=None), now=NOW))
    assert fallback.event_id == "1001"
    assert [w.code for w in fallback.warnings] == ["event_id_missing"]


@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        (BuildOptions(event_id_template="{event_name}:{nope}"), "field 'nope' is not a column"),
        (BuildOptions(event_id_template="{order_id:>10}"), "no format specs"),
        (BuildOptions(event_id_template="{order_id"), "not a valid template"),
        (BuildOptions(event_id_template="constant"), "has no field"),
        (BuildOptions(naive_timezone="Mars/Olympus"), "not a known time zone"),
        (BuildOptions(default_country="Atlantis"), "default_country 'Atlantis' is not a country"),
        (BuildOptions(dob_order="yyyy"), "dob_order must be one of mdy, dmy, ymd"),
    ],
)
def test_bad_options_raise_config_error(options: BuildOptions, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        builder(options)


@pytest.mark.parametrize(
    ("static", "fragment"),
    [
        ({"currency": "dollars"}, "static value for 'currency'"),
        ({"action_source": "web"}, "static value for 'action_source' is not one of Meta's"),
        ({"content_type": "sku"}, "static value for 'content_type' must be 'product'"),
        ({"event_id": "x"}, "static value for 'event_id' would give every event the same"),
        ({"ge": "unknown"}, "static value for 'ge' was dropped by normalization (gender_unknown)"),
    ],
)
def test_bad_static_values_raise_mapping_error(static: dict[str, object], fragment: str) -> None:
    with pytest.raises(MappingError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        builder(static=static)


def test_standard_event_names_get_metas_spelling_and_purchase_rules_apply() -> None:
    b = builder(static={"event_name": "purchase"})
    assert (
        rejected(b.build(row(total=None), now=NOW)).reasons[0].code
        == "purchase_missing_value_or_currency"
    )


def test_build_many_keeps_row_order_and_mixes_results() -> None:
    rows = [
        row(
            order_id=i,
            ordered_at=datetime(2025, 12, 1) if i % 3 == 0 else datetime(2025, 12, 31, 23, 0),
        )
        for i in range(1, 7)
    ]
    results = builder().build_many(rows, now=NOW)
    assert [r.identifier for r in results] == ["1", "2", "3", "4", "5", "6"]
    assert [type(r).__name__ for r in results] == [
        "BuiltEvent",
        "BuiltEvent",
        "Rejection",
        "BuiltEvent",
        "BuiltEvent",
        "Rejection",
    ]


def test_multiple_emails_from_a_warehouse_array() -> None:
    event = built(
        builder().build(
            row(email=["John_Smith@gmail.com", "JOHN_SMITH@GMAIL.COM", "j@example.org"]), now=NOW
        )
    )
    assert event.event["user_data"]["em"] == [JOHN_EM, sha("j@example.org")]


def test_app_event_with_app_data_json() -> None:
    b = builder(columns=(*COLUMNS, "app_data"), static={"action_source": "app"})
    app = (
        '{"advertiser_tracking_enabled": 1, "application_tracking_enabled": 1, '
        '"extinfo": ["i2", "com.example", "", "", "17.2", "", "", "", "", "", "", "", "", "", '
        '"", ""]}'
    )
    event = built(b.build(row(app_data=app, page_url=None), now=NOW))
    assert event.event["app_data"]["extinfo"][0] == "i2"
    assert [r.code for r in rejected(b.build(row(app_data=None), now=NOW)).reasons] == [
        "app_missing_app_data"
    ]


def test_ldu_needs_country_and_state() -> None:
    b = builder(
        static={"data_processing_options": "LDU"},
        columns=(*COLUMNS, "data_processing_options_country", "data_processing_options_state"),
    )
    ok = built(
        b.build(
            row(data_processing_options_country="1", data_processing_options_state=1000), now=NOW
        )
    )
    assert ok.event["data_processing_options"] == ["LDU"]
    assert (
        ok.event["data_processing_options_country"],
        ok.event["data_processing_options_state"],
    ) == (1, 1000)
    missing = rejected(b.build(row(), now=NOW))
    assert [r.code for r in missing.reasons] == ["ldu_missing_country_or_state"]


def test_contents_and_content_type_are_checked() -> None:
    b = builder(columns=(*COLUMNS, "contents", "content_type"))
    ok = built(
        b.build(row(contents='[{"id": "SKU-1", "quantity": "2"}]', content_type="Product"), now=NOW)
    )
    assert ok.event["custom_data"]["contents"] == [{"id": "SKU-1", "quantity": 2}]
    assert ok.event["custom_data"]["content_type"] == "product"
    bad = rejected(b.build(row(contents=[{"quantity": 1}], content_type="sku"), now=NOW))
    assert [r.code for r in bad.reasons] == ["invalid_content_type", "contents_item_missing_id"]


def test_rejections_never_carry_raw_values() -> None:
    secret = "john_smith@gmail.com"
    result = rejected(
        builder().build(
            row(email=secret, currency=secret, total=secret, ordered_at=secret), now=NOW
        )
    )
    text = repr(result)
    assert secret not in text and "John" not in text


def test_external_id_can_be_sent_unhashed() -> None:
    event = built(builder(BuildOptions(hash_external_id=False)).build(row(), now=NOW))
    assert event.event["user_data"]["external_id"] == "u-42"


def test_memoized_keys_respect_the_row_country_and_repeat_their_warnings() -> None:
    b = builder(columns=(*COLUMNS, "gender"))
    us = built(b.build(row(zip="94035-1234", gender="unknown"), now=NOW))
    gb = built(b.build(row(zip="94035-1234", country="GB", state=None, gender="unknown"), now=NOW))
    again = built(b.build(row(zip="94035-1234", gender="unknown"), now=NOW))
    assert us.event["user_data"]["zp"] == again.event["user_data"]["zp"] == sha("94035")
    assert gb.event["user_data"]["zp"] == sha("940351234")  # not a US ZIP outside the US
    for event in (us, gb, again):
        assert [w.code for w in event.warnings] == ["gender_unknown"]


def test_an_unknown_row_country_is_dropped_and_the_default_country_is_used() -> None:
    b = builder(BuildOptions(default_country="fr"))
    event = built(
        b.build(row(country="Atlantis", phone="06 12 34 56 78", state=None, zip="75008"), now=NOW)
    )
    assert "country" not in event.event["user_data"]
    assert event.event["user_data"]["ph"] == sha("33612345678")
    assert [w.code for w in event.warnings] == ["country_unknown"]


# ---- the year comes from the clock passed in (issue 8, section 2) -------------------------

NEW_YEAR_2027 = 1798761600  # 2027-01-01T00:00:00Z
LAST_SECOND_OF_2026 = NEW_YEAR_2027 - 1
FEB_2027 = NEW_YEAR_2027 + 31 * 86400  # 2027-02-01T00:00:00Z


def _at(now: int, **overrides: object) -> dict[str, object]:
    """A row whose event happened a minute before ``now``."""
    return row(ordered_at=now - 60, **overrides)


def test_a_date_of_birth_in_the_current_year_is_judged_by_the_clock() -> None:
    """2027-01-05 is a valid birth date on 2027-02-01 and one in the future on 2026-12-31;
    one builder, the clock going back and forth across the new year."""
    b = builder(columns=(*COLUMNS, "dob"), explicit={"db": "dob"})
    for _ in range(2):
        sent = built(b.build(_at(FEB_2027, dob="2027-01-05"), now=FEB_2027))
        assert sent.event["user_data"]["db"] == sha("20270105") and sent.warnings == ()
        early = built(b.build(_at(LAST_SECOND_OF_2026, dob="2027-01-05"), now=LAST_SECOND_OF_2026))
        assert "db" not in early.event["user_data"]
        assert [w.code for w in early.warnings] == ["dob_out_of_range"]
    first = built(b.build(_at(NEW_YEAR_2027, dob="2027-01-05"), now=NEW_YEAR_2027))
    assert first.event["user_data"]["db"] == sha("20270105")  # the year's first second


def test_two_digit_years_pivot_on_the_clocks_year() -> None:
    b = builder(columns=(*COLUMNS, "dob"), explicit={"db": "dob"})
    in_2027 = built(b.build(_at(FEB_2027, dob="1/5/27"), now=FEB_2027))
    in_2026 = built(b.build(_at(LAST_SECOND_OF_2026, dob="1/5/27"), now=LAST_SECOND_OF_2026))
    assert in_2027.event["user_data"]["db"] == sha("20270105")
    assert in_2026.event["user_data"]["db"] == sha("19270105")


def test_a_static_date_of_birth_is_judged_by_the_clock_of_each_row() -> None:
    b = builder(static={"db": "2027-01-05"})
    assert built(b.build(_at(FEB_2027), now=FEB_2027)).event["user_data"]["db"] == sha("20270105")
    early = built(b.build(_at(LAST_SECOND_OF_2026), now=LAST_SECOND_OF_2026))
    assert "db" not in early.event["user_data"]
    assert [w.code for w in early.warnings] == ["dob_out_of_range"]
    with pytest.raises(MappingError, match=r"static value for 'db' was dropped"):
        builder(static={"db": "not a date"})  # its form is checked before any clock


def test_build_options_hold_no_year() -> None:
    assert not any("year" in name for name in BuildOptions.__dataclass_fields__)


# ---- no customer data in event_id (issue 8, section 3) -----------------------------------


@pytest.mark.parametrize(
    ("template", "explicit", "column", "why"),
    [
        ("lead-{email}", {}, "email", "it feeds em"),  # the reported template
        ("{event_name}-{EMAIL}-{order_id}", {}, "email", "it feeds em"),  # middle, any case
        ("{order_id}:{contact}", {"em": "contact"}, "contact", "it feeds em"),  # any name
        ("{phone}", {}, "phone", "it feeds ph"),
        ("{first_name}{last_name}", {}, "first_name", "it feeds fn"),
        ("{zip}/{order_id}", {}, "zip", "it feeds zp"),
        ("{city}", {}, "city", "it feeds ct"),
        ("{mobile_no}", {}, "mobile_no", "its name says mobile"),  # unmapped: by name
    ],
)
def test_an_event_id_template_over_customer_information_is_a_config_error(
    template: str, explicit: dict[str, str | None], column: str, why: str
) -> None:
    columns = (*COLUMNS, "contact", "mobile_no")
    with pytest.raises(ConfigError) as caught:
        builder(BuildOptions(event_id_template=template), columns=columns, explicit=explicit)
    message = str(caught.value)
    assert f"event_id: {template!r} reads column '{column}'" in message
    assert f"customer information ({why}" in message
    assert "'{event_name}:{order_id}'" in message  # a non-personal column to use instead


def test_an_event_id_template_over_an_advertiser_id_is_fine() -> None:
    """external_id (user_id here) is the advertiser's own ID, which Meta accepts unhashed."""
    b = builder(BuildOptions(event_id_template="{event_name}:{user_id}"))
    assert built(b.build(row(), now=NOW)).event_id == "Purchase:u-42"


@pytest.mark.parametrize(
    "value",
    [
        "lead-someone@example.com",
        "Jane+promo@Example.COM",
        "ORDER:JOHN@EXAMPLE.ORG:7",
        "+1 650 555 1212",
        "(650) 555-1212",
    ],
)
def test_an_event_id_that_holds_an_email_or_phone_is_rejected_not_sent(value: str) -> None:
    b = builder(columns=(*COLUMNS, "event_id"))
    rejection = rejected(b.build(row(event_id=value), now=NOW))
    assert rejection.identifier == "1001"  # the identifier is fine: stored under it
    assert [r.code for r in rejection.reasons] == ["event_id_personal_data"]
    assert value not in repr(rejection)
    templated = builder(BuildOptions(event_id_template="{event_name}:{coupon}"))
    assert [r.code for r in rejected(templated.build(row(coupon=value), now=NOW)).reasons] == [
        "event_id_personal_data"
    ]


def test_event_id_personal_data_is_one_reason_among_the_others() -> None:
    b = builder(columns=(*COLUMNS, "event_id"))
    rejection = rejected(b.build(row(event_id="a@b.co", currency="dollars"), now=NOW))
    assert [r.code for r in rejection.reasons] == ["invalid_currency", "event_id_personal_data"]


@pytest.mark.parametrize(
    "identifier",
    ["someone@example.com", " Jane+promo@Example.COM ", "lead-JOHN@EXAMPLE.ORG", "+16505551212"],
)
def test_an_identifier_that_holds_an_email_or_phone_is_never_stored_nor_sent(
    identifier: str,
) -> None:
    """Rejected before anything else, under no identifier: the ledger stores none of it
    (sync.py stores only rejections with an identifier)."""
    rejection = rejected(builder().build(row(order_id=identifier), now=NOW))
    assert rejection.identifier == ""
    assert [r.code for r in rejection.reasons] == ["identifier_personal_data"]
    assert rejection.warnings == () and identifier.strip() not in repr(rejection)


@pytest.mark.parametrize("value", ["Purchase:1001", "1234567890123456", "2026-11-30-0001"])
def test_ids_that_hold_nothing_personal_are_sent(value: str) -> None:
    b = builder(columns=(*COLUMNS, "event_id"))
    assert built(b.build(row(order_id=value, event_id=value), now=NOW)).event_id == value


def test_the_one_value_helpers_take_the_year_from_their_caller() -> None:
    from capisync.capi.normalize import hash_value, normalize

    assert normalize("db", "2027-01-05", year=2027) == "20270105"
    assert normalize("db", "2027-01-05", year=2026) is None
    assert hash_value("db", "1/5/27", year=2026) == sha("19270105")
    assert hash_value("db", "1/5/27", year=2027) == sha("20270105")
    # no clock given: no upper bound, two-digit years as strptime's %y reads them
    assert normalize("db", "1/5/68") == "20680105"
    assert normalize("db", "1/5/69") == "19690105"
