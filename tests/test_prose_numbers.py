"""Numbers in a lab's prose come from its own run (rendered by a code cell) or cite their source."""

import json
import re

NUMBER = re.compile(r"(?<![\w.])\d+(?:\.\d+)?\s?%|(?<![\w.])\d+\.\d+(?![\w.])")
# A published number names its source: "Souly et al. (2025)", "Gu, Dolan-Gavitt and Garg, 2017".
CITATION = re.compile(r"[A-Z][A-Za-z-]+(?: et al\.?| and [A-Z][A-Za-z-]+)?,? \(?(?:19|20)\d\d\)?")
QUIZ_QUESTION = re.compile(r"^\*\*Q\d+\.\*\*")  # a quiz's hypothetical scenario, not a claim about a run


def prose(text: str) -> str:
    """Markdown without code blocks, inline code and mathematics, where numbers are settings or formulas."""
    text = re.sub(r"```.*?```", " ", text, flags=re.S)
    text = re.sub(r"\$\$.*?\$\$|\$[^$]*\$", " ", text, flags=re.S)
    return re.sub(r"`[^`]*`", " ", text)


def uncited_numbers(notebook: dict) -> list[str]:
    found = []
    for cell in notebook["cells"]:
        text = "".join(cell["source"])
        if cell["cell_type"] != "markdown" or QUIZ_QUESTION.match(text):
            continue
        for paragraph in re.split(r"\n\s*\n", prose(text)):
            numbers = NUMBER.findall(paragraph)
            if numbers and not CITATION.search(paragraph):
                found.append(f"{numbers} in: {' '.join(paragraph.split())[:120]}")
    return found


def test_student_notebooks_state_no_uncited_result_in_their_prose(repo):
    problems = {path.name: uncited_numbers(json.loads(path.read_text())) for path in sorted((repo / "labs").glob("*.ipynb"))}
    problems = {name: found for name, found in problems.items() if found}
    assert not problems, (
        "percentages and decimals in markdown must come from the run (render them with IPython.display.Markdown) "
        f"or cite a published source: {problems}"
    )


def test_the_scan_catches_a_hard_coded_result_and_passes_a_cited_one():
    def notebook(text):
        return {"cells": [{"cell_type": "markdown", "source": [text]}]}

    assert uncited_numbers(notebook("In our run the trigger fired on 97% of prompts."))
    assert uncited_numbers(notebook("The AUROC was 0.93 here."))
    assert not uncited_numbers(notebook("Hubinger et al. (2024) report about 99% with the trigger."))
    assert not uncited_numbers(notebook("Set `RATE = 0.05` and compare $p = 0.5$."))
    assert not uncited_numbers(notebook("**Q1.** Suppose a probe fires on 40% of prompts."))
