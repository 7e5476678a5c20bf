"""Graph API versions as data: when each was released and until when Meta serves it.

The Conversions API (`POST /{version}/{dataset_id}/events`) follows the Graph API's schedule:
every version works for at least two years, until two years after the release of the version
that follows it. Source: Meta's Graph API changelog, "Available Graph API Versions"
(https://developers.facebook.com/docs/graph-api/changelog/versions) and "Platform Versioning"
(https://developers.facebook.com/docs/graph-api/guides/versioning). The Marketing API's own
table (ads management endpoints) expires versions sooner; it does not apply to these calls.

Which version is current is decided from `today` (a `datetime.date`, UTC), which the caller
passes in: nothing here reads a clock. A version is

    unreleased   in the table, released after today (Meta does not serve it yet)
    current      released, and today is on or before its last day (or no end date is set)
    expired      today is after its last day ("Available Until")
    unknown      not a version Meta has documented (a typo, or newer than this table)

When Meta publishes a new version or an end date, add or complete its row in VERSIONS.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Final, Literal

EXPIRY_WARNING_DAYS: Final = 90  # `capisync check` warns this many days before the last day

_NAME = re.compile(r"v(\d+)\.(\d+)")

Status = Literal["unreleased", "current", "expired", "unknown"]


@dataclass(frozen=True, slots=True)
class ApiVersion:
    """One Graph API version, e.g. `v25.0`, released 2026-02-18, served until 2028-07-29.

    `available_until` is the last day Meta serves the version (the changelog's "Available
    Until"); None while Meta has not announced one ("TBD").
    """

    name: str
    released: date
    available_until: date | None

    def status(self, today: date) -> Status:
        if today < self.released:
            return "unreleased"
        if self.available_until is not None and today > self.available_until:
            return "expired"
        return "current"

    def days_left(self, today: date) -> int | None:
        """Whole days from `today` to the last day it is served (0: today is the last day)."""
        if self.available_until is None:
            return None
        return (self.available_until - today).days


def _v(name: str, released: str, until: str | None) -> ApiVersion:
    return ApiVersion(
        name, date.fromisoformat(released), None if until is None else date.fromisoformat(until)
    )


# Newest first, as in Meta's changelog. Dates are Meta's, day for day.
VERSIONS: Final[tuple[ApiVersion, ...]] = (
    _v("v27.0", "2026-11-04", None),
    _v("v26.0", "2026-07-29", None),
    _v("v25.0", "2026-02-18", "2028-07-29"),
    _v("v24.0", "2025-10-08", "2028-02-18"),
    _v("v23.0", "2025-05-29", "2027-10-08"),
    _v("v22.0", "2025-01-21", "2027-05-20"),
    _v("v21.0", "2024-10-02", "2027-01-21"),
    _v("v20.0", "2024-05-21", "2026-09-24"),
    _v("v19.0", "2024-01-23", "2026-05-21"),
    _v("v18.0", "2023-09-12", "2026-01-26"),
    _v("v17.0", "2023-05-23", "2025-09-12"),
    _v("v16.0", "2023-02-02", "2025-05-14"),
    _v("v15.0", "2022-09-15", "2024-11-20"),
    _v("v14.0", "2022-05-25", "2024-09-17"),
    _v("v13.0", "2022-02-08", "2024-05-28"),
    _v("v12.0", "2021-09-14", "2024-02-08"),
    _v("v11.0", "2021-06-08", "2023-09-14"),
    _v("v10.0", "2021-02-23", "2023-06-08"),
    _v("v9.0", "2020-11-10", "2023-02-23"),
    _v("v8.0", "2020-08-04", "2022-11-01"),
    _v("v7.0", "2020-05-05", "2022-08-04"),
    _v("v6.0", "2020-02-03", "2022-05-05"),
    _v("v5.0", "2019-10-29", "2022-02-03"),
    _v("v4.0", "2019-07-29", "2021-11-02"),
    _v("v3.3", "2019-04-30", "2021-08-03"),
    _v("v3.2", "2018-10-23", "2021-05-04"),
    _v("v3.1", "2018-07-26", "2020-10-27"),
    _v("v3.0", "2018-05-01", "2020-07-28"),
    _v("v2.12", "2018-01-30", "2020-05-05"),
    _v("v2.11", "2017-11-07", "2020-01-28"),
    _v("v2.10", "2017-07-18", "2019-11-07"),
    _v("v2.9", "2017-04-18", "2019-07-22"),
    _v("v2.8", "2016-10-05", "2019-04-18"),
    _v("v2.7", "2016-07-13", "2018-10-05"),
    _v("v2.6", "2016-04-12", "2018-07-13"),
    _v("v2.5", "2015-10-07", "2018-04-12"),
    _v("v2.4", "2015-07-08", "2017-10-09"),
    _v("v2.3", "2015-03-25", "2017-07-10"),
    _v("v2.2", "2014-10-30", "2017-03-27"),
    _v("v2.1", "2014-08-07", "2016-10-31"),
    _v("v2.0", "2014-04-30", "2016-08-08"),
    _v("v1.0", "2010-04-21", "2015-04-30"),
)

_BY_NAME: Final[dict[str, ApiVersion]] = {v.name: v for v in VERSIONS}


def day_of(now: float) -> date:
    """The UTC calendar day of `now` (UNIX seconds): the `today` the functions here take."""
    return datetime.fromtimestamp(now, UTC).date()


def parse_name(name: str) -> tuple[int, int] | None:
    """`"v25.0"` -> (25, 0); anything not shaped `v<major>.<minor>` -> None."""
    match = _NAME.fullmatch(name)
    if match is None:
        return None
    return int(match.group(1)), int(match.group(2))


def find(name: str) -> ApiVersion | None:
    """The documented version called `name` exactly (`v25.0`), or None."""
    return _BY_NAME.get(name)


def status_of(name: str, today: date) -> Status:
    version = find(name)
    return "unknown" if version is None else version.status(today)


def served(today: date) -> list[ApiVersion]:
    """Versions Meta serves on `today`, newest first."""
    return [v for v in VERSIONS if v.status(today) == "current"]


def newest(today: date) -> ApiVersion:
    """The newest version released on or before `today`: capisync's default `api_version`.

    Raises LookupError for a date before any version was released (a wrong clock).
    """
    for version in VERSIONS:
        if version.released <= today:
            return version
    raise LookupError(f"no Graph API version had been released on {today.isoformat()}")


def newest_name(now: float) -> str:
    """The name of the newest version on the UTC day of `now` (UNIX seconds), e.g. "v27.0"."""
    return newest(day_of(now)).name


def oldest_available(today: date) -> ApiVersion:
    """The oldest version still served on `today`: where Meta sends a call to an expired one."""
    available = served(today)
    if not available:
        raise LookupError(f"no Graph API version is served on {today.isoformat()}")
    return available[-1]


@dataclass(frozen=True, slots=True)
class VersionNotice:
    """What a person should hear about a configured version on `today`.

    `level` is "ok", "warning" (expires within EXPIRY_WARNING_DAYS, or unknown to this table:
    possibly newer than capisync) or "error" (expired, or not released yet).
    """

    level: Literal["ok", "warning", "error"]
    message: str


def notice(name: str, today: date) -> VersionNotice:
    """Judge a configured `api_version` on `today`; every message names a version to move to."""
    move = _move_to(name, today)
    version = find(name)
    if version is None:
        return VersionNotice(
            "warning",
            f"api_version {name} is not a Graph API version capisync knows (newest known: "
            f"{VERSIONS[0].name}); if Meta has not released it, requests fail with 'Unknown "
            f"path components': {move}",
        )
    state = version.status(today)
    if state == "unreleased":
        return VersionNotice(
            "error",
            f"api_version {name} is released on {version.released.isoformat()}; until then "
            f"Meta answers 'Unknown path components': {move}",
        )
    if state == "expired":
        return VersionNotice(
            "error",
            f"api_version {name} expired on {_last_day(version)}: Meta refuses it (code 2635) "
            f"or silently upgrades it; {move}",
        )
    return _current_notice(version, today, move)


def _current_notice(version: ApiVersion, today: date, move: str) -> VersionNotice:
    left = version.days_left(today)
    if left is None:
        return VersionNotice("ok", f"api_version {version.name} is current (no end date yet)")
    if left > EXPIRY_WARNING_DAYS:
        message = f"api_version {version.name} is current (served until {_last_day(version)})"
        return VersionNotice("ok", message)
    when = "today" if left == 0 else f"in {left} day{'s' if left != 1 else ''}"
    message = f"api_version {version.name} is served until {_last_day(version)} ({when}): {move}"
    return VersionNotice("warning", message)


def _move_to(name: str, today: date) -> str:
    target = newest(today).name
    if target == name:  # nothing newer in the table: the table itself is behind Meta
        return "upgrade capisync, whose table of Graph API versions is out of date"
    return f"set destination.api_version to {target} (or remove it: the default is the newest)"


def _last_day(version: ApiVersion) -> str:
    return "?" if version.available_until is None else version.available_until.isoformat()
