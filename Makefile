# hpoctl: `make demo` runs the main job, `make test` runs the tests; both set themselves up.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check -q
HPOCTL := $(VENV)/bin/hpoctl

.PHONY: demo test lint bench bench-search gpu-wheels system-deps kube-tools kube-up kube-down clean images push-images sif chart-lint
REGISTRY ?= ghcr.io/hpoctl
VERSION ?= $(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)

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

$(VENV)/bin/helm: | $(PY)
	bash scripts/install-helm.sh $(VENV)/bin

system-deps:
	bash scripts/system-deps.sh

# kube-apiserver, etcd, kubectl and Katib's admission code built from Go modules, cached under .cache/kube-tools/
# (keyed by the sources; without Go this says why and the real Kubernetes tier skips, or fails under CI).
kube-tools:
	@bash scripts/build-kube-tools.sh >/dev/null

kube-up: kube-tools
	@bash scripts/kube-testenv.sh up

kube-down:
	@bash scripts/kube-testenv.sh down

demo: $(VENV)/.installed-train
	$(HPOCTL) launch everest --target M_24h --preset quick
	$(HPOCTL) results show everest --target M_24h

test: $(VENV)/.installed-dev $(VENV)/bin/helm system-deps kube-tools
	$(PY) -m pytest -q

lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check .

bench: $(VENV)/.installed-dev
	@for b in bench/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info .cache

images:
	docker build -f docker/trainer.Dockerfile -t $(REGISTRY)/trainer:$(VERSION) .
	docker build -f docker/suggestion.Dockerfile -t $(REGISTRY)/suggestion:$(VERSION) .

push-images: images
	docker push $(REGISTRY)/trainer:$(VERSION)
	docker push $(REGISTRY)/suggestion:$(VERSION)

sif:
	apptainer build hpoctl-trainer.sif docker/hpoctl.def

chart-lint: $(VENV)/.installed-dev $(VENV)/bin/helm
	$(VENV)/bin/helm lint --strict helm/hpoctl
	$(VENV)/bin/hadolint --config docker/.hadolint.yaml docker/*.Dockerfile

# mf-prior-bench's metadata pins numpy<2; its synthetic MFHartmann curves run on numpy 2, so it comes without deps.
$(VENV)/.installed-bench: $(VENV)/.installed-dev
	$(PIP) install -e '.[train,dev,bench]'
	$(PIP) install --no-deps mf-prior-bench==1.10.0
	touch $@

bench-search: $(VENV)/.installed-bench
	$(PY) bench/search/run.py

# What bench/bench_gpu.py installs on a bare GPU machine (torch and Lightning there; CPython 3.12): the hpoctl wheel
# and the trainers' other dependencies, at this venv's versions, into .cache/gpu-wheels (carried to the machine).
GPU_WHEELS := .cache/gpu-wheels
gpu-wheels: $(VENV)/.installed-dev
	rm -rf $(GPU_WHEELS) && mkdir -p $(GPU_WHEELS)
	$(PIP) wheel --no-deps --no-build-isolation -w $(GPU_WHEELS) .
	$(PIP) download --only-binary=:all: --python-version 3.12 --platform manylinux2014_x86_64 --no-deps \
	  -d $(GPU_WHEELS) $$($(PIP) freeze | grep -iE '^(pydantic|pydantic_core|annotated-types|typing_extensions|typing-inspection|PyYAML)==')
