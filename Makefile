# claimdesk — the two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: install node-deps run test unit lint typecheck bench chaos clean
NODE_DEPS := tools/asyncapi/node_modules/.package-lock.json

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

install: $(BIN)/.installed

## the official AsyncAPI parser that tests/unit/test_asyncapi.py runs (exact versions, lock file)
$(NODE_DEPS): tools/asyncapi/package.json tools/asyncapi/package-lock.json
	npm ci --prefix tools/asyncapi --ignore-scripts --no-audit --no-fund --loglevel=error
	touch $@

node-deps: $(NODE_DEPS)

## the whole system on the embedded stack, with simulated traffic and the ops page
run: install
	$(BIN)/claimdesk up --surge 温州市

## the whole test suite (unit + integration on the real broker and Postgres)
test: install node-deps
	$(BIN)/pytest -q

unit: install node-deps
	$(BIN)/pytest -q tests/unit

lint: install
	$(BIN)/ruff check workers schemas topics infra tests bench
	$(BIN)/lint-imports

typecheck: install
	$(BIN)/mypy workers schemas

## throughput, latency, memory against ceilings measured in the same run
bench: install
	$(BIN)/claimdesk bench

## the full kill -9 chaos run (a shorter one is part of `make test`)
chaos: install
	CLAIMDESK_CHAOS_FULL=1 $(BIN)/pytest -q tests/integration/test_chaos.py

clean:
	rm -rf $(VENV) .claimdesk .pytest_cache .mypy_cache tools/asyncapi/node_modules
