# GovPortal: `make run` serves the demo portal; `make test` lints and runs the suite.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test prod-smoke lint format migrate demo bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	touch $(STAMP)

var:
	mkdir -p var

# Local development: embedded SQLite under var/, tasks in-process, console e-mail. Links in e-mails, reports and the
# webhook URL point where this server listens (`make run PORT=8080`), unless PORTAL_BASE_URL says otherwise.
run: export DEBUG ?= 1
run: export GITSYNC_ALLOW_LOCAL ?= 1
run: export PORTAL_BASE_URL ?= http://$(HOST):$(PORT)
run: $(STAMP) | var
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py load_demo
	@echo "Serving on http://$(HOST):$(PORT)/ (PORTAL_BASE_URL=$(PORTAL_BASE_URL))"
	$(BIN)/python manage.py runserver $(HOST):$(PORT)

migrate: export DEBUG ?= 1
migrate: $(STAMP) | var
	$(BIN)/python manage.py migrate --noinput

demo: export DEBUG ?= 1
demo: export GITSYNC_ALLOW_LOCAL ?= 1
demo: migrate
	$(BIN)/python manage.py load_demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Uses DATABASE_URL when set (PostgreSQL), SQLite otherwise. PYTEST_ARGS narrows a run. TEST_WORKERS processes
# (pytest-xdist; 0 runs in this process) share the tests, each on its own test database; tests/conftest.py keeps
# what cannot be shared in one process (XDIST_GROUPS).
TEST_WORKERS ?= 2
test: export DEBUG ?= 1
test: lint | var
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

# The Procfile's processes (gunicorn, a Celery worker, beat) under honcho with DEBUG off, on a throw-away PostgreSQL
# database (on DATABASE_URL's server) and Redis, driven end to end: tests/e2e/test_prod_smoke.py. `make test` skips it.
# SIGINT after 5 minutes lets the test kill the processes and drop its database before it stops.
prod-smoke: export DEBUG ?= 1
prod-smoke: $(STAMP) | var
	timeout -s INT -k 60 300 $(BIN)/python -m pytest -m prod_smoke tests/e2e/test_prod_smoke.py

bench: export DEBUG ?= 1
bench: $(STAMP) | var
	@for script in bench/bench_*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

clean:
	rm -rf var/*.sqlite3 var/staticfiles .pytest_cache .ruff_cache
