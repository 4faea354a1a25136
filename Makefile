# The two commands of the README. Each bootstraps .venv from pyproject.toml on first use.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
EXTRA  := $(VENV)/.baselines
BROWSER := $(VENV)/.chromium

.PHONY: demo test bench clean

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) on PATH (or: make PYTHON=python3 ...)"; exit 1; }
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test,live]'
	touch $(STAMP)

# the optional extras, for their tests (morl-baselines, Ray, Optuna): torch==2.13.0 first (the CPU wheel; an unpinned
# torch would pull a multi-GB CUDA build)
$(EXTRA): $(STAMP)
	$(BIN)/python -m pip install -q 'torch==2.13.0'
	$(BIN)/python -m pip install -q -e '.[test,live,baselines,ray,sweep]'
	touch $(EXTRA)

# headless Chromium and its WebDriver (Debian's packages) for the report's browser tests; where they
# cannot be installed (no apt-get, not root, offline) the tests skip with the reason, and the next
# make test tries again
$(BROWSER): $(STAMP)
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then touch $(BROWSER); \
	elif command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ] \
	    && (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver) >/dev/null 2>&1; \
	then touch $(BROWSER); \
	else echo "chromium could not be installed: the report's browser tests will skip"; fi

demo: $(STAMP)
	$(BIN)/morl-mm run studies/default.toml --out results/default
	mkdir -p figures && cp results/default/figures/*.png figures/
	$(BIN)/morl-mm front results/default

test: $(EXTRA) $(BROWSER)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest -n 2 --dist loadgroup -q

bench: $(STAMP)
	$(BIN)/python benchmarks/env_throughput.py
	$(BIN)/python benchmarks/front_quality.py

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
