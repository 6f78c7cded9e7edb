"""Moving a booked call: the caller's move link, `callslot bookings move`, the store's one
transaction (SQLite and PostgreSQL), the race against a booking, and the updated invitation."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest
from handler_support import NOW, SECRET, AnswerPage
from notify_support import smtp_server
from werkzeug.test import Client

from generator.cli import main
from generator.config.settings import Settings, load_settings
from generator.domain import Booking, Slot
from generator.i18n import short_time
from generator.notify.mail import short_when
from generator.notify.outbox import send_now
from generator.page.build import build_site
from generator.signing import slot_token, verify_slot_token
from generator.store import Store, open_store
from generator.store.base import DayFull, MoveRefused, SlotTaken
from generator.web.wsgi import create_app

ROOT = Path(__file__).resolve().parent.parent
BERLIN = "Europe/Berlin"


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """The example site, built at NOW: public/slots.json is what the move page offers."""
    import shutil

    shutil.copytree(ROOT / "content", tmp_path / "content")
    shutil.copytree(ROOT / "themes", tmp_path / "themes")
    settings = load_settings(tmp_path / "content" / "site.toml", env={})
    build_site(settings, NOW, tmp_path / "public", secret=SECRET)
    return tmp_path


@pytest.fixture
def settings(site: Path) -> Settings:
    return load_settings(site / "content" / "site.toml", env={})


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    s = open_store(store_url)
    yield s
    s.close()


def offered(site: Path, call_type: str) -> list[Slot]:
    """The slots of ``call_type`` in the built slots.json, by start."""
    import json

    data = json.loads((site / "public" / "slots.json").read_text(encoding="utf-8"))
    slots = [verify_slot_token(SECRET, s["token"]) for s in data["slots"]]
    return sorted((s for s in slots if s.call_type == call_type), key=lambda s: s.start)


def make_client(settings: Settings, store: Store, now: datetime = NOW, **env: str) -> Client:
    app = create_app(
        settings,
        store=store,
        secret=SECRET,
        clock=lambda: now,
        env={"CALLSLOT_RATE_LIMIT": "off", **env},
    )
    return Client(app)


def book(client: Client, slot: Slot, **changes: str) -> str:
    """Book ``slot`` through the form; the booked page's URL (it holds the cancel token)."""
    fields = {
        "slot": slot_token(SECRET, slot),
        "name": "Max Muster",
        "phone": "+49 30 555 0101",
        "email": "max@example.com",
        "topic": "Mietvertrag",
        "who_calls": "owner",
        "tz": BERLIN,
        "lang": "de",
        **changes,
    }
    response = client.post("/api/book", data=fields)
    assert response.status_code == 303, response.get_data(as_text=True)
    return response.headers["Location"]


class Choices(HTMLParser):
    """The radio buttons of the move page: value (a signed slot) -> label."""

    def __init__(self) -> None:
        super().__init__()
        self.values: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "input" and a.get("type") == "radio" and a.get("name") == "slot":
            self.values.append(a.get("value") or "")


def choices(html: str) -> list[Slot]:
    parser = Choices()
    parser.feed(html)
    return [verify_slot_token(SECRET, v) for v in parser.values]


def move_link(client: Client, booked_url: str) -> str:
    page = AnswerPage.parse(client.get(booked_url).get_data(as_text=True))
    [href] = [href for _text, href in page.links if href.startswith("/api/move?")]
    return href


def token_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["token"][0]


# -- the caller's move link ----------------------------------------------------------------


def test_the_caller_moves_a_call_from_the_booked_page(site, settings, store) -> None:
    client = make_client(settings, store)
    rueckruf = offered(site, "rueckruf")
    first, other = rueckruf[0], rueckruf[1]
    booked_url = book(client, first)
    # Someone else takes another time: the move page must not offer it.
    book(client, other, name="Erika", phone="+49 30 555 0202", email="")
    link = move_link(client, booked_url)
    assert "Telefonat verschieben" in AnswerPage.parse(
        client.get(booked_url).get_data(as_text=True)
    ).links[0][0]

    page = client.get(link)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert AnswerPage.parse(html).heading == "Telefonat verschieben"
    shown = choices(html)
    assert shown, "the move page offers no time"
    assert {s.call_type for s in shown} == {"rueckruf"}
    assert first not in shown and other not in shown  # its own time and the taken one
    assert set(shown) <= set(rueckruf)  # only what the build offered
    # Buffers of the other call are respected; its own buffers do not hide neighbours.
    pad = settings.booking.buffer_before + settings.booking.buffer_after
    assert all(s.end + pad <= other.start or s.start >= other.end + pad for s in shown)

    # Its own time posted (a stale form): nothing changes, back to the choices.
    same = client.post(
        "/api/move", data={"token": token_of(link), "slot": slot_token(SECRET, first)}
    )
    assert same.status_code == 303 and "moved=1" not in same.headers["Location"]
    assert store.get(store.bookings()[0].id).start == first.start

    target = shown[-1]
    moved = client.post(
        "/api/move", data={"token": token_of(link), "slot": slot_token(SECRET, target)}
    )
    assert moved.status_code == 303
    done_html = client.get(moved.headers["Location"]).get_data(as_text=True)
    done = AnswerPage.parse(done_html)
    assert done.heading == "Ihr Telefonat ist verschoben"
    # The call's own page, as after booking: no list of times to move to again, but the
    # new time, the links to move or cancel once more, and "add to calendar".
    assert choices(done_html) == []
    hrefs = [href for _text, href in done.links]
    assert any(h.startswith("/api/move?") for h in hrefs), hrefs
    assert any(h.startswith("/api/cancel?") for h in hrefs), hrefs
    assert "/api/booking.ics?token=" in done_html and "calendar.google.com" in done_html
    new_time = short_time(target.start, ZoneInfo(BERLIN), "de")
    assert any(new_time in value for value in done.details.values()), done.details

    [mine] = [b for b in store.bookings() if b.name == "Max Muster"]
    assert (mine.start, mine.end, mine.sequence) == (target.start, target.end, 1)
    assert mine.topic == "Mietvertrag"  # keeps its topic
    assert (first.start, first.end) not in store.taken(NOW)  # the old time is free again
    # The cancel link from before still works, and shows the new time.
    after = AnswerPage.parse(client.get(booked_url).get_data(as_text=True))
    assert after.heading == "Ihr Telefonat ist gebucht"
    assert any(href.startswith("/api/cancel?") for _t, href in after.links)
    rows = [(r.channel, r.event) for r in store.outbox(booking_id=mine.id) if r.event == "moved"]
    assert sorted(rows) == [("email:caller", "moved"), ("email:owner", "moved")]
    [row] = [r for r in store.outbox(booking_id=mine.id) if r.channel == "email:owner"
             and r.event == "moved"]
    assert (row.previous_start, row.previous_end) == (first.start, first.end)


def test_a_move_is_refused_with_a_reason_and_changes_nothing(site, settings, store) -> None:
    client = make_client(settings, store)
    rueckruf = offered(site, "rueckruf")
    booked_url = book(client, rueckruf[0])
    link = move_link(client, booked_url)
    token = token_of(link)
    [before] = store.bookings()

    def post(slot_value: str, *, at: datetime = NOW) -> tuple[int, str]:
        response = make_client(settings, store, now=at).post(
            "/api/move", json={"token": token, "slot": slot_value}
        )
        return response.status_code, response.get_json()["error"]

    # A slot of another call type, a forged one, none at all.
    beratung = offered(site, "beratung")[-1]
    assert post(slot_token(SECRET, beratung)) == (409, "slot_unavailable")
    forged = slot_token(b"another-key-0123456789", rueckruf[-1])
    assert post(forged) == (400, "forged_slot")
    assert post("") == (400, "move_no_time")
    # A time that is not open (a Sunday): signed, but outside the open hours.
    sunday = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)
    assert post(slot_token(SECRET, Slot(sunday, sunday + timedelta(minutes=30), "rueckruf")))[
        0
    ] == 409
    # Once the call has begun it stays where it is.
    begun = before.start + timedelta(minutes=1)
    assert post(slot_token(SECRET, rueckruf[-1]), at=begun) == (409, "move_too_late")
    assert store.bookings() == [before]
    # A cancelled call cannot be moved.
    store.cancel(before.id, now=NOW, channels=[])
    assert post(slot_token(SECRET, rueckruf[-1])) == (409, "move_cancelled")
    page = client.get(link)
    assert page.status_code == 409
    assert AnswerPage.parse(page.get_data(as_text=True)).heading == "Dieses Telefonat ist abgesagt"
    # A guessed token finds nothing.
    assert client.get("/api/move?token=" + "A" * 43).status_code == 404


def test_the_move_page_reads_the_published_slots_over_http(site, settings, store) -> None:
    """The handler on Lambda has no public/: it reads slots.json from the page's address."""
    import shutil
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    published = site / "published"
    shutil.move(site / "public", published)

    class Quiet(SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, directory=str(published), **kwargs)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        settings = replace(settings, site=replace(settings.site, base_url=base))
        client = make_client(settings, store)
        rueckruf = offered_from(published, "rueckruf")
        link = move_link(client, book(client, rueckruf[0]))
        assert choices(client.get(link).get_data(as_text=True))
    finally:
        server.shutdown()
        server.server_close()


def offered_from(public: Path, call_type: str) -> list[Slot]:
    import json

    data = json.loads((public / "slots.json").read_text(encoding="utf-8"))
    return sorted(
        (verify_slot_token(SECRET, s["token"]) for s in data["slots"]
         if s["call_type"] == call_type),
        key=lambda s: s.start,
    )


# -- the store's one transaction ---------------------------------------------------------


def call(n: int, start: datetime, minutes: int = 30) -> Booking:
    return Booking(
        id=f"c{n}",
        call_type="rueckruf",
        start=start,
        end=start + timedelta(minutes=minutes),
        name=f"Caller {n}",
        phone="030 1234",
        email="",
        topic="x",
        note="",
        who_calls="owner",
        language="de",
        caller_timezone="",
        created_at=NOW,
    )


MONDAY = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)  # 09:00 Berlin
DAY = (datetime(2026, 11, 29, 23, 0, tzinfo=UTC), datetime(2026, 11, 30, 23, 0, tzinfo=UTC))
TUESDAY = (DAY[0] + timedelta(days=1), DAY[1] + timedelta(days=1))
BUFFER = timedelta(minutes=10)


def put(store: Store, booking: Booking, day: tuple[datetime, datetime] = DAY) -> Booking:
    recorded, _ = store.book(
        booking,
        cancel_token_hash=f"h-{booking.id}",
        idempotency_key=f"k-{booking.id}",
        channels=["email:owner"],
        day_start=day[0],
        day_end=day[1],
        max_per_day=None,
        buffer_before=BUFFER,
        buffer_after=BUFFER,
        reminders=[("email:caller", booking.start - timedelta(days=1))],
    )
    return recorded


def move(store: Store, booking_id: str, start: datetime, *, day=DAY, max_per_day=None,
         now: datetime = NOW) -> Booking | None:
    return store.move(
        booking_id,
        start=start,
        end=start + timedelta(minutes=30),
        now=now,
        channels=["email:owner", "email:caller"],
        reminders=[("email:caller", start - timedelta(hours=1))],
        day_start=day[0],
        day_end=day[1],
        max_per_day=max_per_day,
        buffer_before=BUFFER,
        buffer_after=BUFFER,
    )


def test_store_moves_in_one_transaction_under_the_booking_rules(store) -> None:
    a = put(store, call(1, MONDAY))
    b = put(store, call(2, MONDAY + timedelta(hours=2)))
    # Into b's buffer: refused, nothing changed (a's reminder still pending).
    with pytest.raises(SlotTaken):
        move(store, a.id, b.start - timedelta(minutes=35))
    assert store.get(a.id) == a
    # Next to its own old time (overlapping its old buffer): fine, it does not block itself.
    moved = move(store, a.id, MONDAY + timedelta(minutes=30))
    assert moved is not None and (moved.start, moved.sequence) == (
        MONDAY + timedelta(minutes=30), 1)
    assert (MONDAY, MONDAY + timedelta(minutes=30)) not in store.taken(NOW)
    rows = store.outbox(booking_id=a.id)
    assert [(r.event, r.status) for r in rows if r.event == "reminder"] == [
        ("reminder", "dropped"),  # the old time's
        ("reminder", "pending"),  # the new time's
    ]
    [new_reminder] = [r for r in rows if r.event == "reminder" and r.status == "pending"]
    assert new_reminder.next_attempt_at == moved.start - timedelta(hours=1)
    moved_rows = [r for r in rows if r.event == "moved"]
    assert {r.previous_start for r in moved_rows} == {MONDAY}
    # max_per_day counts the other calls of the new day, never the call itself.
    assert move(store, a.id, MONDAY + timedelta(hours=4), max_per_day=2) is not None
    put(store, call(3, TUESDAY[0] + timedelta(hours=9)), day=TUESDAY)
    with pytest.raises(DayFull):
        move(store, a.id, TUESDAY[0] + timedelta(hours=12), day=TUESDAY, max_per_day=1)
    # Begun, cancelled, unknown.
    with pytest.raises(MoveRefused) as refused:
        move(store, b.id, MONDAY + timedelta(hours=6), now=b.start)
    assert refused.value.reason == "begun"
    store.cancel(b.id, now=NOW, channels=[])
    with pytest.raises(MoveRefused) as refused:
        move(store, b.id, MONDAY + timedelta(hours=6))
    assert refused.value.reason == "cancelled"
    assert move(store, "nobody", MONDAY + timedelta(hours=6)) is None
    # A cancelled call's pending reminders are dropped with it.
    assert {r.status for r in store.outbox(booking_id=b.id) if r.event == "reminder"} == {
        "dropped"
    }


def test_a_version_1_sqlite_database_is_upgraded_keeping_its_bookings(tmp_path) -> None:
    import sqlite3

    from generator.store import sqlite as sqlite_store

    path = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(path)
    conn.executescript(
        "CREATE TABLE schema_version (version INTEGER NOT NULL);"
        + sqlite_store._MIGRATIONS[0]
        + ";INSERT INTO schema_version VALUES (1);"
        "INSERT INTO bookings (id, call_type, start_at, end_at, name, topic, who_calls, "
        "language, created_at, cancel_hash) VALUES ('old', 'rueckruf', "
        "'2026-11-30T08:00:00.000000Z', '2026-11-30T08:30:00.000000Z', 'A', 't', 'owner', "
        "'de', '2026-11-27T07:00:00.000000Z', 'h');"
    )
    conn.commit()
    conn.close()
    store = open_store(f"sqlite:///{path}")
    try:
        assert store.get("old") is not None
        assert move(store, "old", MONDAY + timedelta(hours=1)) is not None
    finally:
        store.close()


# -- the race: two moves and a booking for one time ---------------------------------------


@pytest.mark.parametrize("round_", range(3))
def test_two_moves_and_a_booking_for_one_time_one_wins(site, settings, store, round_) -> None:
    settings = replace(settings, calendars=())
    app = create_app(
        settings, store=store, secret=SECRET, clock=lambda: NOW,
        env={"CALLSLOT_RATE_LIMIT": "off"},
    )
    client = Client(app)
    rueckruf = offered(site, "rueckruf")
    target = rueckruf[len(rueckruf) // 2 + round_]
    # Two calls on other days, both movable to the target.
    others = [s for s in rueckruf
              if abs((s.start - target.start).total_seconds()) > 86400]
    a_url, b_url = book(client, others[0]), book(client, others[-1], name="Erika")
    tokens = [token_of(move_link(client, a_url)), token_of(move_link(client, b_url))]
    gate = threading.Barrier(3)
    results: list[str] = []
    lock = threading.Lock()

    def mover(token: str) -> None:
        c = Client(app)
        gate.wait()
        status = c.post("/api/move", json={"token": token,
                                           "slot": slot_token(SECRET, target)}).status_code
        with lock:
            results.append("moved" if status == 200 else str(status))

    def booker() -> None:
        c = Client(app)
        gate.wait()
        status = c.post("/api/book", json={"slot": slot_token(SECRET, target),
                                           "name": "Third", "phone": "+49 30 5550303",
                                           "topic": "x", "who_calls": "owner"}).status_code
        with lock:
            results.append("booked" if status == 201 else str(status))

    threads = [threading.Thread(target=mover, args=(t,)) for t in tokens]
    threads.append(threading.Thread(target=booker))
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    wins = [r for r in results if r in ("moved", "booked")]
    assert len(results) == 3 and len(wins) == 1, results
    assert Counter(r for r in results if r not in wins) == Counter({"409": 2})
    at_target = [b for b in store.bookings() if b.start == target.start]
    assert len(at_target) == 1
    # The loser's call is still where it was.
    assert len(store.bookings()) == 3 if wins == ["booked"] else len(store.bookings()) == 2


# -- the updated invitation and the owner's "moved from ... to ..." -----------------------


def test_both_sides_get_the_same_event_moved(site, store) -> None:
    with smtp_server() as (sink, port):
        env = {"SMTP_URL": f"smtp://127.0.0.1:{port}"}
        settings = load_settings(site / "content" / "site.toml", env=env)
        client = make_client(settings, store)
        rueckruf = offered(site, "rueckruf")
        link = move_link(client, book(client, rueckruf[0], tz="America/New_York"))
        assert client.application.ctx.after_commit.wait()
        booked = {m.rcpt_tos[0]: m.message for m in sink.messages}
        sink.messages.clear()
        target = rueckruf[-1]
        client.post("/api/move", data={"token": token_of(link), "slot": slot_token(SECRET, target)})
        assert client.application.ctx.after_commit.wait()
        moved = {m.rcpt_tos[0]: m.message for m in sink.messages}
    assert set(moved) == {"anna@example.org", "max@example.com"}

    def event(message) -> dict[str, str]:
        ics = message.get_body(("calendar",)).get_content()
        fields = {}
        for line in ics.replace("\r\n ", "").splitlines():
            key, _, value = line.partition(":")
            fields.setdefault(key.split(";")[0], value)
        return fields

    for address in moved:
        before, after = event(booked[address]), event(moved[address])
        assert after["METHOD"] == "REQUEST"
        assert after["UID"] == before["UID"]  # the same event, moved
        assert int(after["SEQUENCE"]) > int(before.get("SEQUENCE", "0"))
        assert after["DTSTART"] == target.start.strftime("%Y%m%dT%H%M%SZ")
    owner = moved["anna@example.org"]
    assert owner["Subject"].startswith("Verschoben:")
    text = " ".join(owner.get_body(("plain",)).get_content().split())
    old = short_when(rueckruf[0].start, settings.tz, "de")
    new = short_when(target.start, settings.tz, "de")
    assert f"verschoben, von {old} auf {new}" in text  # e.g. "von Mo 30.11. 09:00 auf Fr ..."
    caller = moved["max@example.com"].get_body(("plain",)).get_content()
    assert "/api/move?token=" in caller and "/api/cancel?token=" in caller


# -- the owner: callslot bookings move -----------------------------------------------------


def test_owner_moves_a_call_from_the_command_line(site, runner, tmp_path) -> None:
    db = f"sqlite:///{tmp_path / 'b.sqlite3'}"
    settings = load_settings(site / "content" / "site.toml", env={})
    store = open_store(db)
    rueckruf = offered(site, "rueckruf")
    book(make_client(settings, store), rueckruf[0])
    [booking] = store.bookings()
    env = {"DATABASE_URL": db, "CALLSLOT_SECRET": SECRET.decode()}
    config = str(site / "content" / "site.toml")
    now = NOW.isoformat()

    def run(*args: str):
        return runner.invoke(main, ["bookings", "move", booking.id, *args, "--config", config,
                                    "--now", now], env=env)

    target = rueckruf[-1].start.astimezone(settings.tz)
    result = run("--to", target.strftime("%Y-%m-%dT%H:%M"))
    assert result.exit_code == 0, result.output
    assert f"Moved {booking.id} from " in result.output
    assert store.get(booking.id).start == rueckruf[-1].start
    # To the time it has: nothing changes and nothing is queued for either side.
    rows = len(store.outbox(booking_id=booking.id))
    result = run("--to", target.strftime("%Y-%m-%dT%H:%M"))
    assert result.exit_code == 1 and "already; nothing was changed" in result.output
    assert len(store.outbox(booking_id=booking.id)) == rows
    # Not open: a Sunday. Refused, exit 1, with the reason; --force moves it anyway.
    result = run("--to", "2026-11-29T10:00")
    assert result.exit_code == 1
    assert "outside your open hours" in result.output and "Traceback" not in result.output
    assert store.get(booking.id).start == rueckruf[-1].start
    assert run("--to", "2026-11-29T10:00", "--force").exit_code == 0
    assert store.get(booking.id).start == datetime(2026, 11, 29, 9, 0, tzinfo=UTC)
    result = run("--to", "tomorrow")
    assert result.exit_code == 1 and "not an ISO-8601 time" in result.output
    store.cancel(booking.id, now=NOW, channels=[])
    result = run("--to", target.strftime("%Y-%m-%dT%H:%M"))
    assert result.exit_code == 1 and "cancelled" in result.output
    store.close()


def test_send_now_sends_the_moved_rows(site, store) -> None:
    """`callslot bookings move` and the handler send through the same outbox rows."""
    with smtp_server() as (sink, port):
        settings = load_settings(site / "content" / "site.toml",
                                 env={"SMTP_URL": f"smtp://127.0.0.1:{port}"})
        a = put(store, replace(call(1, MONDAY), email="max@example.com"))
        move(store, a.id, MONDAY + timedelta(hours=1))
        report = send_now(settings, store, a.id, now=NOW, secret=SECRET)
    assert report.sent == 3  # the booking's owner mail, and both "moved" mails
    subjects = sorted(m.message["Subject"] for m in sink.messages)
    assert sum(s.startswith("Verschoben") for s in subjects) == 2


def test_a_call_booked_before_move_links_existed_shows_no_broken_link(site, store) -> None:
    from generator.signing import cancel_token
    from generator.web.core import hash_token

    with smtp_server() as (sink, port):
        settings = load_settings(site / "content" / "site.toml",
                                 env={"SMTP_URL": f"smtp://127.0.0.1:{port}"})
        old = replace(call(1, MONDAY), email="max@example.com")
        store.book(  # as the store held it before migration 3: no move token
            old,
            cancel_token_hash=hash_token(cancel_token(SECRET, old.id)),
            idempotency_key="k-old",
            channels=["email:caller"],
            day_start=DAY[0],
            day_end=DAY[1],
            max_per_day=None,
        )
        send_now(settings, store, old.id, now=NOW, secret=SECRET)
        page = make_client(settings, store).get(
            f"/api/booking?token={cancel_token(SECRET, old.id)}"
        )
    links = [href for _t, href in AnswerPage.parse(page.get_data(as_text=True)).links]
    assert any(h.startswith("/api/cancel?") for h in links)
    assert not any(h.startswith("/api/move?") for h in links)
    [mail] = sink.messages
    assert "/api/move" not in mail.message.get_body(("plain",)).get_content()
    assert "/api/cancel?token=" in mail.message.get_body(("plain",)).get_content()


def test_the_move_page_writes_times_in_the_callers_zone(site, settings, store) -> None:
    # Booked from New York: the booked page and the mails speak New York time, so does
    # the page that moves the call (its days name the zone).
    from zoneinfo import ZoneInfo

    from generator.i18n import short_time

    client = make_client(settings, store)
    rueckruf = offered(site, "rueckruf")
    link = move_link(client, book(client, rueckruf[0], tz="America/New_York"))
    html = client.get(link).get_data(as_text=True)
    shown = choices(html)
    assert shown
    new_york = ZoneInfo("America/New_York")
    first = shown[0]
    label = f"{short_time(first.start, new_york, 'de')}–{short_time(first.end, new_york, 'de')}"
    assert f"> {label}</label>" in html, html
    assert "Nordamerikanische Ostküstenzeit" in html


def test_moves_are_rate_limited_per_household_with_a_retry_after(site, settings, store) -> None:
    booked_url = book(make_client(settings, store), offered(site, "rueckruf")[0])
    token = token_of(move_link(make_client(settings, store), booked_url))
    client = make_client(settings, store, CALLSLOT_RATE_LIMIT="2/10m")
    forged = {"token": token, "slot": "not-a-slot"}

    def move_from(address: str):  # type: ignore[no-untyped-def]
        return client.post("/api/move", json=forged, environ_base={"REMOTE_ADDR": address})

    # Two addresses of one IPv6 /64 (one household, one provider's line) count as one.
    assert move_from("2001:db8:1:2::10").status_code == 400
    assert move_from("2001:db8:1:2::99").status_code == 400
    limited = move_from("2001:db8:1:2:ffff::1")
    assert limited.status_code == 429 and limited.get_json()["error"] == "rate_limited"
    assert limited.headers["Retry-After"] == "600"
    assert move_from("2001:db8:1:3::10").status_code == 400  # the neighbour's line is not
    # What the store keeps cannot be turned back into an address by hashing them all.
    import hashlib

    rows = store._read("SELECT key FROM rate_hits")  # type: ignore[attr-defined]
    plain = hashlib.sha256(b"move:2001:db8:1:2::/64").hexdigest()[:32]
    assert rows and all(key != plain for (key,) in rows)
