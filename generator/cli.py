"""The `callslot` command line: thin wiring from options to the pipeline's functions.

Core modules raise :mod:`generator.errors`; click shows their message and exits 1.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import click

from . import __version__
from .errors import ConfigError

F = TypeVar("F", bound=Callable[..., Any])


def config_option(f: F) -> F:
    return click.option(
        "--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
        default=None, help="Settings file. Default: content/site.toml.",
    )(f)


def now_option(f: F) -> F:
    return click.option(
        "--now", "now", default=None, metavar="ISO-8601",
        help="Pin the clock, e.g. 2026-11-30T08:00+01:00 (reproducible builds and tests).",
    )(f)


def parse_now(value: str | None) -> datetime:
    """The --now value as an aware datetime; the real clock when not given."""
    if value is None:
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"{value!r} is not an ISO-8601 time; write e.g. 2026-11-30T08:00+01:00",
                          field="--now") from None
    if moment.tzinfo is None:
        raise ConfigError(f"{value!r} has no UTC offset; add one, e.g. +01:00 or Z",
                          field="--now")
    return moment.astimezone(UTC)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="callslot")
def main() -> None:
    """callslot: publish a booking page for phone calls from your own calendar."""


# Commands are registered below, one per pipeline stage or job.


# -- stats (the test-phase review) ----------------------------------------------------


@main.command("stats")
@config_option
@now_option
@click.option("--since", "since", default=None, metavar="YYYY-MM-DD",
              help="Only calls on or after this date (owner's time zone). Default: all.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True, help="A table for the terminal, or JSON for scripts.")
@click.option("--plot", "plot", type=click.Path(dir_okay=False, path_type=Path), default=None,
              metavar="FILE.png",
              help="Also draw calls per week and the outcome share into a PNG "
                   "(needs matplotlib: pip install 'callslot[plot]').")
def stats_command(config_path: Path | None, now: str | None, since: str | None, fmt: str,
                  plot: Path | None) -> None:
    """Review the calls booked so far: per week, cancellations, notice, topics, outcomes.

    Mark outcomes with `callslot bookings mark ID held|missed` to see the share
    of scheduled calls that took place. Reads the store named by DATABASE_URL
    (default: .callslot/bookings.sqlite3).
    """
    import os
    from datetime import date
    from datetime import datetime as _datetime

    from .settings import load_settings
    from .stats import compute_stats, format_json, format_table, plot_stats
    from .store import open_store

    settings = load_settings(config_path)
    moment = parse_now(now)
    start = None
    if since is not None:
        try:
            day = date.fromisoformat(since.strip())
        except ValueError:
            raise ConfigError(f"{since!r} is not a date; write YYYY-MM-DD, e.g. 2026-11-01",
                              field="--since") from None
        start = _datetime.combine(day, _datetime.min.time(), tzinfo=settings.tz)
    store = open_store(os.environ.get("DATABASE_URL"), settings=settings)
    try:
        bookings = store.bookings(include_cancelled=True)
    finally:
        store.close()
    result = compute_stats(bookings, tz=settings.tz, since=start, now=moment)
    click.echo(format_json(result) if fmt == "json" else format_table(result), nl=False)
    if plot is not None:
        plot_stats(result, plot)
        if fmt == "table":
            click.echo(f"Plot written to {plot}")


@main.command("notify")
@config_option
@now_option
@click.option("--retry-now", is_flag=True,
              help="Also send notifications that are still waiting out their retry backoff.")
def notify_command(config_path: Path | None, now: str | None, retry_now: bool) -> None:
    """Send every pending notification that is due: emails, webhooks, the build hook.

    Run it from cron or a scheduled function (`callslot serve` runs it in the
    background). Prints each delivery. Exits 0 even when some deliveries
    failed (they stay queued and are retried with backoff), 1 when the
    settings are broken. DATABASE_URL chooses the store; SMTP_URL the mail server.
    """
    import os

    from .notify import check_notify_settings, run_due
    from .settings import load_settings
    from .signing import load_secret
    from .store import open_store

    settings = load_settings(config_path)
    check_notify_settings(settings)
    secret, _ = load_secret(settings.state_dir)
    moment = parse_now(now)
    store = open_store(os.environ.get("DATABASE_URL"), settings=settings)
    try:
        report = run_due(settings, store, now=moment, secret=secret, retry_now=retry_now)
    finally:
        store.close()
    for delivery in report.deliveries:
        click.echo(delivery.line())
    click.echo(f"{report.sent} sent, {report.failed} not sent (queued for a retry or given up)")


# -- check (before a caller finds a problem) -------------------------------------------


@main.command("check")
@config_option
@now_option
@click.option("--send-test", is_flag=True,
              help="Also send a test mail to owner.email and a test message to each webhook.")
@click.option("--timeout", type=float, default=10.0, show_default=True, metavar="SECONDS",
              help="How long to wait for each calendar, mail server and webhook.")
def check_command(config_path: Path | None, now: str | None, send_test: bool,
                  timeout: float) -> None:
    """Check the set-up: settings, calendars, secrets, database, mail server.

    Prints one line per part ("ok", "note" or "FAIL" with what to do) and exits
    1 when anything is wrong. Never prints a secret (calendar URLs, passwords,
    tokens).
    """
    from .check import run_check
    from .errors import CallslotError

    report = run_check(config_path, now=parse_now(now), send_test=send_test, timeout=timeout)
    for line in report.lines():
        click.echo(line)
    problems = len(report.problems)
    if problems:
        raise CallslotError(f"{problems} problem{'s' if problems > 1 else ''} found: "
                            "fix the FAIL lines above and run `callslot check` again")
    click.echo("All good.")
