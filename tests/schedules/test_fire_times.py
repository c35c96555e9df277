"""Fire-time math (pure functions, fixed instants) and declaration errors."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

import taskheap
from taskheap.schedule import Schedule


def local_fires(expression: str, tz: str, start: dt.datetime, count: int) -> list[str]:
    zone = ZoneInfo(tz)
    after = start.replace(tzinfo=zone).timestamp()
    fires = Schedule("s", "t", expression, tz=tz).next_fires(after, count)
    return [dt.datetime.fromtimestamp(t, zone).isoformat() for t in fires]


@pytest.mark.parametrize(
    ("tz", "day", "fires"),
    [
        # spring forward 02:00 -> 03:00: the skipped 02:30 fires once, at the end of the gap
        (
            "Europe/Paris",
            dt.datetime(2026, 3, 28, 12),
            ["2026-03-29T03:00:00+02:00", "2026-03-30T02:30:00+02:00"],
        ),
        # fall back 03:00 -> 02:00: the repeated 02:30 fires once, its first occurrence
        (
            "Europe/Paris",
            dt.datetime(2026, 10, 24, 12),
            ["2026-10-25T02:30:00+02:00", "2026-10-26T02:30:00+01:00"],
        ),
        (
            "US/Pacific",
            dt.datetime(2026, 3, 7, 12),
            ["2026-03-08T03:00:00-07:00", "2026-03-09T02:30:00-07:00"],
        ),
        (
            "US/Pacific",
            dt.datetime(2026, 10, 31, 12),
            ["2026-11-01T01:30:00-07:00", "2026-11-02T01:30:00-08:00"],
        ),
    ],
)
def test_fixed_hour_fires_once_across_dst(tz: str, day: dt.datetime, fires: list[str]) -> None:
    hour = "1" if fires[0].startswith("2026-11-01") else "2"
    assert local_fires(f"30 {hour} * * *", tz, day, 2) == fires


def test_wildcard_hour_fires_every_real_hour() -> None:
    spring = local_fires("30 * * * *", "Europe/Paris", dt.datetime(2026, 3, 29, 0, 45), 3)
    assert spring == ["2026-03-29T01:30:00+01:00", "2026-03-29T03:30:00+02:00", "2026-03-29T04:30:00+02:00"]
    autumn = local_fires("30 * * * *", "Europe/Paris", dt.datetime(2026, 10, 25, 1, 45), 3)
    assert autumn == ["2026-10-25T02:30:00+02:00", "2026-10-25T02:30:00+01:00", "2026-10-25T03:30:00+01:00"]


def test_half_hour_shift_of_lord_howe() -> None:
    # 02:00 -> 02:30 in October: 02:15 does not exist and fires at 02:30
    october = local_fires("15 2 * * *", "Australia/Lord_Howe", dt.datetime(2026, 10, 3, 12), 2)
    assert october == ["2026-10-04T02:30:00+11:00", "2026-10-05T02:15:00+11:00"]
    # 02:00 -> 01:30 in April: 01:45 happens twice and fires once
    april = local_fires("45 1 * * *", "Australia/Lord_Howe", dt.datetime(2026, 4, 4, 12), 2)
    assert april == ["2026-04-05T01:45:00+11:00", "2026-04-06T01:45:00+10:30"]


def test_chatham_shift_at_a_quarter_to() -> None:
    # Chatham (UTC+12:45/+13:45) springs forward 02:45 -> 03:45 on the last Sunday of September
    fires = local_fires("0 3 * * *", "Pacific/Chatham", dt.datetime(2026, 9, 26, 12), 2)
    assert fires == ["2026-09-27T03:45:00+13:45", "2026-09-28T03:00:00+13:45"]


def test_every_is_aligned_to_the_epoch() -> None:
    schedule = Schedule("s", "t", every=30.0)
    assert schedule.next_fires(95.0, 3) == [120.0, 150.0, 180.0]
    assert schedule.fires_between(90.0, 150.0) == [120.0, 150.0]


def test_declaration_errors_name_the_problem() -> None:
    app = taskheap.App("sqlite:///:memory:")

    @app.task
    def report(kind: str) -> None: ...

    with pytest.raises(ValueError, match="exactly one of cron= or every="):
        app.schedule(report, args=["x"])
    with pytest.raises(ValueError, match="bad cron expression"):
        app.schedule(report, cron="61 * * * *", args=["x"])
    with pytest.raises(ValueError, match="unknown time zone 'Mars/Olympus'"):
        app.schedule(report, cron="0 8 * * mon", tz="Mars/Olympus", args=["x"])
    with pytest.raises(ValueError, match="every must be > 0"):
        app.schedule(report, every=0, args=["x"])
    with pytest.raises(TypeError, match="args do not fit"):
        app.schedule(report, every=5)
    app.schedule(report, cron="0 8 * * mon", args=["weekly"], name="weekly")
    with pytest.raises(ValueError, match="'weekly' is already registered"):
        app.schedule(report, every=5, args=["x"], name="weekly")

    @app.periodic(every=30.0, queue="ops", priority=2)
    def heartbeat_check() -> None: ...

    assert app.schedules[heartbeat_check.name].every == 30.0
    assert heartbeat_check.defaults.queue == "ops"
