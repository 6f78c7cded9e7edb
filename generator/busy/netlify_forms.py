"""The zero-backend option: Netlify Forms submissions -> the slots already taken.

With ``booking.backend = "netlify-forms"`` the page's form posts to Netlify
Forms, which stores each submission and sends Netlify's own notifications; no
handler runs. The next `callslot build` reads the earlier submissions through
the Netlify API and leaves their slots out. Between two builds nothing stops
two callers from picking the same slot: that is the price of having no
backend, and the README says so.

API (https://docs.netlify.com/api/get-started/): ``GET /sites/{site_id}/forms``
lists the site's forms, ``GET /forms/{form_id}/submissions`` their verified
(non-spam) submissions, 100 per page at most (``?page=&per_page=``), with
``Authorization: Bearer <personal access token>``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote, urlencode

from generator.domain import Busy
from generator.errors import BuildError, ConfigError
from generator.signing import ForgedSlot, verify_slot_token

__all__ = [
    "API_BASE",
    "FORM_NAME",
    "fetch_submissions",
    "netlify_credentials",
    "taken_from_netlify",
    "taken_from_submissions",
]

API_BASE = "https://api.netlify.com/api/v1"
FORM_NAME = "booking"  # the form's name attribute on every page; Netlify groups by it
PER_PAGE = 100  # the most the API returns per page
MAX_PAGES = 1000  # a guard against a server that never stops paginating
MAX_ANSWER = 20_000_000  # one page of 100 submissions is a few hundred KB


def _get(url: str, token: str, timeout: float) -> Any:
    from generator.http import HttpFailure, deadline_after, request

    # The messages below never include the token; the URL holds only ids.
    try:
        answer = request(
            url,
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            deadline=deadline_after(timeout),
            max_bytes=MAX_ANSWER,
        )
    except HttpFailure as exc:
        if exc.status in (401, 403):
            raise ConfigError(
                f"the Netlify API refused the token (HTTP {exc.status}); set NETLIFY_AUTH_TOKEN "
                "to a personal access token (Netlify: User settings > Applications) of an "
                "account with access to the site",
                field="NETLIFY_AUTH_TOKEN",
            ) from None
        if exc.status == 404:
            raise ConfigError(
                "the Netlify API does not know this site; set NETLIFY_SITE_ID to the site's "
                "API ID (Netlify: Site configuration > Site details)",
                field="NETLIFY_SITE_ID",
            ) from None
        if exc.status is not None:
            raise BuildError(
                f"the Netlify API answered HTTP {exc.status} while reading form submissions; "
                "try again, the build stops rather than offer slots that may be taken"
            ) from None
        reason = {
            "timeout": f"no complete answer within {timeout:g} s",
            "too_big": "its answer is larger than any list of submissions",
        }.get(exc.kind, exc.detail or exc.kind)
        raise BuildError(
            f"cannot reach the Netlify API ({reason}); the build stops rather than offer "
            "slots that may be taken"
        ) from None
    try:
        return json.loads(answer.body)
    except ValueError:
        raise BuildError("the Netlify API sent something that is not JSON") from None


def fetch_submissions(
    site_id: str,
    token: str,
    *,
    api_base: str = API_BASE,
    timeout: float = 20,
    form_name: str = FORM_NAME,
) -> list[dict[str, Any]]:
    """Every verified submission of the site's booking form, all pages read."""
    base = api_base.rstrip("/")
    forms = _get(f"{base}/sites/{quote(site_id, safe='')}/forms", token, timeout)
    if not isinstance(forms, list):
        raise BuildError("the Netlify API's list of forms is not a list")
    submissions: list[dict[str, Any]] = []
    for form in forms:
        if not isinstance(form, dict) or form.get("name") != form_name:
            continue
        form_id = quote(str(form.get("id", "")), safe="")
        for page in range(1, MAX_PAGES + 1):
            query = urlencode({"page": page, "per_page": PER_PAGE})
            batch = _get(f"{base}/forms/{form_id}/submissions?{query}", token, timeout)
            if not isinstance(batch, list):
                raise BuildError("the Netlify API's list of submissions is not a list")
            submissions.extend(s for s in batch if isinstance(s, dict))
            # A short page is the last one.
            if len(batch) < PER_PAGE:
                break
    return submissions


def taken_from_submissions(submissions: Iterable[Mapping[str, Any]], secret: bytes) -> list[Busy]:
    """The slots the submissions booked, sorted; forged or missing slot tokens are ignored."""
    taken: set[Busy] = set()
    for submission in submissions:
        data = submission.get("data")
        token = data.get("slot") if isinstance(data, Mapping) else None
        if not isinstance(token, str):
            continue
        try:
            slot = verify_slot_token(secret, token.strip())
        except ForgedSlot:
            # Anyone can post to a Netlify form; only slots a build offered count.
            continue
        taken.add(Busy(slot.start, slot.end))
    return sorted(taken)


def netlify_credentials(env: Mapping[str, str] | None = None) -> tuple[str, str, str]:
    """(site id, token, API base) from the environment; ConfigError naming what is missing."""
    env = os.environ if env is None else env
    # SITE_ID is set by Netlify in its own builds; NETLIFY_SITE_ID works everywhere.
    site_id = env.get("NETLIFY_SITE_ID") or env.get("SITE_ID") or ""
    token = env.get("NETLIFY_AUTH_TOKEN", "")
    missing = [
        name
        for name, value in (("NETLIFY_SITE_ID", site_id), ("NETLIFY_AUTH_TOKEN", token))
        if not value
    ]
    if missing:
        raise ConfigError(
            f'booking.backend is "netlify-forms", so the build reads earlier bookings from '
            f"Netlify; export {' and '.join(missing)} (a personal access token from Netlify: "
            "User settings > Applications; the site's API ID from Site configuration)",
            field="booking.backend",
        )
    return site_id, token, env.get("CALLSLOT_NETLIFY_API") or API_BASE


def taken_from_netlify(
    secret: bytes, env: Mapping[str, str] | None = None, *, timeout: float = 20
) -> list[Busy]:
    """The build's entry point: read the environment, fetch the submissions, keep the slots."""
    site_id, token, api_base = netlify_credentials(env)
    submissions = fetch_submissions(site_id, token, api_base=api_base, timeout=timeout)
    return taken_from_submissions(submissions, secret)
