"""Meta's event rules, written once: the limits, shapes and answers every side reads.

The pre-send validator (``capi/validate.py``), the normalizers (``capi/keyrules.py``), the
sandbox's rules (``sandbox/rules.py``) and its fast path (``sandbox/fast_path.py``) all read
this module and the per-key table in ``capi/params.py``; none keeps a copy of a number, a
shape or a list of allowed values. ``tests/unit/test_rules_agree.py`` holds them to each
other with generated events.

Each rule also says what Meta answers when an event breaks it (``MetaError``: code 100, a
2804xxx subcode and the user title), and what capisync does before sending (``OnBad``): drop
the one bad optional value with a warning and send the rest, or reject the row.

Sources (Meta's developer docs, checked late 2026): "Server event parameters", "Customer
information parameters", "Custom data", "App data", "Data Processing Options for US Users",
"Conversions API for Business Messaging", "Conversion Leads: payload specification", and
answers of the live Graph API quoted in public bug reports where the docs name no code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, Literal

OnBad = Literal["drop", "reject"]
"""What the validator does with a bad value: drop it with a warning, or reject the row.
Meta itself always refuses the whole batch."""


@dataclass(frozen=True, slots=True)
class MetaError:
    """What Meta answers for an event that breaks a rule: HTTP 400, ``code`` 100, a subcode,
    ``error_user_title`` and, for the parameter errors, nothing more specific."""

    subcode: int
    title: str
    code: int = 100


BAD_FBC: Final = MetaError(2804001, "Invalid fbc Parameter")
TOO_OLD: Final = MetaError(2804003, "Event Timestamp Too Old")
MISSING_CURRENCY: Final = MetaError(2804010, "Missing Currency for Purchase Event")
NOT_HASHED: Final = MetaError(2804016, "Customer Information Not Hashed")
PARAMETER: Final = MetaError(2804019, "Server-side API parameter error")
INVALID_LEAD_ID: Final = MetaError(2804036, "Invalid Lead ID")
INSUFFICIENT: Final = MetaError(
    2804050, "You haven't added sufficient customer information parameter data for this event"
)
MESSAGING_CHANNEL_MISSING: Final = MetaError(2804063, "Messaging Channel Missing")
MESSAGING_EVENT_TYPE: Final = MetaError(2804066, "Messaging Event Invalid Event Type")
INVALID_CTWA_CLID: Final = MetaError(2804087, "Invalid ctwa_clid Parameter")

# Meta's wording for a Purchase without currency, as the live API answers it (quoted in public
# bug reports, with its typographic apostrophe).
MISSING_CURRENCY_MESSAGE: Final = (
    "Your purchase event doesn\u2019t include a currency parameter. Enter a currency parameter. "
    "For example: USD"
)

# ---- event time ------------------------------------------------------------------------

DAY_SECONDS: Final = 24 * 3600
EVENT_MAX_AGE_SECONDS: Final = 7 * DAY_SECONDS
PHYSICAL_STORE_MAX_AGE_SECONDS: Final = 62 * DAY_SECONDS
FUTURE_SKEW_SECONDS: Final = 60
"""How far ahead of Meta's clock an event_time may be: Meta refuses events "in the future";
a minute covers clocks that differ a little. One constant for the validator and the sandbox."""


def max_age_seconds(action_source: object) -> int:
    """The oldest event_time Meta takes, in seconds before now: 62 days for physical_store."""
    if action_source == "physical_store":
        return PHYSICAL_STORE_MAX_AGE_SECONDS
    return EVENT_MAX_AGE_SECONDS


# ---- action sources and what each requires -----------------------------------------------

ACTION_SOURCES: Final = frozenset(
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
WEBSITE_REQUIRES: Final = ("event_source_url", "client_user_agent")  # top level, user_data

# Meta refuses events whose customer keys are only a subset of one of these.
WEAK_KEY_COMBINATIONS: Final[tuple[frozenset[str], ...]] = (
    frozenset({"ct", "country", "st", "zp", "ge", "client_user_agent"}),
    frozenset({"db", "client_user_agent"}),
    frozenset({"fn", "ge"}),
    frozenset({"ln", "ge"}),
)
WEAK_KEYS: Final = frozenset().union(*WEAK_KEY_COMBINATIONS)  # outside it, no combo is weak

# ---- custom_data -------------------------------------------------------------------------

PURCHASE_REQUIRES: Final = ("currency", "value")  # Meta checks the currency first
CONTENT_TYPES: Final = frozenset({"product", "product_group"})
DELIVERY_CATEGORIES: Final = frozenset({"in_store", "curbside", "home_delivery"})
CUSTOMER_SEGMENTS: Final = frozenset(
    {
        "new_customer_to_business",
        "new_customer_to_business_line",
        "new_customer_to_product_area",
        "new_customer_to_medium",
        "existing_customer_to_business",
        "existing_customer_to_business_line",
        "existing_customer_to_product_area",
        "existing_customer_to_medium",
        "customer_in_loyalty_program",
    }
)
"""custom_data.customer_segmentation: Meta's fixed set (its own example puts it in custom_data)."""

# ---- app events --------------------------------------------------------------------------

APP_FLAGS: Final = ("advertiser_tracking_enabled", "application_tracking_enabled")
APP_FLAG_REQUIRED: Final = "advertiser_tracking_enabled"
APP_FLAG_VALUES: Final = (0, 1)  # integers: Meta answers `true` "out of range"
EXTINFO_SLOTS: Final = 16
EXTINFO_VERSIONS: Final = frozenset({"a2", "i2"})  # slot 0: Android, iOS

# ---- Limited Data Use --------------------------------------------------------------------

LDU: Final = "LDU"
LDU_COUNTRY: Final = "data_processing_options_country"
LDU_STATE: Final = "data_processing_options_state"
LDU_COUNTRIES: Final = frozenset({0, 1})  # 0: Meta geolocates, 1: USA
LDU_STATES: Final = frozenset({0, 1000})  # 0: Meta geolocates, 1000: California
LDU_STATE_NAMES: Final = (
    "California",
    "Colorado",
    "Connecticut",
    "Florida",
    "Texas",
    "Oregon",
    "Montana",
)
"""The US states Meta lists for Limited Data Use today ("Data Processing Options for US
Users"). Only California has a documented state code; for the others send 0 (geolocate)."""
LDU_HOW_TO: Final = (
    f"LDU applies to people in {', '.join(LDU_STATE_NAMES[:-1])} and {LDU_STATE_NAMES[-1]}: "
    f"send data_processing_options_country 1 (USA) or 0 (Meta geolocates), and "
    f"data_processing_options_state 1000 (California) or 0 (Meta geolocates); the state may "
    f"be left out when the event carries client_ip_address"
)

# ---- business messaging ------------------------------------------------------------------

MESSAGING_SOURCE: Final = "business_messaging"
MESSAGING_CHANNEL_KEYS: Final[dict[str, tuple[str, ...]]] = {
    "whatsapp": ("whatsapp_business_account_id", "ctwa_clid"),
    "messenger": ("page_id", "page_scoped_user_id"),
    "instagram": ("ig_account_id", "ig_sid"),
}
"""messaging_channel -> the user_data keys an event of that channel must carry."""
MESSAGING_CHANNELS: Final = frozenset(MESSAGING_CHANNEL_KEYS)
MESSAGING_EVENTS: Final = frozenset(
    {"Purchase", "LeadSubmitted", "InitiateCheckout", "AddToCart", "ViewContent"}
)
"""Event names Meta takes for business messaging; `Lead` and custom names get 2804066."""

# ---- conversion leads (CRM) --------------------------------------------------------------

LEAD_ID_DIGITS: Final = (15, 16)  # Meta's lead IDs are 15 or 16 digit integers
CRM_EVENT_SOURCE: Final = "crm"

# ---- shapes of raw user_data values -------------------------------------------------------

FBC_SHAPE: Final = re.compile(r"fb\.[0-2]\.\d{10,13}\.[^.\s]+(?:\.[^.\s]+)?")
"""fbc: fb.{subdomain_index 0-2}.{creation_time ms}.{fbclid}, an optional builder suffix."""
FBP_SHAPE: Final = re.compile(r"fb\.[0-2]\.\d{10,13}\.\d+(?:\.[^.\s]+)?")
"""fbp: fb.{subdomain_index 0-2}.{creation_time ms}.{random number}, an optional suffix."""
CTWA_CLID_SHAPE: Final = re.compile(r"[A-Za-z0-9_\-]{8,512}")
"""ctwa_clid: the click ID WhatsApp hands over, URL-safe characters only."""


def is_lead_id(value: object) -> bool:
    """An integer of 15 or 16 digits (not a bool, not a string): Meta's lead_id."""
    if type(value) is not int:
        return False
    number: int = value
    low, high = LEAD_ID_DIGITS
    return int(10 ** (low - 1)) <= number < int(10**high)


def is_app_flag(value: object) -> bool:
    """0 or 1 as an integer; ``True`` is refused ("out of range") although Python says 1."""
    return type(value) is int and value in APP_FLAG_VALUES


def is_extinfo(value: object) -> bool:
    """A list of exactly 16 slots whose slot 0 is a2 or i2."""
    if type(value) is not list or len(value) != EXTINFO_SLOTS:
        return False
    version: object = value[0]
    return type(version) is str and version in EXTINFO_VERSIONS
