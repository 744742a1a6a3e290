"""The one error type the CLI turns into `Error: ...` and exit code 1.

Core code raises these with a message a user can act on: what is wrong, and the way out.
"""


class MftctlError(Exception):
    """A problem the user can fix; the message is shown as one line, without a traceback."""


class ConfigError(MftctlError):
    """An unknown key, a wrong type, an impossible value, or an unreadable config file."""


class StoreError(MftctlError):
    """The database cannot be opened, is from a newer mftctl, or lacks the asked-for row."""


class CheckpointError(MftctlError):
    """A checkpoint file is missing, truncated or not an mftctl checkpoint."""
