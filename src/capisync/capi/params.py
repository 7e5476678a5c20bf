"""The parameter catalogue and rule table: every key capisync can send, where it goes, what
a valid value is, and what happens when it is not.

Everything else (mapping, normalization, validation, the sandbox and its fast path) reads this
one table; the event-level limits and Meta's answers live beside it in ``capi/rules.py``.

Per key: ``section`` (top level of the event, user_data, custom_data; app_data keys are in
``APP_DATA_PARAMS``), ``kind`` (what a valid wire value is, see ``Kind``), ``hashed`` and
``multi`` (a list allowed), ``allowed`` values, the ``action_source`` values that require it,
Meta's answer when the value is wrong (``error``, ``problem``: the end of Meta's sentence "The
parameter $['data'][i][...] ..."), and ``on_bad``: what capisync does before sending, drop the
value with a warning or reject the row. Meta always refuses the whole batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from capisync.capi import rules
from capisync.capi.rules import (
    ACTION_SOURCES as ACTION_SOURCES,
)
from capisync.capi.rules import (
    EVENT_MAX_AGE_SECONDS as EVENT_MAX_AGE_SECONDS,
)
from capisync.capi.rules import (
    PHYSICAL_STORE_MAX_AGE_SECONDS as PHYSICAL_STORE_MAX_AGE_SECONDS,
)
from capisync.capi.rules import (
    WEAK_KEY_COMBINATIONS as WEAK_KEY_COMBINATIONS,
)
from capisync.capi.rules import MetaError, OnBad

Section = Literal["event", "user_data", "custom_data", "app_data"]
Screen = Literal["none", "text", "url", "whole"]
"""How capisync keeps customer data out of a value Meta receives unhashed (``personal.screen``):
``"text"``: the value (each string of a list or JSON value) may hold no email address or
phone number anywhere; ``"url"``: an http(s) URL whose text, query string decoded, holds
none; ``"whole"``: the value may not *be* one (a User-Agent may name a bot's contact
address); ``"none"``: not screened (hashed keys, numbers, enums, IDs checked elsewhere)."""
Kind = Literal[
    "text",  # a string
    "name",  # a non-empty string (event_name)
    "id",  # a string or an integer (event_id)
    "time",  # integer UNIX seconds
    "bool",  # true / false
    "integer",  # an integer, not a bool
    "number",  # a finite number, or a numeric string ("142.52", Meta's own example)
    "currency",  # an ISO 4217 code, any case
    "enum",  # one of ``allowed``
    "object",  # a JSON object
    "strings",  # a list of strings (or integers)
    "contents",  # a list of objects, each with an id
    "options",  # data_processing_options: ["LDU"] or []
    "hash",  # SHA-256 hex, one or a list
    "external_id",  # hashed recommended, raw accepted: strings
    "raw",  # a plain string, never a hash
    "ip",  # an IPv4 or IPv6 address
    "fbc",  # rules.FBC_SHAPE
    "fbp",  # rules.FBP_SHAPE
    "ctwa_clid",  # rules.CTWA_CLID_SHAPE
    "lead_id",  # an integer of 15-16 digits
    "flag",  # 0 or 1, an integer
    "extinfo",  # 16 slots, slot 0 a2/i2
]


@dataclass(frozen=True, slots=True)
class Param:
    key: str  # Meta's key on the wire
    section: Section
    hashed: bool = False  # normalized then SHA-256 hashed
    multi: bool = False  # the wire value may be a list
    aliases: tuple[str, ...] = ()  # common column names that map to this key by themselves
    kind: Kind = "text"
    allowed: frozenset[str] = frozenset()  # for kind "enum"
    required_for: frozenset[str] = frozenset()  # action_source values that need the key
    error: MetaError = rules.PARAMETER  # Meta's answer when the value is wrong
    problem: str = "must be a string"  # Meta's sentence after "The parameter <path>"
    on_bad: OnBad = "drop"  # capisync's answer before sending
    screen: Screen = "none"  # customer data in an unhashed value: personal.screen


def _p(
    key: str,
    section: Section,
    *,
    hashed: bool = False,
    multi: bool = False,
    aliases: tuple[str, ...] = (),
    kind: Kind = "text",
    allowed: frozenset[str] = frozenset(),
    required_for: frozenset[str] = frozenset(),
    error: MetaError = rules.PARAMETER,
    problem: str = "",
    on_bad: OnBad = "drop",
    screen: Screen | None = None,
) -> Param:
    if hashed and kind == "text":
        kind, error = "hash", rules.NOT_HASHED
    return Param(
        key,
        section,
        hashed,
        multi,
        aliases,
        kind,
        allowed,
        required_for,
        error,
        problem or _PROBLEMS.get(kind, "must be a string"),
        on_bad,
        screen or _SCREENS.get(kind, "none"),
    )


# unhashed free text: no customer data in it (personal.screen); other kinds are shaped
_SCREENS: dict[str, Screen] = {"text": "text", "name": "text", "strings": "text", "raw": "text"}


_PROBLEMS: dict[str, str] = {
    "time": "must be an integer UNIX time in seconds",
    "bool": "must be a boolean",
    "integer": "must be an integer",
    "number": "must be a number",
    "currency": "must be an ISO 4217 currency code",
    "object": "must be a JSON object",
    "strings": "must be a list of strings",
    "contents": "must be a list of objects",
    "options": 'must be ["LDU"] or []',
    "hash": (
        "must be SHA-256 hashed: a 64-character hex string, or a list of them. Normalize the "
        "value as Meta documents, then hash it"
    ),
    "external_id": "must be a string or a list of strings",
    "ip": "must be a valid IPv4 or IPv6 address",
    "fbc": "must have the format fb.{subdomain_index}.{creation_time}.{fbclid}, as in the _fbc "
    "cookie (subdomain_index 0, 1 or 2; creation_time in milliseconds)",
    "fbp": "must have the format fb.{subdomain_index}.{creation_time}.{random_number}",
    "ctwa_clid": "must be the click ID of a click-to-WhatsApp ad, as WhatsApp handed it over",
    "lead_id": (
        f"must be the lead's ID: an integer of {rules.LEAD_ID_DIGITS[0]} or "
        f"{rules.LEAD_ID_DIGITS[1]} digits"
    ),
    "flag": "must be 0 or 1 (an integer, not true/false)",
    "extinfo": (
        f"must be an array of {rules.EXTINFO_SLOTS} values (use empty strings for unknown "
        f"slots) whose first is a2 (Android) or i2 (iOS)"
    ),
}
_WEBSITE = frozenset({"website"})

PARAMS: dict[str, Param] = {
    p.key: p
    for p in (
        # server event keys (top level of one event)
        _p(
            "event_name",
            "event",
            kind="name",
            problem="must be a non-empty string",
            on_bad="reject",
        ),
        _p("event_time", "event", kind="time", on_bad="reject"),
        _p(
            "action_source",
            "event",
            kind="enum",
            allowed=rules.ACTION_SOURCES,
            problem=f"must be one of: {', '.join(sorted(rules.ACTION_SOURCES))}",
            on_bad="reject",
        ),
        _p("event_id", "event", kind="id"),
        _p("event_source_url", "event", required_for=_WEBSITE, on_bad="reject", screen="url"),
        _p("opt_out", "event", kind="bool"),
        _p("referrer_url", "event", screen="url"),
        _p("data_processing_options", "event", multi=True, kind="options", on_bad="reject"),
        _p(
            rules.LDU_COUNTRY,
            "event",
            kind="integer",
            problem="must be an integer (0 lets Meta geolocate)",
            on_bad="reject",
        ),
        _p(
            rules.LDU_STATE,
            "event",
            kind="integer",
            problem="must be an integer (0 lets Meta geolocate)",
            on_bad="reject",
        ),
        _p("original_event_data", "event", kind="object"),
        _p(
            "messaging_channel",
            "event",
            kind="enum",
            allowed=rules.MESSAGING_CHANNELS,
            problem=f"must be one of: {', '.join(sorted(rules.MESSAGING_CHANNELS))}",
            required_for=frozenset({rules.MESSAGING_SOURCE}),
            on_bad="reject",
        ),
        _p("app_data", "event", kind="object", required_for=frozenset({"app"}), on_bad="reject"),
        # user_data: hashed keys (normalize, then SHA-256)
        _p("em", "user_data", hashed=True, multi=True, aliases=("email", "email_address")),
        _p("ph", "user_data", hashed=True, multi=True, aliases=("phone", "phone_number")),
        _p("fn", "user_data", hashed=True, multi=True, aliases=("first_name", "firstname")),
        _p("ln", "user_data", hashed=True, multi=True, aliases=("last_name", "lastname")),
        _p("ge", "user_data", hashed=True, multi=True, aliases=("gender",)),
        _p(
            "db",
            "user_data",
            hashed=True,
            multi=True,
            aliases=("date_of_birth", "dob", "birthdate", "birthday"),
        ),
        _p("ct", "user_data", hashed=True, multi=True, aliases=("city",)),
        _p("st", "user_data", hashed=True, multi=True, aliases=("state", "region", "province")),
        _p(
            "zp",
            "user_data",
            hashed=True,
            multi=True,
            aliases=("zip", "zip_code", "zipcode", "postal_code", "postcode"),
        ),
        _p("country", "user_data", hashed=True, multi=True, aliases=("country_code",)),
        _p(
            "external_id",
            "user_data",
            hashed=True,
            multi=True,
            aliases=("user_id", "customer_id"),
            kind="external_id",
        ),
        # user_data: sent as is
        _p("client_ip_address", "user_data", kind="ip", aliases=("ip_address", "ip")),
        _p(
            "client_user_agent",
            "user_data",
            kind="raw",
            aliases=("user_agent",),
            required_for=_WEBSITE,
            screen="whole",
        ),
        _p("fbc", "user_data", kind="fbc", error=rules.BAD_FBC),
        _p("fbp", "user_data", kind="fbp"),
        _p("subscription_id", "user_data", kind="raw"),
        _p("fb_login_id", "user_data", kind="integer"),
        _p("lead_id", "user_data", kind="lead_id", error=rules.INVALID_LEAD_ID),
        _p("anon_id", "user_data", kind="raw"),
        _p("madid", "user_data", kind="raw"),
        _p("page_id", "user_data", kind="raw"),
        _p("page_scoped_user_id", "user_data", kind="raw"),
        _p("ctwa_clid", "user_data", kind="ctwa_clid", error=rules.INVALID_CTWA_CLID),
        _p("whatsapp_business_account_id", "user_data", kind="raw"),
        _p("ig_account_id", "user_data", kind="raw"),
        _p("ig_sid", "user_data", kind="raw"),
        # custom_data standard keys (any other custom_data.<name> is a free custom property)
        _p("value", "custom_data", kind="number", on_bad="reject"),
        _p("currency", "custom_data", kind="currency", on_bad="reject"),
        _p("content_ids", "custom_data", multi=True, kind="strings"),
        _p(
            "content_type",
            "custom_data",
            kind="enum",
            allowed=rules.CONTENT_TYPES,
            problem="must be product or product_group",
            on_bad="reject",
        ),
        _p("contents", "custom_data", multi=True, kind="contents", on_bad="reject"),
        _p("content_name", "custom_data"),
        _p("content_category", "custom_data"),
        _p("order_id", "custom_data"),
        _p("num_items", "custom_data", kind="integer"),
        _p("predicted_ltv", "custom_data", kind="number", on_bad="reject"),
        _p("net_revenue", "custom_data", kind="number", on_bad="reject"),
        _p("search_string", "custom_data"),
        _p("status", "custom_data"),
        _p(
            "delivery_category",
            "custom_data",
            kind="enum",
            allowed=rules.DELIVERY_CATEGORIES,
            problem="must be in_store, curbside or home_delivery",
        ),
        _p(
            "customer_segmentation",
            "custom_data",
            kind="enum",
            allowed=rules.CUSTOMER_SEGMENTS,
            problem=f"must be one of: {', '.join(sorted(rules.CUSTOMER_SEGMENTS))}",
        ),
        # conversion leads (CRM): the CRM's name, and "crm"
        _p("lead_event_source", "custom_data"),
        _p("event_source", "custom_data"),
    )
}

APP_DATA_PARAMS: dict[str, Param] = {
    p.key: p
    for p in (
        _p("advertiser_tracking_enabled", "app_data", kind="flag", on_bad="reject"),
        _p("application_tracking_enabled", "app_data", kind="flag", on_bad="reject"),
        _p("extinfo", "app_data", kind="extinfo", on_bad="reject"),
    )
}

# Column or mapping name -> Meta key. Meta's own keys map to themselves.
ALIASES: dict[str, str] = {
    **{key: key for key in PARAMS},
    **{alias: p.key for p in PARAMS.values() for alias in p.aliases},
}

HASHED_KEYS: frozenset[str] = frozenset(k for k, p in PARAMS.items() if p.hashed)
USER_DATA_KEYS: frozenset[str] = frozenset(k for k, p in PARAMS.items() if p.section == "user_data")
CUSTOM_DATA_KEYS: frozenset[str] = frozenset(
    k for k, p in PARAMS.items() if p.section == "custom_data"
)
EVENT_KEYS: frozenset[str] = frozenset(k for k, p in PARAMS.items() if p.section == "event")
CONTAINER_KEYS: frozenset[str] = frozenset(
    {"user_data", "custom_data", "attribution_data", "advanced_measurement_table"}
)
TOP_LEVEL_KEYS: frozenset[str] = EVENT_KEYS | CONTAINER_KEYS  # every other top key is refused

MAX_EVENTS_PER_REQUEST = 1000
