"""The slot engine: examples for each rule, DST weeks, and hypothesis properties."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from itertools import pairwise
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

from generator.availability import (
    calendar_window,
    check_slot,
    open_slots,
    spread,
)
from generator.config.settings import (
    Availability,
    BookingRules,
    CallType,
    DayRange,
    Owner,
    Settings,
    load_settings,
)
from generator.domain import Busy, Slot

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
M = timedelta(minutes=1)
H = timedelta(hours=1)


def make(
    *,
    tz: str = "Europe/Berlin",
    hours: str | list[str] | None = "09:00-12:00",
    weekly: tuple[tuple[DayRange, ...], ...] | None = None,
    dates: tuple[tuple[date, tuple[DayRange, ...]], ...] = (),
    closed: tuple[tuple[date, date], ...] = (),
    calls: tuple[tuple[str, int, int], ...] = (("call", 30, 30),),
    **rules: object,
) -> Settings:
    """Settings for one test: the same ``hours`` every day unless ``weekly`` is given."""
    if weekly is None:
        texts = [hours] if isinstance(hours, str) else (hours or [])
        day = tuple(_range(t) for t in texts)
        weekly = tuple(day for _ in range(7))
    return Settings(
        owner=Owner(name="Test", timezone=tz),
        call_types=tuple(
            CallType(slug=slug, title=slug, duration=d * M, step=s * M) for slug, d, s in calls
        ),
        availability=Availability(weekly=weekly, dates=dates, closed=closed),
        booking=BookingRules(**rules),  # type: ignore[arg-type]
    )


def _range(text: str) -> DayRange:
    a, b = text.split("-")
    minutes = [int(x[:2]) * 60 + int(x[3:]) for x in (a, b)]
    return DayRange(minutes[0], minutes[1])


def local(text: str, tz: ZoneInfo = BERLIN, fold: int = 0) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=tz, fold=fold).astimezone(UTC)


def walls(slots: list[Slot], tz: ZoneInfo = BERLIN) -> list[str]:
    return [s.start.astimezone(tz).strftime("%Y-%m-%d %H:%M%z") for s in slots]


def hhmm(slots: list[Slot], tz: ZoneInfo = BERLIN) -> list[str]:
    return [s.start.astimezone(tz).strftime("%H:%M") for s in slots]


# Monday 30 November 2026, 07:00 in Berlin: a plain week with no DST change.
MONDAY_MORNING = local("2026-11-30 07:00")


def one_day(settings: Settings, now: datetime = MONDAY_MORNING, **kw: object) -> list[Slot]:
    """The slots of the local day of ``now``."""
    day = now.astimezone(settings.tz).date()
    return [
        s
        for s in open_slots(settings, kw.pop("busy", []), now, **kw)  # type: ignore[arg-type]
        if s.start.astimezone(settings.tz).date() == day
    ]


# --------------------------------------------------------------------------
# Grid, fit, several call types


def test_slots_lie_on_the_grid_of_each_open_range_and_fit_inside_it():
    settings = make(hours=["09:00-11:00", "14:00-15:15"])
    assert hhmm(one_day(settings)) == ["09:00", "09:30", "10:00", "10:30", "14:00", "14:30"]
    assert all(s.end - s.start == 30 * M for s in one_day(settings))


def test_step_shorter_than_the_duration_gives_overlapping_starts_of_one_type():
    settings = make(calls=(("long", 60, 30),))
    assert hhmm(one_day(settings)) == ["09:00", "09:30", "10:00", "10:30", "11:00"]


def test_grid_starts_at_each_range_start_not_at_midnight():
    settings = make(hours="09:10-10:30", calls=(("c", 20, 25),))
    assert hhmm(one_day(settings)) == ["09:10", "09:35", "10:00"]


def test_several_call_types_sorted_by_start_then_slug_and_filtered_by_slug():
    settings = make(hours="09:00-10:00", calls=(("b-long", 60, 30), ("a-short", 30, 30)))
    slots = one_day(settings)
    assert [(hhmm([s])[0], s.call_type) for s in slots] == [
        ("09:00", "a-short"),
        ("09:00", "b-long"),
        ("09:30", "a-short"),
    ]
    only = one_day(settings, call_types=["b-long"])
    assert [s.call_type for s in only] == ["b-long"]


def test_slots_are_in_utc():
    slot = one_day(make())[0]
    assert slot.start.utcoffset() == timedelta(0)
    assert slot.start == datetime(2026, 11, 30, 8, 0, tzinfo=UTC)


# --------------------------------------------------------------------------
# Busy time, buffers, booked calls


def test_busy_interval_widened_by_buffers_blocks_every_touching_slot():
    busy = [Busy(local("2026-11-30 10:00"), local("2026-11-30 10:30"))]
    plain = make(hours="09:00-12:00")
    assert hhmm(one_day(plain, busy=busy)) == ["09:00", "09:30", "10:30", "11:00", "11:30"]
    buffered = make(hours="09:00-12:00", buffer_before=10 * M, buffer_after=40 * M)
    # [09:50, 11:10) is blocked: 09:30-10:00 and everything up to 11:00-11:30 goes.
    assert hhmm(one_day(buffered, busy=busy)) == ["09:00", "11:30"]


def test_busy_time_ending_exactly_at_a_slot_start_does_not_block_it():
    busy = [Busy(local("2026-11-30 08:00"), local("2026-11-30 09:00"))]
    assert hhmm(one_day(make(), busy=busy))[0] == "09:00"


def test_booked_calls_block_like_busy_time_with_buffers():
    booked = [Busy(local("2026-11-30 10:00"), local("2026-11-30 10:30"))]
    settings = make(buffer_after=30 * M)
    assert hhmm(one_day(settings, booked=booked)) == ["09:00", "09:30", "11:00", "11:30"]


def test_a_day_full_of_booked_calls_offers_nothing_but_other_days_do():
    booked = [
        Busy(local("2026-11-30 09:00"), local("2026-11-30 09:30")),
        Busy(local("2026-11-30 11:00"), local("2026-11-30 11:30")),
    ]
    full = make(max_per_day=2, horizon=timedelta(days=2))
    days = {
        s.start.astimezone(BERLIN).date()
        for s in open_slots(full, [], MONDAY_MORNING, booked=booked)
    }
    assert days == {date(2026, 12, 1)}
    # With capacity left the day offers all its free slots; the handler enforces the count.
    roomy = make(max_per_day=3)
    assert hhmm(one_day(roomy, booked=booked)) == ["09:30", "10:00", "10:30", "11:30"]


def test_busy_time_does_not_count_toward_max_per_day():
    busy = [Busy(local("2026-11-30 09:00"), local("2026-11-30 09:30"))]
    assert hhmm(one_day(make(max_per_day=1), busy=busy))[0] == "09:30"


# --------------------------------------------------------------------------
# Notice, horizon, date overrides


def test_notice_hides_starts_too_soon():
    settings = make(notice=2 * H + 30 * M)  # now 07:00 -> first start 09:30
    assert hhmm(one_day(settings))[0] == "09:30"


def test_horizon_ends_before_the_same_time_days_later():
    settings = make(horizon=timedelta(days=1, hours=3))  # until Tuesday 10:00, exclusive
    slots = open_slots(settings, [], MONDAY_MORNING)
    assert walls(slots)[-2:] == ["2026-12-01 09:00+0100", "2026-12-01 09:30+0100"]


def test_now_in_another_zone_means_the_same_instant():
    settings = make(notice=2 * H + 30 * M)
    assert open_slots(settings, [], MONDAY_MORNING.astimezone(NEW_YORK)) == open_slots(
        settings, [], MONDAY_MORNING
    )


def test_date_overrides_and_closed_ranges():
    settings = make(
        horizon=timedelta(days=5),
        dates=(
            (date(2026, 12, 1), (DayRange(14 * 60, 15 * 60),)),  # special hours
            (date(2026, 12, 2), ()),  # closed on that date
        ),
        closed=((date(2026, 12, 3), date(2026, 12, 4)),),  # vacation, inclusive
    )
    by_day: dict[date, list[str]] = {}
    for s in open_slots(settings, [], MONDAY_MORNING):
        by_day.setdefault(s.start.astimezone(BERLIN).date(), []).append(hhmm([s])[0])
    assert by_day == {
        date(2026, 11, 30): ["09:00", "09:30", "10:00", "10:30", "11:00", "11:30"],
        date(2026, 12, 1): ["14:00", "14:30"],
    }


def test_weekly_hours_follow_the_weekday():
    monday_only = tuple((DayRange(600, 660),) if i == 0 else () for i in range(7))
    slots = open_slots(make(weekly=monday_only, horizon=timedelta(days=14)), [], MONDAY_MORNING)
    assert {s.start.astimezone(BERLIN).date() for s in slots} == {
        date(2026, 11, 30),
        date(2026, 12, 7),
    }


# --------------------------------------------------------------------------
# DST: Europe/Berlin springs forward on 29 March 2026 (02:00 -> 03:00) and
# falls back on 25 October 2026 (03:00 -> 02:00); New York on 8 March and 1 November.


def test_spring_forward_skips_nonexistent_wall_times_and_keeps_real_durations():
    settings = make(hours="00:00-24:00", calls=(("h", 60, 60),))
    slots = one_day(settings, local("2026-03-29 00:00"))
    assert len(slots) == 23  # the day has 23 real hours
    assert "02:00" not in hhmm(slots)
    assert all(s.end - s.start == H for s in slots)
    assert all(a.end <= b.start for a, b in pairwise(slots))
    assert slots[-1].end == local("2026-03-30 00:00")


def test_spring_forward_with_a_step_longer_than_the_gap_keeps_slots_apart():
    settings = make(hours="00:00-06:00", calls=(("c", 90, 90),))
    slots = one_day(settings, local("2026-03-29 00:00"))
    # Wall 03:00 is only 30 real minutes after 01:30: dropped, the grid goes on at 04:30.
    assert walls(slots) == [
        "2026-03-29 00:00+0100",
        "2026-03-29 01:30+0100",
        "2026-03-29 04:30+0200",
    ]


def test_range_starting_inside_the_gap_opens_when_the_clocks_jump():
    settings = make(hours="02:15-04:00", calls=(("c", 30, 15),))
    slots = one_day(settings, local("2026-03-29 00:00"))
    assert hhmm(slots) == ["03:00", "03:15", "03:30"]


def test_fall_back_day_holds_25_real_hours_without_duplicate_or_overlapping_slots():
    settings = make(hours="00:00-24:00", calls=(("h", 60, 60),))
    slots = one_day(settings, local("2026-10-25 00:00"))
    assert len(slots) == 25
    assert len({s.start for s in slots}) == 25
    assert all(a.end <= b.start for a, b in pairwise(slots))
    assert walls(slots)[2:4] == ["2026-10-25 02:00+0200", "2026-10-25 02:00+0100"]
    assert slots[-1].end == local("2026-10-26 00:00")


def test_fall_back_with_a_step_longer_than_the_repeated_hour_keeps_slots_apart():
    settings = make(hours="02:00-06:00", calls=(("c", 90, 90),))
    slots = one_day(settings, local("2026-10-25 00:00"))
    assert walls(slots) == ["2026-10-25 02:00+0200", "2026-10-25 03:30+0100"]
    assert all(a.end <= b.start for a, b in pairwise(slots))


def test_range_ending_in_the_repeated_hour_ends_at_its_first_occurrence():
    settings = make(hours="01:00-02:30", calls=(("c", 30, 30),))
    slots = one_day(settings, local("2026-10-25 00:00"))
    assert walls(slots) == [
        "2026-10-25 01:00+0200",
        "2026-10-25 01:30+0200",
        "2026-10-25 02:00+0200",
    ]


def test_office_hours_in_dst_weeks_stay_on_local_time():
    settings = make(hours="09:00-10:00", calls=(("c", 60, 60),), horizon=timedelta(days=3))
    slots = open_slots(settings, [], local("2026-03-28 00:00"))
    assert [s.start.astimezone(BERLIN).strftime("%H:%M") for s in slots] == ["09:00"] * 3
    assert [s.start.hour for s in slots] == [8, 7, 7]  # UTC moves with the clocks


def test_new_york_dst_days():
    settings = make(tz="America/New_York", hours="00:00-24:00", calls=(("c", 30, 30),))
    spring = one_day(settings, local("2026-03-08 00:00", NEW_YORK))
    fall = one_day(settings, local("2026-11-01 00:00", NEW_YORK))
    assert (len(spring), len(fall)) == (46, 50)
    assert "02:00" not in hhmm(spring, NEW_YORK)
    assert hhmm(fall, NEW_YORK).count("01:30") == 2


# --------------------------------------------------------------------------
# Offers per day


def test_spread_picks_first_last_and_evenly_between():
    starts = [datetime(2026, 11, 30, 9, tzinfo=UTC) + k * 30 * M for k in range(16)]  # 9:00..16:30
    picked = [s.strftime("%H:%M") for s in spread(starts, 3)]
    assert picked == ["09:00", "12:30", "16:30"]  # 12:45 is as close to 12:30 as 13:00: earlier
    assert [s.strftime("%H:%M") for s in spread(starts, 2)] == ["09:00", "16:30"]
    assert [s.strftime("%H:%M") for s in spread(starts, 1)] == ["09:00"]
    assert spread(starts, None) == starts
    assert spread(starts[:2], 3) == starts[:2]
    assert len(set(spread(starts, 15))) == 15


def test_offers_per_day_picks_among_free_starts_per_type_and_is_deterministic():
    busy = [Busy(local("2026-11-30 09:00"), local("2026-11-30 10:00"))]
    settings = make(hours="09:00-17:00", offers_per_day=3, calls=(("a", 30, 30), ("b", 60, 60)))
    slots = one_day(settings, busy=busy)
    per_type = {t: hhmm([s for s in slots if s.call_type == t]) for t in ("a", "b")}
    assert per_type == {"a": ["10:00", "13:00", "16:30"], "b": ["10:00", "13:00", "16:00"]}
    assert one_day(settings, busy=list(reversed(busy))) == slots


# --------------------------------------------------------------------------
# check_slot: the handler's re-check


def test_check_slot_accepts_offered_slots_and_names_each_reason():
    settings = make(notice=H, horizon=timedelta(days=2), max_per_day=1, buffer_after=15 * M)
    now = MONDAY_MORNING
    good = Slot(local("2026-11-30 10:00"), local("2026-11-30 10:30"), "call")
    assert check_slot(settings, good, now) is None

    def moved(start: str, minutes: int = 30, call: str = "call") -> Slot:
        return Slot(local(start), local(start) + minutes * M, call)

    assert check_slot(settings, moved("2026-11-30 10:00", call="nope"), now) == "unknown_call_type"
    assert check_slot(settings, moved("2026-11-30 10:00", 45), now) == "grid"
    assert check_slot(settings, moved("2026-11-30 10:10"), now) == "grid"
    assert check_slot(settings, moved("2026-11-30 07:30"), now) == "notice"
    assert check_slot(settings, moved("2026-12-02 09:00"), now) == "horizon"
    assert check_slot(settings, moved("2026-11-30 12:00"), now) == "hours"
    assert check_slot(settings, moved("2026-11-30 11:45"), now) == "hours"  # runs past 12:00
    busy = [Busy(local("2026-11-30 09:00"), local("2026-11-30 09:50"))]  # +15m buffer: 10:05
    assert check_slot(settings, good, now, busy=busy) == "busy"
    booked = [Busy(local("2026-11-30 11:30"), local("2026-11-30 12:00"))]
    assert check_slot(settings, good, now, booked=booked) == "full"


def test_check_slot_knows_date_overrides():
    settings = make(dates=((date(2026, 11, 30), ()),))
    slot = Slot(local("2026-11-30 10:00"), local("2026-11-30 10:30"), "call")
    assert check_slot(settings, slot, MONDAY_MORNING) == "hours"


def test_check_slot_accepts_both_occurrences_of_a_repeated_wall_time():
    settings = make(hours="00:00-24:00", calls=(("c", 30, 30),))
    now = local("2026-10-24 00:00")
    for fold in (0, 1):
        start = local("2026-10-25 02:30", fold=fold)
        assert check_slot(settings, Slot(start, start + 30 * M, "c"), now) is None


# --------------------------------------------------------------------------
# calendar_window, settings_for_check, the example content


def test_calendar_window_covers_horizon_buffers_and_a_day_of_margin():
    settings = make(
        horizon=timedelta(days=14),
        buffer_before=10 * M,
        buffer_after=20 * M,
        calls=(("a", 30, 30), ("b", 90, 30)),
    )
    start, end = calendar_window(settings, MONDAY_MORNING)
    assert start == MONDAY_MORNING - timedelta(days=1, minutes=20)
    assert end == MONDAY_MORNING + timedelta(days=15, minutes=100)
    assert start.tzinfo == UTC and end.tzinfo == UTC


def test_example_content_offers_slots():
    settings = load_settings("content/site.toml")
    slots = open_slots(settings, [], MONDAY_MORNING)
    assert slots
    assert {s.call_type for s in slots} == {c.slug for c in settings.call_types}
    assert all(check_slot(settings, s, MONDAY_MORNING) is None for s in slots)


# --------------------------------------------------------------------------
# Properties (hypothesis)

ZONES = ["Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "UTC", "Asia/Kolkata"]
# Days just before DST changes (and plain days), so random windows cross them.
BASE_DAYS = [
    date(2026, 3, 6),
    date(2026, 3, 27),
    date(2026, 4, 3),
    date(2026, 6, 15),
    date(2026, 10, 2),
    date(2026, 10, 23),
    date(2026, 10, 30),
    date(2026, 11, 30),
]


@st.composite
def day_ranges(draw: st.DrawFn) -> tuple[DayRange, ...]:
    """0-3 sorted, disjoint ranges on a 15-minute raster, sometimes the whole day."""
    if draw(st.booleans()) and draw(st.booleans()):
        return (DayRange(0, 1440),)
    points = sorted(set(draw(st.lists(st.integers(0, 96), max_size=6))))
    points = points[: len(points) // 2 * 2]
    return tuple(DayRange(a * 15, b * 15) for a, b in zip(points[::2], points[1::2], strict=True))


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[Settings, datetime, list[Busy], list[Busy]]:
    tz = draw(st.sampled_from(ZONES))
    zone = ZoneInfo(tz)
    base = datetime.combine(draw(st.sampled_from(BASE_DAYS)), time(), zone)
    now = (base + draw(st.integers(0, 3 * 24 * 60)) * M).astimezone(UTC)
    weekly = tuple(draw(day_ranges()) for _ in range(7))
    horizon_days = draw(st.integers(1, 4))
    override_days = draw(st.lists(st.integers(0, horizon_days), max_size=2, unique=True))
    dates = tuple(
        sorted(
            (now.astimezone(zone).date() + timedelta(days=d), draw(day_ranges()))
            for d in override_days
        )
    )
    closed = ()
    if draw(st.booleans()):
        first = now.astimezone(zone).date() + timedelta(days=draw(st.integers(0, horizon_days)))
        closed = ((first, first + timedelta(days=draw(st.integers(0, 1)))),)
    calls = []
    for i in range(draw(st.integers(1, 2))):
        duration = draw(st.sampled_from([15, 20, 30, 45, 60, 90, 120]))
        step = draw(st.sampled_from([10, 15, 20, 25, 30, 45, 60, 90, 120]))
        calls.append(CallType(f"t{i}", f"t{i}", duration * M, step * M))
    rules = BookingRules(
        notice=draw(st.integers(0, 24)) * 15 * M,
        horizon=timedelta(days=horizon_days, minutes=draw(st.integers(0, 1439))),
        buffer_before=draw(st.sampled_from([0, 5, 10, 30])) * M,
        buffer_after=draw(st.sampled_from([0, 5, 15, 45])) * M,
        max_per_day=draw(st.none() | st.integers(1, 3)),
        offers_per_day=draw(st.none() | st.integers(1, 4)),
    )
    settings = Settings(
        owner=Owner("P", tz),
        call_types=tuple(calls),
        availability=Availability(weekly=weekly, dates=dates, closed=closed),
        booking=rules,
    )

    def intervals(max_size: int, longest: int) -> list[Busy]:
        spans = draw(
            st.lists(
                st.tuples(
                    st.integers(-12 * 60, (horizon_days + 1) * 1440), st.integers(1, longest)
                ),
                max_size=max_size,
            )
        )
        return [Busy(now + a * M, now + (a + n) * M) for a, n in spans]

    return settings, now, intervals(12, 300), intervals(3, 90)


@cache
def first_at_or_after(tz: str, wall: datetime) -> datetime:
    """Oracle by brute force: scan minutes for the first instant showing ``wall`` or later."""
    zone = ZoneInfo(tz)
    moment = wall.replace(tzinfo=UTC) - timedelta(hours=15)
    while moment.astimezone(zone).replace(tzinfo=None) < wall:
        moment += M
    return moment


PROPERTY = hyp_settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@PROPERTY
@given(scenarios())
def test_property_every_slot_respects_every_rule(scenario):
    settings, now, busy, booked = scenario
    zone, rules = settings.tz, settings.booking
    slots = open_slots(settings, busy, now, booked=booked)
    assert slots == sorted(slots, key=lambda s: (s.start, s.call_type))
    per_day_booked: dict[date, int] = {}
    for b in booked:
        d = b.start.astimezone(zone).date()
        per_day_booked[d] = per_day_booked.get(d, 0) + 1
    for slot in slots:
        call = settings.call_type(slot.call_type)
        assert call is not None
        assert slot.end - slot.start == call.duration
        assert now + rules.notice <= slot.start < now + rules.horizon
        for b in [*busy, *booked]:  # never during busy time, buffers included
            assert (
                slot.end <= b.start - rules.buffer_before
                or slot.start >= b.end + rules.buffer_after
            )
        day = slot.start.astimezone(zone).date()
        midnight = datetime.combine(day, time())
        wall = slot.start.astimezone(zone).replace(tzinfo=None)
        assert any(  # inside an open range of its local day, on that range's grid
            first_at_or_after(zone.key, midnight + r.start * M) <= slot.start
            and slot.end <= first_at_or_after(zone.key, midnight + r.end * M)
            and (wall - midnight - r.start * M) % call.step == timedelta(0)
            for r in settings.availability.ranges_for(day)
        )
        if rules.max_per_day is not None:
            assert per_day_booked.get(day, 0) < rules.max_per_day
        if rules.offers_per_day is not None:
            same = [
                s
                for s in slots
                if s.call_type == slot.call_type and s.start.astimezone(zone).date() == day
            ]
            assert len(same) <= rules.offers_per_day
    for call in settings.call_types:  # unique starts per type; no overlap if step >= duration
        mine = [s for s in slots if s.call_type == call.slug]
        assert len({s.start for s in mine}) == len(mine)
        if call.step >= call.duration:
            assert all(a.end <= b.start for a, b in pairwise(mine))
    for slot in random.Random(0).sample(slots, min(len(slots), 25)):
        assert check_slot(settings, slot, now, busy=busy, booked=booked) is None


@PROPERTY
@given(scenarios(), st.randoms(use_true_random=False))
def test_property_deterministic_window_complete_and_offers_a_subset(scenario, rnd):
    settings, now, busy, booked = scenario
    slots = open_slots(settings, busy, now, booked=booked)
    shuffled_busy, shuffled_booked = busy[:], booked[:]
    rnd.shuffle(shuffled_busy)
    rnd.shuffle(shuffled_booked)
    assert open_slots(settings, shuffled_busy, now, booked=shuffled_booked) == slots
    # Busy time outside calendar_window never changes the answer.
    start, end = calendar_window(settings, now)
    inside = [b for b in busy if b.end > start and b.start < end]
    assert open_slots(settings, inside, now, booked=booked) == slots
    # Offers are a subset of all open slots; all open slots are exactly the grid starts
    # that check_slot accepts.
    every = open_slots(
        Settings(
            owner=settings.owner,
            call_types=settings.call_types,
            availability=settings.availability,
            booking=BookingRules(**{**vars(settings.booking), "offers_per_day": None}),
        ),
        busy,
        now,
        booked=booked,
    )
    assert set(slots) <= set(every)
    zone = settings.tz
    candidates = set()
    day = now.astimezone(zone).date() - timedelta(days=1)
    while datetime.combine(day, time(), zone) < now + settings.booking.horizon + timedelta(days=1):
        for r in settings.availability.ranges_for(day):
            for call in settings.call_types:
                wall = datetime.combine(day, time()) + r.start * M
                while wall < datetime.combine(day, time()) + r.end * M:
                    for fold in (0, 1):
                        start_ = wall.replace(tzinfo=zone, fold=fold).astimezone(UTC)
                        candidates.add(Slot(start_, start_ + call.duration, call.slug))
                    wall += call.step
        day += timedelta(days=1)
    accepted = {
        c for c in candidates if check_slot(settings, c, now, busy=busy, booked=booked) is None
    }
    assert accepted == set(every)
