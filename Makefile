# Two commands do all set-up on a fresh Linux machine with Python 3.11:
#   make run   – venv, install, migrate, seed demo data once, start the console
#   make test  – venv, install, run the whole suite on real PostgreSQL (browser tests included),
#                then tests/test_orchestration.py in .venv-orch (CONSOLE_SKIP_ORCHESTRATION=1: not)
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
SCALE  ?= small
STAMP  := $(VENV)/.installed

.PHONY: run test soak test-orchestration orchestration-venv bench migrate seed lint screenshots clean-db

# The optional Dagster extra (console/orchestration/) in an environment of its own, so .venv
# never gets it: a copy of .venv (requirements.txt is not installed twice) plus
# requirements-orchestration.txt. The copy is of hard links (1.5 GB copied took 20-60 s): pip
# unlinks a file before it writes one and sed -i writes a new file, so nothing written into
# .venv-orch reaches .venv. The copy's scripts and activate name .venv-orch, not .venv.
ORCH_VENV  := .venv-orch
ORCH_PY    := $(ORCH_VENV)/bin/python
ORCH_STAMP := $(ORCH_VENV)/.installed
ORCH_RUN   := $(ORCH_PY) -m pytest -q -p no:xdist --durations=5 tests/test_orchestration.py
ifeq ($(CONSOLE_SKIP_ORCHESTRATION),1)
ORCH_TEST  :=
else
ORCH_TEST  := $(ORCH_STAMP)
endif

$(PY):
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "needs $(PYTHON)"; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(STAMP): requirements.txt | $(PY)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $(STAMP)

$(ORCH_STAMP): $(STAMP) requirements-orchestration.txt
	rm -rf $(ORCH_VENV)
	cp -al $(VENV) $(ORCH_VENV)
	rm -f $(ORCH_VENV)/.installed
	echo '*' > $(ORCH_VENV)/.gitignore
	find $(ORCH_VENV)/bin -maxdepth 1 -type f -exec \
		sed -i 's#$(CURDIR)/$(VENV)\([/"]\|$$\)#$(CURDIR)/$(ORCH_VENV)\1#g' {} +
	sed -i 's#$(CURDIR)/$(VENV)$$#$(CURDIR)/$(ORCH_VENV)#' $(ORCH_VENV)/pyvenv.cfg
	$(ORCH_PY) -m pip install --quiet -r requirements.txt -r requirements-orchestration.txt
	$(ORCH_PY) -m pip check
	touch $(ORCH_STAMP)

orchestration-venv: $(ORCH_STAMP)

test-orchestration: $(ORCH_STAMP)
	$(ORCH_RUN)

run: $(STAMP)
	$(PY) -m console serve

# .venv-orch first: the main suite's tests/test_orchestration.py fails without it.
test: $(STAMP) $(ORCH_TEST)
	bash .ci/browser-deps.sh
	$(PY) -m pytest -q -n 2 --durations=15 tests
	$(if $(ORCH_TEST),$(ORCH_RUN))

# make test from fresh clones of HEAD, RUNS times in a row, beside busy processes on every core.
RUNS ?= 5
soak:
	bash tests/soak/clean_clone_runs.sh $(RUNS)

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
