"""`callslot stats`: the numbers an owner reviews after a test phase, from hand-made bookings."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from generator.commands.stats import (
    compute_stats,
    format_json,
    format_table,
    held_sentence,
    plot_stats,
)
from generator.domain import Booking

BERLIN = ZoneInfo("Europe/Berlin")


def booking(
    id_: str,
    start: str,
    *,
    created: str,
    topic: str = "Vertrag",
    status: str = "confirmed",
    outcome: str | None = None,
    minutes: int = 30,
) -> Booking:
    """A booking whose call starts at ``start`` (Berlin wall-clock time)."""
    begin = datetime.fromisoformat(start).replace(tzinfo=BERLIN).astimezone(UTC)
    made = datetime.fromisoformat(created).replace(tzinfo=BERLIN).astimezone(UTC)
    return Booking(
        id=id_,
        call_type="rueckruf",
        start=begin,
        end=begin + timedelta(minutes=minutes),
        name="Max",
        phone="+49 30 1",
        email="",
        topic=topic,
        note="",
        who_calls="owner",
        language="de",
        caller_timezone="",
        created_at=made,
        status=status,
        cancelled_at=made + timedelta(hours=1) if status == "cancelled" else None,
        outcome=outcome,
    )


@pytest.fixture
def sample() -> list[Booking]:
    return [
        # ISO week 49 of 2026: Mon 30 Nov .. Sun 6 Dec
        booking(
            "a", "2026-11-30T09:00", created="2026-11-29T09:00", topic="Vertrag", outcome="held"
        ),
        booking(
            "b", "2026-11-30T10:30", created="2026-11-30T08:30", topic=" vertrag ", outcome="held"
        ),
        booking(
            "c", "2026-12-01T09:00", created="2026-11-28T09:00", topic="Steuer", outcome="missed"
        ),
        booking(
            "d", "2026-12-02T14:00", created="2026-12-01T14:00", topic="VERTRAG", status="cancelled"
        ),
        # ISO week 50
        booking("e", "2026-12-07T09:30", created="2026-12-06T09:30", topic="Angebot  Müller"),
        booking("f", "2026-12-08T09:00", created="2026-12-07T21:00", topic="angebot müller"),
    ]


def test_calls_and_cancellations_are_counted_per_iso_week(sample: list[Booking]) -> None:
    stats = compute_stats(sample, tz=BERLIN, since=None)
    assert stats.total == 6 and stats.confirmed == 5 and stats.cancelled == 1
    assert [(w.week, w.booked, w.cancelled) for w in stats.weeks] == [
        ("2026-W49", 3, 1),
        ("2026-W50", 2, 0),
    ]


def test_week_follows_the_owners_local_time_not_utc() -> None:
    # Monday 00:30 in Berlin is still Sunday (week 49) in UTC.
    early = booking("x", "2026-12-07T00:30", created="2026-12-01T12:00")
    stats = compute_stats([early], tz=BERLIN, since=None)
    assert [w.week for w in stats.weeks] == ["2026-W50"]
    assert stats.weekdays == (("Monday", 1),)
    assert stats.hours == ((0, 1),)


def test_average_and_median_notice_between_booking_and_call(sample: list[Booking]) -> None:
    stats = compute_stats(sample, tz=BERLIN, since=None)
    notices_h = [24, 2, 72, 24, 24, 12]
    assert stats.notice_average == timedelta(hours=sum(notices_h) / len(notices_h))
    assert stats.notice_median == timedelta(hours=24)


def test_topics_are_case_folded_and_trimmed(sample: list[Booking]) -> None:
    stats = compute_stats(sample, tz=BERLIN, since=None)
    assert stats.topics == (("vertrag", 3), ("angebot müller", 2), ("steuer", 1))


def test_busiest_weekdays_and_hours_count_confirmed_calls_only(sample: list[Booking]) -> None:
    stats = compute_stats(sample, tz=BERLIN, since=None)
    # The cancelled Wednesday call does not make Wednesday busy.
    assert stats.weekdays == (("Monday", 3), ("Tuesday", 2))
    assert stats.hours == ((9, 4), (10, 1))


def test_share_of_marked_calls_that_took_place(sample: list[Booking]) -> None:
    now = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)  # after e, before f
    stats = compute_stats(sample, tz=BERLIN, since=None, now=now)
    assert (stats.held, stats.missed) == (2, 1)
    assert stats.held_share == pytest.approx(2 / 3)
    assert stats.unmarked == 1  # e is over and not marked
    assert stats.upcoming == 1  # f


def test_share_is_none_while_nothing_is_marked() -> None:
    stats = compute_stats(
        [booking("a", "2026-11-30T09:00", created="2026-11-29T09:00")], tz=BERLIN, since=None
    )
    assert stats.held_share is None
    assert "none marked yet" in format_table(stats)


def test_since_leaves_out_earlier_calls(sample: list[Booking]) -> None:
    since = datetime(2026, 12, 7, tzinfo=BERLIN)
    stats = compute_stats(sample, tz=BERLIN, since=since)
    assert stats.total == 2
    assert [w.week for w in stats.weeks] == ["2026-W50"]


def test_no_bookings_gives_a_helpful_table_and_empty_json() -> None:
    stats = compute_stats([], tz=BERLIN, since=None)
    assert stats.total == 0 and stats.notice_average is None
    assert "No bookings yet" in format_table(stats)
    data = json.loads(format_json(stats))
    assert data["total"] == 0 and data["weeks"] == [] and data["held_share"] is None


def test_table_and_json_show_the_numbers(sample: list[Booking]) -> None:
    stats = compute_stats(sample, tz=BERLIN, since=None)
    table = format_table(stats)
    assert "2026-W49" in table and "vertrag (3)" in table
    assert "2 of 3 calls took place (67%)" in table
    data = json.loads(format_json(stats))
    assert {k: data["weeks"][0][k] for k in ("week", "booked", "cancelled", "monday")} == {
        "week": "2026-W49", "booked": 3, "cancelled": 1, "monday": "2026-11-30"}
    assert data["topics"][0] == {"topic": "vertrag", "count": 3}
    assert data["notice_median_minutes"] == 24 * 60
    assert data["held_share"] == pytest.approx(2 / 3)


def _assert_real_picture(path: Path) -> None:
    import matplotlib.image

    assert path.stat().st_size > 10_000  # a drawn chart, not an empty file
    pixels = matplotlib.image.imread(str(path))
    height, width = pixels.shape[:2]
    assert (width, height) == (900, 400)
    assert pixels[..., :3].var() > 0.01  # not one flat colour


def test_plot_draws_calls_per_week_and_outcomes(sample: list[Booking], tmp_path: Path) -> None:
    out = tmp_path / "stats.png"
    plot_stats(compute_stats(sample, tz=BERLIN, since=None), out)
    _assert_real_picture(out)


def test_plot_works_without_bookings(tmp_path: Path) -> None:
    out = tmp_path / "empty.png"
    plot_stats(compute_stats([], tz=BERLIN, since=None), out)
    assert out.stat().st_size > 5_000


# -- the command ------------------------------------------------------------------------


@pytest.fixture
def store_url(tmp_path: Path, sample: list[Booking]) -> str:
    """A real SQLite store holding the sample bookings, outcomes and one cancellation."""
    from generator.store import open_store

    url = f"sqlite:///{tmp_path / 'bookings.sqlite3'}"
    store = open_store(url)
    try:
        for b in sample:
            kept = replace(b, status="confirmed", cancelled_at=None, outcome=None)
            store.book(
                kept,
                cancel_token_hash=f"hash-{b.id}",
                idempotency_key=f"key-{b.id}",
                channels=(),
                day_start=b.start - timedelta(hours=12),
                day_end=b.start + timedelta(hours=12),
                max_per_day=None,
            )
            if b.status == "cancelled":
                store.cancel(b.id, now=b.created_at + timedelta(hours=1), channels=())
            if b.outcome:
                store.set_outcome(b.id, b.outcome)
    finally:
        store.close()
    return url


def test_command_prints_the_table(runner, example_site: Path, store_url: str) -> None:
    from generator.cli import main

    result = runner.invoke(
        main,
        [
            "stats",
            "--config",
            str(example_site / "content/site.toml"),
            "--now",
            "2026-12-07T12:00Z",
        ],
        env={"DATABASE_URL": store_url},
    )
    assert result.exit_code == 0, result.output
    assert "6 bookings, of which 1 cancelled" in result.output
    assert "2026-W49" in result.output and "vertrag (3)" in result.output
    assert "2 of 3 calls took place (67%)" in result.output
    assert "Not marked yet: 1 past call" in result.output and "mark e held" in result.output
    # The example site has the default reminders = ["1d"]: no advice to turn them on.
    assert 'reminders go out already ("1d" before)' in result.output


def test_command_json_since_and_plot(
    runner, example_site: Path, store_url: str, tmp_path: Path
) -> None:
    from generator.cli import main

    out = tmp_path / "review.png"
    result = runner.invoke(
        main,
        [
            "stats",
            "--config",
            str(example_site / "content/site.toml"),
            "--since",
            "2026-12-01",
            "--format",
            "json",
            "--plot",
            str(out),
        ],
        env={"DATABASE_URL": store_url},
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)  # nothing but JSON on stdout
    assert data["total"] == 4 and data["cancelled"] == 1
    assert data["since"].startswith("2026-12-01T00:00:00+01:00")
    _assert_real_picture(out)


def test_command_rejects_a_bad_date(runner, example_site: Path, store_url: str) -> None:
    from generator.cli import main

    result = runner.invoke(
        main,
        ["stats", "--config", str(example_site / "content/site.toml"), "--since", "last week"],
        env={"DATABASE_URL": store_url},
    )
    assert result.exit_code == 1
    assert "--since" in result.output and "YYYY-MM-DD" in result.output


def test_plot_without_matplotlib_says_how_to_install_it(
    sample: list[Booking], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    from generator.errors import CallslotError

    # None in sys.modules makes the import fail as if the extra were not installed.
    monkeypatch.setitem(sys.modules, "matplotlib.backends.backend_agg", None)
    with pytest.raises(CallslotError, match=r"pip install 'callslot\[plot\]'"):
        plot_stats(compute_stats(sample, tz=BERLIN, since=None), tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


def test_outcomes_marked_with_the_bookings_command_show_in_stats(
    runner, example_site: Path, store_url: str
) -> None:
    from generator.cli import main

    config = str(example_site / "content/site.toml")
    env = {"DATABASE_URL": store_url}
    # The call must have started by --now: a future call cannot be marked held.
    args = ["bookings", "mark", "e", "held", "--config", config, "--now", "2026-12-08T00:00Z"]
    marked = runner.invoke(main, args, env=env)
    assert marked.exit_code == 0, marked.output
    result = runner.invoke(main, ["stats", "--config", config, "--format", "json"], env=env)
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert (data["held"], data["missed"]) == (3, 1)
    assert data["held_share"] == pytest.approx(3 / 4)


# -- the take-stock review: every week, the promise, lateness, topics, what is unmarked -----


@pytest.fixture
def gappy() -> list[Booking]:
    """Calls in the weeks of 28 Sep (W40) and 19 Oct (W43); none in the two weeks between."""
    return [
        booking("p", "2026-09-28T09:00", created="2026-09-20T09:00", outcome="held"),
        booking("q", "2026-09-29T09:00", created="2026-09-29T07:00", topic="Steuer",
                outcome="missed"),
        booking("r", "2026-10-19T09:00", created="2026-10-18T12:00", outcome="held"),
        booking("s", "2026-10-20T09:00", created="2026-10-10T12:00", topic="Angebot",
                status="cancelled"),
    ]


def test_every_week_of_the_period_is_listed_quiet_weeks_too(gappy: list[Booking]) -> None:
    now = datetime(2026, 11, 2, 12, tzinfo=UTC)  # Monday of W45
    stats = compute_stats(gappy, tz=BERLIN, since=None, now=now)
    assert [w.week for w in stats.weeks] == [f"2026-W{n}" for n in range(40, 46)]
    assert [w.booked + w.cancelled for w in stats.weeks] == [2, 0, 0, 2, 0, 0]
    table = format_table(stats)
    assert "2026-W41" in table and "2026-W42" in table and "2026-W45" in table


def test_the_period_starts_at_since_even_before_the_first_call(gappy: list[Booking]) -> None:
    since = datetime(2026, 9, 14, tzinfo=BERLIN)  # W38
    stats = compute_stats(gappy, tz=BERLIN, since=since, now=datetime(2026, 10, 21, tzinfo=UTC))
    assert stats.weeks[0].week == "2026-W38" and stats.weeks[-1].week == "2026-W43"


def test_the_held_share_is_a_plain_sentence_against_the_promise() -> None:
    calls = [booking(f"h{i}", f"2026-11-{2 + i % 20:02d}T09:00", created="2026-10-30T09:00",
                     outcome="held" if i < 17 else "missed") for i in range(19)]
    stats = compute_stats(calls, tz=BERLIN, since=None, now=datetime(2026, 12, 1, tzinfo=UTC))
    table = format_table(stats)
    assert "17 of 19 calls took place (89%)" in table
    assert "90%" in table  # the promise it is measured against
    one = compute_stats(calls[:1], tz=BERLIN, since=None)
    assert "1 of 1 call took place (100%)" in format_table(one)


def test_cancellations_say_how_late_they_came(sample: list[Booking]) -> None:
    late = replace(sample[3], cancelled_at=sample[3].start - timedelta(hours=2))
    early = replace(sample[4], status="cancelled",
                    cancelled_at=sample[4].start - timedelta(days=3))
    stats = compute_stats([*sample[:3], late, early, sample[5]], tz=BERLIN, since=None)
    assert stats.cancelled == 2 and stats.cancelled_within_day == 1
    line = next(x for x in format_table(stats).splitlines() if x.startswith("Cancelled"))
    assert "2 of 6" in line and "1 of them less than a day before" in line


def test_recurring_topics_and_the_share_booked_within_a_day(sample: list[Booking]) -> None:
    stats = compute_stats(sample, tz=BERLIN, since=None)
    assert stats.recurring_topics == (("vertrag", 3), ("angebot müller", 2))
    # Notices of 24, 2, 72, 24, 24 and 12 hours: two came within a day.
    assert stats.booked_within_day == 2
    table = format_table(stats)
    assert "Recurring topics" in table and "steuer" not in table.split("Recurring")[1].split(
        "\n")[0]
    assert "2 of 6 bookings (33%)" in table


def test_stats_reminds_of_calls_still_unmarked(sample: list[Booking]) -> None:
    now = datetime(2026, 12, 9, tzinfo=UTC)  # e and f are over, neither is marked
    table = format_table(compute_stats(sample, tz=BERLIN, since=None, now=now))
    reminder = next(x for x in table.splitlines() if x.startswith("Not marked yet"))
    assert "2 past calls" in reminder and "callslot bookings mark e f held" in reminder


# -- the plot, checked on its matplotlib objects -----------------------------------------


def _bars(ax) -> list:  # type: ignore[no-untyped-def]
    from matplotlib.patches import Rectangle

    return [p for p in ax.patches if isinstance(p, Rectangle) and p.get_height() > 0]


def test_plot_has_a_tick_for_every_week_dated_in_the_owners_language(
    gappy: list[Booking], tmp_path: Path
) -> None:
    from testenv import ROOT

    from generator.config.settings import load_settings
    from generator.page.theme import load_theme

    theme = load_theme(load_settings(ROOT / "content" / "site.toml", env={}))
    stats = compute_stats(gappy, tz=BERLIN, since=None, now=datetime(2026, 11, 2, tzinfo=UTC))
    fig = plot_stats(stats, tmp_path / "de.png", language="de", theme=theme)
    weeks_ax = fig.axes[0]
    labels = [t.get_text() for t in weeks_ax.get_xticklabels()]
    assert len(labels) == len(stats.weeks) == 6
    assert labels[0] == "28. Sept." and labels[1] == "5. Okt."  # Mondays, as Germans write them
    assert weeks_ax.get_title() == "Anrufe pro Woche"
    english = plot_stats(stats, tmp_path / "en.png", language="en")
    assert [t.get_text() for t in english.axes[0].get_xticklabels()][:2] == ["28 Sept", "5 Oct"]


def test_plot_has_no_empty_panel_when_nothing_is_marked(sample: list[Booking],
                                                        tmp_path: Path) -> None:
    unmarked = [replace(b, outcome=None) for b in sample]
    fig = plot_stats(compute_stats(unmarked, tz=BERLIN, since=None), tmp_path / "x.png")
    assert len(fig.axes) == 1 and _bars(fig.axes[0])
    marked = plot_stats(compute_stats(sample, tz=BERLIN, since=None), tmp_path / "y.png")
    assert len(marked.axes) == 2
    for ax in marked.axes:
        assert _bars(ax), ax.get_title()
        low, high = ax.get_ylim()
        assert low == 0 and high > 0.5  # never the empty -0.04 .. 0.04 of an unused axes


def test_plot_legend_covers_no_bar(sample: list[Booking], tmp_path: Path) -> None:
    # A week with many calls makes the bars reach the top, where a legend used to sit.
    busy = sample + [booking(f"x{i}", "2026-11-30T16:00", created="2026-11-29T09:00")
                     for i in range(8)]
    fig = plot_stats(compute_stats(busy, tz=BERLIN, since=None), tmp_path / "z.png")
    renderer = fig.canvas.get_renderer()
    legends = fig.legends + [ax.get_legend() for ax in fig.axes if ax.get_legend()]
    assert legends
    for legend in legends:
        box = legend.get_window_extent(renderer)
        for ax in fig.axes:
            for bar in _bars(ax):
                assert not box.overlaps(bar.get_window_extent(renderer))


def test_mark_several_calls_at_once_and_all_or_nothing(runner, example_site: Path,
                                                       store_url: str) -> None:
    from generator.cli import main

    config = str(example_site / "content/site.toml")
    env = {"DATABASE_URL": store_url}
    late = ["--config", config, "--now", "2026-12-09T00:00Z"]
    refused = runner.invoke(main, ["bookings", "mark", "e", "nope", "held", *late], env=env)
    assert refused.exit_code == 1 and "nope" in refused.output and "Nothing" in refused.output
    stats = runner.invoke(main, ["stats", "--config", config, "--format", "json",
                                 "--now", "2026-12-09T00:00Z"], env=env)
    assert json.loads(stats.output)["unmarked_ids"] == ["e", "f"]  # e was not marked alone
    marked = runner.invoke(main, ["bookings", "mark", "e", "f", "held", *late], env=env)
    assert marked.exit_code == 0, marked.output
    data = json.loads(runner.invoke(main, ["stats", "--config", config, "--format", "json",
                                           "--now", "2026-12-09T00:00Z"], env=env).output)
    assert (data["held"], data["unmarked_ids"]) == (4, [])


def test_mark_every_unmarked_call_that_is_over(runner, example_site: Path,
                                               store_url: str) -> None:
    from generator.cli import main

    config = str(example_site / "content/site.toml")
    env = {"DATABASE_URL": store_url}
    # At this --now, e is over and f is still to come: only e is marked.
    result = runner.invoke(main, ["bookings", "mark", "--unmarked", "missed", "--config", config,
                                  "--now", "2026-12-07T12:00Z"], env=env)
    assert result.exit_code == 0, result.output
    data = json.loads(runner.invoke(main, ["stats", "--config", config, "--format", "json",
                                           "--now", "2026-12-07T12:00Z"], env=env).output)
    assert (data["held"], data["missed"], data["upcoming"]) == (2, 2, 1)


def test_a_period_without_calls_is_not_called_the_start() -> None:
    # Bookings exist, just not in the period asked for: "No bookings yet" would mislead.
    sample = [booking("a", "2026-12-01T09:00", created="2026-11-30T12:00")]
    stats = compute_stats(sample, tz=BERLIN, since=datetime(2027, 1, 1, tzinfo=BERLIN))
    table = format_table(stats)
    assert "No bookings yet" not in table
    assert "No call since 1 Jan 2027; 1 booking before it" in table


def test_the_held_sentence_has_one_colon() -> None:
    sample = [booking(str(i), f"2026-12-01T{9 + i:02d}:00", created="2026-11-30T12:00",
                      outcome="held") for i in range(4)]
    sentence = held_sentence(compute_stats(sample, tz=BERLIN, since=None))
    assert sentence.startswith("4 of 4 calls took place (100%)") and sentence.count(":") == 1


def test_plot_writes_shares_as_the_owners_language_does(sample: list[Booking],
                                                        tmp_path: Path) -> None:
    from testenv import ROOT

    from generator.config.settings import load_settings
    from generator.page.theme import load_theme

    theme = load_theme(load_settings(ROOT / "content" / "site.toml", env={}))
    stats = compute_stats(sample, tz=BERLIN, since=None)
    french = plot_stats(stats, tmp_path / "fr.png", language="fr", theme=theme)
    title = french.axes[1].get_title()
    assert re.search(r"\(\d+\u00a0%\)", title), title  # "(67 %)": a no-break space in French
    english = plot_stats(stats, tmp_path / "en.png", language="en", theme=theme)
    assert re.search(r"\(\d+%\)", english.axes[1].get_title())


@pytest.mark.parametrize("weeks", [13, 45, 120, 600])
def test_week_labels_stay_apart_over_a_long_period(tmp_path: Path, weeks: int) -> None:
    # 45 weeks of labels, one per week, used to run into one smear under the chart.
    first = datetime(2026, 1, 5, 9, 0)  # a Monday
    calls = [booking(f"w{i}", (first + timedelta(weeks=i)).isoformat(),
                     created=(first + timedelta(weeks=i, days=-2)).isoformat(),
                     outcome="held" if i % 3 else "missed") for i in range(weeks)]
    stats = compute_stats(calls, tz=BERLIN, since=None)
    assert len(stats.weeks) == weeks
    fig = plot_stats(stats, tmp_path / "long.png")
    weeks_ax = fig.axes[0]
    ticks = {*weeks_ax.get_xticks(), *weeks_ax.get_xticks(minor=True)}
    assert ticks == set(range(weeks))  # every week still has its tick
    labels = [t for t in weeks_ax.get_xticklabels() if t.get_text()]
    assert 4 <= len(labels) <= 12 or weeks < 45, [t.get_text() for t in labels]
    renderer = fig.canvas.get_renderer()
    boxes = [t.get_window_extent(renderer) for t in labels]
    for left, right in pairwise(boxes):
        assert not left.overlaps(right), [t.get_text() for t in labels]
    if weeks < 120:  # a label per month (or every few): its first Monday
        mondays = {w.monday for w in stats.weeks}
        for label, tick in zip(labels, weeks_ax.get_xticks(), strict=True):
            assert stats.weeks[int(tick)].monday.day <= 7, label.get_text()
            assert stats.weeks[int(tick)].monday in mondays


def _held(held: int, missed: int, *, cancelled: int = 0, unmarked: int = 0) -> list[Booking]:
    outcomes = ["held"] * held + ["missed"] * missed + [None] * unmarked
    calls = [booking(f"h{i}", f"2026-11-{2 + i % 20:02d}T{9 + i // 20:02d}:00",
                     created="2026-10-30T09:00", outcome=o) for i, o in enumerate(outcomes)]
    return calls + [booking(f"c{i}", f"2026-11-{2 + i:02d}T16:00", created="2026-10-30T09:00",
                            status="cancelled") for i in range(cancelled)]


def _reminders(*texts: str) -> tuple:
    from generator.config.valuetypes import parse_reminder

    return tuple(parse_reminder(t, field="notify.reminders") for t in texts)


def test_89_percent_is_about_the_promised_90() -> None:
    stats = compute_stats(_held(17, 2), tz=BERLIN, since=None)
    sentence = held_sentence(stats, _reminders("1d"))
    assert "17 of 19 calls took place (89%)" in sentence
    assert "fewer" not in sentence and "about the 90%" in sentence
    assert "remind" not in sentence


@pytest.mark.parametrize(
    ("reminders", "advice"),
    [((), 'a reminder before each call may help ([notify] reminders = ["1d"])'),
     (("1d",), 'reminders go out already ("1d" before); one on the day of the call'),
     (("1d", "2h"), None)],
)
def test_too_few_calls_held_gets_advice_that_is_not_taken_already(reminders, advice) -> None:
    sentence = held_sentence(compute_stats(_held(15, 4), tz=BERLIN, since=None),
                             _reminders(*reminders))
    assert "fewer than the about 90%" in sentence
    if advice:
        assert advice in sentence, sentence
    else:
        assert "remind" not in sentence, sentence


def test_the_headline_counts_held_missed_and_unmarked_calls_apart() -> None:
    # "17 still on or held" used to count the 3 missed calls among them.
    stats = compute_stats(_held(11, 3, cancelled=3, unmarked=3), tz=BERLIN, since=None,
                          now=datetime(2026, 12, 1, tzinfo=UTC))
    headline = format_table(stats).splitlines()[0]
    assert headline == ("Calls since the first booking: 20 bookings, of which 3 cancelled, "
                        "11 held, 3 missed and 3 not marked yet")
    later = [*_held(1, 0), booking("u", "2026-12-20T09:00", created="2026-11-30T09:00")]
    stats = compute_stats(later, tz=BERLIN, since=None, now=datetime(2026, 12, 1, tzinfo=UTC))
    assert format_table(stats).splitlines()[0].endswith("of which 1 held and 1 still to come")
