"""What counts as customer information in an identifier or an event_id (capi/personal.py)."""

from __future__ import annotations

import pytest

from capisync.capi.personal import column_may_look_personal, looks_personal, personal_reason


@pytest.mark.parametrize(
    "text",
    [
        "someone@example.com",
        "lead-someone@example.com",  # the reported template "lead-{email}"
        "Purchase:Jane.Doe@Example.COM:1001",  # in the middle, uppercase
        "jane+promo@example.co.uk",  # a plus tag
        "  JOHN_SMITH@GMAIL.COM  ",
        "josé@exämple.fr",  # international address
        "user@xn--80ak6aa92e.xn--p1ai",  # punycode domain
        "+16505551212",
        "+1 (650) 555-1212",
        "lead:+33 6 12 34 56 78",
        "+44.20.7946.0958",
        "(650) 555-1212",
        "call-(0)20 7946 0958",
        "someone＠example.com",  # full-width at sign (NFKC: @)
        "someone﹫example.com",  # small commercial at
        "ｓｏｍｅｏｎｅ＠ｅｘａｍｐｌｅ．ｃｏｍ",  # all full-width
        "＋１ ６５０ ５５５ １２１２",  # full-width plus and digits
        "+1\u00a0650\u00a0555\u00a01212",  # no-break spaces
        "+1 650\u2013555\u20131212",  # en dashes
        "(650)\u2011555\u22121212",  # non-breaking hyphen, minus sign
    ],
)
def test_emails_and_phones_anywhere_in_the_text_are_personal(text: str) -> None:
    assert looks_personal(text)


@pytest.mark.parametrize(
    "text",
    [
        "1001",
        "Purchase:1001",
        "o-12345",
        "2026-11-30-0001",  # digits and dashes: an ID, not judged
        "1234567890123456",  # a 16-digit lead_id
        "650 555 1212",  # plain digits are order numbers too: not judged at run time
        "order@shop",  # no domain
        "release@2026.11",  # a numeric "domain": no address
        "@example.com",  # nothing before the @
        "+1001",  # too few digits for a phone
        "A+16505551212",  # glued to a word
        "score+12345678",
        "(12)",
        "fb.1.1554763741205.AbCdEfGh",
        "",
    ],
)
def test_ids_are_not_personal(text: str) -> None:
    assert not looks_personal(text)


@pytest.mark.parametrize(
    ("column", "fed", "expected"),
    [
        ("contact", ["em"], "it feeds em, which Meta requires hashed"),
        ("x", ["ph", "external_id"], "it feeds ph, which Meta requires hashed"),
        ("user_id", ["external_id"], None),  # the advertiser's ID: allowed
        ("email", [], "its name is that of em, which Meta requires hashed"),
        ("phoneNumber2", [], "its name says phone"),
        ("order_id", [], None),
        ("event_name", [], None),
        ("product_name", [], None),
        ("ip_address", ["client_ip_address"], None),  # sent unhashed by Meta's own rules
    ],
)
def test_personal_reason(column: str, fed: list[str], expected: str | None) -> None:
    assert personal_reason(column, fed) == expected


@pytest.mark.parametrize(
    ("cells", "may"),
    [
        (["o-1", "o-2", None, 17, -3], False),  # the usual column: skipped as a whole
        ([], False),
        (["o-1", "a@b.co"], True),
        (["o-1", "+16505551212"], True),
        (["o-1", "(650) 555-1212"], True),
        (["o-1", "a＠b.co"], True),  # not ASCII: NFKC may make an @ of it
        (["o-1", True], True),  # not an int: its text is checked row by row
        (["o-1", 1.5], True),
        (["o-1", b"a@b.co"], True),
    ],
)
def test_a_column_is_skipped_only_when_no_cell_can_look_personal(
    cells: list[object], may: bool
) -> None:
    assert column_may_look_personal(cells) is may
    if not may:
        assert not any(looks_personal(str(c)) for c in cells if c is not None)
