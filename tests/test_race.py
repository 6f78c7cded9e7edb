"""Many callers at once for one time: exactly one booking, 409 for everyone else, per store."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from handler_support import NOW, SECRET
from werkzeug.test import Client

from generator.availability import check_slot
from generator.config.settings import Settings, load_settings
from generator.domain import Slot
from generator.signing import slot_token
from generator.store import Store, open_store
from generator.web.wsgi import create_app

ROOT = Path(__file__).resolve().parent.parent
CALLERS = 50
# Monday 30 November 2026, 13:30 in Berlin.
START = datetime(2026, 11, 30, 12, 30, tzinfo=UTC)


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    s = open_store(store_url)
    yield s
    s.close()


@pytest.fixture
def settings() -> Settings:
    # The calendar is not re-read here: this is about the store's atomic write.
    return replace(load_settings(ROOT / "content" / "site.toml", env={}), calendars=())


def storm(settings: Settings, store: Store, slots: list[Slot]) -> Counter[int]:
    """CALLERS threads, released together, each booking one of ``slots`` as a different person."""
    app = create_app(
        settings, store=store, secret=SECRET, clock=lambda: NOW, env={"CALLSLOT_RATE_LIMIT": "off"}
    )
    Client(app).get("/api/health")  # load lazily built parts before the start line
    gate = threading.Barrier(CALLERS)
    statuses: list[int] = []
    lock = threading.Lock()

    def caller(i: int) -> None:
        chosen = slots[i % len(slots)]
        fields = {
            "slot": slot_token(SECRET, chosen),
            "name": f"Caller {i}",
            "phone": f"+49 30 {1000 + i}",
            "topic": f"Anliegen {i}",
        }
        client = Client(app)
        gate.wait()
        status = client.post("/api/book", json=fields).status_code
        with lock:
            statuses.append(status)

    threads = [threading.Thread(target=caller, args=(i,)) for i in range(CALLERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return Counter(statuses)


def test_fifty_callers_for_one_slot_give_exactly_one_booking(settings, store) -> None:
    slot = Slot(START, START + timedelta(minutes=30), "rueckruf")
    assert check_slot(settings, slot, NOW) is None
    statuses = storm(settings, store, [slot])
    assert statuses == Counter({201: 1, 409: CALLERS - 1})
    [booking] = store.bookings()
    assert (booking.start, booking.end) == (slot.start, slot.end)


def test_overlapping_slots_of_two_call_types_give_exactly_one_booking(settings, store) -> None:
    # A 60-minute consultation and two 30-minute callbacks inside it; the two callbacks
    # touch, so the 10-minute buffers keep them apart as well.
    slots = [
        Slot(START, START + timedelta(minutes=60), "beratung"),
        Slot(START, START + timedelta(minutes=30), "rueckruf"),
        Slot(START + timedelta(minutes=30), START + timedelta(minutes=60), "rueckruf"),
    ]
    assert all(check_slot(settings, s, NOW) is None for s in slots)
    statuses = storm(settings, store, slots)
    assert statuses == Counter({201: 1, 409: CALLERS - 1})
    assert len(store.bookings()) == 1
    assert store.taken(NOW)[0][0] == START or store.taken(NOW)[0][0] == slots[2].start


def test_the_store_alone_refuses_every_overlap_under_concurrency(store) -> None:
    """No pre-check at all: the write itself must let exactly one of 50 overlapping calls in."""
    from generator.domain import Booking
    from generator.store import SlotTaken

    gate = threading.Barrier(CALLERS)
    results: list[str] = []
    lock = threading.Lock()
    day = (START - timedelta(hours=13), START + timedelta(hours=11))

    def writer(i: int) -> None:
        start = START + timedelta(minutes=5 * (i % 6))  # six different, overlapping starts
        booking = Booking(
            id=f"b{i}",
            call_type="rueckruf",
            start=start,
            end=start + timedelta(minutes=30),
            name=f"Caller {i}",
            phone="030 1234",
            email="",
            topic="x",
            note="",
            who_calls="owner",
            language="de",
            caller_timezone="",
            created_at=NOW,
        )
        gate.wait()
        try:
            store.book(
                booking,
                cancel_token_hash=f"h{i}",
                idempotency_key=f"k{i}",
                channels=("email:owner",),
                day_start=day[0],
                day_end=day[1],
                max_per_day=None,
            )
            outcome = "booked"
        except SlotTaken:
            outcome = "taken"
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(CALLERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert Counter(results) == Counter({"booked": 1, "taken": CALLERS - 1})
    assert len(store.bookings()) == 1 and len(store.outbox()) == 1


def test_calls_on_both_sides_of_midnight_respect_the_buffers_under_concurrency(store) -> None:
    """A call late on one day and one early the next are within each other's buffers: one wins.

    Each day's bookings are serialised by a lock on that day; the buffer reaches into
    the neighbouring day, so both sides must be serialised there too (PostgreSQL).
    """
    from generator.domain import Booking
    from generator.store import DayFull, SlotTaken

    gate = threading.Barrier(CALLERS)
    results: list[str] = []
    lock = threading.Lock()
    midnight = datetime(2026, 11, 30, 23, tzinfo=UTC)  # 1 December 00:00 in Berlin
    days = [(midnight - timedelta(days=1), midnight), (midnight, midnight + timedelta(days=1))]
    starts = [midnight - timedelta(minutes=15), midnight]  # 5 minutes apart, buffers 10

    def writer(i: int) -> None:
        side = i % 2
        booking = Booking(
            id=f"m{i}",
            call_type="rueckruf",
            start=starts[side],
            end=starts[side] + timedelta(minutes=10),
            name=f"Caller {i}",
            phone="030 1234",
            email="",
            topic="x",
            note="",
            who_calls="owner",
            language="de",
            caller_timezone="",
            created_at=NOW,
        )
        gate.wait()
        try:
            store.book(
                booking,
                cancel_token_hash=f"h{i}",
                idempotency_key=f"k{i}",
                channels=(),
                day_start=days[side][0],
                day_end=days[side][1],
                max_per_day=None,
                buffer_before=timedelta(minutes=10),
                buffer_after=timedelta(minutes=10),
            )
            outcome = "booked"
        except (SlotTaken, DayFull):
            outcome = "taken"
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(CALLERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert Counter(results) == {"booked": 1, "taken": CALLERS - 1}
    assert len(store.bookings()) == 1
