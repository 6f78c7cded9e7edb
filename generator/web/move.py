"""Moving a booked call: the caller's move link (``/api/move?token=``) and the move itself.

GET shows the open times of the call's type: the latest build's slots minus
what is taken now (the call itself left out, so its buffers do not hide the
times around it). POST moves the call in one store transaction under the same
rules as a booking (signature, notice, horizon, open hours, calendars,
overlap with buffers, calls per day): the new time is taken and the old one
released, or nothing changes. Both sides then get an updated invitation.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from generator.errors import CalendarError
from generator.i18n import N_
from generator.store.base import Booking, DayFull, MoveRefused, SlotTaken, day_limits
from generator.web.answers import Page, booking_details
from generator.web.guards import rate_key, retry_seconds

if TYPE_CHECKING:
    from generator.availability import Slot
    from generator.busy.calendars import Busy
    from generator.web.core import ApiRequest, ApiResponse, Context

__all__ = ["move_view", "open_times"]

log = logging.getLogger("callslot.handler")

_REASONS = {"notice": "too_soon", "busy": "slot_taken", "full": "day_full"}


def open_times(booking: Booking, now: datetime, ctx: Context) -> list[Slot]:
    """The offered slots of the booking's call type it could move to now, sorted."""
    from generator.availability import check_slot

    if ctx.offered_slots is None:
        return []
    candidates = [
        s
        for s in ctx.offered_slots()
        if s.call_type == booking.call_type and s.start != booking.start
    ]
    if not candidates:
        return []
    rules = ctx.settings.booking
    pad = rules.buffer_before + rules.buffer_after
    booked = _others(ctx, booking, now - pad, None)
    return sorted(
        (s for s in candidates if check_slot(ctx.settings, s, now, booked=booked) is None),
        key=lambda s: s.start,
    )


def _others(
    ctx: Context, booking: Booking, after: datetime, before: datetime | None
) -> list[Busy]:
    """Booked time of every other call: the call being moved does not block itself."""
    from generator.busy.calendars import Busy

    return [Busy(s, e) for s, e in ctx.store.taken_by_others(booking, after, before=before)]


def move_view(req: ApiRequest, now: datetime, ctx: Context) -> ApiResponse:
    """GET: the open times to choose from (or the moved call); POST: move it."""
    from generator.web.core import ApiResponse, open_link, refusal
    from generator.web.guards import same_site

    opened = open_link(req, now, ctx, ctx.store.by_move_hash)
    if isinstance(opened, ApiResponse):
        return opened
    booking, token, lang = opened
    if booking.status != "confirmed":
        return refusal("move_cancelled", req, ctx, lang=lang)
    if booking.start <= now:
        return refusal("move_too_late", req, ctx, lang=lang)
    if req.method == "POST":
        if not same_site(req.origin, req.host, ctx.settings):
            return refusal("cross_site", req, ctx, lang=lang)
        return _move(req, now, ctx, booking, token, lang)
    if req.wants_json:
        times = open_times(booking, now, ctx)
        return ApiResponse(200, data={"open": [_slot_json(s) for s in times]})
    if req.query.get("moved") == "1":  # an address from before moves ended there
        return ApiResponse(303, location=_moved_location(ctx, booking, lang))
    return ApiResponse(200, page=_choose_page(booking, token, now, ctx, lang))


def _slot_json(slot: Slot) -> dict[str, str]:
    from generator.web.core import iso_utc

    return {"start": iso_utc(slot.start), "end": iso_utc(slot.end), "call_type": slot.call_type}


def _reader_zone(ctx: Context, booking: Booking) -> ZoneInfo:
    """The zone the caller reads times in: theirs (the booking form sent it), as on the
    booked page and in their mails; the owner's when it was not sent or is not known."""
    if booking.caller_timezone:
        try:
            return ZoneInfo(booking.caller_timezone)
        except (ValueError, KeyError, OSError):
            pass
    return ctx.settings.tz


def _moved_location(ctx: Context, booking: Booking, lang: str) -> str:
    """After a move: the call's own page (its new time, move and cancel links, "add to
    calendar"), saying it was moved, as the booked page says a call was booked."""
    from urllib.parse import quote

    from generator.signing import cancel_token

    return f"/api/booking?token={cancel_token(ctx.secret, booking.id)}&lang={quote(lang)}&moved=1"


def _choose_page(booking: Booking, token: str, now: datetime, ctx: Context, lang: str) -> Page:
    from generator.i18n import day_label, short_time, zone_label
    from generator.signing import slot_token

    t = ctx.translate
    tz = _reader_zone(ctx, booking)
    times = open_times(booking, now, ctx)
    groups: list[tuple[str, list[tuple[str, str]]]] = []
    for slot in times:
        start = slot.start.astimezone(tz)
        legend = f"{day_label(start.date(), lang)} ({zone_label(str(tz.key), lang)})"
        label = f"{short_time(slot.start, tz, lang)}–{short_time(slot.end, tz, lang)}"
        if not groups or groups[-1][0] != legend:
            groups.append((legend, []))
        groups[-1][1].append((slot_token(ctx.secret, slot), label))
    heading = t(N_("Move your call"), lang)
    lead = t(
        N_(
            "Choose a new time. The old time is released for others, and both sides "
            "get an updated invitation."
        ),
        lang,
    )
    form = None
    if groups:
        form = {
            "action": "/api/move",
            "method": "post",
            "hidden": [("token", token), ("lang", lang)],
            "choices": groups,
            "button": t(N_("Move the call"), lang),
        }
    else:
        lead = t(
            N_("There is no other open time for this call right now. It stays as it is."), lang
        )
    return Page(
        title=heading,
        heading=heading,
        lead=lead,
        details=booking_details(ctx.settings, booking, lang, t),
        form=form,
        language=lang,
    )


def _move(
    req: ApiRequest, now: datetime, ctx: Context, booking: Booking, token: str, lang: str
) -> ApiResponse:
    from urllib.parse import quote

    from generator.availability import check_slot
    from generator.signing import ForgedSlot, verify_slot_token
    from generator.web.core import ApiResponse, day_bounds, refusal

    def refuse(code: str) -> ApiResponse:
        back = f"/api/move?token={token}&lang={lang}"
        return refusal(code, req, ctx, lang=lang, back=back)

    if ctx.rate_limit is not None:
        limit, window = ctx.rate_limit
        key = rate_key(ctx.secret, "move", req.client)
        if not ctx.store.rate_hit(key, now=now, window=window, limit=limit):
            wait = ctx.store.rate_retry_after(key, now=now, window=window)
            return replace(refuse("rate_limited"), retry_after=retry_seconds(wait))
    chosen = req.fields.get("slot") or ""
    if not chosen:
        return refuse("move_no_time")
    try:
        slot = verify_slot_token(ctx.secret, chosen)
    except ForgedSlot:
        return refuse("forged_slot")
    if slot.call_type != booking.call_type:
        return refuse("slot_unavailable")
    if slot.start < now:
        return refuse("slot_past")
    if slot.start == booking.start:
        # Its own time (a second click, an old form): nothing changes, nobody is mailed.
        if req.wants_json:
            from generator.web.core import booking_json

            return ApiResponse(200, data=booking_json(booking))
        return ApiResponse(303, location=f"/api/move?token={token}&lang={quote(lang)}")
    day_start, day_end = day_bounds(slot.start, ctx)
    rules = ctx.settings.booking
    pad = rules.buffer_before + rules.buffer_after
    booked = _others(ctx, booking, day_start - pad, day_end + pad)
    reason = check_slot(ctx.settings, slot, now, booked=booked)
    if reason is None and ctx.calendar_busy is not None:
        try:
            busy = ctx.calendar_busy(slot)
        except CalendarError as exc:
            log.warning("move refused, calendar re-check failed: %s", exc.format_message())
            return refuse("calendar_unavailable")
        reason = check_slot(ctx.settings, slot, now, busy=busy, booked=booked)
    if reason is not None:
        return refuse(_REASONS.get(reason, "slot_unavailable"))
    try:
        moved = ctx.store.move(
            booking.id,
            start=slot.start,
            end=slot.end,
            now=now,
            channels=ctx.notify_channels("moved"),
            reminders=ctx.reminders(slot.start, now),
            **day_limits(rules, day_start, day_end),
        )
    except SlotTaken:
        return refuse("slot_taken")
    except DayFull:
        return refuse("day_full")
    except MoveRefused as exc:
        return refuse("move_cancelled" if exc.reason == "cancelled" else "move_too_late")
    if moved is None:
        return refuse("unknown_token")
    ctx.after_commit(moved.id, now)
    log.info("booking %s moved", moved.id)
    if req.wants_json:
        from generator.web.core import booking_json

        return ApiResponse(200, data=booking_json(moved))
    return ApiResponse(303, location=_moved_location(ctx, moved, lang))
