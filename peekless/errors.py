"""User mistakes: one line saying what is wrong and what to do, exit status 2.

Any stage raises ``UserError`` for input the user can fix (a missing file, a blank
option, a model the compiler cannot take...). ``peekless.cli.main`` prints it as one line
on stderr and exits 2; ``peekless --debug ...`` shows the traceback instead."""

from __future__ import annotations

EXIT_USER_ERROR = 2


class UserError(Exception):
    """A mistake in the user's input. ``str(err)`` names the file, field or option and
    says what to do; it never contains a traceback."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message
