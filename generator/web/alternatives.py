"""After a refused time: the next open times of the same call type, as one-click choices.

A caller told "someone else was quicker" should not retype anything: the
answer offers the next few open times, each a small form that books it with
the details this very request carried (never anything from the store, so a
replayed or forged form learns nothing about another caller). Without
JavaScript too: the choices are plain forms with hidden fields.

The times are those the page would offer now: the owner's hours, notice and
horizon, the calls already booked (buffers and calls per day included) and,
when the handler re-checks calendars, the owner's busy time.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from generator.config.settings import Settings

if TYPE_CHECKING:
    from generator.domain import Busy, Slot
    from generator.store.base import Store

__all__ = [
    "CHOICES",
    "Choice",
    "choice_forms",
    "choice_zone",
    "choices",
    "choices_json",
    "next_open_slots",
]

CHOICES = 3  # enough to find one that suits; few enough to read at a glance
_SCAN = 40  # candidates checked against the calendars at most (each day's read is cached)
# The fields a choice carries over from the refused request; the slot is the new one.
_CARRIED = ("name", "phone", "email", "topic", "note", "who_calls", "tz", "lang", "idem", "back")


@dataclasses.dataclass(frozen=True)
class Choice:
    slot: Slot
    token: str  # the signed slot, as the page's radio carries it
    label: str  # "Di., 8. Dez., 9:30" in the caller's zone when known


def next_open_slots(
    settings: Settings,
    store: Store,
    now: datetime,
    call_type: str,
    *,
    after: datetime | None = None,
    calendar_busy: Callable[[Slot], Sequence[Busy]] | None = None,
    count: int = CHOICES,
) -> list[Slot]:
    """The first ``count`` slots of ``call_type`` that could be booked at ``now``.

    Those from ``after`` on come first (the caller chose that day: the times nearest
    to it suit best), then earlier ones if too few are left.
    """
    from generator.availability import booked_busy, check_slot, open_slots
    from generator.errors import CalendarError

    if settings.call_type(call_type) is None:
        return []
    booked = booked_busy(store, settings, now)
    # Every start of the grid, not only the few the page spreads over a day: the
    # caller wants the next free time, and the page's choice may be among the taken ones.
    every = dataclasses.replace(
        settings, booking=dataclasses.replace(settings.booking, offers_per_day=None)
    )
    candidates = open_slots(every, [], now, booked=booked, call_types=[call_type])
    if after is not None:
        candidates.sort(key=lambda s: (s.start < after, s.start))
    found: list[Slot] = []
    for slot in candidates[:_SCAN]:
        if calendar_busy is not None:
            try:
                busy = calendar_busy(slot)
            except CalendarError:
                return []  # no unchecked time is ever offered
            if check_slot(settings, slot, now, busy=busy, booked=booked) is not None:
                continue
        found.append(slot)
        if len(found) == count:
            break
    return sorted(found, key=lambda s: s.start)


def _label(slot: Slot, zone: ZoneInfo, lang: str) -> str:
    from generator.i18n import short_day_label, short_time

    return f"{short_day_label(slot.start.astimezone(zone).date(), lang)}, " + short_time(
        slot.start, zone, lang
    )


def choices(
    settings: Settings, slots: Sequence[Slot], secret: bytes, fields: Mapping[str, str], lang: str
) -> list[Choice]:
    """Each slot signed and labelled in the caller's zone (the one their form sent), or
    the owner's."""
    from generator.signing import slot_token

    zone = choice_zone(settings, fields)
    return [Choice(slot, slot_token(secret, slot), _label(slot, zone, lang)) for slot in slots]


def choice_zone(settings: Settings, fields: Mapping[str, str]) -> ZoneInfo:
    """The zone the choices are written in: the caller's (their form sent it), or the
    owner's when the form had none or an unknown one."""
    caller = fields.get("tz") or ""
    if caller:
        try:
            return ZoneInfo(caller)
        except (ValueError, KeyError, OSError):
            pass
    return settings.tz


def choice_forms(
    action: str, found: Sequence[Choice], fields: Mapping[str, str], call_type: str
) -> tuple[dict[str, Any], ...]:
    """One form per choice for ``message.html``: the caller's own fields, hidden, and the slot."""
    carried = [(name, fields[name]) for name in _CARRIED if fields.get(name)]
    return tuple(
        {
            "action": action,
            "method": "post",
            "hidden": [("slot", c.token), ("call_type", call_type), *carried],
            "button": c.label,
        }
        for c in found
    )


def choices_json(found: Sequence[Choice]) -> list[dict[str, str]]:
    """The choices for a JSON caller: post the same body again with ``slot`` replaced."""
    from generator.signing import slot_id

    def iso(moment: datetime) -> str:
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")

    return [
        {
            "slot": c.token,
            "id": slot_id(c.slot),
            "start": iso(c.slot.start.astimezone(ZoneInfo("UTC"))),
            "end": iso(c.slot.end.astimezone(ZoneInfo("UTC"))),
            "label": c.label,
        }
        for c in found
    ]

