"""The booking page arrives in one request: a caller on a slow line waits one round trip.

bench/page.py measures what this buys (first paint on slow 3G); these tests keep it true.
"""

from __future__ import annotations

from served import Served


def _load(site: Served, new_context, *, script: bool) -> list[str]:
    """Every request the browser makes while loading the start page, in order."""
    page = new_context(site, java_script_enabled=script).new_page()
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    if script:
        with page.expect_response(lambda r: r.url.endswith("/api/taken")):
            page.goto(f"{site.url}/", wait_until="load")
    else:
        page.goto(f"{site.url}/", wait_until="load")
    page.wait_for_load_state("networkidle")
    return requests


def test_start_page_is_one_request_without_javascript(site_de: Served, new_context) -> None:
    # Style, script and icon are inline: no stylesheet, font, image or favicon request.
    assert _load(site_de, new_context, script=False) == [f"{site_de.url}/"]


def test_script_only_asks_the_own_handler_for_taken_slots(site_de: Served, new_context) -> None:
    # The one further request goes to the same origin after the load event; nothing leaves
    # for another host (a caller's visit is seen by the owner's server alone).
    assert _load(site_de, new_context, script=True) == [
        f"{site_de.url}/",
        f"{site_de.url}/api/taken",
    ]
