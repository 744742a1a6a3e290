"""Where the store lives: an SQLite file (the default, ./mftctl.db) or a PostgreSQL URL.

One function resolves it — `--db`, else $MFTCTL_DB, else ./mftctl.db — and nothing here imports an
engine, so the fast read path and `--help` stay light. A URL's password is never shown: `shown` is the
form every message, table and log uses.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from urllib.parse import unquote, urlsplit, urlunsplit

from ..errors import StoreError

DEFAULT_DB = "mftctl.db"
POSTGRES_SCHEMES = ("postgresql", "postgresql+psycopg", "postgres")
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_MISSING_SLASHES = re.compile(r"^(?:postgresql(?:\+psycopg)?|postgres|sqlite):(?!//)", re.IGNORECASE)


@dataclass(frozen=True)
class Location:
    path: Path | None = None  # an SQLite file
    url: str | None = None  # a PostgreSQL URL, as given (password included: never print it)

    @property
    def is_sqlite(self) -> bool:
        return self.path is not None

    @property
    def file(self) -> Path:
        """The SQLite file: for code on the SQLite side of an `is_sqlite` branch."""
        if self.path is None:
            raise ValueError(f"{self.shown} is not an SQLite file")
        return self.path

    @property
    def sqlalchemy_url(self) -> str:
        """The URL with the driver mftctl uses (psycopg 3), whatever scheme the user wrote."""
        assert self.url is not None
        return "postgresql+psycopg://" + self.url.split("://", 1)[1]

    @property
    def shown(self) -> str:
        """For messages: the file's path, or the URL with its password replaced by ***."""
        if self.path is not None:
            return str(self.path)
        return hide_password(self.url or "")

    @property
    def owner_name(self) -> str:
        """What a run folder's marker file says made it (gc removes only folders its own store made)."""
        return self.path.name if self.path is not None else self.shown

    @property
    def env_value(self) -> str:
        """How a worker subprocess is told where the store is ($MFTCTL_DB: a password stays out of `ps`)."""
        # An absolute path: `mftctl stop` and the liveness check compare it with their own store's.
        return str(self.path.absolute()) if self.path is not None else str(self.url)

    def __str__(self) -> str:
        return self.shown


def _without_userinfo(url: str) -> str:
    """A URL too malformed to parse, for a message: its password (what follows the user, up to the last
    `@`) replaced by ***."""
    scheme, _, rest = url.partition("://")
    if "@" not in rest:
        return url
    userinfo, host = rest.rsplit("@", 1)
    user = userinfo.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}" if ":" in userinfo else f"{scheme}://{user}@{host}"


def hide_password(url: str) -> str:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018
    except ValueError:
        return _without_userinfo(url)
    if parts.password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    user = unquote(parts.username or "")
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def resolve_location(option: str | Path | Location | None = None) -> Location:
    """--db, else $MFTCTL_DB, else ./mftctl.db."""
    if isinstance(option, Location):
        return option
    given = str(option or os.environ.get("MFTCTL_DB") or DEFAULT_DB)
    if _MISSING_SLASHES.match(given):  # `postgresql:db` would otherwise become a new local SQLite file
        scheme = given.split(":", 1)[0]
        raise StoreError(
            f"--db {hide_password(given)} is neither a file path nor a URL; a PostgreSQL URL starts with "
            f"{scheme}:// (e.g. postgresql://user@host/db)"
        )
    if _URL.match(given):
        scheme = given.split("://", 1)[0].lower()
        if scheme == "sqlite":
            raise StoreError(f"--db {hide_password(given)}: give an SQLite database as a plain file path")
        if scheme not in POSTGRES_SCHEMES:
            raise StoreError(
                f"--db {hide_password(given)}: mftctl stores runs in an SQLite file or a PostgreSQL database "
                f"(postgresql://user@host/db), not a {scheme} one"
            )
        try:
            parts = urlsplit(given)
            parts.port  # noqa: B018 - a malformed host or port raises only when read
        except ValueError as exc:
            raise StoreError(
                f"--db {_without_userinfo(given)} is not a readable URL ({exc}); write postgresql://user@host:port/db"
                " (an IPv6 host in brackets: postgresql://user@[::1]/db)"
            ) from None
        if not parts.path.strip("/"):
            raise StoreError(f"--db {hide_password(given)} names no database; add one, e.g. postgresql://host/mftctl")
        return Location(url=given)
    path = Path(given)
    if given == ":memory:" or given.startswith("file:"):
        raise StoreError(f"--db {path}: mftctl needs a database file that its workers can open; give a file path")
    if path.is_dir():
        raise StoreError(f"--db {path} is a folder; give the path of a database file, e.g. {path / DEFAULT_DB}")
    return Location(path=path)


def postgres_driver(location: Location) -> ModuleType:
    """psycopg, or a one-line error naming the extra that installs it."""
    try:
        import psycopg
    except ImportError:
        raise StoreError(
            f"--db {location.shown} is a PostgreSQL URL, but its driver is not installed; "
            "install it with `pip install 'mftctl[postgres]'`"
        ) from None
    return psycopg
