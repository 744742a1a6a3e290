"""The one error type the CLI turns into `Error: ...` and exit code 1.

Core code raises these with a message a user can act on: what is wrong, and the way out.
"""

from collections.abc import Iterator
from contextlib import contextmanager


class MftctlError(Exception):
    """A problem the user can fix; the message is shown as one line, without a traceback."""


class InputError(MftctlError, ValueError):
    """Data handed to a function of `mftctl.*` that it cannot measure (a cloud of the wrong shape, a
    report with a mass that is not a number); a ValueError too, as it always was."""


class ConfigError(MftctlError):
    """An unknown key, a wrong type, an impossible value, or an unreadable config file."""


class StoreError(MftctlError):
    """The database cannot be opened, is from a newer mftctl, or lacks the asked-for row."""


class CheckpointError(MftctlError):
    """A checkpoint file is missing, truncated or not an mftctl checkpoint."""


@contextmanager
def python_boundary() -> Iterator[None]:
    """The CLI's error boundary for `mftctl.*` called from Python: the machine's failures (a folder that
    cannot be made, a full disk, a database gone) become MftctlError with the line the CLI prints."""
    try:
        yield
    except MftctlError:
        raise
    except Exception as exc:
        message = environment_message(exc)
        if message is None:
            raise
        raise MftctlError(message) from None


def environment_message(exc: BaseException) -> str | None:
    """One line for a failure of the machine rather than of mftctl — a full disk, a file that cannot be
    written, a database file damaged or deleted under a running command — or None for anything else."""
    import errno
    import sqlite3

    if isinstance(exc, OSError):
        where = f" ({exc.filename})" if exc.filename else ""
        if exc.errno == errno.ENOSPC:
            return f"disk full{where}: free some space, then run the command again (finished epochs are kept)"
        return f"{exc.strerror or exc}{where}"
    module = type(exc).__module__
    if isinstance(exc, sqlite3.Error) or module.startswith("sqlalchemy"):
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        if "full" in reason:
            return "disk full: the database cannot grow; free some space, then run the command again"
        return f"database error: {reason}; check the file (`mftctl db info`) or use another --db"
    return None
