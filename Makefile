# The two commands: `make run` (the app) and `make test` (the suite). Both set everything up.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt bench/requirements.txt | cksum | cut -d' ' -f1)

.PHONY: run test lint format venv clean-var chromium bench fuzz soak

venv: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt bench/requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	rm -f $(VENV)/.installed-*
	touch $@

run: $(STAMP)
	$(BIN)/python manage.py runstack

test: $(STAMP) lint chromium
	$(BIN)/python -m pytest

# A long fuzz run (README, "Fuzzing"): `make fuzz`, or `make fuzz MINUTES=30 SEED=1234` to replay.
fuzz: $(STAMP)
	$(BIN)/python manage.py fuzz $(if $(MINUTES),--minutes $(MINUTES)) $(if $(SEED),--seed $(SEED))

# The soak run (README, "Soak"): 8 clients for 5 minutes against gunicorn, then its checks.
soak: $(STAMP)
	$(BIN)/python manage.py soak $(if $(MINUTES),--minutes $(MINUTES)) $(if $(CLIENTS),--clients $(CLIENTS))

# The browser tests drive Debian's Chromium (never a downloaded browser build). Install it when it
# is missing and this machine can (root with apt-get); otherwise those tests skip, saying why.
chromium:
	@if [ ! -x /usr/bin/chromium ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing Debian's chromium for the browser tests"; \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
	    || echo "chromium could not be installed; the browser tests will skip"; \
	fi

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# The benchmark (bench/README.md): `make bench`, or e.g. `make bench ARGS="--events 1000000"`.
# Its requirements come with requirements-dev.txt (tests/bench needs them too).
bench: $(STAMP)
	$(BIN)/python -m bench $(ARGS)

# Deletes the embedded database, broker queue, mail and demo credentials.
clean-var:
	rm -rf var/
