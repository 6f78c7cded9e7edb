"""A caller's rights: `bookings export` and `bookings forget` find a caller by email or by a
phone number written any way, on SQLite and PostgreSQL; forgetting cancels a call still ahead
(both sides told, METHOD:CANCEL) and erases the rest, while stats still count the calls."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from notify_support import book, make_booking, site_settings, smtp_server

from generator.cli import main
from generator.commands.rights import (
    Contact,
    export_contact,
    find_bookings,
    forget_contact,
    parse_contact,
)
from generator.commands.stats import compute_stats
from generator.config.settings import Settings
from generator.store import Store, open_store

NOW = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)  # Monday; bookings at 08:00 + n hours
SECRET = b"rights-test-secret-0123456789abcdef"
E164 = "+491719988776"


def caller_bookings(store: Store, channels: list[str]) -> None:
    """The same caller three times, each time writing the number differently; and a neighbour."""
    book(store, make_booking(0, id="past", name="Zacharias Q", phone="0171 9988776",
                             email="Zq.Marker@Example.org", topic="Kuckucksuhr"), channels)
    book(store, make_booking(1, id="gone", name="Zacharias Q", phone="0049-171-9988776",
                             email="", topic="Pendel"), channels)
    store.cancel("gone", now=NOW - dt.timedelta(days=2), channels=())
    book(store, make_booking(30, id="ahead", name="Z. Q.", phone="+49 (171) 998 87 76",
                             email="", topic="Gewicht"), channels)
    book(store, make_booking(2, id="other", name="Berta Nachbar", phone="+49 30 4455667",
                             email="berta@example.org", topic="Zaun"), channels)


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    s = open_store(store_url)
    yield s
    s.close()


@pytest.fixture
def site_and_mail(example_site: Path) -> Iterator[tuple[Settings, object]]:
    with smtp_server() as (sink, port):
        yield site_settings(example_site, env={"SMTP_URL": f"smtp://127.0.0.1:{port}"}), sink


def test_a_number_matches_in_every_way_of_writing_it_and_an_address_in_any_case(
    store: Store, example_site: Path
) -> None:
    s = site_settings(example_site)
    caller_bookings(store, [])
    for written in ("+491719988776", "0171 9988776", "0049 171 9988776", "(0171) 99-88-776"):
        assert parse_contact(written, s) == Contact(given=written, phone=E164)
        assert [b.id for b in find_bookings(store, parse_contact(written, s), s)] == [
            "past", "gone", "ahead"]
    by_mail = find_bookings(store, parse_contact("zq.marker@EXAMPLE.org", s), s)
    assert [b.id for b in by_mail] == ["past"]
    assert find_bookings(store, parse_contact("+49 30 1111111", s), s) == []


def test_export_is_everything_about_the_caller_and_nothing_about_anyone_else(
    store: Store, example_site: Path
) -> None:
    s = site_settings(example_site)
    caller_bookings(store, ["email:owner", "email:caller"])
    text = export_contact(store, parse_contact("0171/9988776", s), s, now=NOW)
    data = json.loads(text)
    assert [b["id"] for b in data["bookings"]] == ["past", "gone", "ahead"]
    first = data["bookings"][0]
    assert (first["name"], first["phone"], first["email"], first["topic"]) == (
        "Zacharias Q", "0171 9988776", "Zq.Marker@Example.org", "Kuckucksuhr")
    assert first["start"] == "2026-11-30T08:00:00Z" and first["status"] == "confirmed"
    assert data["bookings"][1]["status"] == "cancelled"
    assert {(n["booking_id"], n["channel"]) for n in data["notifications"]} == {
        (b, c) for b in ("past", "gone", "ahead") for c in ("email:owner", "email:caller")}
    assert data["rate_limit_records"] == []
    assert data["kept_for"] == "personal data of a call is erased 90 days after the call"
    assert "Berta" not in text and "Zaun" not in text and "4455667" not in text


def test_forget_cancels_the_call_ahead_tells_both_sides_and_erases_everything(
    store: Store, site_and_mail: tuple[Settings, object]
) -> None:
    s, sink = site_and_mail
    caller_bookings(store, [])
    contact = parse_contact("0171 99 88 776", s)
    before = compute_stats(store.bookings(include_cancelled=True), tz=s.tz, since=None)

    report = forget_contact(store, contact, s, now=NOW, secret=SECRET)
    assert [b.id for b in report.found] == ["past", "gone", "ahead"]
    assert [b.id for b in report.cancelled] == ["ahead"]
    assert report.erased == 3
    # The usual cancellation: a CANCEL to the owner (the caller left no address).
    [mail] = sink.messages  # type: ignore[attr-defined]
    assert mail.rcpt_tos == ["anna@example.org"]
    assert b"METHOD:CANCEL" in mail.raw
    assert store.get("ahead").status == "cancelled"  # type: ignore[union-attr]

    for id_ in ("past", "gone", "ahead"):
        b = store.get(id_)
        assert b is not None and b.erased_at == NOW
        assert (b.name, b.phone, b.email, b.topic, b.note) == ("", "", "", "", "")
    assert store.get("other").name == "Berta Nachbar"  # type: ignore[union-attr]
    assert json.loads(export_contact(store, contact, s, now=NOW))["bookings"] == []
    after = compute_stats(store.bookings(include_cancelled=True), tz=s.tz, since=None)
    assert (after.total, after.confirmed, after.cancelled) == (
        before.total, before.confirmed - 1, before.cancelled + 1)
    # Again: nothing left to find.
    assert forget_contact(store, contact, s, now=NOW, secret=SECRET).erased == 0


def test_forget_by_email_tells_the_caller_too(
    store: Store, site_and_mail: tuple[Settings, object]
) -> None:
    s, sink = site_and_mail
    book(store, make_booking(30, id="ahead", email="max@example.com"), [])
    forget_contact(store, parse_contact("MAX@example.com", s), s, now=NOW, secret=SECRET)
    assert sorted(m.rcpt_tos[0] for m in sink.messages) == [  # type: ignore[attr-defined]
        "anna@example.org", "max@example.com"]
    assert all(b"METHOD:CANCEL" in m.raw for m in sink.messages)  # type: ignore[attr-defined]
    assert store.get("ahead").email == ""  # type: ignore[union-attr]


@settings(max_examples=60, deadline=None)
@given(
    prefix=st.sampled_from(["+49", "0049", "0", "+49 (0)"]),
    separators=st.lists(st.sampled_from(["", " ", "-", "/", ".", " - "]), min_size=9, max_size=9),
    brackets=st.booleans(),
)
def test_any_written_form_of_the_number_reads_as_the_same_e164(
    prefix: str, separators: list[str], brackets: bool
) -> None:
    from generator.phone import normalise

    digits = "1719988776"
    area, rest = digits[:3], digits[3:]
    if brackets and prefix == "0":
        written = f"(0{area}) "
    else:
        written = prefix + separators[0] + area + separators[1]
    written += "".join(d + sep for d, sep in zip(rest, separators[2:], strict=False))
    written += rest[len(separators) - 2:]
    assert normalise(written, "DE") == E164, written


# --------------------------------------------------------------------------
# The commands


@pytest.fixture
def cli_site(example_site: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    monkeypatch.chdir(example_site)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("CALLSLOT_SECRET", SECRET.decode())
    with smtp_server() as (sink, port):
        monkeypatch.setenv("SMTP_URL", f"smtp://127.0.0.1:{port}")
        s = site_settings(example_site)
        store = open_store(None, settings=s)
        caller_bookings(store, [])
        store.close()
        yield sink


def test_bookings_export_prints_json(cli_site, runner) -> None:
    result = runner.invoke(main, ["bookings", "export", "--contact", "+49 171 9988776",
                                  "--now", NOW.isoformat()])
    assert result.exit_code == 0, result.output
    assert [b["id"] for b in json.loads(result.output)["bookings"]] == ["past", "gone", "ahead"]


def test_bookings_forget_asks_then_cancels_and_erases(cli_site, runner) -> None:
    args = ["bookings", "forget", "--contact", "0171 9988776", "--now", NOW.isoformat()]
    declined = runner.invoke(main, args, input="n\n")
    assert declined.exit_code == 1
    assert "ahead  Tue 2026-12-01 15:00  confirmed  (ahead: will be cancelled)" in declined.output
    assert cli_site.messages == []

    result = runner.invoke(main, args, input="y\n")
    assert result.exit_code == 0, result.output
    assert "1 call cancelled, 3 bookings erased (stats still count them)." in result.output
    assert "sent      email:owner   cancelled" in result.output
    again = runner.invoke(main, [*args, "--yes"])
    assert again.exit_code == 0 and "Nothing stored about 0171 9988776." in again.output
    stats = runner.invoke(main, ["stats", "--format", "json", "--now", NOW.isoformat()])
    assert json.loads(stats.output)["total"] == 4


@pytest.mark.parametrize(("contact", "words"), [
    ("hello", "is neither an email address nor a phone number"),
    ("12", "is neither an email address nor a phone number"),
    ("max@", "is not an email address"),
])
def test_a_contact_that_is_neither_is_refused_in_our_words(cli_site, runner, contact, words):
    for command in ("export", "forget"):
        result = runner.invoke(main, ["bookings", command, "--contact", contact, "--yes"]
                               if command == "forget" else
                               ["bookings", command, "--contact", contact])
        assert result.exit_code == 1, result.output
        assert words in result.output and "Traceback" not in result.output


def test_forget_keeps_a_caller_it_could_not_tell_until_told_or_asked_again(
    example_site: Path, runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    from notify_support import free_port

    monkeypatch.chdir(example_site)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("CALLSLOT_SECRET", SECRET.decode())
    monkeypatch.setenv("SMTP_URL", f"smtp://127.0.0.1:{free_port()}")  # nothing listens
    s = site_settings(example_site)
    store = open_store(None, settings=s)
    book(store, make_booking(30, id="ahead", name="Eve Zwei", phone="0171 9988776",
                             email="eve2@example.com", topic="Gewicht"), [])
    store.close()
    args = ["bookings", "forget", "--contact", "eve2@example.com", "--yes",
            "--now", NOW.isoformat()]
    first = runner.invoke(main, args)
    # Cancelled, but not erased: the caller's address is what the retry needs.
    assert first.exit_code == 1, first.output
    assert "not erased yet: ahead" in first.output and "callslot notify" in first.output
    assert "Traceback" not in first.output
    store = open_store(None, settings=s)
    kept = store.get("ahead")
    assert kept is not None and kept.status == "cancelled" and kept.email == "eve2@example.com"
    store.close()
    # Asked again: erased, told or not, as the message said.
    second = runner.invoke(main, args)
    assert second.exit_code == 0, second.output
    store = open_store(None, settings=s)
    gone = store.get("ahead")
    assert gone is not None and gone.email == "" and gone.name == ""
    store.close()
