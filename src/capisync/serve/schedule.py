"""A sync's `schedule:` as an APScheduler 3.x trigger, and when it fires next (pure).

    schedule: every 15m                 # elapsed time: every 15 minutes, at :00 :15 :30 :45
    schedule: "*/15 * * * *"            # a crontab line (minute hour day month weekday)
    schedule_timezone: Europe/Berlin    # the cron's wall clock (IANA name; default UTC)

An interval (`every 30s`, `every 15m`, `every 1h30m`, `every 1d`) counts elapsed seconds from
the Unix epoch, in UTC, whatever `schedule_timezone` says: every process computes the same
ticks (two `serve` processes on one ledger claim the same tick, state/ticks.py), and a DST
change neither doubles nor drops a tick. A cron expression reads the wall clock of
`schedule_timezone` (APScheduler's CronTrigger with a zoneinfo zone: a daily "0 9 * * *" in
Europe/Berlin fires at 07:00 UTC in summer and 08:00 UTC in winter). Across a DST change,
as cron does: a time the spring change skips (02:30 on that night in Berlin) runs at the
first time after the gap (03:30 local); a time the autumn change repeats runs once, at its
first occurrence, unless the hour field is a wildcard (`*`, `*/2`), whose schedule follows
elapsed time through the repeated hour.

Raises ScheduleError (a ValueError: the project file's validation names the file, sync and
field) for a schedule or time zone it cannot read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger  # type: ignore[import-untyped]
from apscheduler.triggers.interval import IntervalTrigger  # type: ignore[import-untyped]

UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_INTERVAL = re.compile(r"every\s+((?:\d+\s*[smhd]\s*)+)", re.IGNORECASE)
_PART = re.compile(r"(\d+)\s*([smhd])", re.IGNORECASE)
MIN_INTERVAL_SECONDS = 1
EXAMPLES = "'every 15m', 'every 1h', 'every 30s' or a cron expression such as '*/15 * * * *'"


class ScheduleError(ValueError):
    """A `schedule:` or `schedule_timezone:` that cannot be read; the message says how to
    write it, and quotes only the schedule (never a secret: schedules hold none)."""


@dataclass(frozen=True)
class Schedule:
    """A parsed schedule: `text` as written, `timezone` (IANA name) and its trigger."""

    text: str
    timezone: str
    trigger: Any  # apscheduler IntervalTrigger | CronTrigger (untyped library)
    interval_seconds: int | None  # for `every ...`; None for a cron expression
    once_in_repeated_hour: bool = False  # a cron with a fixed hour: see the module docstring

    def next_fire(self, after: datetime) -> datetime:
        """The first tick strictly after `after` (an aware datetime), as an aware datetime
        in UTC. Both triggers fire on whole seconds."""
        if after.tzinfo is None:
            raise ValueError("next_fire needs an aware datetime (the clock's time in UTC)")
        fire = self.trigger.get_next_fire_time(None, after + timedelta(microseconds=1))
        if fire is None:  # neither trigger has an end date; kept for a clear failure
            raise ScheduleError(f"schedule '{self.text}' never fires again")
        fired: datetime = fire.astimezone(UTC)
        if fired <= after:  # an interval tick exactly at `after` (sub-microsecond rounding)
            return self.next_fire(after + timedelta(seconds=1))
        if self.once_in_repeated_hour and _second_occurrence(fired, ZoneInfo(self.timezone)):
            return self.next_fire(fired)
        return fired

    def next_fire_ts(self, after: float) -> float:
        """next_fire on epoch seconds: what the injected clock gives and the ledger keeps."""
        return self.next_fire(datetime.fromtimestamp(after, UTC)).timestamp()


def parse_schedule(text: str, timezone: str | None = None) -> Schedule:
    """`every 15m` / `every 1h30m` / a 5-field cron line, with an IANA zone (default UTC).
    Raises ScheduleError saying what to write."""
    zone_name = timezone or "UTC"
    zone = parse_timezone(zone_name)
    written = text.strip()
    if not written:
        raise ScheduleError(f"is empty: write {EXAMPLES}")
    interval = _INTERVAL.fullmatch(written)
    if interval is not None:
        seconds = sum(int(n) * UNIT_SECONDS[u.lower()] for n, u in _PART.findall(interval[1]))
        if seconds < MIN_INTERVAL_SECONDS:
            raise ScheduleError(f"'{written}' is no time at all: write {EXAMPLES}")
        epoch = datetime.fromtimestamp(0, UTC)
        trigger = IntervalTrigger(seconds=seconds, start_date=epoch, timezone=UTC)
        return Schedule(written, zone_name, trigger, seconds)
    if written.lower().startswith("every"):
        raise ScheduleError(
            f"'{written}': an interval is a number and a unit (s, m, h, d), e.g. 'every 15m' "
            "or 'every 1h30m'"
        )
    fields = written.split()
    if len(fields) != 5:
        raise ScheduleError(
            f"'{written}' is neither an interval nor a cron expression (5 fields: minute hour "
            f"day-of-month month day-of-week, found {len(fields)}): write {EXAMPLES}"
        )
    try:
        trigger = CronTrigger.from_crontab(written, timezone=zone)
    except ValueError as exc:
        raise ScheduleError(f"'{written}' is not a valid cron expression ({exc})") from None
    return Schedule(written, zone_name, trigger, None, not fields[1].startswith("*"))


def _second_occurrence(moment: datetime, zone: ZoneInfo) -> bool:
    """Whether `moment` is the second time its wall-clock time occurs in `zone` (the hour an
    autumn DST change repeats)."""
    local = moment.astimezone(zone)
    return local.fold == 1 and local.replace(fold=0).utcoffset() != local.utcoffset()


def parse_timezone(name: str) -> ZoneInfo:
    """An IANA zone; raises ScheduleError for any other name."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(
            f"'{name}' is not an IANA time zone name: write one such as 'UTC' or 'Europe/Berlin'"
        ) from None
