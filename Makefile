# consentapp: `make run` serves the app, `make test` runs the whole test suite,
# `make test-fast` the quick loop (no slow, browser, Celery, PostgreSQL, fuzz or IMAP tests).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
FLASK  := $(BIN)/flask --app wsgi
CATALOGS := consentapp/translations

.PHONY: install catalogs run test test-fast lint format messages bench clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "consentapp needs Python 3.11 or newer (found: $$($(PYTHON) --version))"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP) catalogs

# The editable install runs from this checkout, so the catalogs are compiled in place;
# a wheel compiles its own in the build hook (hatch_build.py).
catalogs: $(STAMP)
	@$(BIN)/pybabel -q compile -d $(CATALOGS)

# `make run` prints the staff login, the development mailbox (/dev/mail) and the
# ORG_* settings that still show placeholders.
run: export CONSENTAPP_ENV ?= development
run: install
	$(FLASK) db upgrade
	$(FLASK) seed
	$(FLASK) bootstrap-admin
	$(BIN)/python -m consentapp.devserver

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

FAST := not slow and not browser and not celery and not postgres and not fuzz and not imap

test-fast: install
	$(BIN)/python -m pytest -n auto -m "$(FAST)" -q $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Re-extract translatable text and merge it into the catalogs (then translate the new entries).
messages: install
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext --no-location --sort-output -o $(CATALOGS)/messages.pot .
	$(BIN)/pybabel update -i $(CATALOGS)/messages.pot -d $(CATALOGS) --no-fuzzy-matching --ignore-obsolete

bench: install
	$(BIN)/python -m bench.campaign
	$(BIN)/python -m bench.dashboard
	$(BIN)/python -m bench.bounces
	$(BIN)/python -m bench.api
	$(BIN)/python -m bench.dkim
	@command -v wrk >/dev/null 2>&1 || { command -v apt-get >/dev/null 2>&1 && \
		[ "$$(id -u)" = 0 ] && apt-get install -y -q wrk; } || \
		echo "bench.load needs wrk (apt-get install wrk)"
	$(BIN)/python -m bench.load
	$(BIN)/python -m bench.insights

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
