"""The one exception type the CLI turns into a single `error:` line and exit code 2.

Top level: every floor raises it, so it sits below all of them and imports nothing.
"""


class InkbenchError(Exception):
    """A problem with the user's input (config, file, name): reported without a traceback."""


class DataNotFound(InkbenchError):
    """The data a config names is not on this machine (a missing folder or file), as opposed to
    data that is there but unreadable: a benchmark suite may fall back to another dataset for
    this error, never for a damaged file."""
