# The commands a new user and CI type. `make run` then `make test` is the whole set-up.
SHELL := /bin/bash
NPM_BIN := node_modules/.bin

.PHONY: install run build proto proto-check lint test bench bench-directory bench-sim bench-host clean

node_modules: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch node_modules

install: node_modules

## run: start the whole system in dev mode (in-process store, or REDIS_URL=redis://... for Redis)
run: build
	node dist/services/cli/main.js dev

build: node_modules
	$(NPM_BIN)/tsc -p tsconfig.build.json

## proto: lint the contracts and regenerate the TypeScript in services/gen
proto: node_modules
	$(NPM_BIN)/buf lint
	rm -rf services/gen
	$(NPM_BIN)/buf generate

lint: node_modules
	$(NPM_BIN)/buf lint
	$(NPM_BIN)/buf format --diff --exit-code
	$(NPM_BIN)/tsc --noEmit -p tsconfig.json
	$(NPM_BIN)/prettier --check 'services/**/*.ts' 'test/**/*.ts'

## test: type-check, then every test (needs redis-server on PATH: apt-get install redis-server)
test: node_modules
	$(NPM_BIN)/tsc --noEmit -p tsconfig.json
	$(NPM_BIN)/jest $(if $(JEST_JSON),--json --outputFile=$(JEST_JSON),)

bench: bench-directory bench-sim bench-host

bench-directory: node_modules
	npm run bench:directory

bench-sim: node_modules
	npm run bench:sim

bench-host: node_modules
	npm run bench:host

clean:
	rm -rf dist coverage
