# The two set-up commands of the README are `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin

.PHONY: install run test lint bench bench-http clean messages

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@

## Install, create the SQLite schema, load the demo data and serve on 127.0.0.1:8000.
run: install
	$(BIN)/registry init-db
	$(BIN)/registry load-fixtures
	$(BIN)/registry run

## Install and run the linters and the test suite (PostgreSQL when REGISTRY_TEST_DATABASE_URL is set).
test: install lint
	$(BIN)/pytest

## Compile the Chinese catalogue (registry/translations/zh/LC_MESSAGES/messages.po) into the
## committed messages.mo after editing it; tests/test_i18n.py checks the two are in step.
messages: install
	$(BIN)/pybabel compile --statistics -d registry/translations -D messages

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

## Time the deadline scan on 10,000 and 100,000 generated carriers (BENCH_DATABASE_URL for PostgreSQL).
## Benchmarks (not part of the tests): the scan, point-in-time lists, webhook delivery,
## spreadsheets (10,000-row import, 100,000-row export). `-P`: the script's folder is not put first
## on the import path, where bench/http.py would hide the standard library's http.
bench: install
	$(BIN)/python -P bench/scan.py
	$(BIN)/python -P bench/as_of.py 10000 100000
	$(BIN)/python -P bench/deliver.py --events 5000
	$(BIN)/python -P bench/spreadsheets.py --import-rows 10000 --export-rows 100000

## HTTP benchmark of the read path on 100,000 carriers, beside a ceiling and Datasette (wrk;
## a few minutes; BENCH_DATABASE_URL adds PostgreSQL). See bench/http.py and bench/RESULTS.md.
bench-http: install
	$(BIN)/python -P bench/http.py $(BENCH_HTTP_ARGS)

clean:
	rm -rf $(VENV) instance .pytest_cache .ruff_cache .hypothesis
