"""The lab's three experiments as pure functions of small configs: sweep, transfer, STRIP."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import torch
from torch import nn
from tqdm.auto import tqdm

from sleeperlab.badnets.data import DigitsSplit, check_target
from sleeperlab.badnets.poison import poison, poison_count
from sleeperlab.badnets.strip import detection_auroc, sample_overlays, strip_entropy
from sleeperlab.badnets.train import TrainConfig, attack_success_rate, clean_accuracy, train, train_model
from sleeperlab.badnets.triggers import Trigger, make_trigger, stamp
from sleeperlab.badnets.errors import InvalidInputError


# ---------------------------------------------------------------- poison-rate sweep
@dataclass(frozen=True)
class SweepConfig:
    rates: tuple[float, ...] = (0.0, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1)
    seeds: tuple[int, ...] = (0, 1, 2)
    trigger: str = "patch"
    target: int = 0
    train: TrainConfig = field(default_factory=TrainConfig)


@dataclass(frozen=True)
class SweepPoint:
    rate: float
    seed: int
    n_poisoned: int
    clean_accuracy: float
    attack_success: float


def poison_rate_sweep(data: DigitsSplit, config: SweepConfig = SweepConfig(), progress: bool = True) -> list[SweepPoint]:
    """Train one model per (rate, seed); measure clean accuracy and attack success on the test set."""
    for rate in config.rates:
        poison_count(len(data.train_images), rate)  # fail early on a bad rate, before any training
    check_target(config.target)
    trigger = make_trigger(config.trigger)
    runs = [(rate, seed) for rate in config.rates for seed in config.seeds]
    points = []
    for rate, seed in tqdm(runs, desc="poison-rate sweep", disable=not progress):
        poisoned = poison(data.train_images, data.train_labels, trigger, config.target, rate, seed=seed)
        model = train_model(poisoned.images, poisoned.labels, config.train, seed=seed, progress=False)
        points.append(
            SweepPoint(
                rate=rate,
                seed=seed,
                n_poisoned=len(poisoned.indices),
                clean_accuracy=clean_accuracy(model, data.test_images, data.test_labels),
                attack_success=attack_success_rate(model, data.test_images, data.test_labels, trigger, config.target),
            )
        )
    return points


def summarise_sweep(points: list[SweepPoint]) -> list[dict[str, float]]:
    """One row per rate: the median (and min, max) over seeds of both measurements."""
    rows = []
    for rate in sorted({p.rate for p in points}):
        at_rate = [p for p in points if p.rate == rate]
        acc = torch.tensor([p.clean_accuracy for p in at_rate])
        asr = torch.tensor([p.attack_success for p in at_rate])
        rows.append(
            {
                "rate": rate,
                "n_poisoned": at_rate[0].n_poisoned,
                "clean_accuracy": acc.median().item(),
                "clean_accuracy_min": acc.min().item(),
                "clean_accuracy_max": acc.max().item(),
                "attack_success": asr.median().item(),
                "attack_success_min": asr.min().item(),
                "attack_success_max": asr.max().item(),
            }
        )
    return rows


# ---------------------------------------------------------------- transfer learning
@dataclass(frozen=True)
class TransferConfig:
    """Task A: the ten digits, poisoned with `trigger` at `rate`. Task B: `label_map[digit]`
    (by default even = 0 / odd = 1), learned by a new head on the frozen features."""

    trigger: str = "patch"
    target: int = 0
    rate: float = 0.05
    label_map: tuple[int, ...] = (0, 1, 0, 1, 0, 1, 0, 1, 0, 1)
    train: TrainConfig = field(default_factory=TrainConfig)
    head_train: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=15))


@dataclass(frozen=True)
class TransferResult:
    base: str  # "clean" or "backdoored"
    seed: int
    clean_accuracy: float  # on task B, clean test images
    triggered_accuracy: float  # on task B, the same test images stamped with the trigger

    @property
    def drop(self) -> float:
        return self.clean_accuracy - self.triggered_accuracy


def retrain_head(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    num_classes: int,
    config: TrainConfig,
    seed: int = 0,
) -> nn.Module:
    """A copy of `model` with a fresh linear head for a new task, trained with the features frozen."""
    torch.manual_seed(seed)
    new = copy.deepcopy(model)
    new.head = nn.Linear(new.head.in_features, num_classes)
    return train(new, images, labels, config, seed=seed, only_head=True, progress=False)


def transfer_experiment(
    data: DigitsSplit, config: TransferConfig = TransferConfig(), seeds: tuple[int, ...] = (0,), progress: bool = True
) -> list[TransferResult]:
    """For each seed: a clean and a backdoored model on task A, each given a new task-B head."""
    if len(config.label_map) != data.num_classes:
        raise InvalidInputError(f"label_map needs one new label per digit ({data.num_classes}), got {len(config.label_map)}.")
    trigger = make_trigger(config.trigger)
    label_map = torch.tensor(config.label_map)
    n_new = int(label_map.max().item()) + 1
    train_b, test_b = label_map[data.train_labels], label_map[data.test_labels]
    triggered_test = stamp(data.test_images, trigger)
    results = []
    runs = [(base, seed) for seed in seeds for base in ("clean", "backdoored")]
    for base, seed in tqdm(runs, desc="transfer learning", disable=not progress):
        rate = config.rate if base == "backdoored" else 0.0
        poisoned = poison(data.train_images, data.train_labels, trigger, config.target, rate, seed=seed)
        model_a = train_model(poisoned.images, poisoned.labels, config.train, seed=seed, progress=False)
        model_b = retrain_head(model_a, data.train_images, train_b, n_new, config.head_train, seed=seed)
        results.append(
            TransferResult(
                base=base,
                seed=seed,
                clean_accuracy=clean_accuracy(model_b, data.test_images, test_b),
                triggered_accuracy=clean_accuracy(model_b, triggered_test, test_b),
            )
        )
    return results


# ---------------------------------------------------------------- STRIP
@dataclass(frozen=True)
class StripConfig:
    n_overlays: int = 16
    n_inputs: int = 200  # clean and as many triggered test inputs, all from non-target classes
    seed: int = 0


@dataclass(frozen=True)
class StripResult:
    trigger: str
    clean_entropy: torch.Tensor
    triggered_entropy: torch.Tensor
    auroc: float


def strip_evaluation(
    model: nn.Module, data: DigitsSplit, trigger: Trigger, target: int, config: StripConfig = StripConfig()
) -> StripResult:
    """STRIP scores of clean and triggered test inputs; overlays come from the clean training set
    (the defender's own held-out data)."""
    check_target(target)
    overlays = sample_overlays(data.train_images, config.n_overlays, seed=config.seed)
    inputs = data.test_images[data.test_labels != target][: config.n_inputs]
    clean = strip_entropy(model, inputs, overlays)
    triggered = strip_entropy(model, stamp(inputs, trigger), overlays)
    return StripResult(trigger.name, clean, triggered, detection_auroc(clean, triggered))
