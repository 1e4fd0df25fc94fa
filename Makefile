# gridmap: `make run` serves the Xishan demo district, `make test` runs the whole suite.
SHELL := /bin/bash
PY := .venv/bin/python
PORT ?= 8000
export DJANGO_SETTINGS_MODULE := gridmap.settings

.PHONY: run test stop setup db bench lint messages

setup:
	@bash scripts/setup.sh

# Start the project-local PostGIS cluster, unless DATABASE_URL points elsewhere.
db: setup
	@if [ -z "$$DATABASE_URL" ]; then bash scripts/pg.sh start; fi
	@$(PY) manage.py dbcheck
	@$(PY) manage.py collectstatic --noinput -v 0

run: db
	@$(PY) manage.py migrate --noinput -v 0
	@$(PY) manage.py load_demo
	@echo "gridmap: serving on http://127.0.0.1:$(PORT)/ (demo accounts: see README.md; stop with make stop)"
	@mkdir -p var && echo $$$$ > var/server.pid && exec $(PY) manage.py runserver --noreload 127.0.0.1:$(PORT)

test: db
	@$(PY) manage.py makemigrations --check --dry-run -v 0 || { echo "models and migrations differ: run makemigrations"; exit 1; }
	@.venv/bin/ruff check . && .venv/bin/ruff format --check .
	@$(PY) -m pytest $(PYTEST_ARGS)

stop:
	@if [ -f var/server.pid ] && kill -0 $$(cat var/server.pid) 2>/dev/null; then \
	  pkill -TERM -P $$(cat var/server.pid) 2>/dev/null; kill -TERM $$(cat var/server.pid) 2>/dev/null; \
	  echo "gridmap: server stopped"; fi; rm -f var/server.pid
	@if [ -x scripts/pg.sh ] && [ -d var/pg/data ]; then bash scripts/pg.sh stop; fi

bench: db
	@$(PY) manage.py migrate --noinput -v 0
	@for b in bench/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

lint: setup
	@.venv/bin/ruff check . && .venv/bin/ruff format --check .
