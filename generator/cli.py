"""The `callslot` command line: thin wiring from options to the pipeline's functions.

Core modules raise :mod:`generator.errors`; ``CallslotGroup`` turns them into
click's error output and exit code, so the core never depends on click.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import click

from generator import __version__
from generator.errors import CallslotError, ConfigError
from generator.i18n import LANGUAGES

F = TypeVar("F", bound=Callable[..., Any])


def _find_site(ctx: click.Context, _param: click.Parameter, value: Path | None) -> Path | None:
    """--config, or the content/site.toml of the site around the current folder.

    Run inside content/ or deeper, a command finds the site above (as git finds
    its repository) and says which file it uses, once per command line.
    """
    if value is not None:
        return value
    from generator.config.settings import DEFAULT_CONFIG, find_config

    found = find_config()
    if found is None:
        return None  # load_settings says what is missing
    if found != Path.cwd().absolute() / DEFAULT_CONFIG and not ctx.find_root().meta.get(
            "callslot.site_shown"):
        ctx.find_root().meta["callslot.site_shown"] = True
        # Inside content/ itself, site.toml is right here: "above" would send them looking.
        where = "in this folder" if found.parent == Path.cwd().absolute() else \
            "found above this folder"
        click.echo(f"Using the site {found} ({where})", err=True)
    return found


def config_option(f: F) -> F:
    return click.option(
        "--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
        default=None, callback=_find_site,
        help="Settings file. Default: content/site.toml here or in the nearest folder above.",
    )(f)


def now_option(f: F) -> F:
    return click.option(
        "--now", "now", default=None, metavar="ISO-8601",
        help="Pin the clock, e.g. 2026-11-30T08:00+01:00 (reproducible builds and tests).",
    )(f)


def parse_now(value: str | None) -> datetime:
    """The --now value as an aware UTC datetime; without it, the one clock (CALLSLOT_NOW
    when set, else the system clock)."""
    from generator.clock import clock_from_env, parse_moment

    if value is None:
        return clock_from_env()()
    return parse_moment(value, field="--now")


class Between(click.ParamType):
    """A whole number from ``low`` to ``high``, refused in our words ("from 1 to 720 minutes")."""

    name = "integer"

    def __init__(self, low: int, high: int, unit: str = "") -> None:
        self.low, self.high, self.unit = low, high, unit

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> int:
        try:
            number = value if isinstance(value, int) else int(str(value).strip())
        except ValueError:
            self.fail(f"{value!r} is not a whole number", param, ctx)
        if not self.low <= number <= self.high:
            unit = f" {self.unit}" if self.unit else ""
            self.fail(f"must be from {self.low} to {self.high}{unit}, not {number}", param, ctx)
        return number


class OneOf(click.Choice):
    """One of a few words, refused with the likely one ("did you mean 'held'?") and, when
    given, a ``hint`` on where the word goes."""

    def __init__(self, choices: Any, hint: str = "", **kwargs: Any) -> None:
        super().__init__(choices, **kwargs)
        self.hint = hint

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> Any:
        try:
            return super().convert(value, param, ctx)
        except click.BadParameter:
            from generator.commands.phrases import join_and
            from generator.config.suggest import did_you_mean

            choices = [str(c) for c in self.choices]
            self.fail(f"{value!r} is not {join_and(choices, 'or')}"
                      f"{did_you_mean(str(value), choices)}{self.hint}", param, ctx)


class LanguageChoice(OneOf):
    """A language code; a language's name or a code in another case gets the code it means
    ("french" -> did you mean 'fr'?)."""

    def __init__(self) -> None:
        super().__init__(LANGUAGES)

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> Any:
        if isinstance(value, str) and value in self.choices:
            return value
        from generator.commands.phrases import join_and
        from generator.config.suggest import language_hint

        self.fail(f"{value!r} is not a language callslot speaks"
                  f"{language_hint(str(value), LANGUAGES)}; choose "
                  f"{join_and(list(LANGUAGES), 'or')}", param, ctx)


class ParameterError(click.UsageError):
    """A refused option or argument as we word it: "--duration: must be from 1 to 720",
    "ID is missing"."""

    def __init__(self, error: click.BadParameter) -> None:
        param = error.param
        hint = error.param_hint
        if isinstance(hint, (list, tuple)):
            hint = " / ".join(hint)
        if hint is None and isinstance(param, click.Argument):
            # Its usage name ("ID"), unless that lists the choices ("held|missed").
            metavar = param.metavar or ""
            hint = metavar if metavar and "|" not in metavar else (param.name or "")
        elif hint is None and param is not None:
            hint = param.get_error_hint(error.ctx) if error.ctx else param.name
        hint = (hint or "").replace("'", "").replace(".", "")
        if isinstance(error, click.MissingParameter):
            message = f"{hint} is missing" if hint else "something is missing"
        else:
            message = f"{hint}: {error.message}" if hint else error.message
        super().__init__(message, error.ctx)


class UserError(click.ClickException):
    """A :class:`CallslotError` as click shows it: ``Error: <message>``, its exit code."""

    def __init__(self, error: CallslotError) -> None:
        super().__init__(error.format_message())
        self.exit_code = error.exit_code


class CallslotGroup(click.Group):
    """The command group: known mistakes become messages and exit codes, bugs keep tracebacks."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except CallslotError as exc:
            raise UserError(exc) from None
        except click.BadParameter as exc:  # click's own wording ("Invalid value for ...")
            raise ParameterError(exc) from None


@click.group(cls=CallslotGroup, context_settings={"help_option_names": ["-h", "--help"]})
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
@click.option("--format", "fmt", type=OneOf(["table", "json"]), default="table",
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

    from generator.commands.stats import compute_stats, format_json, format_table, plot_stats
    from generator.config.settings import load_settings
    from generator.store import open_store

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
    click.echo(format_json(result) if fmt == "json"
               else format_table(result, settings.notify.reminders), nl=False)
    if plot is not None:
        from generator.page.theme import load_theme

        # The owner's language, from the theme's catalogs, like every other word they read.
        plot_stats(result, plot, language=settings.owner.language, theme=load_theme(settings))
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

    from generator.config.settings import load_settings
    from generator.notify.outbox import check_notify_settings, run_due, waiting_for_channel
    from generator.signing import load_secret
    from generator.store import open_store
    from generator.store.retention import purge_expired

    settings = load_settings(config_path)
    check_notify_settings(settings)
    secret, _ = load_secret(settings.state_dir)
    moment = parse_now(now)
    store = open_store(os.environ.get("DATABASE_URL"), settings=settings)
    try:
        report = run_due(settings, store, now=moment, secret=secret, retry_now=retry_now)
        waiting = waiting_for_channel(settings, store, now=moment)
        # After sending: a call over for [privacy] keep has nothing left to notify.
        purged = purge_expired(store, keep=settings.privacy.keep, now=moment)
    finally:
        store.close()
    for delivery in report.deliveries:
        click.echo(delivery.line(settings.tz))
    dropped = f"{report.dropped} dropped (the call had begun), " if report.dropped else ""
    click.echo(f"{report.sent} sent, {report.skipped} skipped (nothing to send), {dropped}"
               f"{report.failed} not sent (queued for a retry or given up)")
    if waiting:
        from generator.commands.phrases import count

        verb = "waits" if waiting == 1 else "wait"
        click.echo(f"{count(waiting, 'mail')} {verb} for a mail server: set SMTP_URL (or "
                   "[notify.email]) and they go out with the next run")
    if purged.erased:
        click.echo(purged.summary())


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
    from generator.commands.check import run_check
    from generator.commands.phrases import count
    from generator.errors import CallslotError

    report = run_check(config_path, now=parse_now(now), send_test=send_test, timeout=timeout)
    for line in report.lines():
        click.echo(line)
    problems = report.problems
    if problems:
        # The first FAIL is the one to fix first: a broken settings file or calendar
        # hides the problems behind it, and one clear task beats a list.
        others = len(problems) - 1
        rest = {0: "", 1: ", then the other one"}.get(others, f", then the other {others}")
        raise CallslotError(f"{count(len(problems), 'problem')} found. Fix first: "
                            f"{problems[0].part} (the first FAIL line above){rest}; "
                            "then run `callslot check` again")
    click.echo("All good.")
    click.echo("Next: `callslot build` publishes the page with these settings.")


# -- build, offer, init (the booking page) ---------------------------------------------


def _booked_calls(settings: Any, moment: datetime, secret: bytes) -> list[Any]:
    """Calls already booked, so a rebuild does not offer them again."""
    import os

    if settings.booking.backend == "netlify-forms":
        from generator.busy.netlify_forms import taken_from_netlify

        return taken_from_netlify(secret)
    url = os.environ.get("DATABASE_URL")
    if not url and not (settings.state_dir / "bookings.sqlite3").exists():
        return []  # no store yet: nothing booked
    from generator.availability import booked_busy
    from generator.store import open_store

    store = open_store(url, settings=settings)
    try:
        return booked_busy(store, settings, moment)
    finally:
        store.close()


@main.command("build")
@config_option
@now_option
@click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Output folder. Default: public/ beside content/.")
def build_command(config_path: Path | None, now: str | None, out: Path | None) -> None:
    """Build the booking page: one page per call type, thanks, error, slots.json, robots.txt.

    Reads the calendars, leaves out calls already booked (the store named by
    DATABASE_URL, or Netlify Forms submissions), signs each offered slot with
    CALLSLOT_SECRET and writes the site into a fresh folder that replaces the
    old one only when everything succeeded. The same --now gives
    byte-identical files; when nothing changed since the last build (settings,
    content, theme, calendars, bookings, --now) and the output folder is as
    that build left it, nothing is rendered or written (.callslot/cache/).
    """
    from generator.commands.phrases import count, join_and, see_the_page
    from generator.config.settings import check_settings, load_settings
    from generator.page.build import build_site
    from generator.signing import load_secret

    settings = load_settings(config_path)
    moment = parse_now(now)
    secret, source = load_secret(settings.state_dir, create=True)
    for problem in check_settings(settings):
        click.echo(f"Warning: {problem}", err=True)
    target = out if out is not None else settings.root / "public"
    from generator.busy.progress import FetchProgress

    result = build_site(settings, moment, target, secret=secret,
                        taken=_booked_calls(settings, moment, secret), progress=FetchProgress())
    if source != "env":
        # After the build: a mistake in the settings or their files (the intro, a calendar)
        # is what the owner must read first, not this.
        click.echo(f"Warning: CALLSLOT_SECRET is not set; signing with the development key "
                   f"{source}. Production must set CALLSLOT_SECRET (the handler needs the "
                   "same value).", err=True)
    kept = len(result.files) - len(result.written)
    if result.unchanged:
        click.echo(f"{result.out_dir} is up to date: same inputs as the last build, "
                   f"nothing written ({count(len(result.files), 'file')} as they were)")
    elif kept:
        # One message for a partial rewrite: "unchanged" followed by "wrote" read as a
        # contradiction.
        names = join_and([p.name for p in result.written])
        click.echo(f"{result.out_dir}: same slots as the last build; rewrote {names}, "
                   f"kept the other {count(kept, 'file')}")
    else:
        for path in result.written:
            click.echo(f"wrote {path}")
    counts = ", ".join(f"{slug}: {n}" for slug, n in result.slot_counts.items())
    click.echo(f"{count(result.total_slots, 'open slot')} ({counts})")
    for warning in result.warnings:
        click.echo(f"Warning: {warning}", err=True)
    index = result.out_dir / "index.html"
    if index.exists():
        served = result.out_dir.resolve() == (settings.root / "public").resolve()
        click.echo(see_the_page(index, served=served, keyed=source == "env"))


@main.command("offer")
@config_option
@now_option
@click.option("--count", default=3, show_default=True, type=Between(1, 10),
              help="How many times to propose.")
@click.option("--call-type", "call_type", default=None, metavar="SLUG",
              help="Which call type. Default: the first in site.toml.")
@click.option("--language", type=LanguageChoice(), default=None,
              help="Write the reply in this page language (one of site.languages); "
                   "default: owner.language.")
def offer_command(config_path: Path | None, now: str | None, count: int,
                  call_type: str | None, language: str | None) -> None:
    """Print a reply ready to paste into an email, proposing a few open times.

    In the site's language, e.g. "Wie passt es bei Ihnen am Montag um 9:00,
    10:30 oder 14:00 Uhr? Mögen Sie mir schon ein Stichwort nennen?", with a
    link per time that opens the booking page with it selected. With
    site.languages, --language writes it in another of the page's languages,
    its links leading to that language's page.
    """
    from generator.commands.offer import make_offer
    from generator.config.settings import load_settings
    from generator.page.build import offered_slots
    from generator.signing import load_secret

    settings = load_settings(config_path)
    moment = parse_now(now)
    secret, _ = load_secret(settings.state_dir, create=True)
    from generator.busy.progress import FetchProgress

    slots = offered_slots(settings, moment, taken=_booked_calls(settings, moment, secret),
                          progress=FetchProgress())
    offer = make_offer(settings, moment, count=count, call_type=call_type, slots=slots,
                       language=language)
    if not settings.site.base_url:
        click.echo("Warning: site.base_url is not set in site.toml; the links are relative.",
                   err=True)
    click.echo(offer.text, nl=False)


@main.command("init")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path), default=".")
@click.option("--name", default=None, help="Your name as callers see it.")
@click.option("--timezone", default=None, help="IANA time zone, e.g. Europe/Berlin.")
@click.option("--language", type=LanguageChoice(), default=None,
              help="Language of the page and the messages: " + ", ".join(LANGUAGES) + ".")
@click.option("--calendar-env", "calendar_env", default=None, metavar="NAME",
              help="Environment variable that will hold your secret calendar address "
                   "(\"none\" for no calendar yet). Default: CALLSLOT_CALENDAR_URL.")
@click.option("--hours", default=None, metavar="RANGES",
              help="Open hours Monday to Friday, e.g. 09:00-12:00,14:00-17:00.")
@click.option("--imprint", default=None, metavar="URL_OR_FILE",
              help="Your legal notice (Impressum in Germany): its https:// address, or a "
                   "Markdown file name (e.g. legal.md) created in content/ for you to fill "
                   "in. Default: none.")
@click.option("--privacy", "privacy_policy", default=None, metavar="URL_OR_FILE",
              help="Your privacy notice (Datenschutzerklärung), written like --imprint.")
@click.option("--no-input", "no_input", is_flag=True,
              help="Ask nothing: take the flags, defaults for the rest (--name is required).")
def init_command(directory: Path, name: str | None, timezone: str | None,
                 language: str | None, calendar_env: str | None, hours: str | None,
                 imprint: str | None, privacy_policy: str | None, no_input: bool) -> None:
    """Create content/site.toml and content/intro.md in DIRECTORY for a new owner.

    Asks for what is not given as a flag, validates the settings by loading
    them, and never overwrites an existing file.
    """
    from dataclasses import replace

    from generator.commands.init import InitAnswers, check_answer, scaffold
    from generator.config.settings import DEFAULT_CONFIG, find_config

    # Inside a site already (its content/ or a folder below): a new site there would
    # nest in the old one, and the other commands would pick one or the other.
    above = find_config(directory)
    if above is not None and above.resolve() == (directory / DEFAULT_CONFIG).resolve():
        # Nothing to add: a legal page written now would be one site.toml never names.
        raise ConfigError(
            f"{above} exists already; edit it (`callslot check` says what to fix), or run "
            "`callslot init` in a new folder. Nothing was written."
        )
    if above is not None:
        site = above.parent.parent
        raise ConfigError(
            f"{directory.resolve()} is inside the site of {above}; edit that one (run "
            f"`callslot check` there), or run `callslot init` in a folder outside {site}. "
            "Nothing was written."
        )
    defaults = InitAnswers(name="")

    def checked(field: str, label: str) -> Callable[[str], str]:
        def convert(text: str) -> str:
            try:
                return check_answer(field, text)
            except ConfigError as exc:  # click shows it and asks the question again
                # The owner answered a question, not a flag: name the question.
                raise click.BadParameter(f"{label}: {exc.reason}") from None
        return convert

    def ask(value: str | None, prompt: str, default: str, field: str = "",
            optional: bool = False, **kwargs: Any) -> str:
        if value is not None:
            return value
        if no_input:
            return default
        if field:
            kwargs["value_proc"] = checked(field, prompt.split(" (", 1)[0])
        if optional:  # Enter alone answers "none"
            kwargs["show_default"] = False
            return str(click.prompt(prompt, default="", **kwargs))
        return str(click.prompt(prompt, default=default or None, **kwargs))

    if no_input and not name:
        raise ConfigError("--name is required with --no-input", field="--name")
    answers = InitAnswers(
        name=ask(name, "Your name (as callers see it)", ""),
        timezone=ask(timezone, "Time zone", defaults.timezone, "timezone"),
        language=ask(language, "Language of the page", defaults.language,
                     type=LanguageChoice()),
        calendar_env=ask(calendar_env, "Environment variable for your calendar's secret ICS "
                         "address (none = no calendar yet)", defaults.calendar_env,
                         "calendar_env"),
        hours=ask(hours, "Open hours Monday to Friday", defaults.hours, "hours"),
        imprint=ask(imprint, "Legal notice (Impressum): its https:// address, or a Markdown "
                    "file such as legal.md (Enter: none)", "", "imprint", optional=True),
        privacy_policy=ask(privacy_policy, "Privacy notice (Datenschutzerklärung): its https:// "
                           "address, or a Markdown file such as privacy.md (Enter: none)", "",
                           "privacy_policy", optional=True),
    )
    if answers.calendar_env.strip().lower() in ("", "none", "-"):
        answers = replace(answers, calendar_env="")
    written, kept = scaffold(directory, answers)
    for path in written:
        click.echo(f"created {path}")
    for path in kept:
        click.echo(f"kept {path} (it exists; nothing overwritten)")
    content = directory / "content"
    steps = [f"edit {content / 'site.toml'} (your hours, call types, email) and "
             f"{content / 'intro.md'} (the words above the slots)"]
    if answers.calendar_env:
        steps.append(f"export {answers.calendar_env}='<your calendar's secret ICS address>'")
    where = "" if directory.resolve() == Path.cwd().resolve() else f"cd {directory} && "
    steps.append(f"run `{where}callslot check` and then `callslot build` to see the page")
    click.echo("Next:")
    for i, step in enumerate(steps, 1):
        click.echo(f"  {i}. {step}")


# -- slots (check a calendar, see what the page would offer) ---------------------------


@main.command("slots")
@config_option
@now_option
@click.option("--calendar", "calendars", multiple=True, metavar="PATH_OR_URL",
              help="A calendar file or http(s)/webcal URL; repeat for several. Replaces the "
                   "settings' calendars.")
@click.option("--days", type=Between(1, 366, "days"), default=None, metavar="N",
              help="Offer slots this many days ahead (the horizon). Default: the settings, or 14.")
@click.option("--timezone", "timezone", default=None, metavar="TZ",
              help="IANA time zone of the open hours, e.g. Europe/Berlin. Default: the "
                   "settings, or UTC without a settings file.")
@click.option("--duration", type=Between(1, 720, "minutes"), default=None, metavar="MIN",
              help="Call length in minutes, for every call type. Default: the settings, or 30.")
@click.option("--step", type=Between(1, 1440, "minutes"), default=None, metavar="MIN",
              help="Minutes between start times. Default: the settings, or the duration.")
@click.option("--hours", "hours", default=None, metavar="HH:MM-HH:MM",
              help="Open these hours every day (00:00-24:00 allowed); replaces the settings' "
                   "availability and date overrides. Default without a settings file: all day.")
@click.option("--call-type", "call_type", default=None, metavar="SLUG",
              help="Only this call type. Default: all.")
@click.option("--format", "fmt", type=OneOf(["table", "json"]), default="table",
              show_default=True, help="A table grouped by day, or JSON for scripts.")
def slots_command(config_path: Path | None, now: str | None, calendars: tuple[str, ...],
                  days: int | None, timezone: str | None, duration: int | None,
                  step: int | None, hours: str | None, call_type: str | None,
                  fmt: str) -> None:
    """Print the open call slots from your calendars and rules (bookings are not read).

    Reads content/site.toml (or --config); the options override it. Without a
    settings file, every rule not given here is off (no notice, no buffers, no
    limit per day, every slot offered) and one call type "call" is checked: so
    `callslot slots --calendar my.ics --hours 09:00-17:00 --timezone Europe/Berlin`
    shows when a calendar is free. JSON: {"timezone", "slots": [{"start", "end",
    "call_type"}]}, times in the owner's zone with offset. A calendar that cannot
    be read fails the command: nothing is printed as free.
    """
    from datetime import timedelta

    from generator.availability import calendar_window, open_slots
    from generator.busy.calendars import read_busy
    from generator.commands.slots import (
        calendar_from_option,
        format_json,
        format_table,
        settings_for_check,
        with_overrides,
    )
    from generator.config.settings import load_settings, parse_range

    moment = parse_now(now)
    day_range = parse_range(hours, field="--hours") if hours is not None else None
    sources = [calendar_from_option(c, i) for i, c in enumerate(calendars)] or None

    def minutes(n: int | None) -> timedelta | None:
        return timedelta(minutes=n) if n is not None else None

    if config_path is not None:  # given, or found here or above (see _find_site)
        settings = with_overrides(
            load_settings(config_path), timezone=timezone, duration=minutes(duration),
            step=minutes(step), hours=day_range, days=days, calendars=sources,
        )
        cache_dir = settings.state_dir / "cache"
    else:
        settings = settings_for_check(
            timezone=timezone or "UTC", duration=minutes(duration or 30), step=minutes(step),
            hours=day_range, days=days, calendars=sources or (),
        )
        cache_dir = None  # no project folder to keep a cache in
        if not sources:
            click.echo("Note: no --calendar given and no settings file: every slot is free.",
                       err=True)
    if call_type is not None and settings.call_type(call_type) is None:
        from generator.config.settings import unknown_call_type

        raise ConfigError(unknown_call_type(settings, call_type), field="--call-type")
    window = calendar_window(settings, moment)
    from generator.busy.progress import FetchProgress

    busy = read_busy(settings.calendars, settings.tz, *window, cache_dir=cache_dir,
                     progress=FetchProgress())
    slots = open_slots(settings, busy, moment,
                       call_types=[call_type] if call_type is not None else None)
    if fmt == "json":
        click.echo(format_json(settings, slots), nl=False)
    else:
        shown = (moment + settings.booking.notice, moment + settings.booking.horizon)
        click.echo(format_table(settings, slots, shown), nl=False)
        if settings.path is not None and not sources and slots:
            # The README's first command ends here: say where the page with these slots is.
            from generator.commands.phrases import see_the_page

            index = settings.root / "public" / "index.html"
            if index.exists():
                import os

                keyed = bool(os.environ.get("CALLSLOT_SECRET"))
                click.echo(see_the_page(index, served=True, keyed=keyed))
            else:
                click.echo("Run `callslot build` to publish these slots as a booking page.")


# -- serve and bookings (the handler side) ----------------------------------------------


@main.command("serve")
@config_option
@click.option("--port", default=8000, show_default=True, type=Between(0, 65535),
              help="Port to listen on (0: any free port; the URL is printed).")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. Keep 127.0.0.1 unless a proxy sits in front.")
@click.option("--now", "now", default=None, metavar="ISO-8601",
              help="Pin the clock of the build only (a preview of another week); bookings "
                   "are checked against the real clock (or CALLSLOT_NOW).")
@click.option("--dev", is_flag=True,
              help="Development mode: without CALLSLOT_SECRET, sign with a key created in "
                   ".callslot/ (only this machine has it). Without --dev, serve refuses to "
                   "start when CALLSLOT_SECRET is unset.")
def serve_command(
    config_path: Path | None, port: int, host: str, now: str | None, dev: bool
) -> None:
    """Build the booking page and serve it with the booking handler on one address.

    Serves public/ and /api/* together, records bookings in .callslot/bookings.sqlite3
    (or the store named by DATABASE_URL), rebuilds when content/ or the theme
    changes and after each booking, and sends due notifications every 30
    seconds. Runs on waitress, a production WSGI server (gzip, ETags, a graceful stop on
    SIGTERM), and logs each request's path without its query string (tokens live there).
    Signs with CALLSLOT_SECRET; --dev creates a development key in .callslot/ instead.
    """
    from generator.commands.serve import check_port, serve

    check_port(host, port)  # before settings, store and build: a taken port fails at once
    serve(config_path, host=host, port=port, build_now=parse_now(now) if now else None, dev=dev)


@main.group("bookings", invoke_without_command=True)
@config_option
@now_option
@click.option("--format", "fmt", type=OneOf(["table", "csv", "json", "ics"]),
              default="table", show_default=True,
              help="A table for the terminal; CSV for spreadsheets; JSON for scripts; ICS "
                   "for a calendar app.")
@click.option("--all", "show_all", is_flag=True,
              help="Also past and cancelled calls (default: upcoming confirmed calls).")
@click.pass_context
def bookings_command(ctx: click.Context, config_path: Path | None, now: str | None, fmt: str,
                     show_all: bool) -> None:
    """List upcoming bookings, or move, cancel or mark one (see the commands below).

    Reads the store named by DATABASE_URL (default .callslot/bookings.sqlite3
    beside content/). Times are in the owner's time zone.
    """
    ctx.ensure_object(dict)
    ctx.obj.update(config_path=config_path, now=now)
    if ctx.invoked_subcommand is not None:
        return
    from generator.commands.bookings import format_bookings

    settings, store = _open_bookings(config_path)
    try:
        if show_all:
            found = store.bookings(include_cancelled=True)
        else:
            found = store.bookings(since=parse_now(now))
    finally:
        store.close()
    click.echo(format_bookings(settings, found, fmt), nl=False)


def _open_bookings(config_path: Path | None) -> tuple[Any, Any]:
    import os

    from generator.config.settings import load_settings
    from generator.store import open_store

    settings = load_settings(config_path)
    return settings, open_store(os.environ.get("DATABASE_URL"), settings=settings)


def _secret_before_change(settings: Any) -> bytes:
    """The key that signs the links in the mails a change owes, loaded before anything is
    changed: without it the change would be made and its mails never sent."""
    from generator.errors import ConfigError
    from generator.signing import load_secret

    try:
        return load_secret(settings.state_dir)[0]
    except ConfigError as exc:
        raise ConfigError(f"{exc.reason}; nothing was changed (the mails about the change "
                          "carry links signed with this key)", field=exc.field) from None


def _send_changes(settings: Any, store: Any, booking_id: str, moment: datetime,
                  secret: bytes) -> None:
    """Send what a change from the command line owes right away; the rest waits for
    `callslot notify`, as the handler's answer does."""
    from generator.commands.phrases import count
    from generator.notify.outbox import send_now

    report = send_now(settings, store, booking_id, now=moment, secret=secret)
    click.echo(f"{count(report.sent, 'notification')} sent, {report.skipped} skipped "
               f"(nothing to send), {report.failed} failed (`callslot notify` tries again).")
    # Whether the caller learns of it: say so when no mail reaches them.
    booking = store.get(booking_id)
    if booking is None:
        return
    from generator.phone import default_region, display_number

    phone = display_number(booking.phone, default_region(settings.owner)) if booking.phone else ""
    if not booking.email:
        click.echo(f"The caller gave no email address: tell them yourself "
                   f"({phone or 'no phone number either'}).")
    elif settings.notify.email is None:
        waiting = sum(1 for item in store.outbox(booking_id=booking_id)
                      if item.status == "pending" and item.channel.startswith("email:"))
        verb = "waits" if waiting == 1 else "wait"
        click.echo(f"The caller is not told yet: {count(waiting, 'mail')} {verb} for a mail "
                   "server. Set SMTP_URL (or [notify.email]) and run `callslot notify`, or "
                   f"tell them yourself ({phone or booking.email}).")


@bookings_command.command("cancel")
@click.argument("booking_id", metavar="ID")
@config_option
@now_option
@click.pass_context
def bookings_cancel_command(ctx: click.Context, booking_id: str, config_path: Path | None,
                            now: str | None) -> None:
    """Cancel booking ID: the slot is free again and the caller is told (as their own cancel
    link would do). Cancelling twice changes nothing. An ID that starts with "-" goes
    after "--": callslot bookings cancel -- -AbC123."""
    from generator.commands.phrases import day_and_time
    from generator.errors import CallslotError
    from generator.notify.outbox import channels_for

    settings, store = _open_bookings(config_path or ctx.obj["config_path"])
    moment = parse_now(now or ctx.obj["now"])
    try:
        booking = store.get(booking_id)
        if booking is None:
            from generator.commands.bookings import unknown_booking

            raise CallslotError(unknown_booking(store, booking_id))
        if booking.status == "cancelled":
            click.echo(f"{booking_id} was already cancelled.")
            return
        channels = channels_for(settings, "cancelled")
        secret = _secret_before_change(settings) if channels else b""
        store.cancel(booking_id, now=moment, channels=channels)
        start = booking.start.astimezone(settings.tz)
        click.echo(f"Cancelled {booking_id}: {day_and_time(start)} {booking.topic} "
                   f"({booking.name}).")
        if channels:
            _send_changes(settings, store, booking_id, moment, secret)
    finally:
        store.close()


@bookings_command.command("move")
@click.argument("booking_id", metavar="ID")
@click.option("--to", "to", required=True, metavar="ISO-8601",
              help="The new start, e.g. 2026-12-01T10:30 (your time zone unless an offset "
                   "is given). The call keeps its type and length.")
@config_option
@now_option
@click.option("--force", is_flag=True,
              help="Move it even outside your open hours or over busy time in your calendars "
                   "(never over another call).")
@click.pass_context
def bookings_move_command(ctx: click.Context, booking_id: str, to: str,
                          config_path: Path | None, now: str | None, force: bool) -> None:
    """Move call ID to another time: both sides get an updated invitation (the same event,
    moved, in their calendars) and the reminders follow the new time. The call keeps its
    topic, its history and the caller's links. Refused, with the reason, for a call that
    has begun or is cancelled, or a time that is not open. An ID that starts with "-"
    goes after "--"."""
    from generator.commands.bookings import move_booking, parse_move_time
    from generator.commands.phrases import day_and_time

    settings, store = _open_bookings(config_path or ctx.obj["config_path"])
    moment = parse_now(now or ctx.obj["now"])
    try:
        secret = _secret_before_change(settings)
        before, after = move_booking(settings, store, booking_id,
                                     parse_move_time(to, settings), now=moment, force=force)
        old = before.start.astimezone(settings.tz)
        new = after.start.astimezone(settings.tz)
        click.echo(f"Moved {booking_id} from {day_and_time(old)} to "
                   f"{day_and_time(new)}: {after.topic} ({after.name}).")
        _send_changes(settings, store, booking_id, moment, secret)
    finally:
        store.close()


@bookings_command.command("purge")
@config_option
@now_option
@click.option("--dry-run", "dry_run", is_flag=True,
              help="Only count the calls whose personal data would be erased.")
@click.pass_context
def bookings_purge_command(ctx: click.Context, config_path: Path | None, now: str | None,
                           dry_run: bool) -> None:
    """Erase the personal data (name, phone, email, topic, note, time zone, the mails'
    error texts) of every call over for [privacy] keep (default 90 days). What
    `callslot stats` counts stays. `callslot notify` and `callslot serve` do this on
    their own; running it again erases nothing twice."""
    from generator.commands.phrases import day_and_time
    from generator.store.retention import purge_expired

    settings, store = _open_bookings(config_path or ctx.obj["config_path"])
    moment = parse_now(now or ctx.obj["now"])
    try:
        report = purge_expired(store, keep=settings.privacy.keep, now=moment, dry_run=dry_run)
    finally:
        store.close()
    for booking in report.due:
        start = booking.start.astimezone(settings.tz)
        click.echo(f"{booking.id}  {day_and_time(start)}  {booking.call_type}  "
                   f"{booking.status}")
    click.echo(report.summary())


@bookings_command.command("export")
@click.option("--contact", required=True, metavar="EMAIL_OR_PHONE",
              help="The caller's email address or phone number (any way of writing it).")
@config_option
@now_option
@click.pass_context
def bookings_export_command(ctx: click.Context, contact: str, config_path: Path | None,
                            now: str | None) -> None:
    """Print everything stored about one caller as JSON: their bookings (cancelled ones too)
    and the notifications about them. For a caller who asks what you keep about them."""
    from generator.commands.rights import export_contact, parse_contact

    settings, store = _open_bookings(config_path or ctx.obj["config_path"])
    moment = parse_now(now or ctx.obj["now"])
    try:
        found = parse_contact(contact, settings)
        click.echo(export_contact(store, found, settings, now=moment), nl=False)
    finally:
        store.close()


@bookings_command.command("forget")
@click.option("--contact", required=True, metavar="EMAIL_OR_PHONE",
              help="The caller's email address or phone number (any way of writing it).")
@click.option("--yes", "assume_yes", is_flag=True, help="Do not ask before erasing.")
@config_option
@now_option
@click.pass_context
def bookings_forget_command(ctx: click.Context, contact: str, assume_yes: bool,
                            config_path: Path | None, now: str | None) -> None:
    """Erase everything stored about one caller. A call of theirs still ahead is cancelled
    first, and both sides are told as with any cancellation; then name, phone, email,
    topic, note and the texts about them are erased. `callslot stats` still counts the calls."""
    from generator.commands.phrases import count, day_and_time
    from generator.commands.rights import find_bookings, forget_contact, parse_contact
    from generator.signing import load_secret

    settings, store = _open_bookings(config_path or ctx.obj["config_path"])
    moment = parse_now(now or ctx.obj["now"])
    try:
        who = parse_contact(contact, settings)
        found = find_bookings(store, who, settings)
        if not found:
            click.echo(f"Nothing stored about {contact}.")
            return
        for booking in found:
            start = booking.start.astimezone(settings.tz)
            ahead = booking.status == "confirmed" and booking.start > moment
            click.echo(f"{booking.id}  {day_and_time(start)}  {booking.status}"
                       f"{'  (ahead: will be cancelled)' if ahead else ''}")
        if not assume_yes and not click.confirm(
            f"Erase everything about {contact} in "
            + ("this booking?" if len(found) == 1 else f"these {len(found)} bookings?")
        ):
            raise click.exceptions.Exit(1)
        ahead = any(b.status == "confirmed" and b.start > moment for b in found)
        # The key signs the links in the cancellation notices; without a call ahead, none.
        secret = load_secret(settings.state_dir)[0] if ahead else b""
        report = forget_contact(store, who, settings, now=moment, secret=secret, found=found)
    finally:
        store.close()
    for line in report.notify_lines:
        click.echo(line)
    click.echo(f"{count(len(report.cancelled), 'call')} cancelled, "
               f"{count(report.erased, 'booking')} erased "
               "(stats still count them).")
    if report.untold:
        ids = ", ".join(b.id for b in report.untold)
        raise CallslotError(
            f"not erased yet: {ids}, because the caller could not be told of the "
            "cancellation (see the lines above) and erasing the address now would leave "
            "them waiting for a call that will not come; once mail works, run `callslot "
            f"notify`, then `callslot bookings forget {contact}` again (it erases then, "
            "told or not)"
        )


@bookings_command.command("mark")
@click.argument("booking_ids", metavar="ID...", nargs=-1)
@click.argument("outcome", metavar="held|missed", type=OneOf(
    ["held", "missed"], hint="; the last word says how the calls went, after their IDs"))
@config_option
@now_option
@click.option("--unmarked", "all_unmarked", is_flag=True,
              help="Mark every call that is over and not marked yet (no IDs needed).")
@click.option("--force", is_flag=True,
              help="Mark it even if the call was cancelled or has not started yet.")
@click.pass_context
def bookings_mark_command(ctx: click.Context, booking_ids: tuple[str, ...], outcome: str,
                          config_path: Path | None, now: str | None, all_unmarked: bool,
                          force: bool) -> None:
    """Record whether calls took place (held) or not (missed), for `callslot stats`.

    Several at once: `callslot bookings mark a1 b2 c3 held`; every call that is
    over and not marked yet: `callslot bookings mark --unmarked held`. A cancelled
    call or one that has not started yet is refused (a typo in an ID would skew the
    share of calls held) unless --force; when one ID is refused, none is marked.
    An ID that starts with "-" goes after "--"."""
    from generator.commands.phrases import count, day_and_time, join_and
    from generator.errors import CallslotError

    if not booking_ids and not all_unmarked:
        raise ConfigError("name the calls to mark, e.g. `callslot bookings mark a1 b2 held`, "
                          "or add --unmarked for every call not marked yet", field="ID")
    settings, store = _open_bookings(config_path or ctx.obj["config_path"])
    moment = parse_now(now or ctx.obj["now"])
    try:
        ids = list(dict.fromkeys(booking_ids))  # a repeated ID is marked once
        if all_unmarked:
            ids += [b.id for b in store.bookings(include_cancelled=False)
                    if b.end <= moment and b.outcome is None and b.id not in ids]
        problems, unknown = [], False
        for booking_id in ids:
            booking = store.get(booking_id)
            if booking is None:
                from generator.commands.bookings import unknown_booking

                problems.append(unknown_booking(store, booking_id).split(";")[0])
                unknown = True
            elif not force and booking.status == "cancelled":
                problems.append(f"{booking_id} was cancelled, so it cannot be {outcome}")
            elif not force and booking.start > moment:
                start = booking.start.astimezone(settings.tz)
                problems.append(f"{booking_id} starts {day_and_time(start)}, later than "
                                f"now, so it cannot be {outcome} yet")
        if problems:
            # --force marks a cancelled or future call; it cannot find an unknown ID.
            hint = "" if force or unknown else " (or add --force)"
            raise CallslotError("; ".join(problems) + ". Nothing was marked; check the IDs "
                                f"with `callslot bookings --all`{hint}")
        for booking_id in ids:
            store.set_outcome(booking_id, outcome)
    finally:
        store.close()
    if not ids:
        click.echo("No call to mark: every call that is over is marked already.")
    else:  # one call reads as several do: "Marked 1 call held: bk03."
        click.echo(f"Marked {count(len(ids), 'call')} {outcome}: {join_and(ids)}.")
