"""`callslot check`: know that a set-up works before a caller finds out it does not.

Each step looks at one part (settings, calendars, secrets, database, mail,
webhooks, Netlify) and says in one line what it found; a problem line says
what to do about it. Nothing here prints a secret: calendar URLs, passwords,
tokens and DATABASE_URL are named by their setting or variable only, and any
message from a library is scrubbed of them before it is shown.
"""

from __future__ import annotations

import json
import os
import smtplib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import TYPE_CHECKING

from generator.commands.phrases import clock, count, day_and_time
from generator.config.settings import EmailSettings, Secret, Settings, check_settings, load_settings
from generator.config.translations import untranslated
from generator.errors import CallslotError, ConfigError
from generator.notify.mail import smtp_connection, smtp_problem

if TYPE_CHECKING:
    from generator.busy.calendars import CalendarInfo

__all__ = ["CheckReport", "Finding", "run_check"]

OK, NOTE, PROBLEM = "ok", "note", "FAIL"


@dataclass(frozen=True)
class Finding:
    """One line of the report: ``level`` is "ok", "note" or "FAIL"."""

    level: str
    part: str  # what was looked at: "settings", "calendar 'Arbeit'", "SMTP", ...
    message: str

    def __str__(self) -> str:
        return f"{self.level:<4}  {self.part}: {self.message}"


@dataclass
class CheckReport:
    findings: list[Finding] = field(default_factory=list)
    secrets: list[str] = field(default_factory=list)  # values to scrub from every message

    def add(self, level: str, part: str, message: str) -> None:
        for value in self.secrets:
            message = message.replace(value, "<secret>")
        # One prefix: "CALLSLOT_SECRET: is too short", not "CALLSLOT_SECRET: CALLSLOT_SECRET is".
        for prefix in (f"{part}: ", f"{part} "):
            if message.startswith(prefix):
                message = message[len(prefix):]
                break
        self.findings.append(Finding(level, part, message))

    @property
    def problems(self) -> list[Finding]:
        return [f for f in self.findings if f.level == PROBLEM]

    def problems_of(self, part: str) -> list[Finding]:
        return [f for f in self.problems if f.part == part]

    def lines(self) -> Iterator[str]:
        return (str(f) for f in self.findings)


def run_check(
    config_path: str | os.PathLike[str] | None = None,
    *,
    now: datetime,
    env: Mapping[str, str] | None = None,
    send_test: bool = False,
    timeout: float = 10.0,
) -> CheckReport:
    """Check every part of the set-up; never raises for a known mistake, reports it."""
    env = os.environ if env is None else env
    report = CheckReport()
    report.secrets = [v for k, v in env.items() if v and len(v) >= 8 and _is_secret_name(k)]
    try:
        settings = load_settings(config_path, env=env)
    except CallslotError as exc:
        report.add(PROBLEM, "settings", exc.format_message())
        return report
    report.secrets += [s.get() for s in _all_secrets(settings) if s.present and len(s.get()) >= 8]
    shown = settings.path.name if settings.path else "settings"
    report.add(
        OK,
        "settings",
        f"{shown} is valid ({count(len(settings.call_types), 'call type')}, "
        f"time zone {settings.owner.timezone})",
    )
    for note in check_settings(settings):
        report.add(NOTE, "settings", note)
    for note in untranslated(settings):
        report.add(NOTE, "settings", note)
    if settings.notify.email is not None and not settings.site.base_url:
        report.add(
            NOTE,
            "settings",
            "site.base_url is not set: confirmation mails cannot link to the cancel page "
            "(callers are asked to reply instead); set it to the booking page's address",
        )
    if (
        settings.booking.backend == "handler"
        and not settings.site.base_url
        and not settings.booking.allowed_origins
    ):
        report.add(
            NOTE,
            "settings",
            "site.base_url is not set: the handler cannot tell the booking page from "
            "another site, so it accepts forms posted from anywhere; set it to the page's "
            "address",
        )

    _check_calendars(report, settings, now, timeout)
    _check_secrets(report, settings, env)
    _check_database(report, settings, env)
    _check_privacy(report, settings, env)
    if settings.booking.backend == "netlify-forms":
        _check_netlify(report, env, timeout)
    smtp_works = _check_smtp(report, settings, timeout)
    if send_test:
        _send_tests(report, settings, env, now, timeout, smtp_works=smtp_works)
    return report


def _is_secret_name(name: str) -> bool:
    upper = name.upper()
    return any(word in upper for word in ("SECRET", "TOKEN", "PASSWORD", "URL", "KEY"))


def _all_secrets(settings: Settings) -> Iterator[Secret]:
    for source in settings.calendars:
        if source.kind == "url" or source.location.env:
            yield source.location
    notify = settings.notify
    if notify.email and notify.email.password:
        yield notify.email.password
    yield from notify.webhooks
    for secret in (notify.webhook_secret, notify.build_hook, notify.feed_key):
        if secret is not None:
            yield secret


def _missing(secret: Secret) -> str:
    return (
        f"environment variable {secret.env} is not set; export it (site.toml says "
        f'{secret.field} = "env:{secret.env}") or remove the setting'
    )


# --------------------------------------------------------------------------
# Calendars


def _check_calendars(
    report: CheckReport, settings: Settings, now: datetime, timeout: float
) -> None:
    from generator.availability import calendar_window
    from generator.busy.calendars import describe_calendar, fetch_calendar

    # From now on: "next busy" means the next one the owner will meet, not yesterday's.
    start, end = now, calendar_window(settings, now)[1]
    tz = settings.tz
    for source in settings.calendars:
        part = f"calendar {source.name!r}"
        if not source.location.present:
            report.add(PROBLEM, part, _missing(source.location))
            continue
        try:
            data = fetch_calendar(source, timeout=timeout)
            info = describe_calendar(data, tz, start, end, name=source.name)
        except CallslotError as exc:
            # The message already names the calendar; keep the line short.
            report.add(
                PROBLEM,
                part,
                exc.format_message().removeprefix(f"{part}: ")
                + "; the page is not built while a calendar cannot be read",
            )
            continue
        if info.events == 0 and info.busy == 0:
            # Most often the wrong link: Google's public address of a private calendar
            # answers an empty calendar, and every open hour would be offered.
            report.add(
                NOTE,
                part,
                "holds no events at all; if you have appointments, this is the wrong address "
                '(Google: the "Secret address in iCal format", not the public one)',
            )
            continue
        zones = describe_zones(info, settings.owner.timezone)
        if info.next_busy:
            b = info.next_busy
            first, last = b.start.astimezone(tz), b.end.astimezone(tz)
            upto = (
                clock(last)
                if last.date() == first.date()
                else day_and_time(last)
            )
            nxt = f"next busy {day_and_time(first)}–{upto} ({settings.owner.timezone})"
        else:
            nxt = "no busy time in the booking window"
        report.add(OK, part, f"{info.events} events read, {zones}, {nxt}")


def describe_zones(info: CalendarInfo, owner_zone: str) -> str:
    """Which time zones the events are written in and how each was resolved, truthfully."""
    parts = [f"{tzid} ({how})" for tzid, how in info.zones]
    if info.calendar_zone:
        parts.insert(0, f"{info.calendar_zone} (the calendar's X-WR-TIMEZONE: series keep "
                        "their wall-clock time there)")
    if info.utc:
        parts.append("UTC")
    if info.floating:
        parts.append(f"floating (read in {owner_zone})")
    if not parts:
        return "all-day events only (each blocks the whole day in " + owner_zone + ")"
    return "times: " + ", ".join(parts)


# --------------------------------------------------------------------------
# Secrets and the database


def _check_secrets(report: CheckReport, settings: Settings, env: Mapping[str, str]) -> None:
    from generator.signing import load_secret

    try:
        load_secret(None, env=dict(env))
        report.add(OK, "CALLSLOT_SECRET", "set")
    except CallslotError as exc:
        dev_key = settings.state_dir / "secret"
        if env.get("CALLSLOT_SECRET"):
            reason = exc.reason if isinstance(exc, ConfigError) else exc.format_message()
            report.add(PROBLEM, "CALLSLOT_SECRET", reason)
        elif dev_key.exists():
            report.add(
                NOTE,
                "CALLSLOT_SECRET",
                "not set; the development key in .callslot/secret is used, which only "
                "this machine has: export CALLSLOT_SECRET where the page is built and "
                "where the handler runs",
            )
        else:
            report.add(
                PROBLEM,
                "CALLSLOT_SECRET",
                "not set; export a random value of 16+ characters, the same where the "
                "page is built and where the handler runs: python3 -c 'import secrets; "
                "print(secrets.token_urlsafe(32))'",
            )
    notify = settings.notify
    named: list[tuple[str, Secret | None]] = [
        ("notify.webhook_secret", notify.webhook_secret),
        ("notify.build_hook", notify.build_hook),
        ("notify.feed_key", notify.feed_key),
        *[(f"notify.webhooks[{i}]", hook) for i, hook in enumerate(notify.webhooks)],
    ]
    if notify.email:
        named.append(("notify.email.password", notify.email.password))
    for part, secret in named:
        if secret is None:
            continue
        if not secret.present:
            report.add(PROBLEM, part, _missing(secret))
        elif part == "notify.feed_key":
            _check_feed_key(report, part, secret.get(), secret.env)
        else:
            report.add(OK, part, f"set (from {secret.env})" if secret.env else "set")
    if notify.feed_key is None and env.get("CALLSLOT_FEED_KEY"):
        _check_feed_key(report, "CALLSLOT_FEED_KEY", env["CALLSLOT_FEED_KEY"], None)
    if notify.email and notify.email.username and notify.email.password is None:
        report.add(
            PROBLEM,
            "SMTP",
            "a user name but no password: add the password to SMTP_URL "
            'or set notify.email.password = "env:NAME"',
        )
    if notify.email and not settings.owner.email:
        report.add(
            NOTE,
            "owner.email",
            "not set: booking mails go only to callers; set it to receive them yourself",
        )


def _check_feed_key(report: CheckReport, part: str, key: str, env_name: str | None) -> None:
    """The feed key sits in a URL that calendar apps fetch for ever: it must not be
    guessable. The handler turns a weak one off; this says so before it matters."""
    from generator.signing import MIN_KEY_BITS, key_bits

    if key_bits(key) < MIN_KEY_BITS:
        report.add(
            PROBLEM,
            part,
            f"too weak to guess-proof the bookings feed (under {MIN_KEY_BITS} bits; the "
            "handler keeps the feed off): use a random one, e.g. python3 -c 'import "
            "secrets; print(secrets.token_urlsafe(32))'",
        )
    else:
        report.add(OK, part, f"set (from {env_name})" if env_name else "set")


def _check_database(report: CheckReport, settings: Settings, env: Mapping[str, str]) -> None:
    url = (env.get("DATABASE_URL") or "").strip()
    if settings.booking.backend == "netlify-forms" and not url:
        return
    if not url:
        report.add(
            NOTE,
            "database",
            "DATABASE_URL is not set: bookings go to the SQLite file "
            ".callslot/bookings.sqlite3 (fine for one machine; serverless hosts need "
            "postgresql://...)",
        )
        return
    from generator.store import open_store

    kind = "PostgreSQL" if url.lower().startswith("postgres") else "SQLite"
    if url.lower().startswith("sqlite:///"):
        # Opening would create the file and its folders: a check must not leave a stray
        # database behind a typo, so a missing file is only looked at, not made.
        path = Path(url[len("sqlite:///") :])
        path = path if path.is_absolute() else settings.root / path
        if not path.exists():
            folder = next((p for p in path.parents if p.exists()), None)
            if folder is None or not os.access(folder, os.W_OK):
                report.add(
                    PROBLEM,
                    "DATABASE_URL",
                    f"the SQLite file {path} does not exist and "
                    f"{folder} is not writable; point DATABASE_URL at a writable place",
                )
            else:
                report.add(
                    NOTE,
                    "DATABASE_URL",
                    f"the SQLite file {path} does not exist yet; "
                    "the handler creates it with the first booking",
                )
            return
    try:
        store = open_store(url, settings=settings)
        try:
            store.ping()
        finally:
            store.close()
    except CallslotError as exc:
        report.add(PROBLEM, "DATABASE_URL", exc.format_message())
        return
    except Exception as exc:  # a driver error we did not foresee; still one line
        report.add(
            PROBLEM,
            "DATABASE_URL",
            f"{kind} cannot be used: {type(exc).__name__}; "
            "check the address, the server and the credentials",
        )
        return
    report.add(OK, "DATABASE_URL", f"{kind} reachable, schema up to date")


def _check_privacy(report: CheckReport, settings: Settings, env: Mapping[str, str]) -> None:
    """The retention setting, who may read the local files, and the database's encryption."""
    from generator.config.privacy import describe_keep

    privacy = settings.privacy
    consent = ("callers must tick the consent box" if privacy.require_consent
               else "no consent box ([privacy] require_consent = false)")
    report.add(OK, "privacy", f"a call's personal data is erased {describe_keep(privacy.keep)} "
               f"([privacy] keep); {consent}")
    url = (env.get("DATABASE_URL") or "").strip()
    if settings.booking.backend == "netlify-forms" and not url:
        report.add(NOTE, "privacy", "bookings are Netlify Forms submissions, which callslot "
                   "cannot erase: delete old ones in Netlify's dashboard (Forms) as [privacy] "
                   "keep says")
    _check_file_modes(report, settings, url)
    if url.lower().startswith(("postgresql://", "postgres://")):
        remote = [h for h in _postgres_hosts(url) if not _is_local(h) and not h.startswith("/")]
        mode = _query_value(url, "sslmode") or env.get("PGSSLMODE", "") or "prefer"
        if remote and mode not in ("require", "verify-ca", "verify-full"):
            report.add(
                NOTE,
                "DATABASE_URL",
                f"PostgreSQL on {', '.join(remote)} is reached with sslmode={mode}, so callers' "
                "names and numbers may cross the network unencrypted (\"prefer\" falls back "
                "to plain text without a word); add ?sslmode=verify-full (or require) to "
                "DATABASE_URL",
            )


def _check_file_modes(report: CheckReport, settings: Settings, url: str) -> None:
    """Other users of the machine must not read the bookings, the dev key or the cache."""
    import stat

    files: list[Path] = []
    database: Path | None = None
    if not url:
        database = settings.state_dir / "bookings.sqlite3"
    elif url.lower().startswith("sqlite:///"):
        database = Path(url[len("sqlite:///"):])
        database = database if database.is_absolute() else settings.root / database
    if database is not None:
        files += [database, Path(f"{database}-wal"), Path(f"{database}-shm")]
    files.append(settings.state_dir / "secret")
    checked = []
    for path, wanted in [(settings.state_dir, 0o700), *((f, 0o600) for f in files)]:
        try:
            mode = stat.S_IMODE(path.stat().st_mode)
        except OSError:
            continue  # not made yet: it will be made owner-only
        checked.append(f"{path.name} {mode:04o}")
        if mode & 0o077:
            report.add(
                PROBLEM,
                "files",
                f"{path} can be read by other users of this machine (mode {mode:04o}); "
                f"run: chmod {wanted:o} {path}",
            )
    if checked and not report.problems_of("files"):
        report.add(OK, "files", "owner-only: " + ", ".join(checked))


def _postgres_hosts(url: str) -> list[str]:
    """The host names of a postgresql:// URL: several after one @, or ?host=...; "" is local."""
    from urllib.parse import unquote

    rest = url.split("://", 1)[1]
    authority = rest.split("/", 1)[0].split("?", 1)[0].rsplit("@", 1)[-1]
    hosts = []
    for part in authority.split(","):
        host = part[1:].split("]", 1)[0] if part.startswith("[") else part.rsplit(":", 1)[0]
        hosts.append(unquote(host))
    from_query = _query_value(url, "host")
    if from_query:
        hosts = from_query.split(",")
    return [h for h in hosts if h] or ["localhost"]


def _query_value(url: str, name: str) -> str:
    from urllib.parse import parse_qs, urlsplit

    values = parse_qs(urlsplit(url).query).get(name)
    return values[-1] if values else ""


def _check_netlify(report: CheckReport, env: Mapping[str, str], timeout: float) -> None:
    from generator.busy.netlify_forms import fetch_submissions, netlify_credentials

    try:
        site_id, token, api_base = netlify_credentials(env)
        submissions = fetch_submissions(site_id, token, api_base=api_base, timeout=timeout)
    except CallslotError as exc:
        report.add(PROBLEM, "Netlify Forms", exc.format_message())
        return
    report.add(OK, "Netlify Forms", f"{len(submissions)} earlier submissions readable")


# --------------------------------------------------------------------------
# Mail and webhooks


def _smtp_session(
    email: EmailSettings, timeout: float, action: Callable[[smtplib.SMTP], None] | None = None
) -> None:
    with smtp_connection(email, timeout=timeout) as client:
        if email.username and email.password is not None and email.password.present:
            client.login(email.username, email.password.get())
        if action:
            action(client)


def _check_smtp(report: CheckReport, settings: Settings, timeout: float) -> bool:
    """Connect (EHLO, STARTTLS, login, QUIT); True when the server took all of it."""
    email = settings.notify.email
    if email is None:
        if settings.owner.email:
            # owner.email says the owner expects mail: without a server no booking, move,
            # cancellation or reminder reaches anyone (they wait in the outbox).
            report.add(
                PROBLEM,
                "SMTP",
                f"owner.email is {settings.owner.email} but no mail server is configured: "
                "set SMTP_URL=smtp://user:password@host:587?starttls=true (or "
                "[notify.email]); until then booking mails wait in the outbox",
            )
            return False
        report.add(
            NOTE,
            "SMTP",
            "no mail configured (SMTP_URL or [notify.email]): nobody gets a booking mail",
        )
        return False
    if email.password is not None and not email.password.present:
        return False  # already reported as a missing secret; a login would only fail
    if email.password is not None and email.security == "none" and not _is_local(email.host):
        # Checked before connecting: the check itself must not send the password in clear.
        report.add(
            PROBLEM,
            "SMTP",
            f"the password would go to {email.host}:{email.port} unencrypted: use "
            "smtps://...:465 or add ?starttls=true to SMTP_URL (or notify.email.security = "
            '"ssl" or "starttls"); plain SMTP with a login only on localhost',
        )
        return False
    try:
        _smtp_session(email, timeout)
    except (OSError, smtplib.SMTPException) as exc:
        report.add(PROBLEM, "SMTP", smtp_problem(email, exc))
        return False
    login = " and the login" if email.username else ""
    how = {"ssl": "over TLS", "starttls": "with STARTTLS"}.get(email.security, "unencrypted")
    report.add(OK, "SMTP", f"{email.host}:{email.port} accepts the connection ({how}){login}")
    return True


def _is_local(host: str) -> bool:
    return host.lower().strip("[]") in ("localhost", "127.0.0.1", "::1")


def _send_tests(
    report: CheckReport,
    settings: Settings,
    env: Mapping[str, str],
    now: datetime,
    timeout: float,
    *,
    smtp_works: bool,
) -> None:
    email = settings.notify.email
    if email is not None and settings.owner.email and smtp_works:
        message = EmailMessage()
        message["From"] = email.sender
        message["To"] = settings.owner.email
        message["Subject"] = "callslot: test message"
        message["Date"] = format_datetime(now)
        message["Message-ID"] = make_msgid("callslot-check")
        message.set_content(
            "This is a test from `callslot check --send-test`: booking notifications "
            f"for {settings.site.title or settings.owner.name} reach this address.\n"
        )
        try:
            _smtp_session(email, timeout, lambda client: client.send_message(message))
        except (OSError, smtplib.SMTPException) as exc:
            report.add(PROBLEM, "test mail", smtp_problem(email, exc))
        else:
            report.add(OK, "test mail", f"sent to {settings.owner.email}")
    elif email is not None:
        report.add(
            NOTE, "test mail", "not sent: fix the SMTP line above first, and set owner.email"
        )
    _send_test_webhooks(report, settings, env, timeout)


def _send_test_webhooks(
    report: CheckReport, settings: Settings, env: Mapping[str, str], timeout: float
) -> None:
    from generator.notify.webhook import SIGNATURE_HEADER, WebhookFailed, post, sign

    notify = settings.notify
    if notify.webhook_secret is not None and notify.webhook_secret.present:
        key = notify.webhook_secret.get().encode()
    else:
        key = (env.get("CALLSLOT_SECRET") or "").encode()
    text = f"callslot: test message from {settings.site.title or settings.owner.name}"
    body = json.dumps({"text": text, "event": "test"}, ensure_ascii=False).encode()
    for i, hook in enumerate(notify.webhooks):
        part = f"test webhook {i + 1}"
        if not hook.present:
            continue  # reported as a missing secret
        headers = {"Content-Type": "application/json; charset=utf-8"}
        if key:
            headers[SIGNATURE_HEADER] = sign(key, body)
        try:
            status = post(hook.get(), body, headers=headers, timeout=timeout)
        except (WebhookFailed, OSError) as exc:
            report.add(PROBLEM, part, f"failed: {exc}; check the URL in notify.webhooks")
        else:
            report.add(OK, part, f"delivered (HTTP {status})")
