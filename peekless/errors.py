"""User mistakes: one line saying what is wrong and what to do, exit status 2.

Any stage raises ``UserError`` for input the user can fix (a missing file, a blank
option, a model the compiler cannot take...). ``peekless.cli.main`` prints it as one line
on stderr and exits 2; ``peekless --debug ...`` shows the traceback instead."""

from __future__ import annotations

import errno

EXIT_USER_ERROR = 2

# OSErrors about a path the user gave, and what to do about each.
_PATH_ERRORS = {
    errno.ENOENT: "check the path",
    errno.ENOTDIR: "a part of the path is a file, not a folder",
    errno.EISDIR: "give a file, not a folder",
    errno.EACCES: "check its permissions",
    errno.EPERM: "check its permissions",
    errno.EEXIST: "choose another path, or remove it first",
    errno.ENOSPC: "free some disk space",
    errno.EROFS: "choose a writable folder",
}


class UserError(Exception):
    """A mistake in the user's input. ``str(err)`` names the file, field or option and
    says what to do; it never contains a traceback."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


def path_error_message(exc: OSError) -> str | None:
    """One line for an OSError about a file the user named (missing, unreadable, a folder
    where a file was wanted...), or None when it is not that kind of error."""
    if exc.filename is None or exc.errno not in _PATH_ERRORS:
        return None
    return f"{exc.filename}: {exc.strerror} ({_PATH_ERRORS[exc.errno]})"
