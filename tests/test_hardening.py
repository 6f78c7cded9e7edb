"""The handler under attack and faults: replays, races, malformed requests, hostile input."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote, urlencode

import pytest
from handler_support import NOW, SECRET, AnswerPage
from hypothesis import HealthCheck, given
from hypothesis import settings as settings_
from hypothesis import strategies as st
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


def test_a_hundred_identical_requests_are_one_booking_and_never_taken(settings, store) -> None:
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


# -- 8: every malformed request is a 4xx --------------------------------------------------


@pytest.fixture
def sqlite_client(settings, tmp_path) -> Iterator[Client]:
    s = open_store(f"sqlite:///{tmp_path}/fuzz.sqlite3")
    yield client_for(settings, s)
    s.close()


def nothing_booked(client: Client) -> bool:
    return client.application.ctx.store.bookings(include_cancelled=True) == []


def _form_with(field: str, raw_json: str) -> str:
    """A complete booking form as JSON whose ``field`` holds ``raw_json`` verbatim."""
    return json.dumps(victim(**{field: "@@"})).replace('"@@"', raw_json)


@pytest.mark.parametrize(
    "body",
    [
        _form_with("name", '"\\ud800"'),
        _form_with("topic", '"a\\udfffb"'),
        _form_with("note", '"\\udc00 in a note"'),
        json.dumps(victim()).replace('"lang"', '"\\ud800"'),
        "[" * 30000,
        '{"a":' * 12000,
        '{"note": "' + "[" * 30000 + '"}',  # brackets inside a string are text, not depth
    ],
)
def test_hostile_json_is_a_readable_400(sqlite_client, caplog, body) -> None:
    response = sqlite_client.post(
        "/api/book", data=body.encode(), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.get_json()["error"] in ("bad_request", "invalid_fields")
    assert "Traceback" not in caplog.text
    assert nothing_booked(sqlite_client)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)
FIELDS = ["slot", "name", "phone", "email", "topic", "note", "lang", "back", "idem", "website"]


@settings_(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    body=st.one_of(
        st.binary(max_size=300),
        st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=5), json_values, max_size=6).map(
            lambda d: json.dumps(d).encode()
        ),
        st.dictionaries(st.sampled_from(FIELDS), st.text(max_size=40), max_size=8).map(
            lambda d: urlencode(d, encoding="utf-8", errors="surrogatepass").encode()
        ),
    ),
    content_type=st.sampled_from(
        [
            "application/json",
            "application/x-www-form-urlencoded",
            "application/json; charset=latin-1",
            "text/plain",
            "multipart/form-data; boundary=x",
            "",
        ]
    ),
    path=st.sampled_from(["/api/book", "/api/cancel", "/api/booking", "/api/taken", "/api/x"]),
    query=st.text(max_size=30),
    method=st.sampled_from(["POST", "GET", "PUT", "HEAD"]),
)
def test_fuzzed_requests_never_get_a_5xx(sqlite_client, body, content_type, path, query, method):
    response = sqlite_client.open(
        path,
        method=method,
        query_string=quote(query, safe="=&", errors="surrogatepass"),
        data=body,
        headers={"Content-Type": content_type} if content_type else {},
    )
    assert response.status_code < 500, (response.status_code, response.get_data(as_text=True))


# -- 10: what is booked can be mailed ------------------------------------------------------


@pytest.mark.parametrize(
    "email",
    ["a<img/src=x>@example.com", "a..b@example.org", '"a b"@example.org', "x@[192.0.2.1]"],
)
def test_an_address_no_mail_can_reach_is_refused_at_booking(sqlite_client, email) -> None:
    response = sqlite_client.post("/api/book", json=victim(email=email))
    assert response.status_code == 400
    assert [f["field"] for f in response.get_json()["fields"]] == ["email"]
    assert nothing_booked(sqlite_client)


@settings_(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    email=st.one_of(
        st.emails(),
        st.text(max_size=40).map(lambda t: t + "@example.org"),
        st.from_regex(r"[!-~]{1,20}@[!-~]{1,20}\.[a-z]{2,4}", fullmatch=True),
    )
)
def test_every_address_the_form_takes_is_one_the_mailer_sends_to(settings, email) -> None:
    from generator.notify.invite import clean_address
    from generator.web.form import BookingForm, parse_form

    parsed = parse_form(victim(email=email), settings)
    if isinstance(parsed, BookingForm) and parsed.email:
        assert clean_address(parsed.email) == parsed.email


# -- 11: the rate limit counts per household ---------------------------------------------


def test_ipv6_callers_are_counted_per_64(settings, store) -> None:
    from generator.page.build import offered_slots

    firsts: dict[object, Slot] = {}  # one slot per day: no buffer or daily limit interferes
    for offered in offered_slots(settings, NOW):
        firsts.setdefault(offered.start.date(), offered)
    slots = list(firsts.values())
    client = client_for(settings, store, CALLSLOT_RATE_LIMIT="1/10m")

    def book(address: str, chosen: Slot) -> int:
        fields = victim(slot=slot_token(SECRET, chosen))
        return client.post(
            "/api/book", json=fields, environ_base={"REMOTE_ADDR": address}
        ).status_code

    assert book("2001:db8:1:2::1", slots[0]) == 201
    assert book("2001:db8:1:2:ffff:ffff:ffff:fffe", slots[1]) == 429  # same /64
    assert book("2001:db8:1:3::1", slots[2]) == 201  # the neighbour's /64
    assert book("::ffff:192.0.2.7", slots[3]) == 201
    assert book("192.0.2.7", slots[4]) == 429  # the same IPv4 caller, mapped or not


# -- 9: the feed key is long and the feed is rate limited ----------------------------------

STRONG_KEY = "Zq3r8KfT1wXv6LmB0pNc9s"  # 22 characters, as secrets.token_urlsafe(16)


@pytest.mark.parametrize("key", ["7", "feed-key-123456", "a" * 40, "2026-12-01"])
def test_check_fails_and_the_handler_keeps_the_feed_off_for_a_weak_key(
    runner, example_site, settings, store, caplog, key
) -> None:
    from generator.cli import main

    env = {"CALLSLOT_SECRET": SECRET.decode(), "CALLSLOT_FEED_KEY": key}
    result = runner.invoke(
        main, ["check", "--config", str(example_site / "content" / "site.toml")], env=env
    )
    assert result.exit_code == 1, result.output
    assert "FAIL  CALLSLOT_FEED_KEY: too weak" in result.output
    if len(key) >= 8:  # a one-character key is in any text
        assert key not in result.output
    client = client_for(settings, store, CALLSLOT_FEED_KEY=key)
    assert client.get(f"/api/bookings.ics?key={key}").status_code == 404
    assert any("the bookings feed is off" in m for m in caplog.messages)
    assert len(key) < 8 or not any(key in m for m in caplog.messages)


def test_check_takes_a_random_feed_key(runner, example_site) -> None:
    from generator.cli import main

    env = {"CALLSLOT_SECRET": SECRET.decode(), "CALLSLOT_FEED_KEY": STRONG_KEY}
    result = runner.invoke(
        main, ["check", "--config", str(example_site / "content" / "site.toml")], env=env
    )
    assert "ok    CALLSLOT_FEED_KEY: set" in result.output, result.output


def test_the_feed_is_rate_limited_per_client(settings, store) -> None:
    client = client_for(settings, store, CALLSLOT_FEED_KEY=STRONG_KEY, CALLSLOT_RATE_LIMIT="5/10m")
    guesser = {"REMOTE_ADDR": "198.51.100.9"}
    statuses = [
        client.get(f"/api/bookings.ics?key=guess{i}", environ_base=guesser).status_code
        for i in range(61)
    ]
    assert statuses == [403] * 60 + [429]
    right = client.get(f"/api/bookings.ics?key={STRONG_KEY}", environ_base=guesser)
    assert right.status_code == 429 and int(right.headers["Retry-After"]) == 3600
    owner = client.get(
        f"/api/bookings.ics?key={STRONG_KEY}", environ_base={"REMOTE_ADDR": "192.0.2.5"}
    )
    assert owner.status_code == 200


# -- 13: forms from other sites, and links that outlive their call -------------------------


@pytest.mark.parametrize(
    ("headers", "allowed"),
    [
        ({"Origin": "https://evil.example.net"}, False),
        ({"Referer": "https://evil.example.net/page.html"}, False),
        ({"Origin": "null"}, False),
        ({"Origin": "https://anna-beispiel.example.org"}, True),  # site.base_url
        ({"Referer": "https://anna-beispiel.example.org/beratung.html?topic=x"}, True),
        ({"Origin": "http://localhost"}, True),  # the address the request was sent to
        ({"Origin": "https://www.anna.example"}, True),  # booking.allowed_origins
        ({}, True),  # no browser, or one that sends neither
    ],
)
def test_a_form_posted_from_another_site_is_refused(settings, store, headers, allowed) -> None:
    settings = replace(
        settings,
        booking=replace(settings.booking, allowed_origins=("https://www.anna.example",)),
    )
    client = client_for(settings, store)
    response = client.post("/api/book", data=victim(), headers=headers)
    if allowed:
        assert response.status_code == 303
        assert len(store.bookings()) == 1
    else:
        assert response.status_code == 403
        page = AnswerPage.parse(response.get_data(as_text=True))
        assert page.heading == "Dieses Formular kam nicht von der Buchungsseite"
        assert nothing_booked(client)


def test_a_cancel_posted_from_another_site_changes_nothing(settings, store) -> None:
    client = client_for(settings, store)
    location = client.post("/api/book", data=victim()).headers["Location"]
    token = location.split("token=")[1].split("&")[0]
    forged = client.post(
        "/api/cancel", data={"token": token}, headers={"Origin": "https://evil.example.net"}
    )
    assert forged.status_code == 403
    assert store.bookings()[0].status == "confirmed"
    own = client.post("/api/cancel", data={"token": token}, headers={"Origin": "http://localhost"})
    assert (
        own.status_code == 303 and store.bookings(include_cancelled=True)[0].status == "cancelled"
    )


def test_the_origin_setting_is_read_and_checked(tmp_path) -> None:
    from generator.errors import ConfigError

    text = (ROOT / "content" / "site.toml").read_text(encoding="utf-8")
    path = tmp_path / "content" / "site.toml"
    path.parent.mkdir()
    path.write_text(
        text.replace("[booking]", '[booking]\nallowed_origins = ["https://www.anna.example/"]', 1),
        encoding="utf-8",
    )
    assert load_settings(path, env={}).booking.allowed_origins == ("https://www.anna.example",)
    path.write_text(
        text.replace("[booking]", '[booking]\nallowed_origins = ["www.anna.example/x"]', 1),
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match=r"booking\.allowed_origins"):
        load_settings(path, env={})


def test_a_booking_link_stops_working_after_the_call_and_the_keep_time(settings, store) -> None:
    from generator.config.privacy import PrivacySettings

    settings = replace(settings, privacy=PrivacySettings(keep=timedelta(days=7)))
    location = client_for(settings, store).post("/api/book", data=victim()).headers["Location"]
    path = location.split("&")[0]

    def at(moment: datetime) -> int:
        app = create_app(
            settings,
            store=store,
            secret=SECRET,
            clock=lambda: moment,
            env={"CALLSLOT_RATE_LIMIT": "off"},
        )
        return Client(app).get(path).status_code

    end = SLOT.end
    assert at(end + timedelta(days=6, hours=23)) == 200
    expired = at(end + timedelta(days=7))
    assert expired == 410
    cancel = path.replace("/api/booking", "/api/cancel")
    app = create_app(
        settings,
        store=store,
        secret=SECRET,
        clock=lambda: end + timedelta(days=8),
        env={"CALLSLOT_RATE_LIMIT": "off"},
    )
    assert Client(app).get(cancel).status_code == 410


# -- 5: the PostgreSQL pool never hands out a dead connection -----------------------------


def _terminate(admin_url: str, application: str) -> int:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as admin:
        rows = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
            (application,),
        ).fetchall()
    return len(rows)


@pytest.mark.postgres
@pytest.mark.parametrize("how", ["terminated", "idle_timeout"])
def test_bookings_after_the_server_dropped_the_pools_connections_all_succeed(
    settings, postgres_url, how
) -> None:
    import uuid

    import psycopg
    from testenv import PG_ADMIN_URL

    from generator.page.build import offered_slots

    application = f"pool_{uuid.uuid4().hex[:10]}"
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    options = f"-csearch_path%3D{schema}"
    if how == "idle_timeout":
        options += "%20-cidle_session_timeout%3D300"  # the server drops idle sessions
    url = f"{postgres_url}?application_name={application}&options={options}"
    store = open_store(url)
    try:
        client = client_for(settings, store)
        # Fill the pool: several connections at once, all returned idle.
        threads = [threading.Thread(target=client.get, args=("/api/taken",)) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if how == "terminated":
            assert _terminate(PG_ADMIN_URL, application) >= 1
        time.sleep(1.0)  # the goodbye reaches the sockets; idle sessions time out
        firsts: dict[object, Slot] = {}
        for offered in offered_slots(settings, NOW):
            firsts.setdefault(offered.start.date(), offered)
        statuses = []
        for i, chosen in enumerate(list(firsts.values())[:12]):
            fields = victim(slot=slot_token(SECRET, chosen), name=f"Caller {i}")
            statuses.append(client.post("/api/book", json=fields).status_code)
            statuses.append(client.get("/api/health").status_code)
        assert statuses == [201, 200] * (len(statuses) // 2), statuses
    finally:
        store.close()


def test_without_the_pages_address_forms_are_taken_and_check_says_why(
    settings, store, runner, tmp_path
) -> None:
    from generator.cli import main

    unknown = replace(settings, site=replace(settings.site, base_url=""))
    client = client_for(unknown, store)
    posted = client.post("/api/book", data=victim(), headers={"Origin": "https://netlify.example"})
    assert posted.status_code == 303  # a rewrite from the page's host: not refused blindly
    text = (ROOT / "content" / "site.toml").read_text(encoding="utf-8")
    path = tmp_path / "content" / "site.toml"
    path.parent.mkdir()
    path.write_text(text.replace("base_url =", "# base_url ="), encoding="utf-8")
    result = runner.invoke(
        main, ["check", "--config", str(path)], env={"CALLSLOT_SECRET": SECRET.decode()}
    )
    assert "site.base_url is not set: the handler cannot tell" in result.output, result.output


# -- the proxies in front pass the caller's address on -------------------------------------


def test_a_short_forwarded_chain_is_warned_about_once_without_addresses(
    settings, store, caplog, monkeypatch
) -> None:
    from generator.web import wsgi

    monkeypatch.setattr(wsgi, "_chain_warned", threading.Event())
    client = client_for(settings, store, CALLSLOT_TRUSTED_PROXIES="2")
    caplog.set_level("WARNING", logger="callslot.handler")

    def get(forwarded: str | None, path: str = "/api/taken") -> None:
        headers = {} if forwarded is None else {"X-Forwarded-For": forwarded}
        client.get(path, headers=headers, environ_base={"REMOTE_ADDR": "10.0.0.9"})

    get("198.51.100.7, 203.0.113.5")  # Netlify's hop and Caddy's: as the setting says
    get(None, "/api/health")  # a local health check
    assert not [r for r in caplog.records if "X-Forwarded-For" in r.getMessage()]
    get("203.0.113.5")  # Caddy replaced the chain: one entry
    get("203.0.113.6")
    get(None)
    warnings = [r.getMessage() for r in caplog.records if "X-Forwarded-For" in r.getMessage()]
    assert len(warnings) == 1, warnings
    assert "CALLSLOT_TRUSTED_PROXIES is 2" in warnings[0] and "trusted_proxies" in warnings[0]
    assert not any(ip in warnings[0] for ip in ("203.0.113", "198.51.100", "10.0.0.9"))
