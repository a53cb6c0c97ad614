# Everything a fresh clone needs: `make demo` and `make test` create .venv and install on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install test demo bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# One pip resolution for runtime and dev dependencies, so the Dagster family stays on one line.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

demo: install
	$(BIN)/sylo demo $(DEMO_ARGS)

bench: install
	$(BIN)/python bench/sync.py

clean:
	rm -rf $(VENV) .sylo .pytest_cache
