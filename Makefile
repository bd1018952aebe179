# hpoctl: `make demo` runs the main job, `make test` runs the tests; both set themselves up.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check -q
HPOCTL := $(VENV)/bin/hpoctl

.PHONY: demo test lint bench system-deps clean

$(PY):
	python3 -m venv $(VENV)
	$(PIP) install --upgrade pip

# torch is pinned in the `train` extra (torch==2.13.0) so these machines take their local wheel.
$(VENV)/.installed-train: pyproject.toml | $(PY)
	$(PIP) install -e '.[train]'
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(PY)
	$(PIP) install -e '.[train,dev]'
	touch $@

system-deps:
	bash scripts/system-deps.sh

demo: $(VENV)/.installed-train
	$(HPOCTL) studies list

test: $(VENV)/.installed-dev system-deps
	$(PY) -m pytest -q

lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check .

bench: $(VENV)/.installed-dev
	@for b in bench/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
