# ai-tg-bot: every target that needs the virtualenv (.venv) creates it first, so a fresh
# clone needs no separate install step. uv is installed with pip when it is missing.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.synced
UV := $(shell command -v uv 2>/dev/null || echo "python3 -m uv")
COMPOSE := docker compose --env-file .env.development
DB_URL = $(shell $(BIN)/python -c 'from ai_tg_bot.config.settings import load_settings; print(load_settings().database_url)')

.PHONY: help install run test test-bench test-browser lint format typecheck bench check load \
	db-up db-down db-reset db-migrate db-rollback db-revision db-shell db-purge \
	i18n-extract i18n-compile i18n-add

help: ## Show the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml uv.lock
	@$(UV) --version >/dev/null 2>&1 || python3 -m pip install --quiet uv \
		|| python3 -m pip install --quiet --user --break-system-packages uv
	$(UV) sync --frozen
	@touch $@

install: $(STAMP) ## Create .venv with the app and dev tools (uv sync --frozen)

run: $(STAMP) ## Start the bot (SQLite by default; settings from .env)
	@$(BIN)/ai-tg-bot run || { code=$$?; echo "make: ai-tg-bot exited with $$code (2: configuration, 1: runtime)" >&2; exit $$code; }

TEST_WORKERS ?= 3
test: $(STAMP) ## Run the tests in parallel (SQLite and PostgreSQL from TEST_DATABASE_URL)
	$(BIN)/pytest -n $(TEST_WORKERS) $(PYTEST_ARGS)

test-browser: $(STAMP) ## The Mini App in Debian's Chromium (part of make test); screenshots in build/screenshots
	$(BIN)/pytest tests/browser $(PYTEST_ARGS)

test-bench: $(STAMP) ## The benchmark smoke runs (short make bench runs; CI runs them too)
	$(BIN)/pytest -n $(TEST_WORKERS) -m bench $(PYTEST_ARGS)

lint: $(STAMP) ## ruff check + ruff format --check + the import contracts (lint-imports)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache

format: $(STAMP) ## Apply ruff fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

typecheck: $(STAMP) ## mypy --strict
	$(BIN)/mypy

bench: $(STAMP) ## Run the benchmarks, write docs/benchmarks.md
	$(BIN)/python -m bench

check: lint typecheck test test-bench ## Everything CI runs

LOCALES := src/ai_tg_bot/locales
i18n-extract: $(STAMP) ## Collect the msgids (messages.pot), merge them into every catalog, fill en
	$(BIN)/pybabel extract --no-location --no-wrap --sort-output -k N_ \
		-o $(LOCALES)/messages.pot src/ai_tg_bot
	$(BIN)/pybabel update --no-wrap --no-fuzzy-matching --ignore-obsolete \
		-i $(LOCALES)/messages.pot -d $(LOCALES) -D messages
	$(BIN)/python -m scripts.i18n_english $(LOCALES)/en/LC_MESSAGES/messages.po

i18n-compile: $(STAMP) ## Compile every catalog (.po) into the .mo files that ship (commit both)
	$(BIN)/pybabel compile --statistics -d $(LOCALES) -D messages

i18n-add: $(STAMP) ## Start a new language's catalog: make i18n-add lang=de
	@test -n "$(lang)" || (echo 'usage: make i18n-add lang=<code>'; exit 2)
	$(BIN)/pybabel init --no-wrap -i $(LOCALES)/messages.pot -d $(LOCALES) -D messages -l $(lang)

load: $(STAMP) ## Load run with injected faults (needs the test PostgreSQL): lost/doubled must be 0
	$(BIN)/python -m scripts.load_run $(LOAD_ARGS)

db-up: ## Start PostgreSQL in docker compose (waits until healthy)
	$(COMPOSE) up -d --wait postgres

db-down: ## Stop the compose services (data stays in the volume)
	$(COMPOSE) down

db-reset: ## Drop the compose database volume and start afresh
	$(COMPOSE) down -v
	$(COMPOSE) up -d --wait postgres

db-migrate: $(STAMP) ## Apply migrations up to head on DATABASE_URL
	$(BIN)/ai-tg-bot migrate

db-rollback: $(STAMP) ## Undo the latest migration
	$(BIN)/ai-tg-bot rollback

db-revision: $(STAMP) ## New migration from model changes: make db-revision message="add x"
	@test -n "$(message)" || { echo 'usage: make db-revision message="what changed"'; exit 2; }
	$(BIN)/alembic revision --autogenerate -m "$(message)"

db-purge: $(STAMP) ## Delete soft-deleted messages older than RETENTION_DAYS (PURGE_ARGS="--days N")
	$(BIN)/ai-tg-bot purge $(PURGE_ARGS)

db-shell: $(STAMP) ## psql (or sqlite3) on DATABASE_URL
	@url='$(DB_URL)'; case "$$url" in \
		sqlite*) exec sqlite3 "$${url#*:///}" ;; \
		*) exec psql "$${url/+asyncpg/}" ;; esac
