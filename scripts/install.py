"""Install packages into this Python environment with uv, set up from pip's own configuration.

`python scripts/install.py ARGS...` takes `pip install` arguments. uv resolves, downloads and
unpacks in parallel: a fresh `make setup` on a 2-core machine took 133 s with pip and 59 s with
uv, bytecode compiled in both. uv does not read pip's configuration, so the settings that say where packages come from (a
local index, a folder of wheels, a constraints file, a certificate) are passed on as uv options,
and pip picks the best version across all indexes, as pip does. A pip setting uv cannot honour, a
missing uv or a failing uv install leaves the job to pip, which reads its settings itself.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

# pip setting -> uv option taking one value each (pip lists several values separated by spaces)
REPEATED = {"extra-index-url": "--extra-index-url", "find-links": "--find-links", "constraint": "--constraint"}
# Settings with no effect on what gets installed.
HARMLESS = {"disable-pip-version-check", "no-cache-dir", "progress-bar", "quiet", "verbose", "root-user-action", "no-color"}


def pip_settings() -> dict[str, str]:
    """pip's effective settings (files, then PIP_* variables, the later winning), by name."""
    listed = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True, check=True)
    settings = {}
    for line in listed.stdout.splitlines():
        name, _, value = line.partition("=")
        settings[name.split(".", 1)[-1]] = value.strip().strip("'\"")
    return settings


def uv_command(settings: dict[str, str], args: list[str]) -> tuple[list[str], dict[str, str]] | None:
    """The uv command and environment equal to `pip install ARGS` under `settings`, or None."""
    uv = shutil.which("uv", path=os.path.dirname(sys.executable)) or shutil.which("uv")
    if uv is None:
        return None
    # Compiled at install, as pip does: where bytecode is never written at import
    # (PYTHONDONTWRITEBYTECODE), every kernel would otherwise compile torch again, 17 s each.
    command = [uv, "pip", "install", "--python", sys.executable, "--index-strategy", "unsafe-best-match", "--compile-bytecode"]
    env = dict(os.environ)
    for name, value in settings.items():
        if name in REPEATED:
            for item in value.split():
                command += [REPEATED[name], item]
        elif name == "index-url":
            command += ["--index-url", value]
        elif name == "no-index" and value.lower() in ("1", "true", "yes", "on"):
            command += ["--no-index"]
        elif name == "cert":
            env["SSL_CERT_FILE"] = value
        elif name in ("timeout", "default-timeout"):
            env["UV_HTTP_TIMEOUT"] = value
        elif name not in HARMLESS:
            print(f"install.py: pip setting {name!r} has no uv equivalent here; installing with pip.", file=sys.stderr)
            return None
    return command + args, env


def main(args: list[str]) -> int:
    prepared = uv_command(pip_settings(), args)
    if prepared is not None:
        command, env = prepared
        if subprocess.run(command, env=env).returncode == 0:
            return 0
        print("install.py: uv could not install this; trying pip.", file=sys.stderr)
    return subprocess.run([sys.executable, "-m", "pip", "install", *args]).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
