# Everything a fresh clone needs: `make demo` and `make test` create .venv and install on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# The browser tests drive Debian's Chromium; Playwright must never fetch a browser of its own.
CHROMIUM := /usr/bin/chromium
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD := 1

.PHONY: install test demo dagster bench clean prod-up prod-down

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# One pip resolution for runtime and dev dependencies, so the Dagster family stays on one line.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

$(CHROMIUM):
	command -v chromium >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium)

test: install $(CHROMIUM)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

demo: install
	$(BIN)/sylo demo $(DEMO_ARGS)

# The Dagster UI in the embedded mode on http://127.0.0.1:3000: DAGSTER_HOME prepared under .sylo/dagster,
# and the demo's sandbox started unless SYLO_NANGO_URL/SYLO_NANGO_SECRET_KEY point at a Nango.
dagster: install
	$(BIN)/sylo dagster $(DAGSTER_ARGS)

bench: install
	$(BIN)/python bench/sync.py

# Production mode on this machine: Postgres, Redis, dagster-webserver, dagster-daemon, gunicorn, the outbox worker.
prod-up: install
	$(BIN)/python deploy/prod.py up

prod-down:
	$(BIN)/python deploy/prod.py down

clean:
	rm -rf $(VENV) .sylo .pytest_cache
