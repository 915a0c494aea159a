# IMET Explorer: `make run` starts the app, `make test` runs every test.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8501

.PHONY: run test test-fast bench loadtest calibrate reproduce chromium clean

$(VENV)/.runtime: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt
	touch $@

$(VENV)/.dev: requirements-dev.txt $(VENV)/.runtime
	$(PY) -m pip install -q --disable-pip-version-check -r requirements-dev.txt
	touch $@

run: $(VENV)/.runtime
	$(PY) -m ui.launch --server.port $(PORT) --server.headless true

# Debian's chromium drives the browser tests and kaleido's figure export.
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "Installing Debian's chromium (needs root)..."; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

test: $(VENV)/.dev chromium
	$(PY) -m pytest -q

# Logic only: no browser, no slow marks.
test-fast: $(VENV)/.dev
	$(PY) -m pytest -q -m "not browser"

bench: $(VENV)/.dev chromium
	$(PY) benchmarks/run.py

loadtest: $(VENV)/.dev chromium
	$(PY) benchmarks/loadtest.py

calibrate: $(VENV)/.runtime
	$(PY) -m imet_core.synthetic calibrate

reproduce: $(VENV)/.runtime
	$(PY) -m imet_core reproduce

clean:
	rm -rf $(VENV) .pytest_cache
