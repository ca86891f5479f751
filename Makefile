# The two commands a newcomer types: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test install install-test install-browser lint bench clean engine engine-name

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

install: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .

# The neural engines' extras too; torchaudio and torchcodec without their pins, so torch stays the CPU 2.13
# wheel (coqui-tts only needs them present: Polyvox loads audio itself; see polyvox.engines.neural.compat).
# resemblyzer (similarity checks in the tests) without its `webrtcvad`, which needs pkg_resources.
# openai-agents (its realtime runner drives /v1/realtime in a test) without its `websockets<17` pin: the
# suite runs on the websockets a user's install gets; its other needs are in the test extra.
NO_DEPS := torchaudio==2.11.1 torchcodec==0.17.0 styletts2==0.1.6 resemblyzer==0.1.4 openai-agents==0.24.0

install-test: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test,similarity,xtts,pocket,chatterbox,styletts2]"
	$(BIN)/python -m pip install --quiet --no-deps $(NO_DEPS)
	# No pkg_resources, as in users' venvs once a torch engine is in (3.12+) or setuptools 81+: whatever still
	# imports it fails in the suite instead of on a user's machine.
	$(BIN)/python -m pip install --quiet --upgrade "setuptools>=81"

## One neural engine, code and weights: `make engine E=xtts` (xtts, pocket, chatterbox, styletts2; chatterbox's
# code serves chatterbox-multilingual too). The packages each needs without their pins (see install-test above).
NEURAL_ENGINES := xtts pocket chatterbox styletts2
# Engines whose weights `polyvox models pull` fetches (ACCEPT_LICENSE=1 accepts a restrictive licence; on a
# terminal you are asked). StyleTTS2's release needs files of its source repository too: by hand.
PULLED := xtts pocket chatterbox
NO_DEPS_xtts := torchaudio==2.11.1 torchcodec==0.17.0
NO_DEPS_styletts2 := styletts2==0.1.6

engine: engine-name install
	$(BIN)/python -m pip install --quiet -e ".[$(E)]"
	$(if $(NO_DEPS_$(E)),$(BIN)/python -m pip install --quiet --no-deps $(NO_DEPS_$(E)))
	$(if $(filter $(E),$(PULLED)),$(BIN)/polyvox models pull $(E) $(if $(ACCEPT_LICENSE),--accept-license),\
		@echo "$(E): code installed; its files go in the folder \`$(BIN)/polyvox doctor $(E)\` names (README)")

engine-name:
	@case " $(NEURAL_ENGINES) " in *" $(E) "*) ;; \
		*) echo "make engine E=NAME, NAME one of: $(NEURAL_ENGINES)" >&2; exit 2;; esac

## Set up and run the server on the embedded default engine (piper).
run: install
	$(BIN)/polyvox serve --host $(HOST) --port $(PORT)

## Debian's Chromium drives the web page tests: installed when we may, else install it yourself.
install-browser:
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
		&& apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
		|| { echo "the web page tests need Debian's chromium: sudo apt-get install chromium" >&2; exit 1; }

lint:
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/mypy bench

## Set up and run the whole test suite (lint, types, unit, integration, end-to-end).
# Two processes, one test module each at a time: most tests wait on a server subprocess, so two keep both
# cores busy (a module's fixtures stay in one process).
test: install-test install-browser lint
	$(BIN)/python -m pytest -n 2 --dist loadfile --no-loadscope-reorder --durations=25

bench: install-test
	$(BIN)/python -m pip install --quiet -e ".[bench]"
	$(BIN)/python bench/bench_core.py
	$(BIN)/python bench/bench_http.py

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .mypy_cache .ruff_cache
