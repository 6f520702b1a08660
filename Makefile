# Two commands do all set-up on a fresh Linux machine with Python 3.11:
#   make run   – venv, install, migrate, seed demo data once, start the console
#   make test  – venv, install, run the whole suite on real PostgreSQL (browser tests included)
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
SCALE  ?= small
STAMP  := $(VENV)/.installed

.PHONY: run test bench migrate seed lint screenshots clean-db

$(PY):
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "needs $(PYTHON)"; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(STAMP): requirements.txt | $(PY)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $(STAMP)

run: $(STAMP)
	$(PY) -m console serve

test: $(STAMP)
	bash .ci/browser-deps.sh
	$(PY) -m pytest -q -n 2 --durations=15 tests

bench: $(STAMP)
	$(PY) -m bench --scale $(SCALE)

migrate: $(STAMP)
	$(PY) -m console migrate

seed: $(STAMP)
	$(PY) -m console.demo --scale demo --seed 42

screenshots: $(STAMP)
	$(PY) -m tests.browser.screenshots

clean-db:
	rm -rf .pgdata .pgdata-test
