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
