# gridmap: `make run` serves the Xishan demo district, `make test` runs the whole suite.
SHELL := /bin/bash
PY := .venv/bin/python
PORT ?= 8000
export DJANGO_SETTINGS_MODULE := gridmap.settings

.PHONY: run test stop setup db bench lint messages serve

setup:
	@bash scripts/setup.sh

# Start the project-local PostGIS cluster, unless DATABASE_URL points elsewhere.
db: setup
	@if [ -z "$$DATABASE_URL" ]; then bash scripts/pg.sh start; fi

run: db
	@$(PY) manage.py prepare --demo
	@mkdir -p var; if [ -f var/jobs.pid ] && kill -0 $$(cat var/jobs.pid) 2>/dev/null; then kill -TERM $$(cat var/jobs.pid); fi; \
	  nohup $(PY) manage.py run_jobs >> var/jobs.log 2>&1 & echo $$! > var/jobs.pid; \
	  echo "gridmap: periodic jobs started (pid $$(cat var/jobs.pid), log var/jobs.log)"
	@echo "gridmap: serving on http://127.0.0.1:$(PORT)/ (demo accounts: see README.md; stop with make stop)"
	@mkdir -p var && echo $$$$ > var/server.pid && exec $(PY) manage.py runserver --noreload --skip-checks 127.0.0.1:$(PORT)

# Production serving (gunicorn + job workers + WhiteNoise + JSON logs): scripts/serve.sh.
serve: db
	@bash scripts/serve.sh

test: db
	@$(PY) manage.py prepare
	@$(PY) manage.py makemigrations --check --dry-run -v 0 || { echo "models and migrations differ: run makemigrations"; exit 1; }
	@.venv/bin/ruff check . && .venv/bin/ruff format --check .
	@$(PY) -m pytest $(PYTEST_ARGS)

stop:
	@if [ -f var/server.pid ] && kill -0 $$(cat var/server.pid) 2>/dev/null; then \
	  pkill -TERM -P $$(cat var/server.pid) 2>/dev/null; kill -TERM $$(cat var/server.pid) 2>/dev/null; \
	  echo "gridmap: server stopped"; fi; rm -f var/server.pid
	@if [ -f var/jobs.pid ] && kill -0 $$(cat var/jobs.pid) 2>/dev/null; then \
	  kill -TERM $$(cat var/jobs.pid); echo "gridmap: periodic jobs stopped"; fi; rm -f var/jobs.pid
	@if [ -x scripts/pg.sh ] && [ -d var/pg/data ]; then bash scripts/pg.sh stop; fi

bench: db
	@$(PY) manage.py prepare --migrate
	@for b in bench/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

lint: setup
	@.venv/bin/ruff check . && .venv/bin/ruff format --check .
