"""The handler under attack and faults: replays, races, malformed requests, hostile input."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from handler_support import NOW, SECRET, AnswerPage
from werkzeug.test import Client

from generator.availability import Slot, check_slot
from generator.config.settings import Settings, load_settings
from generator.signing import slot_token
from generator.store import Store, open_store
from generator.web.wsgi import create_app

ROOT = Path(__file__).resolve().parent.parent
# Monday 30 November 2026, 13:30 in Berlin.
START = datetime(2026, 11, 30, 12, 30, tzinfo=UTC)
SLOT = Slot(START, START + timedelta(minutes=30), "rueckruf")


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    s = open_store(store_url)
    yield s
    s.close()


@pytest.fixture
def settings() -> Settings:
    return replace(load_settings(ROOT / "content" / "site.toml", env={}), calendars=())


def client_for(settings: Settings, store: Store, **env: str) -> Client:
    app = create_app(
        settings,
        store=store,
        secret=SECRET,
        clock=lambda: NOW,
        env={"CALLSLOT_RATE_LIMIT": "off", **env},
    )
    return Client(app)


def victim(**changes: str) -> dict[str, str]:
    fields = {
        "slot": slot_token(SECRET, SLOT),
        "name": "Erika Opfer",
        "phone": "+49 30 555 0199",
        "email": "erika@example.org",
        "topic": "Kündigung",
        "note": "Bitte nicht vor 9 anrufen, Zimmer 12",
        "lang": "de",
    }
    fields.update(changes)
    return fields


# -- 4: idempotency and availability in one transaction ---------------------------------


def test_a_hundred_identical_requests_are_one_booking_and_never_taken(
    settings, store
) -> None:
    assert check_slot(settings, SLOT, NOW) is None
    app_client = client_for(settings, store)
    app_client.get("/api/health")
    senders, rounds = 10, 10
    statuses: list[int] = []
    lock = threading.Lock()
    gate = threading.Barrier(senders)
    fields = victim(idem="0123456789abcdef0123456789abcdef")

    def sender() -> None:
        client = Client(app_client.application)
        for _ in range(rounds):
            gate.wait()
            status = client.post("/api/book", json=fields).status_code
            with lock:
                statuses.append(status)

    threads = [threading.Thread(target=sender) for _ in range(senders)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    counts = Counter(statuses)
    assert counts == Counter({201: 1, 200: senders * rounds - 1}), counts
    assert len(store.bookings()) == 1


def pause_after_idempotency_lookup(store: Store, reached: threading.Event, go: threading.Event):
    """The real store, stopping the thread named "second" right after its idempotency
    lookup: the moment another copy of the same form may commit."""
    base = type(store)

    class Pausing(base):  # type: ignore[valid-type, misc]
        def by_idempotency_key(self, key: str):
            found = super().by_idempotency_key(key)
            if threading.current_thread().name == "second":
                reached.set()
                go.wait(30)
            return found

    store.__class__ = Pausing
    return store


def test_a_copy_that_loses_the_race_to_its_twin_is_answered_with_the_booking(
    settings, store
) -> None:
    reached, go = threading.Event(), threading.Event()
    client = client_for(settings, pause_after_idempotency_lookup(store, reached, go))
    fields = victim(idem="0123456789abcdef0123456789abcdef")
    answers: dict[str, int] = {}

    def send(name: str) -> None:
        answers[name] = Client(client.application).post("/api/book", json=fields).status_code

    second = threading.Thread(target=send, args=("second",), name="second")
    second.start()
    assert reached.wait(30)
    send("first")  # books while the second copy is between its lookup and the check
    go.set()
    second.join(30)
    assert answers == {"first": 201, "second": 200}
    assert len(store.bookings()) == 1


# -- 1: a replay reveals nothing the request did not carry --------------------------------


def test_a_replay_without_the_pages_random_value_gets_no_cancel_link_nor_stored_details(
    settings, store
) -> None:
    client = client_for(settings, store)
    made = client.post("/api/book", data=victim())  # without JavaScript: idem is empty
    assert made.status_code == 303
    [booking] = store.bookings()
    # An attacker who knows name, phone, email and topic (not the note), in other case.
    replay = victim(name="ERIKA OPFER", email="Erika@Example.org", topic="KÜNDIGUNG", note="")
    answer = client.post("/api/book", data=replay)
    assert answer.status_code == 200
    assert "Location" not in answer.headers
    html = answer.get_data(as_text=True)
    page = AnswerPage.parse(html)
    assert page.heading == "Dieses Telefonat war schon gebucht"
    assert not any("token" in href for _, href in page.links), page.links
    assert "Zimmer 12" not in html and booking.id not in html
    assert page.details["Name"] == "ERIKA OPFER"  # what the request carried, nothing else
    as_json = client.post("/api/book", json=replay)
    assert as_json.status_code == 200
    data = as_json.get_json()
    assert data == {
        "already_booked": True,
        "start": "2026-11-30T12:30:00Z",
        "end": "2026-11-30T13:00:00Z",
        "call_type": "rueckruf",
    }
    assert len(store.bookings()) == 1


def test_the_browser_that_booked_gets_its_booking_page_again(settings, store) -> None:
    client = client_for(settings, store)
    idem = "a1b2c3d4" * 4
    first = client.post("/api/book", data=victim(idem=idem))
    again = client.post("/api/book", data=victim(idem=idem))
    assert first.status_code == again.status_code == 303
    assert again.headers["Location"] == first.headers["Location"]
    # Another value is another attempt, and the time is taken: nothing of the booking shows.
    other = client.post("/api/book", json=victim(idem="f" * 32))
    assert other.status_code == 409 and "cancel_url" not in other.get_json()
