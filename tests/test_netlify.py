"""Netlify Forms mode: reading earlier submissions from a local server that answers like the API."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from generator.busy.netlify_forms import (
    fetch_submissions,
    netlify_credentials,
    taken_from_netlify,
    taken_from_submissions,
)
from generator.domain import Busy, Slot
from generator.errors import BuildError, ConfigError
from generator.signing import slot_token

SECRET = b"test-secret-0123456789abcdef"
TOKEN = "nfp_good_token_123"
SITE = "8f1e2d3c-site"
START = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)


def token_for(minutes_after: int, *, secret: bytes = SECRET, length: int = 30) -> str:
    start = START + timedelta(minutes=minutes_after)
    return slot_token(secret, Slot(start, start + timedelta(minutes=length), "rueckruf"))


def submission(number: int, slot: str | None) -> dict[str, Any]:
    """A submission shaped like the API's Submission model."""
    data = {
        "name": f"Caller {number}",
        "phone": "+49 30 1",
        "topic": "Vertrag",
        "form-name": "booking",
    }
    if slot is not None:
        data["slot"] = slot
    return {
        "id": f"sub{number}",
        "number": number,
        "form_name": "booking",
        "data": data,
        "created_at": "2026-11-27T10:00:00.000Z",
        "site_url": "https://x.netlify.app",
    }


@dataclass
class FakeNetlify:
    """What the fake API holds and saw."""

    forms: dict[str, tuple[str, list[dict[str, Any]]]] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)
    base: str = ""


@pytest.fixture
def api() -> Iterator[FakeNetlify]:
    state = FakeNetlify()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def send_json(self, status: int, body: object) -> None:
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def do_GET(self) -> None:
            state.requests.append(self.path)
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                self.send_json(401, {"code": 401, "message": "Access Denied"})
                return
            url = urlsplit(self.path)
            parts = url.path.strip("/").split("/")  # api, v1, ...
            query = parse_qs(url.query)
            if parts[2:] == ["sites", SITE, "forms"]:
                self.send_json(
                    200,
                    [
                        {"id": fid, "site_id": SITE, "name": name, "submission_count": len(subs)}
                        for fid, (name, subs) in state.forms.items()
                    ],
                )
            elif len(parts) == 5 and parts[2] == "forms" and parts[4] == "submissions":
                if parts[3] not in state.forms:
                    self.send_json(404, {"code": 404, "message": "Not Found"})
                    return
                page = int(query.get("page", ["1"])[0])
                per_page = min(int(query.get("per_page", ["100"])[0]), 100)
                subs = state.forms[parts[3]][1]
                self.send_json(200, subs[(page - 1) * per_page : page * per_page])
            else:
                self.send_json(404, {"code": 404, "message": "Not Found"})

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    state.base = f"http://127.0.0.1:{server.server_address[1]}/api/v1"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_reads_every_page_of_the_booking_form(api: FakeNetlify) -> None:
    subs = [submission(i, token_for(30 * i)) for i in range(150)]
    api.forms["f1"] = ("booking", subs)
    api.forms["f2"] = ("newsletter", [submission(999, None)])
    got = fetch_submissions(SITE, TOKEN, api_base=api.base)
    assert [s["id"] for s in got] == [s["id"] for s in subs]
    pages = [r for r in api.requests if "/forms/f1/submissions" in r]
    assert len(pages) == 2 and all("per_page=100" in r for r in pages)
    assert not any("/forms/f2/" in r for r in api.requests)  # another form's data is not read


def test_a_full_last_page_is_followed_by_an_empty_one(api: FakeNetlify) -> None:
    api.forms["f1"] = ("booking", [submission(i, token_for(30 * i)) for i in range(100)])
    assert len(fetch_submissions(SITE, TOKEN, api_base=api.base)) == 100


def test_submitted_slots_become_busy_and_forged_ones_are_ignored(api: FakeNetlify) -> None:
    api.forms["f1"] = (
        "booking",
        [
            submission(1, token_for(0)),
            submission(2, token_for(60, length=60)),
            submission(3, token_for(0)),  # the same slot twice: one interval
            submission(4, token_for(120, secret=b"another-secret-0123456789")),  # forged
            submission(5, "rueckruf.20261130T100000Z.20261130T103000Z.AAAA"),  # forged mac
            submission(6, None),  # no slot field
        ],
    )
    busy = taken_from_submissions(fetch_submissions(SITE, TOKEN, api_base=api.base), SECRET)
    assert busy == [
        Busy(START, START + timedelta(minutes=30)),
        Busy(START + timedelta(minutes=60), START + timedelta(minutes=120)),
    ]


def test_bad_token_is_a_clear_error_without_the_token(api: FakeNetlify) -> None:
    api.forms["f1"] = ("booking", [])
    with pytest.raises(ConfigError) as info:
        fetch_submissions(SITE, "wrong-token-xyz", api_base=api.base)
    message = info.value.format_message()
    assert "NETLIFY_AUTH_TOKEN" in message and "401" in message
    assert "wrong-token-xyz" not in message


def test_unknown_site_names_the_variable(api: FakeNetlify) -> None:
    with pytest.raises(ConfigError, match="NETLIFY_SITE_ID"):
        fetch_submissions("no-such-site", TOKEN, api_base=api.base)


def test_unreachable_api_stops_the_build() -> None:
    with pytest.raises(BuildError, match="cannot reach the Netlify API"):
        fetch_submissions(SITE, TOKEN, api_base="http://127.0.0.1:9/api/v1", timeout=2)


def test_environment_names_what_is_missing() -> None:
    with pytest.raises(ConfigError, match="NETLIFY_SITE_ID and NETLIFY_AUTH_TOKEN"):
        netlify_credentials({})
    with pytest.raises(ConfigError) as info:
        netlify_credentials({"SITE_ID": SITE})
    assert "NETLIFY_AUTH_TOKEN" in str(info.value) and "NETLIFY_SITE_ID" not in str(info.value)


def test_build_entry_point_reads_the_environment(api: FakeNetlify) -> None:
    api.forms["f1"] = ("booking", [submission(1, token_for(0))])
    # SITE_ID is what Netlify sets during its builds.
    env = {"SITE_ID": SITE, "NETLIFY_AUTH_TOKEN": TOKEN, "CALLSLOT_NETLIFY_API": api.base}
    assert taken_from_netlify(SECRET, env) == [Busy(START, START + timedelta(minutes=30))]


# -- the build leaves out what Netlify already holds ---------------------------------------


def test_build_leaves_out_slots_booked_through_netlify_forms(
    api: FakeNetlify, runner, example_site
) -> None:
    import re

    from generator.cli import main

    config = example_site / "content" / "site.toml"
    text = config.read_text(encoding="utf-8")
    config.write_text(
        text.replace('who_calls = "either"', 'who_calls = "either"\nbackend = "netlify-forms"'),
        encoding="utf-8",
    )
    env = {
        "CALLSLOT_SECRET": SECRET.decode(),
        "NETLIFY_SITE_ID": SITE,
        "NETLIFY_AUTH_TOKEN": TOKEN,
        "CALLSLOT_NETLIFY_API": api.base,
        "DATABASE_URL": None,
    }
    args = ["build", "--config", str(config), "--now", "2026-11-27T08:00Z"]
    api.forms["f1"] = ("booking", [])

    def offered() -> list[str]:
        result = runner.invoke(main, args, env=env)
        assert result.exit_code == 0, result.output
        page = (example_site / "public" / "index.html").read_text(encoding="utf-8")
        return re.findall(r'name="slot" id="[^"]+" value="([^"]+)"', page)

    before = offered()
    assert len(before) > 2
    api.forms["f1"][1].append(submission(1, before[1]))
    after = offered()
    assert before[1] not in after and before[0] in after


def test_build_in_netlify_mode_without_token_stops(runner, example_site) -> None:
    from generator.cli import main

    config = example_site / "content" / "site.toml"
    text = config.read_text(encoding="utf-8")
    config.write_text(
        text.replace('who_calls = "either"', 'who_calls = "either"\nbackend = "netlify-forms"'),
        encoding="utf-8",
    )
    env = {
        "CALLSLOT_SECRET": SECRET.decode(),
        "NETLIFY_SITE_ID": None,
        "SITE_ID": None,
        "NETLIFY_AUTH_TOKEN": None,
    }
    result = runner.invoke(main, ["build", "--config", str(config)], env=env)
    assert result.exit_code == 1
    assert "export NETLIFY_SITE_ID and NETLIFY_AUTH_TOKEN" in result.output
    assert not (example_site / "public").exists()  # no page that might offer taken slots
