"""The outbox worker: deliver each queued notification once, retry failures with backoff.

A booking and its outbox rows are written in one transaction by the store;
this module only reads rows back. It claims due rows with a lease (the store
makes the claim atomic, so two workers never hold the same row), tries each
channel once and marks the row sent, or failed with the next attempt time.
Delivery problems never raise out of :func:`send_now` or :func:`run_due`:
the booking is already safe, and the row stays queued for the next run.

Channels: ``email:owner``, ``email:caller``, ``webhook:<index>`` (into
``settings.notify.webhooks``) and ``build_hook``. Mail rows are queued for
every call even while no mail server is configured: they wait, unclaimed,
until one is, then the calls still ahead are announced and the others
dropped. Reminders are rows of the "reminder" event, due before the call.

The build hook is limited to one POST a minute by delaying, not dropping: a
rebuild started just before a booking may not see it, so a row that finds a
POST in the last minute waits and triggers the next rebuild itself. Rows
due together share one POST.
"""

from __future__ import annotations

import logging
import os
import secrets
import smtplib
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo

from generator.config.settings import Secret, Settings
from generator.domain import Booking, OutboxItem
from generator.errors import CallslotError, NotifyError
from generator.notify.mail import SMTP_TIMEOUT, booking_message, send_message, smtp_problem
from generator.notify.webhook import TIMEOUT as WEBHOOK_TIMEOUT
from generator.notify.webhook import WebhookFailed, post, send_webhook
from generator.signing import cancel_token, move_token
from generator.store.base import ANNOUNCEMENTS, Store

__all__ = [
    "BACKOFF",
    "MAX_ATTEMPTS",
    "Delivery",
    "NotifyReport",
    "backoff_after",
    "cancel_url",
    "channels_for",
    "check_notify_settings",
    "deliverable_channels",
    "move_url",
    "redact",
    "release_crashed",
    "reminders_for",
    "run_due",
    "run_forever",
    "send_now",
    "waiting_for_channel",
    "worker_alive",
]

log = logging.getLogger("callslot.notify")

# Waits after the 1st, 2nd, ... failed attempt; after MAX_ATTEMPTS the row is "failed".
BACKOFF = (
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=6),
    timedelta(hours=12),
    timedelta(hours=24),
)
MAX_ATTEMPTS = 8
# The lease must outlast a whole batch (BATCH rows x SMTP/HTTP timeouts of 10-20 s),
# otherwise a second worker could claim a row that is still being sent.
LEASE = timedelta(minutes=10)
BATCH = 10
# Seconds a booking request spends on its notifications (send_now(budget=...)): a
# hanging mail server must not keep the caller waiting, nor outlast a proxy's or
# Lambda's timeout (the booking then looks failed although it is recorded). What is
# left goes to the worker; a server slower than this may get a mail twice.
IMMEDIATE_BUDGET = 8.0
BUILD_HOOK_INTERVAL = timedelta(seconds=60)
BUILD_HOOK_RATE_KEY = "notify:build_hook"

# Failures of the outside world (and of settings the owner can still fix, such as
# a missing env var): the row is retried. Anything else is a bug, logged with
# its traceback, and the row is retried as well so nothing is lost.
_DELIVERY_ERRORS = (OSError, smtplib.SMTPException, WebhookFailed, CallslotError)


@dataclass(frozen=True)
class Delivery:
    """What happened to one outbox row in this run."""

    item_id: int
    booking_id: str
    channel: str
    event: str
    # "sent", "skipped", "coalesced", "dropped" (an announcement of a call already
    # begun, a reminder too late), "delayed", "retry" or "failed"
    outcome: str
    detail: str = ""
    next_attempt_at: datetime | None = None

    def line(self, tz: tzinfo | None = None) -> str:
        """One line for the terminal or the log; the next attempt as the owner's clock in
        ``tz`` shows it ("Sun 2027-10-31 1:06"), or in UTC with its offset without a zone."""
        text = f"{self.outcome:9} {self.channel:13} {self.event:9} booking {self.booking_id}"
        if self.detail:
            text += f": {self.detail}"
        if self.next_attempt_at is not None and self.outcome in ("retry", "delayed"):
            if tz is None:
                when = self.next_attempt_at.isoformat(timespec="seconds")
            else:  # as every command writes a time (commands.phrases.day_and_time)
                local = self.next_attempt_at.astimezone(tz)
                when = f"{local:%a %Y-%m-%d} {local.hour}:{local.minute:02d}"
            text += f" (next attempt {when})"
        return text


@dataclass(frozen=True)
class NotifyReport:
    """Every row handled in one run, in order."""

    deliveries: tuple[Delivery, ...] = ()

    def count(self, *outcomes: str) -> int:
        return sum(1 for d in self.deliveries if d.outcome in outcomes)

    @property
    def sent(self) -> int:
        """Rows that really went out (a mail handed to the server, a webhook answered)."""
        return self.count("sent")

    @property
    def skipped(self) -> int:
        """Rows done without sending: nothing to send (no caller email, booking gone) or
        folded into another delivery; counted apart so "sent" means someone was told."""
        return self.count("skipped", "coalesced")

    @property
    def dropped(self) -> int:
        """Rows not sent because their call had begun by the time they could go out."""
        return self.count("dropped")

    @property
    def failed(self) -> int:
        """Rows that did not go out (still queued, or given up)."""
        return self.count("retry", "failed")


def channels_for(settings: Settings, event: str) -> list[str]:
    """The outbox channels to queue for ``event`` ("booked", "moved" or "cancelled").

    Both mail channels are queued whatever is configured now: a call booked before
    the mail server was set up is announced once it is. A row with no address to
    write to (no owner.email, a caller without email) is skipped at send time.
    """
    if event not in ANNOUNCEMENTS:
        raise ValueError(f"unknown notification event {event!r}")
    channels = ["email:owner", "email:caller"]
    channels.extend(f"webhook:{i}" for i in range(len(settings.notify.webhooks)))
    if settings.notify.build_hook is not None:
        channels.append("build_hook")
    return channels


def deliverable_channels(settings: Settings) -> list[str]:
    """The channels that can be sent now; rows of the others wait in the outbox."""
    channels = ["email:owner", "email:caller"] if settings.notify.email is not None else []
    channels.extend(f"webhook:{i}" for i in range(len(settings.notify.webhooks)))
    if settings.notify.build_hook is not None:
        channels.append("build_hook")
    return channels


def reminders_for(settings: Settings, start: datetime, now: datetime) -> list[tuple[str, datetime]]:
    """(channel, due) of the reminders of a call starting at ``start``, booked or moved at
    ``now``: none whose time has already passed (a call booked for tomorrow morning gets
    no "the day before" reminder)."""
    channels = ["email:caller"]
    if settings.notify.remind_owner:
        channels.append("email:owner")
    channels.extend(f"webhook:{i}" for i in range(len(settings.notify.webhooks)))
    rows: list[tuple[str, datetime]] = []
    for reminder in settings.notify.reminders:
        due = reminder.due(start, settings.tz)
        if now < due < start:
            rows.extend((channel, due) for channel in channels)
    return rows


def waiting_for_channel(settings: Settings, store: Store, *, now: datetime) -> int:
    """Due mail rows that wait because no mail server is configured yet."""
    if settings.notify.email is not None:
        return 0
    return sum(1 for item in store.outbox(due_by=now) if item.channel.startswith("email:"))


def cancel_url(settings: Settings, secret: bytes, booking_id: str) -> str:
    """The caller's cancel link (relative when the site has no base_url)."""
    base = settings.site.base_url.rstrip("/")
    return f"{base}/api/cancel?token={cancel_token(secret, booking_id)}"


def move_url(settings: Settings, secret: bytes, booking_id: str) -> str:
    """The caller's link to move the call (relative when the site has no base_url)."""
    base = settings.site.base_url.rstrip("/")
    return f"{base}/api/move?token={move_token(secret, booking_id)}"


def backoff_after(attempts: int) -> timedelta | None:
    """The wait after ``attempts`` failed attempts; None when it is time to give up."""
    if attempts >= MAX_ATTEMPTS:
        return None
    return BACKOFF[min(attempts, len(BACKOFF)) - 1]


def check_notify_settings(settings: Settings) -> None:
    """Raise NotifyError when a configured channel cannot work (e.g. an env var is missing)."""
    secrets_to_check: list[tuple[str, Secret | None]] = [
        ("notify.webhook_secret", settings.notify.webhook_secret),
        ("notify.build_hook", settings.notify.build_hook),
    ]
    if settings.notify.email and settings.notify.email.username:
        secrets_to_check.append(("notify.email.password", settings.notify.email.password))
    secrets_to_check += [("notify.webhooks", hook) for hook in settings.notify.webhooks]
    for name, secret in secrets_to_check:
        if secret is not None and not secret.present:
            raise NotifyError(
                f"{name}: environment variable {secret.env} is not set; export it "
                "or remove the setting from site.toml"
            )


def _started(pid: int) -> str:
    """When process ``pid`` started (clock ticks since boot, from /proc), or "" where
    unknown: with the pid it names one process, even after the pid is reused."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def _worker_id() -> str:
    pid = os.getpid()
    return f"{socket.gethostname()}:{pid}:{_started(pid)}:{secrets.token_hex(3)}"


def worker_alive(worker: str) -> bool:
    """False only for a worker of this machine whose process is gone (a crashed sender);
    workers elsewhere, and ids this callslot did not write, count as alive."""
    parts = worker.split(":")
    if len(parts) != 4 or parts[0] != socket.gethostname() or not parts[1].isdigit():
        return True
    pid, started = int(parts[1]), parts[2]
    if started:
        return _started(pid) == started
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # it exists, under another user
        return True
    return True


def release_crashed(store: Store, *, now: datetime) -> list[int]:
    """Rows claimed by a sender of this machine that died: released at once, instead of
    after the 10-minute lease (see Store.release_claims for what becomes of each)."""
    released = store.release_claims(now=now, alive=worker_alive)
    if released:
        log.warning("released %d %s left by a sender that stopped", len(released),
                    "notification" if len(released) == 1 else "notifications")
    return released


def send_now(
    settings: Settings,
    store: Store,
    booking_id: str,
    *,
    now: datetime,
    secret: bytes,
    budget: float | None = None,
) -> NotifyReport:
    """Right after a booking (or cancellation) commits: try its due rows once.

    With ``budget`` (seconds), no row is started after that time and network waits
    end with it; the rows left are due at once for `callslot notify`.
    Never raises: a failure leaves the rows queued for `callslot notify`.
    """
    try:
        deadline = None if budget is None else time.monotonic() + budget
        items = store.claim_outbox(
            now=now,
            worker=_worker_id(),
            lease=LEASE,
            booking_id=booking_id,
            limit=50,
            channels=deliverable_channels(settings),
        )
        return NotifyReport(
            tuple(_deliver_batch(settings, store, items, now=now, secret=secret, deadline=deadline))
        )
    except Exception:
        log.exception("notifications for booking %s stay queued", booking_id)
        return NotifyReport()


def run_due(
    settings: Settings,
    store: Store,
    *,
    now: datetime,
    secret: bytes,
    retry_now: bool = False,
    worker: str | None = None,
) -> NotifyReport:
    """Send every pending row that is due (``retry_now``: also those waiting out a backoff).

    What `callslot notify` and the background thread of `callslot serve` call.
    """
    worker = worker or _worker_id()
    release_crashed(store, now=now)
    done: list[Delivery] = []
    seen: set[int] = set()
    while True:
        # With retry_now a row that just failed is due again at once: one claim, no loop.
        items = store.claim_outbox(
            now=now,
            worker=worker,
            lease=LEASE,
            include_waiting=retry_now,
            limit=500 if retry_now else BATCH,
            channels=deliverable_channels(settings),
        )
        fresh = [item for item in items if item.id not in seen]
        if not fresh:
            break
        seen.update(item.id for item in fresh)
        done.extend(_deliver_batch(settings, store, fresh, now=now, secret=secret))
        if retry_now:
            break
    return NotifyReport(tuple(done))


def run_forever(
    settings: Settings,
    store: Store,
    *,
    secret: bytes,
    stop: threading.Event,
    clock: Callable[[], datetime],
    interval: float = 30.0,
) -> None:
    """The background loop of `callslot serve`: :func:`run_due` every ``interval`` seconds.

    Runs once at once, then until ``stop`` is set. A run that fails (the
    database is away for a moment) is logged and tried again next time.
    """
    worker = _worker_id()
    while True:
        try:
            report = run_due(settings, store, now=clock(), secret=secret, worker=worker)
            for delivery in report.deliveries:
                log.info("notify: %s", delivery.line())
        except Exception:
            log.exception("the notification run failed; trying again in %s s", interval)
        if stop.wait(interval):
            return


def _deliver_batch(
    settings: Settings,
    store: Store,
    items: Sequence[OutboxItem],
    *,
    now: datetime,
    secret: bytes,
    deadline: float | None = None,
) -> list[Delivery]:
    results: list[Delivery] = []
    hooks = [item for item in items if item.channel == "build_hook"]
    for item in items:
        if item.channel != "build_hook":
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left < 1.0:  # too little to reach any server
                results.append(_leave(store, item, now))
                continue
            result = _attempt(settings, store, item, now=now, secret=secret, timeout=left)
            results.append(_finish(store, item, now, result))
    if hooks:
        left = None if deadline is None else deadline - time.monotonic()
        if left is not None and left < 1.0:
            results.extend(_leave(store, item, now) for item in hooks)
        else:
            results.extend(_build_hook(settings, store, hooks, now=now, timeout=left))
    return results


def _leave(store: Store, item: OutboxItem, now: datetime) -> Delivery:
    """A row the booking request had no time left for: due at once for the worker."""
    detail = "not tried yet: the booking request's time for notifications ran out"
    store.finish_outbox(item.id, sent=False, error=detail, next_attempt_at=now)
    return Delivery(item.id, item.booking_id, item.channel, item.event, "retry", detail, now)


def _attempt(
    settings: Settings,
    store: Store,
    item: OutboxItem,
    *,
    now: datetime,
    secret: bytes,
    timeout: float | None = None,
) -> tuple[str, str]:
    """Try one row: (outcome, detail) with outcome "sent", "skipped" or "error"."""
    booking = None
    try:
        booking = store.get(item.booking_id)
        if booking is None:
            return "skipped", "the booking no longer exists"
        return _send(
            settings, booking, item, now=now, secret=secret, timeout=timeout, store=store
        )
    except _DELIVERY_ERRORS as exc:
        return "error", redact(_describe(exc), booking)
    except Exception as exc:
        # A bug: its traceback goes to the log, without the caller's data in its text.
        import traceback

        trace = redact("".join(traceback.format_exception(exc)), booking)
        log.error("notification %s (%s) failed unexpectedly\n%s", item.id, item.channel, trace)
        return "error", redact(_describe(exc), booking)


def _send(
    settings: Settings,
    booking: Booking,
    item: OutboxItem,
    *,
    now: datetime,
    secret: bytes,
    timeout: float | None = None,
    store: Store | None = None,
) -> tuple[str, str]:
    channel = item.channel
    if booking.start <= now and item.event in (*ANNOUNCEMENTS, "reminder"):
        # Announcing a call that has begun (a row that waited for a mail server, or
        # a worker that was down) helps nobody and puts a past event into calendars.
        local = booking.start.astimezone(settings.tz)
        when = f"{local:%a %Y-%m-%d} {local.hour}:{local.minute:02d}"  # as the CLI writes it
        return "dropped", f"the call began at {when}; too late to send"
    if item.event in ("booked", "moved", "reminder") and booking.status != "confirmed":
        # A REQUEST after the CANCEL would put the call back into calendars.
        return "skipped", "the booking was cancelled before this went out"
    if channel.startswith("email:"):
        email = settings.notify.email
        if email is None:
            raise NotifyError("email is not configured: set SMTP_URL or [notify.email]")
        audience = channel.split(":", 1)[1]
        caller = audience == "caller"
        message = booking_message(
            settings,
            booking,
            audience=audience,
            event=item.event,
            now=now,
            cancel_url=cancel_url(settings, secret, booking.id) if caller else None,
            move_url=move_url(settings, secret, booking.id)
            if caller and store is not None and _movable(store, secret, booking)
            else None,
            previous=_previous(item),
            # One Message-ID per row: a copy sent again after a crash can be recognised.
            message_id=f"callslot.{item.id}.{booking.id}",
        )
        if message is None:
            return "skipped", f"no valid {audience} email address"
        try:
            send_message(
                email,
                message,
                timeout=min(SMTP_TIMEOUT, timeout or SMTP_TIMEOUT),
                handoff=None if store is None else lambda stage: store.mark_handoff(item.id, stage),
            )
        except (OSError, smtplib.SMTPException) as exc:
            # Said in our words for the report and the row's last error (no password).
            raise NotifyError(smtp_problem(email, exc)) from exc
        return "sent", ""
    if channel.startswith("webhook:"):
        index = int(channel.split(":", 1)[1])
        if index >= len(settings.notify.webhooks):
            raise NotifyError(f"webhook {index + 1} is no longer in the settings")
        key = (
            settings.notify.webhook_secret.get().encode()
            if settings.notify.webhook_secret
            else secret
        )
        status = send_webhook(
            settings.notify.webhooks[index].get(),
            settings,
            booking,
            item.event,
            previous=_previous(item),
            key=key,
            timeout=min(WEBHOOK_TIMEOUT, timeout or WEBHOOK_TIMEOUT),
        )
        return "sent", f"HTTP {status}"
    raise NotifyError(f"unknown notification channel {channel!r}")


def _movable(store: Store, secret: bytes, booking: Booking) -> bool:
    """Whether the booking's move link works: calls booked before move links existed
    have no move token stored, and a link that says "not found" helps nobody."""
    import hashlib

    digest = hashlib.sha256(move_token(secret, booking.id).encode()).hexdigest()
    return store.by_move_hash(digest) is not None


def _previous(item: OutboxItem) -> tuple[datetime, datetime] | None:
    """A moved call's time before the move, from its "moved" row."""
    if item.previous_start is None or item.previous_end is None:
        return None
    return item.previous_start, item.previous_end


def _build_hook(
    settings: Settings,
    store: Store,
    items: Sequence[OutboxItem],
    *,
    now: datetime,
    timeout: float | None = None,
) -> list[Delivery]:
    """One POST for all build_hook rows due now, at most one a minute across workers."""
    first, rest = items[0], items[1:]
    outcome, detail = "sent", ""
    try:
        if settings.notify.build_hook is None:
            raise NotifyError("notify.build_hook is no longer in the settings")
        url = settings.notify.build_hook.get()
        if not store.rate_hit(BUILD_HOOK_RATE_KEY, now=now, window=BUILD_HOOK_INTERVAL, limit=1):
            wait = now + BUILD_HOOK_INTERVAL
            detail = "a rebuild was triggered less than a minute ago; waiting for the next"
            results = []
            for item in items:
                store.finish_outbox(item.id, sent=False, error=detail, next_attempt_at=wait)
                results.append(
                    Delivery(
                        item.id, item.booking_id, item.channel, item.event, "delayed", detail, wait
                    )
                )
            return results
        post(
            url,
            b"{}",
            headers={"Content-Type": "application/json"},
            timeout=min(WEBHOOK_TIMEOUT, timeout or WEBHOOK_TIMEOUT),
        )
    except _DELIVERY_ERRORS as exc:
        outcome, detail = "error", _describe(exc)
    except Exception as exc:
        log.exception("build hook failed unexpectedly")
        outcome, detail = "error", _describe(exc)
    results = [_finish(store, first, now, (outcome, detail))]
    for item in rest:
        if outcome == "sent":
            results.append(_finish(store, item, now, ("coalesced", "covered by one rebuild")))
        else:
            results.append(_finish(store, item, now, (outcome, detail)))
    return results


def _finish(store: Store, item: OutboxItem, now: datetime, result: tuple[str, str]) -> Delivery:
    outcome, detail = result
    if outcome in ("sent", "skipped", "coalesced", "dropped"):
        store.finish_outbox(item.id, sent=True, error=detail if outcome != "sent" else "")
        return Delivery(item.id, item.booking_id, item.channel, item.event, outcome, detail)
    wait = backoff_after(item.attempts + 1)
    next_at = now + wait if wait is not None else None
    store.finish_outbox(item.id, sent=False, error=detail, next_attempt_at=next_at)
    if next_at is None:
        log.warning(
            "gave up on notification %s (%s) after %d attempts: %s",
            item.id,
            item.channel,
            item.attempts + 1,
            detail,
        )
    return Delivery(
        item.id,
        item.booking_id,
        item.channel,
        item.event,
        "retry" if next_at else "failed",
        detail,
        next_at,
    )


def redact(text: str, booking: Booking | None) -> str:
    """``text`` without the caller's personal data: a mail server's refusal quotes the
    address ("550 <max@example.org>: unknown"), sometimes the name; the text goes to
    logs and the outbox, where it would outlive the booking's erasure."""
    if booking is None or not text:
        return text
    values = [booking.name, booking.email, booking.phone, booking.topic, booking.note]
    local = booking.email.rpartition("@")[0]
    values.append(local)
    from generator.contact import ascii_email

    values.append(ascii_email(booking.email) or "")
    digits = "".join(ch for ch in booking.phone if ch.isdigit())
    values += [digits, digits[-7:]]
    # Longest first, so a part (the local part of an address) never leaves the rest behind.
    for value in sorted({v.strip() for v in values if len(v.strip()) >= 3}, key=len,
                        reverse=True):
        text = text.replace(value, "<caller>")
    return text


def _describe(exc: BaseException) -> str:
    """A short, secret-free description for last_error and the report."""
    if isinstance(exc, CallslotError):
        return exc.format_message()
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:500]
