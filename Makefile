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

# Debian packages the tests use: a CJK font for PDF documents, Chromium for the console's
# browser tests, Mosquitto for tests that start their own broker.
SYSTEM_PACKAGES := fonts-wqy-microhei chromium mosquitto

$(VENV)/.system:
	@mkdir -p $(VENV)
	@missing=""; for p in $(SYSTEM_PACKAGES); do \
	    dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	    if [ "$$(id -u)" = 0 ]; then \
	        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	    else echo "missing Debian packages; run: sudo apt-get install$$missing" >&2; exit 1; fi; \
	fi
	touch $@

$(VENV)/.dev: $(VENV)/.base $(VENV)/.system
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
