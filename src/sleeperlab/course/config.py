"""Where the course is published, read from one place: the `[tool.sleeperlab]` table of pyproject.toml.

A fork changes `repository` there and runs `make release`: the Colab badges, the Colab install
cell and the README's links all follow.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from sleeperlab.errors import SleeperlabError
from sleeperlab.smollm2 import PACKAGE_SPEC

SLUG = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")


@dataclass(frozen=True)
class CourseConfig:
    repository: str  # the GitHub slug, "owner/name"
    branch: str  # the branch the Colab badges open
    version: str  # the package version; the install cell pins the tag v<version>

    @property
    def tag(self) -> str:
        return f"v{self.version}"

    @property
    def colab_labs_url(self) -> str:
        return f"https://colab.research.google.com/github/{self.repository}/blob/{self.branch}/labs/"

    def colab_url(self, lab_name: str) -> str:
        return f"{self.colab_labs_url}{lab_name}.ipynb"

    def install_requirement(self) -> str:
        return f"sleeperlab @ git+https://github.com/{self.repository}@{self.tag}"

    @property
    def model_requirement(self) -> str:
        return PACKAGE_SPEC


def course_config(repo: Path) -> CourseConfig:
    """The `[tool.sleeperlab]` table of `repo/pyproject.toml`, checked."""
    path = repo / "pyproject.toml"
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise SleeperlabError(f"{path}: cannot read it ({error}).") from None
    table = document.get("tool", {}).get("sleeperlab")
    if not isinstance(table, dict):
        raise SleeperlabError(f'{path}: add a [tool.sleeperlab] table with repository = "owner/name".')
    repository = table.get("repository", "")
    if not isinstance(repository, str) or not SLUG.match(repository):
        raise SleeperlabError(
            f'{path}: [tool.sleeperlab] repository must be a GitHub slug such as "owner/name", got {repository!r}.'
        )
    branch = table.get("branch", "main")
    if not isinstance(branch, str) or not branch or any(c.isspace() for c in branch):
        raise SleeperlabError(f"{path}: [tool.sleeperlab] branch must be a branch name, got {branch!r}.")
    return CourseConfig(repository=repository, branch=branch, version=document["project"]["version"])
