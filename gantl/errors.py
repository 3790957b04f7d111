"""Errors a user can fix.

Every message names the file or params field at fault and what was expected, so the CLI can
print it as one line instead of a traceback.
"""


class GantlError(Exception):
    """Base class: the CLI prints these as `error: <message>` and exits with status 2."""


class DataError(GantlError):
    """A data file or folder is missing, corrupt or inconsistent."""


class ConfigError(GantlError):
    """A params file, field or domain spec is invalid."""
