"""Graph API versions as data: which one is current is decided by the date passed in."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from capisync.capi import versions
from capisync.capi.versions import EXPIRY_WARNING_DAYS, VERSIONS

D = date.fromisoformat


@pytest.mark.parametrize(
    ("today", "newest"),
    [
        ("2026-07-28", "v25.0"),  # the day before v26.0
        ("2026-07-29", "v26.0"),  # v26.0's release day
        ("2026-11-03", "v26.0"),  # the day before v27.0
        ("2026-11-04", "v27.0"),  # v27.0's release day
        ("2027-06-01", "v27.0"),
        ("2025-10-08", "v24.0"),
        ("2014-04-30", "v2.0"),
    ],
)
def test_the_default_is_the_newest_released_on_the_day(today: str, newest: str) -> None:
    assert versions.newest(D(today)).name == newest


@pytest.mark.parametrize(
    ("name", "today", "status"),
    [
        ("v27.0", "2026-11-03", "unreleased"),
        ("v27.0", "2026-11-04", "current"),
        ("v26.0", "2026-07-28", "unreleased"),
        ("v21.0", "2027-01-21", "current"),  # its last day ("Available Until")
        ("v21.0", "2027-01-22", "expired"),
        ("v20.0", "2026-09-24", "current"),
        ("v20.0", "2026-09-25", "expired"),
        ("v22.0", "2027-05-20", "current"),
        ("v22.0", "2027-05-21", "expired"),
        ("v25.0", "2028-07-29", "current"),
        ("v25.0", "2028-07-30", "expired"),
        ("v12.0", "2026-11-30", "expired"),
        ("v2.12", "2026-11-30", "expired"),
        ("v99.0", "2026-11-30", "unknown"),
        ("v25.1", "2026-11-30", "unknown"),
        ("25.0", "2026-11-30", "unknown"),
    ],
)
def test_status_by_date(name: str, today: str, status: str) -> None:
    assert versions.status_of(name, D(today)) == status


@pytest.mark.parametrize(
    ("today", "oldest"),
    [("2026-09-24", "v20.0"), ("2026-09-25", "v21.0"), ("2027-01-22", "v22.0")],
)
def test_an_expired_version_goes_to_the_oldest_still_served(today: str, oldest: str) -> None:
    assert versions.oldest_available(D(today)).name == oldest


def test_the_table_is_newest_first_and_every_version_is_served_before_it_ends() -> None:
    numbers = [versions.parse_name(v.name) for v in VERSIONS]
    assert all(n is not None for n in numbers)
    assert numbers == sorted(numbers, reverse=True)  # type: ignore[type-var]
    assert [v.released for v in VERSIONS] == sorted((v.released for v in VERSIONS), reverse=True)
    for version in VERSIONS:
        assert version.available_until is None or version.available_until > version.released
    assert len({v.name for v in VERSIONS}) == len(VERSIONS)


@given(st.dates(min_value=D("2010-04-21"), max_value=D("2035-12-31")))
def test_the_default_is_always_a_current_version(today: date) -> None:
    default = versions.newest(today)
    assert default.status(today) == "current"
    assert versions.notice(default.name, today).level in ("ok", "warning")


@given(
    st.sampled_from([v for v in VERSIONS if v.available_until is not None]),
    st.integers(min_value=-400, max_value=400),
)
def test_the_warning_fires_within_90_days_of_the_last_day(
    version: versions.ApiVersion, offset: int
) -> None:
    assert version.available_until is not None
    today = version.available_until - timedelta(days=offset)
    if today < version.released:
        return
    level = versions.notice(version.name, today).level
    if offset < 0:
        assert level == "error"  # expired
    elif offset <= EXPIRY_WARNING_DAYS and versions.newest(today).name != version.name:
        assert level == "warning"
    elif offset > EXPIRY_WARNING_DAYS:
        assert level == "ok"


def test_the_90_day_warning_names_the_day_and_the_version_to_move_to() -> None:
    on_the_day = versions.notice("v21.0", D("2026-10-23"))  # 90 days before 2027-01-21
    assert on_the_day.level == "warning"
    assert "2027-01-21" in on_the_day.message and "in 90 days" in on_the_day.message
    assert "v26.0" in on_the_day.message  # v27.0 is not out yet on that day
    assert versions.notice("v21.0", D("2026-10-22")).level == "ok"
    later = versions.notice("v21.0", D("2026-11-30"))
    assert later.level == "warning" and "v27.0" in later.message
    last_day = versions.notice("v21.0", D("2027-01-21"))
    assert last_day.level == "warning" and "(today)" in last_day.message


def test_expired_unreleased_and_unknown_versions_say_what_to_do() -> None:
    expired = versions.notice("v21.0", D("2027-01-22"))
    assert expired.level == "error"
    assert "expired on 2027-01-21" in expired.message and "v27.0" in expired.message
    assert "destination.api_version" in expired.message
    early = versions.notice("v27.0", D("2026-11-03"))
    assert early.level == "error"
    assert "2026-11-04" in early.message and "v26.0" in early.message
    unknown = versions.notice("v99.0", D("2026-11-30"))
    assert unknown.level == "warning" and "v27.0" in unknown.message
    current = versions.notice("v25.0", D("2026-11-30"))
    assert current.level == "ok" and "2028-07-29" in current.message


def test_when_the_table_is_behind_meta_the_advice_is_to_upgrade_capisync(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # a table whose newest version already has an end date: there is nothing newer to name
    table = (versions.ApiVersion("v27.0", D("2026-11-04"), D("2028-12-01")), *VERSIONS[1:])
    monkeypatch.setattr(versions, "VERSIONS", table)
    monkeypatch.setattr(versions, "_BY_NAME", {v.name: v for v in table})
    notice = versions.notice("v27.0", D("2028-11-01"))
    assert notice.level == "warning" and "upgrade capisync" in notice.message


def test_the_day_is_utc() -> None:
    just_before = datetime(2026, 11, 3, 23, 59, 59, tzinfo=UTC).timestamp()
    assert versions.newest_name(just_before) == "v26.0"
    assert versions.newest_name(just_before + 1) == "v27.0"


def test_no_version_before_the_first_release() -> None:
    with pytest.raises(LookupError):
        versions.newest(D("2009-01-01"))
