"""`schedule:` -> next ticks: intervals on elapsed time, cron on a zone's wall clock, DST."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from capisync.config import load_project
from capisync.errors import ConfigError
from capisync.serve.schedule import ScheduleError, parse_schedule

BERLIN = ZoneInfo("Europe/Berlin")


def now() -> datetime:
    return datetime.fromtimestamp(time.time(), UTC)


def dst_change(zone: ZoneInfo, after: datetime, *, forward: bool) -> datetime:
    """The first whole UTC hour after `after` at which `zone`'s offset moves forward (spring)
    or back (autumn): found from the zone's rules, never a frozen date."""
    t = after.replace(minute=0, second=0, microsecond=0)
    while True:
        later = t + timedelta(hours=1)
        before, now_ = t.astimezone(zone).utcoffset(), later.astimezone(zone).utcoffset()
        assert before is not None and now_ is not None
        if before != now_ and (now_ > before) == forward:
            return later
        t = later


def fires(expr: str, zone: str | None, after: datetime, n: int) -> list[datetime]:
    schedule, out = parse_schedule(expr, zone), []
    for _ in range(n):
        after = schedule.next_fire(after)
        out.append(after)
    return out


def test_an_interval_ticks_on_multiples_of_itself_since_the_epoch_strictly_after() -> None:
    start = now()
    ticks = fires("every 15m", None, start, 4)
    assert all(t.timestamp() % 900 == 0 for t in ticks)
    assert ticks[0] > start and ticks[0] - start <= timedelta(minutes=15)
    assert [b - a for a, b in zip(ticks, ticks[1:], strict=False)] == [timedelta(minutes=15)] * 3
    # a tick is never returned for the moment it is asked after: the next one is
    assert parse_schedule("every 15m").next_fire(ticks[0]) == ticks[1]


def test_every_process_computes_the_same_ticks_whenever_it_started() -> None:
    start = now()
    a = fires("every 1h30m", None, start, 3)
    b = fires("every 1h30m", None, start + timedelta(seconds=7), 3)
    assert a == b and a[1] - a[0] == timedelta(seconds=5400)


def test_seconds_and_days_units() -> None:
    start = now()
    assert fires("every 30s", None, start, 2)[1] - fires("every 30s", None, start, 1)[0] == (
        timedelta(seconds=30)
    )
    assert fires("every 1d", None, start, 1)[0].time() == datetime.min.time()


def test_cron_in_utc_by_default() -> None:
    ticks = fires("*/15 * * * *", None, now(), 3)
    assert all(t.minute % 15 == 0 and t.second == 0 for t in ticks)
    assert ticks[2] - ticks[0] == timedelta(minutes=30)


def test_a_daily_cron_keeps_its_wall_clock_time_across_the_autumn_change() -> None:
    change = dst_change(BERLIN, now(), forward=False)
    ticks = fires("0 9 * * *", "Europe/Berlin", change - timedelta(days=2), 4)
    assert [t.astimezone(BERLIN).hour for t in ticks] == [9, 9, 9, 9]
    utc_hours = [t.hour for t in ticks]
    assert utc_hours[0] == 7 and utc_hours[-1] == 8  # CEST (UTC+2), then CET (UTC+1)
    gaps = {b - a for a, b in zip(ticks, ticks[1:], strict=False)}
    assert gaps == {timedelta(hours=24), timedelta(hours=25)}


def test_a_time_the_spring_change_skips_runs_once_right_after_the_gap() -> None:
    change = dst_change(BERLIN, now(), forward=True)  # 02:00 local becomes 03:00
    day_before = change - timedelta(hours=12)
    ticks = fires("30 2 * * *", "Europe/Berlin", day_before, 2)
    on_the_day = [t for t in ticks if t.astimezone(BERLIN).date() == change.date()]
    assert len(on_the_day) == 1
    assert on_the_day[0].astimezone(BERLIN).strftime("%H:%M") == "03:30"


def test_a_time_the_autumn_change_repeats_runs_once() -> None:
    change = dst_change(BERLIN, now(), forward=False)  # 03:00 local goes back to 02:00
    ticks = fires("30 2 * * *", "Europe/Berlin", change - timedelta(hours=12), 2)
    assert ticks[1] - ticks[0] > timedelta(hours=23)  # not 02:30 CEST and 02:30 CET
    assert ticks[0].astimezone(BERLIN).fold == 0


def test_a_wildcard_hour_cron_follows_elapsed_time_through_the_repeated_hour() -> None:
    change = dst_change(BERLIN, now(), forward=False)
    ticks = fires("*/30 * * * *", "Europe/Berlin", change - timedelta(hours=2), 8)
    assert {b - a for a, b in zip(ticks, ticks[1:], strict=False)} == {timedelta(minutes=30)}


def test_an_interval_ignores_dst_elapsed_time_only() -> None:
    change = dst_change(BERLIN, now(), forward=True)
    ticks = fires("every 1h", "Europe/Berlin", change - timedelta(hours=3), 6)
    assert {b - a for a, b in zip(ticks, ticks[1:], strict=False)} == {timedelta(hours=1)}


@pytest.mark.parametrize(
    ("written", "says"),
    [
        ("every 5 minutes", "a number and a unit"),
        ("every 0m", "no time at all"),
        ("*/15 * * *", "5 fields"),
        ("61 * * * *", "not a valid cron expression"),
        ("", "is empty"),
    ],
)
def test_a_schedule_it_cannot_read_says_how_to_write_it(written: str, says: str) -> None:
    with pytest.raises(ScheduleError, match=says):
        parse_schedule(written)


def write_project(root: Path, sync_extra: str) -> Path:
    file = root / "capisync.yml"
    file.write_text(f"""
syncs:
  purchases:
    source: {{duckdb: w.duckdb}}
    model: select 1 as order_id
    identifier: order_id
    destination: {{dataset_id: "1", access_token: "${{TOKEN}}"}}
{sync_extra}
""")
    return file


@pytest.mark.parametrize(
    ("extra", "field", "says"),
    [
        ("    schedule: every fortnight", "schedule", "a number and a unit"),
        ("    schedule: '0 9 * *'", "schedule", "5 fields"),
        (
            "    schedule: '0 9 * * *'\n    schedule_timezone: Mars/Olympus",
            "schedule_timezone",
            "IANA time zone",
        ),
        ("    schedule_timezone: UTC", "", "without `schedule:`"),
    ],
)
def test_a_bad_schedule_in_the_project_file_names_file_sync_and_field(
    tmp_path: Path, extra: str, field: str, says: str
) -> None:
    file = write_project(tmp_path, extra)
    with pytest.raises(ConfigError) as caught:
        load_project(file, env={"TOKEN": "t"})
    message = str(caught.value)
    assert "capisync.yml" in message and says in message
    assert f"syncs.purchases{'.' + field if field else ''}:" in message


def test_serve_token_read_from_the_environment_and_never_empty(tmp_path: Path) -> None:
    file = write_project(tmp_path, "    schedule: every 15m")
    text = file.read_text() + "serve:\n  token: ${API_TOKEN}\n"
    file.write_text(text)
    project = load_project(file, env={"TOKEN": "t", "API_TOKEN": "s3cret"})
    assert project.config.serve is not None and project.config.serve.token is not None
    assert project.config.serve.token.get_secret_value() == "s3cret"
    with pytest.raises(ConfigError, match="serve.token: is empty"):
        load_project(file, env={"TOKEN": "t", "API_TOKEN": " "})


def test_an_unset_serve_token_variable_fails_serve_only(tmp_path: Path) -> None:
    from capisync.serve.service import Service

    file = write_project(tmp_path, "    schedule: every 15m")
    file.write_text(file.read_text() + "serve:\n  token: ${API_TOKEN}\n")
    project = load_project(file, env={"TOKEN": "t"})  # `capisync run` loads it
    assert project.config.serve is None
    with pytest.raises(ConfigError, match="serve.token: environment variable API_TOKEN"):
        Service(project)


def test_serve_token_loses_surrounding_whitespace_and_refuses_what_a_header_cannot_carry(
    tmp_path: Path,
) -> None:
    from capisync.serve.service import Service

    # found by breaking serve: a token read from a file or a Kubernetes secret often ends in
    # a newline; clients cannot send it (a header value is stripped), so every request got 401
    file = write_project(tmp_path, "    schedule: every 15m")
    file.write_text(file.read_text() + "serve:\n  token: ${API_TOKEN}\n")
    project = load_project(file, env={"TOKEN": "t", "API_TOKEN": " s3cret-token\n"})
    assert project.config.serve is not None and project.config.serve.token is not None
    assert project.config.serve.token.get_secret_value() == "s3cret-token"
    for bad in ("s3cret-tökén", "s3cret\ttoken", "s3cret\x00token"):
        with pytest.raises(ConfigError, match="serve.token: holds a character") as caught:
            Service(load_project(file, env={"TOKEN": "t", "API_TOKEN": bad}))
        assert bad not in str(caught.value)
