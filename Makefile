# One entry point for set-up, the demo and the tests. Every target is idempotent.
PY      := .venv/bin/python
PORT    ?= 8000
HOST    ?= 127.0.0.1
VERSION := $(shell sed -n 's/^version = "\(.*\)"$$/\1/p' pyproject.toml)
WHEEL   := build/dist/wsclient-$(VERSION)-py3-none-any.whl

.PHONY: demo test setup svelte wheel snapshot lint typecheck unit e2e bench clean
.DEFAULT_GOAL := test

## demo: install what is missing, then serve the page and the demo backend
demo: setup
	$(PY) -m server --host $(HOST) --port $(PORT) --demo --auth

## test: install what is missing, then run every check (lint, types, unit, server, e2e)
# Two pytest runs: the server tests use asyncio.run, which fails once pytest-playwright's sync API
# has an event loop going in the same thread (and pytest may reorder e2e tests among the others).
test: setup /usr/bin/chromium lint typecheck
	node --test tests/js
	$(PY) -m pytest tests/unit tests/server
	$(PY) -m pytest tests/e2e

SNAPSHOT := build/snapshot/pyodide.snapshot.json

setup: .venv/.installed node_modules/.installed build/svelte/.built $(WHEEL) $(SNAPSHOT)

## snapshot: a Pyodide memory snapshot with the client imported (static/pyodide_snapshot.mjs
## boots from it on a repeat visit), made offline in Node by the page's own pyodide package
snapshot: $(SNAPSHOT)

$(SNAPSHOT): node_modules/.installed tools/make_snapshot.mjs tools/pyscript_stdlib_modules.json static/snapshot_key.mjs $(wildcard src/wsclient/*.py)
	node tools/make_snapshot.mjs --out build/snapshot

## svelte: compile svelte/*.svelte with svelte/compiler into build/svelte/ (for svelte.html)
svelte: build/svelte/.built

# Rebuilt when a component, a module it imports, the page's import map or the compiler script
# changes (or Svelte is reinstalled); the script also checks that the import map resolves every
# import the page's modules reach.
build/svelte/.built: $(wildcard svelte/*.svelte svelte/*.js svelte/lib/*/*.js) svelte.html tools/compile_svelte.mjs node_modules/.installed
	node tools/compile_svelte.mjs
	touch $@

## wheel: build the pure-Python wheel of the client into build/dist/ (offline: hatchling is in
## requirements-dev.txt, so no build isolation)
wheel: $(WHEEL)

$(WHEEL): .venv/.installed pyproject.toml README.md LICENSE $(wildcard src/wsclient/*.py) src/wsclient/py.typed static/wsclient.js static/transport.js static/api.js static/tabs.js static/wsclient.d.ts
	rm -rf build/dist
	$(PY) -m pip wheel . --no-deps --no-build-isolation --disable-pip-version-check --quiet -w build/dist
	test -f $@

.venv/.installed: requirements-dev.txt
	test -x $(PY) || python3 -m venv .venv
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

/usr/bin/chromium:
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium

lint: setup
	node --check static/wsclient.js
	node --check static/transport.js
	node --check static/api.js
	node --check static/tabs.js
	node --check tools/compile_svelte.mjs
	node --check tools/make_snapshot.mjs
	node --check static/pyodide_snapshot.mjs
	$(PY) -m ruff check src tests server bench
	$(PY) -m ruff format --check src tests server bench

## typecheck: mypy on the Python; tsc (static/wsclient.d.ts and tests/ts/consumer.ts) and
## svelte-check (the components' <script lang="ts">) with strict TypeScript (tsconfig.json)
typecheck: setup
	$(PY) -m mypy --strict src
	node_modules/.bin/tsc -p tsconfig.json
	node_modules/.bin/svelte-check --tsconfig ./tsconfig.json --fail-on-warnings --output machine

unit: setup
	node --test tests/js
	$(PY) -m pytest tests/unit tests/server

e2e: setup /usr/bin/chromium
	$(PY) -m pytest tests/e2e

bench: setup /usr/bin/chromium
	$(PY) -m bench

clean:
	rm -rf .venv node_modules .pytest_cache .mypy_cache .ruff_cache build
