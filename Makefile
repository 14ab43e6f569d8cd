# refscope — `make help` lists the targets.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.deps-stamp
export PYO3_PYTHON := $(abspath $(PY))

.DEFAULT_GOAL := help
.PHONY: help deps build wheel demo test test-rust test-python lint fmt bench

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): requirements-dev.txt requirements-test.txt | $(PY)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements-dev.txt -r requirements-test.txt
	touch $@

deps: $(STAMP) ## Install build and test tools into .venv (from PyPI)
	@bash scripts/ensure-system-deps.sh

build: $(STAMP) ## Build the extension (release) into .venv
	$(VENV)/bin/maturin develop --release -q

wheel: $(STAMP) ## Build the abi3 wheel (cp310+) into dist/
	rm -rf dist && $(VENV)/bin/maturin build --release -q -o dist

demo: build ## Show refscope finding the recipe's cycles (a __del__ pair, a frame cycle, a 100k ring)
	$(PY) -m refscope demo

test: deps lint test-rust test-python ## Run every test: lint, cargo tests, pytest on each Python 3.10-3.13 present

test-rust: ## cargo tests of the pure core (unit + property tests)
	cargo test -p refscope-core --all-features

test-python: wheel ## pytest with the wheel installed in every CPython 3.10-3.13 found
	bash scripts/test-matrix.sh dist

lint: build ## cargo fmt --check, clippy -D warnings, ruff, the import contract, mypy.stubtest of _core.pyi
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -q -- -D warnings
	$(VENV)/bin/ruff check python tests benches examples scripts
	$(PY) scripts/check_import_contract.py
	$(PY) -m mypy.stubtest refscope._core

fmt: $(STAMP) ## Format Rust and Python code
	cargo fmt --all
	$(VENV)/bin/ruff check --fix -q python tests benches examples || true

bench: build ## End-to-end benchmark vs gc.collect() and the recipe (writes bench-results/)
	cargo bench -p refscope-core --bench core -- --quick
	$(PY) benches/e2e.py --sizes 10000,100000,1000000 --markdown bench-results/e2e.md --json bench-results/e2e.json
