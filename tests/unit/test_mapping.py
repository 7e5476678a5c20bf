"""Resolving parameter -> column mappings: by name, explicit, static, and every error."""

from __future__ import annotations

import pytest

from capisync.capi.mapping import FieldMapping, resolve_key, resolve_mapping
from capisync.errors import MappingError

ORDERS = (
    "order_id",
    "Email",
    "phone_number",
    "first_name",
    "LastName",
    "city",
    "state",
    "zip",
    "country",
    "event_time",
    "amount",
    "currency",
    "user_agent",
    "page_url",
)
STATIC = {"event_name": "Purchase", "action_source": "website"}


def as_dict(fields: tuple[FieldMapping, ...]) -> dict[str, str | object]:
    return {f.key: f.column if f.column is not None else ("static", f.static) for f in fields}


def test_columns_named_like_meta_keys_or_aliases_map_themselves() -> None:
    resolved = resolve_mapping(ORDERS, identifier="order_id", static=STATIC)
    assert as_dict(resolved.fields) == {
        "event_name": ("static", "Purchase"),
        "event_time": "event_time",
        "action_source": ("static", "website"),
        "em": "Email",
        "ph": "phone_number",
        "fn": "first_name",
        "ln": "LastName",
        "ct": "city",
        "st": "state",
        "zp": "zip",
        "country": "country",
        "client_user_agent": "user_agent",
        "currency": "currency",
        "order_id": "order_id",
    }
    assert resolved.identifier == "order_id"
    assert resolved.columns == ORDERS
    assert "email" not in as_dict(resolved.fields)  # aliases always resolve to Meta keys


def test_fields_come_in_catalogue_order_then_custom_properties() -> None:
    resolved = resolve_mapping(
        ORDERS,
        identifier="order_id",
        static=STATIC,
        explicit={"custom_data.zeta": "amount", "custom_data.Alpha": "page_url"},
    )
    keys = [f.key for f in resolved.fields]
    assert keys[:3] == ["event_name", "event_time", "action_source"]
    assert keys[-2:] == ["custom_data.Alpha", "custom_data.zeta"]  # case kept


def test_explicit_mapping_overrides_auto_mapping_of_the_same_key() -> None:
    resolved = resolve_mapping(
        ORDERS,
        identifier="order_id",
        static=STATIC,
        explicit={"email": "page_url", "value": "AMOUNT", "event_source_url": "page_url"},
    )
    fields = as_dict(resolved.fields)
    assert fields["em"] == "page_url"
    assert fields["value"] == "amount"  # column names match case-insensitively
    assert fields["event_source_url"] == "page_url"


def test_static_value_wins_over_a_same_named_column() -> None:
    resolved = resolve_mapping(ORDERS, identifier="order_id", static={**STATIC, "currency": "USD"})
    assert resolved.get("currency") == FieldMapping("currency", static="USD")


def test_explicit_none_switches_auto_mapping_off() -> None:
    resolved = resolve_mapping(
        ORDERS, identifier="order_id", static=STATIC, explicit={"city": None}
    )
    assert resolved.get("ct") is None


def test_custom_data_prefix_for_standard_key_resolves_to_the_key() -> None:
    resolved = resolve_mapping(
        ORDERS, identifier="order_id", static=STATIC, explicit={"custom_data.value": "amount"}
    )
    assert resolved.get("value") == FieldMapping("value", column="amount")


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("email", "em"),
        ("EMAIL", "em"),
        (" em ", "em"),
        ("phone", "ph"),
        ("zip_code", "zp"),
        ("custom_data.coupon", "custom_data.coupon"),
        ("custom_data.VALUE", "value"),
        ("custom_data.", None),
        ("emial", None),
    ],
)
def test_resolve_key(name: str, key: str | None) -> None:
    assert resolve_key(name) == key


def problems_of(**kwargs: object) -> list[str]:
    kwargs.setdefault("identifier", "order_id")
    with pytest.raises(MappingError) as caught:
        resolve_mapping(kwargs.pop("columns", ORDERS), **kwargs)  # type: ignore[arg-type]
    return caught.value.problems


def test_unknown_parameter_suggests_the_nearest_key() -> None:
    assert problems_of(static=STATIC, explicit={"emial": "Email"}) == [
        "unknown parameter 'emial': did you mean 'em' (email)?"
    ]
    assert problems_of(static=STATIC, explicit={"curency": "currency"}) == [
        "unknown parameter 'curency': did you mean 'currency'?"
    ]
    [problem] = problems_of(static=STATIC, explicit={"qqqq": "amount"})
    assert "unknown parameter 'qqqq'" in problem and "custom_data.qqqq" in problem


def test_missing_column_lists_the_models_columns() -> None:
    [problem] = problems_of(static=STATIC, explicit={"em": "customer_mail"})
    assert problem.startswith(
        "parameter 'em' is mapped to column 'customer_mail', which the model does not have"
    )
    assert "the model's columns are: order_id, Email, phone_number" in problem


def test_missing_column_suggests_a_close_one() -> None:
    [problem] = problems_of(static=STATIC, explicit={"value": "amout"})
    assert "did you mean 'amount'?" in problem


def test_missing_identifier_column() -> None:
    [problem] = problems_of(identifier="id", static=STATIC)
    assert problem.startswith("identifier column 'id' is not in the model")


def test_a_key_mapped_twice() -> None:
    [problem] = problems_of(static=STATIC, explicit={"email": "Email", "em": "page_url"})
    assert problem == "parameter 'em' is mapped twice (as 'email' and 'em'): keep one"
    [problem] = problems_of(static={**STATIC, "currency": "USD"}, explicit={"currency": "currency"})
    assert problem == (
        "parameter 'currency' is mapped twice (to a column and to a static value): keep one"
    )
    [problem] = problems_of(static={**STATIC, "action_source": "website", "ACTION_SOURCE": "app"})
    assert "two static values" in problem


def test_two_columns_auto_mapping_to_one_key_must_be_resolved_explicitly() -> None:
    [problem] = problems_of(columns=(*ORDERS, "user_id", "customer_id"), static=STATIC)
    assert problem == (
        "columns 'user_id' and 'customer_id' all map to 'external_id' by name: "
        "map one explicitly (`external_id: user_id`)"
    )
    resolved = resolve_mapping(
        (*ORDERS, "user_id", "customer_id"),
        identifier="order_id",
        static=STATIC,
        explicit={"external_id": "customer_id"},
    )
    assert resolved.get("external_id") == FieldMapping("external_id", column="customer_id")


def test_required_keys_need_a_source() -> None:
    problems = problems_of(columns=("order_id", "email"))
    assert [p.split(":")[0] for p in problems] == [
        "no source for 'event_name'",
        "no source for 'event_time'",
        "no source for 'action_source'",
    ]


def test_customer_data_cannot_hide_in_custom_data() -> None:
    [problem] = problems_of(static=STATIC, explicit={"custom_data.email": "Email"})
    assert "unhashed" in problem and "'em'" in problem


def test_empty_static_and_non_string_column_are_errors() -> None:
    problems = problems_of(static={**STATIC, "currency": " "}, explicit={"value": 3})
    assert "parameter 'value' must map to a column name" in problems
    assert "static value for 'currency' is empty: remove it or give a value" in problems


def test_all_problems_are_reported_at_once() -> None:
    problems = problems_of(identifier="nope", columns=("a",), explicit={"emial": "a", "ph": "b"})
    assert len(problems) == 6  # identifier, unknown, missing column, three required keys
    with pytest.raises(MappingError, match="invalid mapping:\n  - identifier column 'nope'"):
        resolve_mapping(("a",), identifier="nope")


# ---- customer information as identifier or event_id (issue 8, section 3) -----------------

CUSTOMER_INFO_KEYS = ("em", "ph", "fn", "ln", "db", "ge", "ct", "st", "zp", "country")


@pytest.mark.parametrize("key", CUSTOMER_INFO_KEYS)
def test_an_identifier_feeding_a_customer_key_is_refused_whatever_its_name(key: str) -> None:
    """Judged by what the column is mapped to: 'contact' feeding em is an email column."""
    with pytest.raises(MappingError) as caught:
        resolve_mapping(
            (*ORDERS, "contact"), identifier="contact", explicit={key: "contact"}, static=STATIC
        )
    message = str(caught.value)
    assert "identifier column 'contact' holds customer information" in message
    assert f"it feeds {key}," in message
    assert "stored in the ledger" in message and "e.g. order_id" in message


@pytest.mark.parametrize(
    ("column", "says"),
    [
        ("Email", "its name is that of em"),  # em: null leaves it unmapped: judged by name
        ("customer_email", "its name says email"),
        ("userEmail", "its name says email"),
        ("E_Mail", "its name says email"),
        ("mobile_no", "its name says mobile"),
        ("tel", "its name says tel"),
        ("whatsapp_number", "its name says whatsapp"),
        ("date_of_birth", "it feeds db"),  # an alias of db: mapped by name
        ("BirthDate_text", "its name says birthdate"),
        ("Surname", "its name says surname"),
        ("street_address", "its name says street"),
        ("billing_postcode", "its name says postcode"),
        ("postal_code", "its name is that of zp"),
    ],
)
def test_an_identifier_named_like_customer_information_is_refused(column: str, says: str) -> None:
    """Judged by name too, for columns the mapping leaves unmapped (``em: null``)."""
    with pytest.raises(MappingError) as caught:
        resolve_mapping(
            (*ORDERS, column) if column not in ORDERS else ORDERS,
            identifier=column,
            explicit={"em": None},
            static=STATIC,
        )
    message = str(caught.value)
    assert f"identifier column '{column}' holds customer information" in message
    assert says in message


@pytest.mark.parametrize(
    "column", ["order_id", "lead_id", "user_id", "customer_id", "hotel_booking", "mailing_ref"]
)
def test_identifiers_that_name_the_event_or_an_advertiser_id_are_fine(column: str) -> None:
    """external_id (user_id, customer_id) is the advertiser's own ID: Meta takes it unhashed."""
    columns = ORDERS if column in ORDERS else (*ORDERS, column)
    assert resolve_mapping(columns, identifier=column, static=STATIC).identifier == column


def test_an_event_id_column_of_customer_information_is_refused() -> None:
    for explicit in ({"event_id": "Email"}, {"event_id": "contact", "em": "contact"}):
        with pytest.raises(MappingError, match="'event_id' is mapped to column") as caught:
            resolve_mapping(
                (*ORDERS, "contact"), identifier="order_id", explicit=explicit, static=STATIC
            )
        assert "{event_name}:{order_id}" in str(caught.value)  # suggests the identifier
    ok = resolve_mapping(
        (*ORDERS, "checkout_id"),
        identifier="order_id",
        explicit={"event_id": "checkout_id"},
        static=STATIC,
    )
    assert ok.get("event_id") == FieldMapping("event_id", column="checkout_id")
