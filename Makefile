# The two commands of the README, and their helpers. Needs only Python 3.11 and make.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: run test test-postgres lint load exam-day exam-day-postgres bench bench-pages bench-webhook clean

## run: the portal and the Testpress sandbox with demo data (http://127.0.0.1:5000)
# Exit status 2 is a busy port: the demo has said which and how to choose others, and make's
# own "Error 2" line would only bury that.
run: $(VENV)/installed
	@$(BIN)/python -m portal_demo $(if $(PORT),--port $(PORT)) $(if $(SANDBOX_PORT),--sandbox-port $(SANDBOX_PORT)) $(if $(MAIL_PORT),--mail-port $(MAIL_PORT)) \
		|| { status=$$?; [ $$status -eq 2 ] || exit $$status; }

## test: the whole test suite, browser tests included
test: $(VENV)/installed-dev
	$(BIN)/python -m pytest

## test-postgres: the whole suite again, accessibility sweep included, on a throwaway PostgreSQL cluster (.ci/with-postgres)
test-postgres: $(VENV)/installed-dev
	.ci/with-postgres $(BIN)/python -m pytest

## lint: ruff, configured in pyproject.toml (CI runs it before the tests)
lint: $(VENV)/installed-dev
	$(BIN)/ruff check .

## load: the exam-day race and load suites against gunicorn, with their figures
load: $(VENV)/installed-dev
	$(BIN)/python -m pytest -m load -s -q

## exam-day: STUDENTS (default 2,000) log in, start, finish (return and webhook at once) and read their result; gunicorn -w 4
STUDENTS ?= 2000
exam-day: $(VENV)/installed-dev
	$(BIN)/python bench/exam_day.py --students $(STUDENTS)

## exam-day-postgres: the same on a throwaway PostgreSQL cluster
exam-day-postgres: $(VENV)/installed-dev
	.ci/with-postgres $(BIN)/python bench/exam_day.py --students $(STUDENTS)

## bench: sync throughput and memory at 10,000 and 100,000 attempts
bench: $(VENV)/installed-dev
	$(BIN)/python bench/sync_bench.py

## bench-pages: the student's pages and the staff dashboard against a bare Flask route (gunicorn -w 2, wrk)
bench-pages: $(VENV)/installed-dev
	$(BIN)/python bench/pages_bench.py

## bench-webhook: webhook deliveries (repeats, first deliveries) against a bare insert (gunicorn -w 2, wrk)
bench-webhook: $(VENV)/installed-dev
	$(BIN)/python bench/webhook_bench.py

$(VENV)/installed: pyproject.toml sandbox/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e . -e ./sandbox
	touch $@

$(VENV)/installed-dev: pyproject.toml $(VENV)/installed
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
