"""The [notify] table of site.toml and SMTP_URL -> NotifySettings (email, webhooks, keys)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from generator.config.fields import FieldReader
from generator.config.options import default
from generator.config.valuetypes import Reminder, Secret, parse_reminder
from generator.errors import ConfigError

__all__ = [
    "EmailSettings",
    "NotifySettings",
    "Reminder",
    "email_from_url",
    "parse_reminder",
    "read_notify",
]


@dataclass(frozen=True)
class EmailSettings:
    host: str
    port: int
    security: str  # "none", "starttls" or "ssl"
    username: str | None
    password: Secret | None
    sender: str


@dataclass(frozen=True)
class NotifySettings:
    email: EmailSettings | None = None
    webhooks: tuple[Secret, ...] = ()
    webhook_secret: Secret | None = None
    build_hook: Secret | None = None
    feed_key: Secret | None = None
    reminders: tuple[Reminder, ...] = default("notify.reminders")
    remind_owner: bool = default("notify.remind_owner")


def read_notify(r: FieldReader, t: dict[str, Any], owner_email: str | None) -> NotifySettings:
    """The [notify] table; SMTP_URL in the environment takes precedence over notify.email."""
    r.unknown(
        t,
        {"email", "webhooks", "webhook_secret", "build_hook", "feed_key", "reminders",
         "remind_owner"},
        "notify",
    )
    smtp_url = r.env.get("SMTP_URL")
    email = email_from_url(smtp_url, owner_email) if smtp_url else None
    if email is None and "email" in t:
        e = r.table(t, "email", "notify.email")
        r.unknown(e, {"host", "port", "security", "username", "password", "sender"}, "notify.email")
        security = r.text(e, "security", "notify.email.security",
                          choices=("starttls", "ssl", "none"))
        port = r.integer(e, "port", "notify.email.port") or (465 if security == "ssl" else 587)
        sender = r.string(e, "sender", "notify.email.sender", owner_email)
        if not sender:
            raise r.error("notify.email.sender", "missing; set it or owner.email")
        email = EmailSettings(
            host=r.string(e, "host", "notify.email.host", required=True) or "",
            port=port,
            security=security,
            username=r.string(e, "username", "notify.email.username"),
            password=r.secret(e["password"], "notify.email.password") if "password" in e else None,
            sender=sender,
        )
    hooks = t.get("webhooks", [])
    if isinstance(hooks, str):
        hooks = [hooks]
    if not isinstance(hooks, list):
        raise r.error("notify.webhooks", 'expected a list of URLs or "env:NAME" values')
    webhooks = tuple(r.secret(h, "notify.webhooks") for h in hooks)
    for hook in webhooks:
        if hook.present and not re.match(r"^https?://", hook.get()):
            raise r.error("notify.webhooks", "each webhook must be an http(s):// URL")
    return NotifySettings(
        reminders=r.parsed(t, "reminders", "notify.reminders"),
        remind_owner=r.boolean(t, "remind_owner", "notify.remind_owner"),
        email=email,
        webhooks=webhooks,
        webhook_secret=r.secret(t["webhook_secret"], "notify.webhook_secret")
        if "webhook_secret" in t
        else None,
        build_hook=r.secret(t["build_hook"], "notify.build_hook") if "build_hook" in t else None,
        feed_key=r.secret(t["feed_key"], "notify.feed_key") if "feed_key" in t else None,
    )


def email_from_url(url: str, owner_email: str | None) -> EmailSettings:
    """SMTP_URL: smtp://user:password@host:port, smtps:// for TLS, ?starttls=true."""
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise ConfigError(
            "SMTP_URL must look like smtp://user:password@host:587 "
            "or smtps://user:password@host:465",
            field="SMTP_URL",
        )
    query = {k: v[-1].lower() for k, v in parse_qs(parts.query).items()}
    if parts.scheme == "smtps":
        security = "ssl"
    elif query.get("starttls") in ("1", "true", "yes"):
        security = "starttls"
    else:
        security = "none"
    try:
        port = parts.port or (465 if security == "ssl" else 587 if security == "starttls" else 25)
    except ValueError:
        raise ConfigError("SMTP_URL has an invalid port", field="SMTP_URL") from None
    sender = query.get("from") or owner_email
    if not sender:
        raise ConfigError(
            "no sender address: set owner.email in site.toml or ?from= in SMTP_URL",
            field="SMTP_URL",
        )
    password = unquote(parts.password) if parts.password is not None else None
    return EmailSettings(
        host=parts.hostname,
        port=port,
        security=security,
        username=unquote(parts.username) if parts.username else None,
        password=Secret(password, env="SMTP_URL", field="SMTP_URL") if password else None,
        sender=sender,
    )
