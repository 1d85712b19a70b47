"""Quiet hours: reading windows, "quiet at instant T" (also across DST changes), and routing."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from routing_support import make_event, make_user, three_level_tree

from tocsin.model import Category, Severity, State
from tocsin.quiet import (
    QuietHoursError,
    QuietWindow,
    always_quiet,
    breaks_through,
    is_quiet,
    occurrences,
    quiet_until,
    window_from_dict,
    window_from_text,
    windows_from_data,
    windows_to_data,
)
from tocsin.routing import RoutingReason, Snapshot, route

TREE = three_level_tree()
BERLIN = "Europe/Berlin"
NIGHTS = window_from_text("mon-fri 22:00-07:00")
WEEKEND = window_from_text("sat,sun 00:00-00:00")
EVERY_NIGHT = window_from_text("mon-sun 22:00-07:00")


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# ---------------------------------------------------------------------- reading
def test_text_and_data_forms_read_the_same_window() -> None:
    assert QuietWindow(frozenset(range(5)), time(22), time(7)) == NIGHTS
    assert NIGHTS.text() == "mon-fri 22:00-07:00"
    assert WEEKEND.text() == "sat,sun 00:00-00:00"
    assert window_from_text("Monday,wed-fri 8:00-9:30").text() == "mon,wed-fri 08:00-09:30"
    assert window_from_text("fri-mon 20:00-06:00").days == frozenset({4, 5, 6, 0})
    assert window_from_text("fri-mon 20:00-06:00").text() == "fri-mon 20:00-06:00"
    assert window_from_text("sun-thu 22:00-07:00").text() == "sun-thu 22:00-07:00"
    assert window_from_text("sat-mon 22:00-07:00").text() == "sat-mon 22:00-07:00"
    assert window_from_text("sun,mon 22:00-07:00").text() == "sun,mon 22:00-07:00"
    data = windows_to_data([NIGHTS, WEEKEND])
    assert data[0] == {
        "days": ["mon", "tue", "wed", "thu", "fri"],
        "start": "22:00",
        "end": "07:00",
    }
    assert windows_from_data(data) == (NIGHTS, WEEKEND)
    assert windows_from_data(["mon-fri 22:00-07:00"]) == (NIGHTS,)
    assert windows_from_data(None) == windows_from_data([]) == ()
    assert windows_from_data([data[0], data[0]]) == (NIGHTS,)  # the same window twice: once


@pytest.mark.parametrize(
    ("raw", "field", "code"),
    [
        (
            [{"days": ["mon"], "start": "25:00", "end": "07:00"}],
            "quiet_hours[0].start",
            "quiet_time",
        ),
        ([{"days": ["mon"], "start": "22:00", "end": "7"}], "quiet_hours[0].end", "quiet_time"),
        ([{"days": ["mon"], "start": "22:00"}], "quiet_hours[0].end", "quiet_time"),
        (
            [{"days": ["someday"], "start": "22:00", "end": "07:00"}],
            "quiet_hours[0].days",
            "quiet_day",
        ),
        ([{"days": [], "start": "22:00", "end": "07:00"}], "quiet_hours[0].days", "quiet_no_days"),
        (
            [{"days": "mon", "start": "22:00", "end": "07:00"}],
            "quiet_hours[0].days",
            "quiet_no_days",
        ),
        (
            [{"days": ["mon"], "start": "1:00", "end": "2:00", "x": 1}],
            "quiet_hours[0]",
            "quiet_shape",
        ),
        (["mon 22:00"], "quiet_hours[0]", "quiet_text"),
        (["mon-fri 22:00-24:00"], "quiet_hours[0]", "quiet_time"),
        ("mon-fri 22:00-07:00", "quiet_hours", "quiet_shape"),
        ([NIGHTS.as_dict(), 5], "quiet_hours[1]", "quiet_shape"),
        (["mon 01:00-02:00"] * 15, "quiet_hours", "quiet_too_many"),
    ],
)
def test_bad_windows_are_refused_naming_the_field(raw: object, field: str, code: str) -> None:
    with pytest.raises(QuietHoursError) as info:
        windows_from_data(raw)
    assert (info.value.field, info.value.code) == (field, code)
    (issue,) = info.value.issues
    assert issue.field == field
    assert "{" not in issue.text("en")
    assert "{" not in issue.text("de")
    assert issue.text("en") != issue.text("de")


def test_a_window_needs_days_and_plain_minutes() -> None:
    with pytest.raises(QuietHoursError):
        QuietWindow(frozenset(), time(1), time(2))
    with pytest.raises(QuietHoursError):
        QuietWindow(frozenset({7}), time(1), time(2))
    with pytest.raises(QuietHoursError):
        QuietWindow(frozenset({0}), time(1, 0, 30), time(2))
    with pytest.raises(QuietHoursError):
        window_from_dict({"days": ["mon"], "start": 2200, "end": "07:00"})


# ---------------------------------------------------------------------- at an instant
def test_weekday_nights_and_the_whole_weekend() -> None:
    windows = (NIGHTS, WEEKEND)
    # Wednesday 2026-06-10 in Berlin (UTC+2): 21:59 awake, 22:00 quiet until Thursday 07:00.
    assert not is_quiet(windows, BERLIN, utc("2026-06-10T19:59"))
    assert is_quiet(windows, BERLIN, utc("2026-06-10T20:00"))
    assert quiet_until(windows, BERLIN, utc("2026-06-10T20:00")) == utc("2026-06-11T05:00")
    assert not is_quiet(windows, BERLIN, utc("2026-06-11T05:00"))
    # Friday 22:00 runs into the weekend: the windows join, until Monday 00:00 (the
    # weekday nights start Monday to Friday, so Sunday night is not one of them).
    assert quiet_until(windows, BERLIN, utc("2026-06-12T21:00")) == utc("2026-06-14T22:00")
    assert is_quiet(windows, BERLIN, utc("2026-06-14T12:00"))  # Sunday noon
    assert quiet_until(windows, BERLIN, utc("2026-06-14T21:59")) == utc("2026-06-14T22:00")
    assert not is_quiet(windows, BERLIN, utc("2026-06-14T22:00"))
    assert not is_quiet((), BERLIN, utc("2026-06-14T12:00"))
    assert quiet_until((), BERLIN, utc("2026-06-14T12:00")) is None


def test_always_quiet_only_when_no_hour_of_the_week_is_free() -> None:
    at = utc("2026-06-10T20:30")  # Wednesday 22:30 in Berlin
    every_day = window_from_text("mon-sun 00:00-00:00")
    assert always_quiet((every_day,), BERLIN, at)
    assert always_quiet((every_day, NIGHTS), BERLIN, utc("2026-03-29T00:30"))  # across DST
    # Nights and weekends join up from Friday to Monday, but Monday's day is free.
    assert not always_quiet((NIGHTS, WEEKEND), BERLIN, at)
    assert not always_quiet((window_from_text("mon-sat 00:00-00:00"),), BERLIN, at)
    assert not always_quiet((), BERLIN, at)
    with pytest.raises(ValueError, match="aware"):
        always_quiet((every_day,), BERLIN, datetime(2026, 6, 10, 20, 30))


def test_the_same_wall_clock_in_another_zone_is_another_instant() -> None:
    at = utc("2026-06-10T20:30")  # 22:30 in Berlin, 16:30 in New York
    assert is_quiet((NIGHTS,), BERLIN, at)
    assert not is_quiet((NIGHTS,), "America/New_York", at)
    assert not is_quiet((NIGHTS,), "Not/AZone", at)  # an unknown zone counts as UTC
    assert is_quiet((NIGHTS,), "Not/AZone", utc("2026-06-10T22:30"))


def test_always_quiet_reports_a_week_on_and_naive_instants_are_refused() -> None:
    always = (window_from_text("mon-sun 00:00-00:00"),)
    at = utc("2026-06-10T12:00")
    assert quiet_until(always, BERLIN, at) == at + timedelta(days=7)
    with pytest.raises(ValueError, match="aware"):
        is_quiet(always, BERLIN, datetime(2026, 6, 10, 12))


# ---------------------------------------------------------------------- DST
def test_a_night_window_across_the_spring_change_is_an_hour_shorter() -> None:
    # Europe/Berlin, Sunday 2026-03-29: 02:00 CET jumps to 03:00 CEST.
    windows = (EVERY_NIGHT,)
    assert not is_quiet(windows, BERLIN, utc("2026-03-28T20:59"))  # 21:59 CET
    assert is_quiet(windows, BERLIN, utc("2026-03-28T21:00"))  # 22:00 CET
    assert is_quiet(windows, BERLIN, utc("2026-03-29T01:00"))  # 03:00 CEST, just after
    assert quiet_until(windows, BERLIN, utc("2026-03-28T21:00")) == utc("2026-03-29T05:00")
    assert not is_quiet(windows, BERLIN, utc("2026-03-29T05:00"))  # 07:00 CEST
    start, end = next(occurrences(windows, BERLIN, date(2026, 3, 28), date(2026, 3, 28)))
    assert end - start == timedelta(hours=8)


def test_a_night_window_across_the_autumn_change_is_an_hour_longer() -> None:
    # Europe/Berlin, Sunday 2026-10-25: 03:00 CEST falls back to 02:00 CET.
    windows = (EVERY_NIGHT,)
    for at in ("2026-10-25T00:30", "2026-10-25T01:30"):  # 02:30 CEST and 02:30 CET
        assert is_quiet(windows, BERLIN, utc(at))
    assert quiet_until(windows, BERLIN, utc("2026-10-24T20:00")) == utc("2026-10-25T06:00")
    assert is_quiet(windows, BERLIN, utc("2026-10-25T05:59"))  # 06:59 CET
    assert not is_quiet(windows, BERLIN, utc("2026-10-25T06:00"))  # 07:00 CET
    start, end = next(occurrences(windows, BERLIN, date(2026, 10, 24), date(2026, 10, 24)))
    assert end - start == timedelta(hours=10)


def test_a_time_in_the_skipped_hour_happens_an_hour_later() -> None:
    window = window_from_text("sun 02:30-06:00")
    (start, end), *_ = occurrences((window,), BERLIN, date(2026, 3, 29), date(2026, 3, 29))
    assert start == utc("2026-03-29T01:30")  # 03:30 CEST: as if the clock had not jumped
    assert not is_quiet((window,), BERLIN, utc("2026-03-29T01:15"))  # 03:15 CEST
    assert is_quiet((window,), BERLIN, utc("2026-03-29T01:30"))
    ends_in_gap = window_from_text("sun 01:00-02:30")
    (_, end), *_ = occurrences((ends_in_gap,), BERLIN, date(2026, 3, 29), date(2026, 3, 29))
    assert end == utc("2026-03-29T01:30")


def test_a_time_in_the_repeated_hour_means_its_first_pass() -> None:
    window = window_from_text("sun 01:00-02:30")
    (start, end), *_ = occurrences((window,), BERLIN, date(2026, 10, 25), date(2026, 10, 25))
    assert end == utc("2026-10-25T00:30")  # 02:30 CEST, the first 02:30
    assert not is_quiet((window,), BERLIN, utc("2026-10-25T01:30"))  # 02:30 CET: over
    starts = window_from_text("sun 02:30-04:00")
    (start, _), *_ = occurrences((starts,), BERLIN, date(2026, 10, 25), date(2026, 10, 25))
    assert start == utc("2026-10-25T00:30")


# ---------------------------------------------------------------------- properties
minutes = st.integers(min_value=0, max_value=23 * 60 + 59).map(lambda m: time(m // 60, m % 60))
windows_strategy = st.lists(
    st.builds(QuietWindow, st.frozensets(st.integers(0, 6), min_size=1), minutes, minutes),
    min_size=1,
    max_size=4,
)
instants = st.datetimes(
    min_value=datetime(2024, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(UTC)
)
ZONES = ("UTC", "Asia/Kolkata", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe")


def _wall_clock_quiet(windows: list[QuietWindow], zone: str, at: datetime) -> bool:
    """The reference: the local wall clock inside a window started today or yesterday."""
    local = at.astimezone(ZoneInfo(zone)).replace(tzinfo=None)
    for window in windows:
        for back in (0, 1):
            day = local.date() - timedelta(days=back)
            if day.weekday() not in window.days:
                continue
            start = datetime.combine(day, window.start)
            end_day = day + timedelta(days=1) if window.crosses_midnight else day
            if start <= local < datetime.combine(end_day, window.end):
                return True
    return False


def _steady(zone: str, at: datetime) -> bool:
    """No change of the zone's offset within two days of ``at``."""
    tz = ZoneInfo(zone)
    offsets = {(at + timedelta(hours=h)).astimezone(tz).utcoffset() for h in range(-50, 51, 1)}
    return len(offsets) == 1


@settings(max_examples=300)
@given(windows_strategy, st.sampled_from(ZONES), instants)
def test_away_from_dst_changes_quiet_is_the_wall_clock_in_a_window(windows, zone, at):
    assume(_steady(zone, at))
    assert is_quiet(windows, zone, at) is _wall_clock_quiet(windows, zone, at)


@settings(max_examples=300)
@given(windows_strategy, st.sampled_from(ZONES), instants)
def test_quiet_until_is_the_first_awake_instant(windows, zone, at):
    until = quiet_until(windows, zone, at)
    assert (until is None) is not is_quiet(windows, zone, at)
    if until is not None and until < at + timedelta(days=7):
        assert until > at
        assert is_quiet(windows, zone, until - timedelta(seconds=1))
        assert not is_quiet(windows, zone, until)


@settings(max_examples=200)
@given(
    windows_strategy,
    st.sampled_from(ZONES),
    instants,
    st.sampled_from(list(Category)),
    st.sampled_from(list(Severity)),
    st.sampled_from(list(State)),
)
def test_routing_holds_exactly_the_quiet_users_unless_the_alarm_breaks_through(
    windows, zone, at, category, severity, state
):
    quiet = make_user("quiet", "site", quiet_hours=tuple(windows), time_zone=zone)
    awake = make_user("awake", "site")
    event = make_event(group_id="office", category=category, severity=severity, state=state)
    told = frozenset({"quiet", "awake"})
    decision = route(
        event, tree=TREE, users=[quiet, awake], snapshot=Snapshot(told_of_raise=told, at=at)
    )
    held = is_quiet(windows, zone, at) and not breaks_through(category)
    reason = decision.reason_for("quiet")
    assert reason is (RoutingReason.QUIET_HOURS if held else None)
    assert reason is not RoutingReason.QUIET_HOURS or category not in {
        Category.FIRE,
        Category.SABOTAGE,
    }
    assert decision.reason_for("awake") is None
    # Without an instant, routing treats nobody as quiet (and reads no clock).
    assert route(event, tree=TREE, users=[quiet], snapshot=Snapshot(told_of_raise=told)).send


def test_quiet_holds_before_the_hourly_cap_and_reports_its_reason() -> None:
    night = utc("2026-06-10T21:00")  # 23:00 in Berlin, a Wednesday
    quiet = make_user("quiet", "site", quiet_hours=(NIGHTS,), time_zone=BERLIN)
    event = make_event(group_id="office", category=Category.ALWAYS, severity=Severity.WARNING)
    decision = route(event, tree=TREE, users=[quiet], snapshot=Snapshot(at=night))
    assert decision.held == (quiet,)
    assert decision.held_reason("quiet") is RoutingReason.QUIET_HOURS
    fire = route(make_event(), tree=TREE, users=[quiet], snapshot=Snapshot(at=night))
    assert fire.send == (quiet,)


@given(windows_strategy)
def test_a_window_reads_back_from_its_own_text_and_data(windows):
    for window in windows:
        assert window_from_text(window.text()) == window
        assert window_from_dict(window.as_dict()) == window
