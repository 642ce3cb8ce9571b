# SmartMarketOOPS — one command per workflow. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
UV_VERSION := 0.13.8
STAMP  := $(VENV)/.installed

# Offline by default: every component's telemetry off, whatever the caller's shell says.
export MLFLOW_DISABLE_TELEMETRY := true
export BENTOML_DO_NOT_TRACK := True
export DAGSTER_DISABLE_TELEMETRY := 1
export DO_NOT_TRACK := true
export FEAST_USAGE := False
export GX_ANALYTICS_ENABLED := false
export TF_CPP_MIN_LOG_LEVEL := 2

.PHONY: help setup warm run test lint format bench smc-pictures up down serve dashboard clean

help: ## Show the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-9s %s\n", $$1, $$2}'

$(STAMP): requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet "uv==$(UV_VERSION)"
	$(BIN)/uv pip sync --python $(BIN)/python requirements.lock
	$(BIN)/uv pip install --python $(BIN)/python --no-deps -e .
	@echo "Compiling the numba kernels once (about a minute on a new machine) ..."
	$(BIN)/smartmarket warm
	@touch $(STAMP)

setup: $(STAMP) ## Create .venv and install the pinned lock (quick when done)

warm: setup ## Compile (or load) every numba kernel, saying what it does
	$(BIN)/smartmarket warm

run: setup ## Run the main job on embedded defaults (synthetic market, no network)
	$(BIN)/smartmarket run

PYTEST_ARGS ?=
test: setup ## Run the tests (slow end-to-end ones too with PYTEST_ARGS="-m ''", as CI does)
	$(BIN)/pytest $(PYTEST_ARGS)

lint: setup ## ruff (lint + format check) and mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: setup ## Apply ruff's formatting and safe fixes
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: setup ## Benchmarks: speed and peak memory, side by side with peers
	$(BIN)/python -m bench

smc-pictures: setup ## Render each SMC concept on real data to docs/img/smc/ (DATA=../shared/data)
	$(BIN)/python docs/smc_pictures.py $${DATA:-../shared/data}

up: setup ## Start Dagster (:3070), the signal service (:3080), the dashboard (:3090) and the MLflow UI (:3100); Ctrl-C or `make down` stops them
	exec $(BIN)/smartmarket up

down: ## Stop what `make up` started
	$(BIN)/smartmarket down

serve: setup ## Start the signal service alone (http://127.0.0.1:3080/docs)
	exec $(BIN)/smartmarket serve

dashboard: setup ## Start the Streamlit dashboard alone (http://127.0.0.1:3090)
	exec $(BIN)/smartmarket dashboard

clean: ## Remove the app home (embedded state); keeps .venv
	rm -rf $${SMARTMARKET_HOME:-.smartmarket}
