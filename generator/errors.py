"""The error family: each carries what the user needs to fix the problem.

Core code raises these; the command line shows ``format_message()`` and exits
non-zero, the handler answers with a readable page. The family depends on no
front end (importing the handler must not load click). Real bugs are not
wrapped and keep their traceback.
"""

from __future__ import annotations


class CallslotError(Exception):
    """Base of every known, user-fixable mistake."""

    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def format_message(self) -> str:
        """The message as the user reads it."""
        return self.message

    def __str__(self) -> str:
        return self.message


class ConfigError(CallslotError):
    """A setting is missing or wrong; names the file and the field."""

    def __init__(self, message: str, *, file: str | None = None, field: str | None = None,
                 line: int | None = None) -> None:
        self.file = file
        self.field = field
        self.line = line
        # The message without the "file, line N: field:" prefix, for a caller that
        # re-raises it under another field or line (one prefix, never two).
        self.reason = message
        where = ""
        if file:
            where = file
            if line:
                where += f", line {line}"
        # A message that already opens with its field ("SMTP_URL must look like ...")
        # reads right as it is: the field is not put in front a second time.
        if field and not message.startswith(field):
            where = f"{where}: {field}" if where else field
        super().__init__(f"{where}: {message}" if where else message)


class CalendarError(CallslotError):
    """A calendar could not be fetched or parsed; never treated as free time.

    ``calendar`` is the calendar's display name, never a secret URL.
    """

    def __init__(self, message: str, *, calendar: str) -> None:
        self.calendar = calendar
        super().__init__(f"calendar {calendar!r}: {message}")


class BuildError(CallslotError):
    """The site could not be built (theme, template, Markdown); nothing was written."""


class StoreError(CallslotError):
    """The booking store could not be opened or migrated."""


class NotifyError(CallslotError):
    """A notification channel is misconfigured."""
