"""The one exception type the CLI turns into a single `error:` line and exit code 2."""


class InkbenchError(Exception):
    """A problem with the user's input (config, file, name): reported without a traceback."""
