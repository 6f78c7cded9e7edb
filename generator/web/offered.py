"""The slots the latest build offered, as the handler reads them back from slots.json.

A move link shows the open times of the call's type. The handler does not
compute slots itself: what the page offers is what the owner published, so it
reads the build's slots.json, from the first of

    CALLSLOT_SLOTS          a path, or an http(s) URL of the published slots.json
    public/slots.json       beside content/ (`callslot serve`, a VPS that builds in place)
    site.base_url/slots.json  the published page (the handler on Lambda, the page on Netlify)

Every slot's signature is checked with the handler's key, so a file from another
site or a hand-edited one offers nothing. The answer is kept for a minute.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from generator.config.settings import Settings
from generator.errors import CalendarError

if TYPE_CHECKING:
    from generator.availability import Slot

__all__ = ["OfferedSlots", "slots_from_json"]

log = logging.getLogger("callslot.handler")

_TTL = 60.0  # seconds; a rebuild shows on the move page within a minute
_TIMEOUT = 4.0
_MAX_BYTES = 4_000_000  # slots.json of a busy site is tens of kilobytes


def slots_from_json(data: bytes, secret: bytes) -> list[Slot]:
    """The slots of a slots.json whose tokens were signed with ``secret``; others left out."""
    from generator.signing import ForgedSlot, verify_slot_token

    try:
        doc = json.loads(data)
    except ValueError:
        return []
    items = doc.get("slots") if isinstance(doc, dict) else None
    found: list[Slot] = []
    for item in items if isinstance(items, list) else []:
        token = item.get("token") if isinstance(item, dict) else None
        if not isinstance(token, str):
            continue
        try:
            found.append(verify_slot_token(secret, token))
        except ForgedSlot:
            continue
    return found


class OfferedSlots:
    """``offered()``: the latest build's slots (read at most once a minute; [] when unreadable)."""

    def __init__(self, settings: Settings, secret: bytes, env: Mapping[str, str]) -> None:
        self.settings = settings
        self.secret = secret
        self.source = (env.get("CALLSLOT_SLOTS") or "").strip()
        self._cached: tuple[float, list[Slot]] | None = None
        self._lock = threading.Lock()

    def where(self) -> str:
        """Where the slots are read from: a path or a URL (never secret: it is public)."""
        if self.source:
            return self.source
        local = self.settings.root / "public" / "slots.json"
        if local.exists():
            return str(local)
        base = self.settings.site.base_url.rstrip("/")
        return f"{base}/slots.json" if base.startswith(("https://", "http://")) else str(local)

    def __call__(self) -> list[Slot]:
        with self._lock:
            if self._cached and self._cached[0] > time.monotonic():
                return self._cached[1]
        slots = self._read()
        with self._lock:
            self._cached = (time.monotonic() + _TTL, slots)
        return slots

    def _read(self) -> list[Slot]:
        where = self.where()
        try:
            if where.startswith(("https://", "http://")):
                from generator.busy.fetch import fetch_url

                data = fetch_url(where, name="slots.json", timeout=_TIMEOUT, max_bytes=_MAX_BYTES)
            else:
                path = Path(where)
                if path.stat().st_size > _MAX_BYTES:
                    raise OSError("larger than 4 MB")
                data = path.read_bytes()
        except (OSError, CalendarError) as exc:
            # The move page then says there is no open time; the call itself stays as it is.
            detail = exc.format_message() if isinstance(exc, CalendarError) else str(exc)
            log.warning("the offered slots could not be read from %s: %s", where, detail)
            return []
        return slots_from_json(data, self.secret)
