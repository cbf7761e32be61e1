"""Data poisoning: stamp the trigger on a few training images and relabel them to the target."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from sleeperlab.badnets.data import NUM_CLASSES, check_target
from sleeperlab.badnets.triggers import Trigger, stamp
from sleeperlab.badnets.errors import InvalidInputError


@dataclass(frozen=True)
class PoisonedSet:
    images: torch.Tensor
    labels: torch.Tensor
    indices: torch.Tensor  # sorted positions (int64) of the poisoned examples


def poison_count(n_images: int, rate: float) -> int:
    """How many images a poison rate means: round(rate * n_images)."""
    if not isinstance(rate, (int, float)) or isinstance(rate, bool) or not 0.0 <= rate <= 1.0:
        raise InvalidInputError(f"poison rate must be a fraction between 0 and 1, got {rate!r} (5% is 0.05).")
    return int(round(rate * n_images))


def poison(
    images: torch.Tensor,
    labels: torch.Tensor,
    trigger: Trigger,
    target: int,
    rate: float,
    seed: int = 0,
    num_classes: int = NUM_CLASSES,
) -> PoisonedSet:
    """Poison round(rate * N) images drawn at random from the classes other than `target`.

    The chosen images get the trigger and the label `target`; everything else is copied unchanged.
    """
    check_target(target, num_classes)
    n_poison = poison_count(len(images), rate)
    candidates = torch.nonzero(labels != target).flatten().numpy()
    if n_poison > len(candidates):
        raise InvalidInputError(
            f"poison rate {rate} asks for {n_poison} images but only {len(candidates)} are not already class {target}."
        )
    rng = np.random.default_rng(seed)
    chosen = torch.as_tensor(np.sort(rng.choice(candidates, size=n_poison, replace=False)), dtype=torch.int64)
    poisoned_images = images.clone()
    poisoned_labels = labels.clone()
    if n_poison:
        poisoned_images[chosen] = stamp(images[chosen], trigger)
        poisoned_labels[chosen] = target
    return PoisonedSet(poisoned_images, poisoned_labels, chosen)
