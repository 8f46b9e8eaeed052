# FieldPatrol: the two commands of the README, and the checks behind them.
# `make demo` sets up .venv and runs one simulated patrol end to end;
# `make test` sets up .venv with the dev and train extras and runs the whole suite.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
# Torch and torchvision are pinned to the pair this machine kind keeps on local disk,
# installed before ultralytics so that pip never downloads another multi-gigabyte build.
TORCH  ?= torch==2.14.1 torchvision==0.29.1

.PHONY: demo test lint typecheck bench clean venv venv-dev

$(VENV)/.base: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e .
	touch $@

$(VENV)/.dev: $(VENV)/.base
	$(PIP) install -q $(TORCH)
	$(PIP) install -q -e '.[dev,train]'
	touch $@

venv: $(VENV)/.base
venv-dev: $(VENV)/.dev

demo: $(VENV)/.base
	$(VENV)/bin/patrol demo

CODE := missions telemetry simulators vision gateway cases patrol tests bench

test: $(VENV)/.dev
	$(VENV)/bin/ruff check $(CODE)
	$(VENV)/bin/ruff format --check $(CODE)
	$(VENV)/bin/mypy
	$(VENV)/bin/pytest -n 2

lint: $(VENV)/.dev
	$(VENV)/bin/ruff check $(CODE) && $(VENV)/bin/ruff format --check $(CODE) && $(VENV)/bin/mypy

bench: $(VENV)/.dev
	for f in bench/*.py; do $(PY) $$f; done

clean:
	rm -rf $(VENV) build *.egg-info
