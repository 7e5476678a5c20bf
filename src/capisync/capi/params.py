"""The parameter catalogue: every key capisync can send, where it goes, how it is treated.

Everything else (mapping, normalization, validation, the sandbox) reads this one table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Section = Literal["event", "user_data", "custom_data", "app_data"]


@dataclass(frozen=True, slots=True)
class Param:
    key: str  # Meta's key on the wire
    section: Section
    hashed: bool = False  # normalized then SHA-256 hashed
    multi: bool = False  # the wire value may be a list
    aliases: tuple[str, ...] = ()  # common column names that map to this key by themselves


def _p(
    key: str,
    section: Section,
    *,
    hashed: bool = False,
    multi: bool = False,
    aliases: tuple[str, ...] = (),
) -> Param:
    return Param(key, section, hashed, multi, aliases)


PARAMS: dict[str, Param] = {
    p.key: p
    for p in (
        # server event keys (top level of one event)
        _p("event_name", "event"),
        _p("event_time", "event"),
        _p("action_source", "event"),
        _p("event_id", "event"),
        _p("event_source_url", "event"),
        _p("opt_out", "event"),
        _p("referrer_url", "event"),
        _p("data_processing_options", "event", multi=True),
        _p("data_processing_options_country", "event"),
        _p("data_processing_options_state", "event"),
        _p("original_event_data", "event"),
        _p("messaging_channel", "event"),
        _p("customer_segmentation", "event"),
        _p("app_data", "event"),
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
        _p("external_id", "user_data", hashed=True, multi=True, aliases=("user_id", "customer_id")),
        # user_data: sent as is
        _p("client_ip_address", "user_data", aliases=("ip_address", "ip")),
        _p("client_user_agent", "user_data", aliases=("user_agent",)),
        _p("fbc", "user_data"),
        _p("fbp", "user_data"),
        _p("subscription_id", "user_data"),
        _p("fb_login_id", "user_data"),
        _p("lead_id", "user_data"),
        _p("anon_id", "user_data"),
        _p("madid", "user_data"),
        _p("page_id", "user_data"),
        _p("page_scoped_user_id", "user_data"),
        _p("ctwa_clid", "user_data"),
        _p("ig_account_id", "user_data"),
        _p("ig_sid", "user_data"),
        # custom_data standard keys (any other custom_data.<name> is a free custom property)
        _p("value", "custom_data"),
        _p("currency", "custom_data"),
        _p("content_ids", "custom_data", multi=True),
        _p("content_type", "custom_data"),
        _p("contents", "custom_data", multi=True),
        _p("content_name", "custom_data"),
        _p("content_category", "custom_data"),
        _p("order_id", "custom_data"),
        _p("num_items", "custom_data"),
        _p("predicted_ltv", "custom_data"),
        _p("net_revenue", "custom_data"),
        _p("search_string", "custom_data"),
        _p("status", "custom_data"),
        _p("delivery_category", "custom_data"),
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

ACTION_SOURCES: frozenset[str] = frozenset(
    {
        "website",
        "app",
        "phone_call",
        "email",
        "chat",
        "physical_store",
        "system_generated",
        "business_messaging",
        "other",
    }
)

MAX_EVENTS_PER_REQUEST = 1000
EVENT_MAX_AGE_SECONDS = 7 * 24 * 3600
PHYSICAL_STORE_MAX_AGE_SECONDS = 62 * 24 * 3600

# Meta rejects events whose customer keys are only a subset of one of these.
WEAK_KEY_COMBINATIONS: tuple[frozenset[str], ...] = (
    frozenset({"ct", "country", "st", "zp", "ge", "client_user_agent"}),
    frozenset({"db", "client_user_agent"}),
    frozenset({"fn", "ge"}),
    frozenset({"ln", "ge"}),
)
