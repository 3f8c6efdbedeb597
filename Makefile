# streamscore: the commands in README.md. `make test` brings up everything it
# needs (Kafka from Maven Central jars, kcat, promtool, the Python venv).

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
GO ?= go
BIN := bin/streamscore
KAFKA_CACHE ?= $(CURDIR)/.cache/kafka
export STREAMSCORE_DEV_KAFKA_CACHE := $(KAFKA_CACHE)
BROKERS = $$(cat $(KAFKA_CACHE)/run/bootstrap)
PG_CACHE ?= $(CURDIR)/.cache/postgres
export STREAMSCORE_DEV_PG_CACHE := $(PG_CACHE)
PG_DSN = $$(cat $(PG_CACHE)/run/dsn)
REGISTRY_CACHE ?= $(CURDIR)/.cache/registry
export STREAMSCORE_DEV_REGISTRY_CACHE := $(REGISTRY_CACHE)
REGISTRY_URL = $$(cat $(REGISTRY_CACHE)/run/url)
DEMO_ARGS ?=
# Versioned builds: `streamscore version` prints these (and the module version
# and Go version the binary records). A static binary (no cgo), paths trimmed:
# the same build as the container image's (scripts/build-image.sh).
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT ?= $(shell git rev-parse HEAD 2>/dev/null)
GO_BUILD = CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-X main.version=$(VERSION) -X main.commit=$(COMMIT)"

.PHONY: image licenses all build demo test test-unit test-integration test-faults test-security parity deps lint kafka-up kafka-down kafka-up-secure kafka-down-secure kafka-up-cluster kafka-down-cluster pg-up pg-down registry-up registry-down bench fuzz clean

all: build

build:
	$(GO_BUILD) -o $(BIN) ./cmd/streamscore

## image: the container image as an OCI layout + archive in .cache/image (umoci, no container engine)
image:
	VERSION=$(VERSION) COMMIT=$(COMMIT) bash scripts/build-image.sh

## licenses: rewrite THIRD_PARTY_LICENSES (the licence of every module in the binary; a test checks it)
licenses:
	bash scripts/licenses.sh

## demo: embedded broker + synthetic transactions + live summary (Ctrl-C stops)
demo:
	$(GO) run ./cmd/streamscore demo $(DEMO_ARGS)

## deps: system packages a fresh machine lacks (kcat, promtool)
deps:
	bash scripts/install-deps.sh

kafka-up:
	bash deploy/kafka/kafka-up.sh

kafka-down:
	bash deploy/kafka/kafka-down.sh

## kafka-up-secure: the secured broker (SASL_SSL + mTLS listeners, ACLs; deploy/kafka/secure.sh)
kafka-up-secure:
	bash deploy/kafka/kafka-up.sh --secure

kafka-down-secure:
	bash deploy/kafka/kafka-down.sh --secure

## kafka-up-cluster: three KRaft nodes on 127.0.0.1:19500,19502,19504 (RF 3, min ISR 2; deploy/kafka/README.md)
kafka-up-cluster:
	bash deploy/kafka/kafka-up.sh --cluster

kafka-down-cluster:
	bash deploy/kafka/kafka-down.sh --cluster

## pg-up / pg-down: the PostgreSQL test server (sink tests), .cache/postgres
pg-up:
	bash deploy/postgres/pg-up.sh

pg-down:
	bash deploy/postgres/pg-down.sh

## registry-up / registry-down: the schema registry of the interop tests (Apicurio Registry, Confluent-compatible API;
## built with Maven into .cache/registry on the first run; deploy/registry/README.md)
registry-up:
	bash deploy/registry/registry-up.sh

registry-down:
	bash deploy/registry/registry-down.sh

## lint: go mod tidy -diff, gofmt, goimports, go vet, staticcheck (pinned; installed into .cache/bin) and shellcheck (make deps)
lint:
	bash scripts/lint.sh

## test: every layer in turn: lint, integration (real Kafka), parity, faults
test: deps lint test-integration
	$(MAKE) --no-print-directory parity
	$(MAKE) --no-print-directory test-faults

## test-integration: every Go test (unit, e2e, interop, sink, security) against a real Apache Kafka broker, PostgreSQL
## and schema registry (test/security starts the secured broker itself, in parallel with the other packages)
test-integration: kafka-up pg-up registry-up build
	@echo "== tests against Apache Kafka at $(BROKERS), PostgreSQL and the schema registry at $(REGISTRY_URL) =="
	STREAMSCORE_TEST_BROKERS=$(BROKERS) STREAMSCORE_TEST_POSTGRES=$(PG_DSN) STREAMSCORE_TEST_REGISTRY_URL=$(REGISTRY_URL) \
		STREAMSCORE_TEST_BIN=$(CURDIR)/$(BIN) $(GO) test -race -count=1 -timeout 25m ./...

## test-security: the security suite alone (test/security starts and stops the secured broker itself)
test-security: build
	STREAMSCORE_TEST_BIN=$(CURDIR)/$(BIN) $(GO) test -count=1 -v -timeout 10m ./test/security/

## test-unit: every Go test with the in-process kfake broker instead of Kafka, and the in-process
## schemas/srtest registry instead of the real one (no broker, no Java)
test-unit:
	$(GO) test -count=1 ./...

## parity: regenerate the reference predictions in Python, check Go against them
parity:
	bash train/parity.sh

## test-faults: kill/restart/scale/poison tests against the real broker
test-faults: kafka-up build
	@mkdir -p .cache
	@echo "== fault tests (dedicated broker, built binary as subprocesses); full log in .cache/faults.log =="
	STREAMSCORE_TEST_BROKERS=$(BROKERS) STREAMSCORE_TEST_BIN=$(CURDIR)/$(BIN) STREAMSCORE_DEV_KAFKA_CACHE=$(KAFKA_CACHE) \
		$(GO) test -tags faults -count=1 -timeout 30m -v ./test/faults/ > .cache/faults.log 2>&1 \
		&& status=0 || status=$$?; \
	grep -E 'SUMMARY|counts:|recovery:|^(--- |ok |FAIL|PASS)' .cache/faults.log || true; \
	if [ $$status -ne 0 ]; then echo "== fault tests failed; last 60 lines of .cache/faults.log =="; tail -60 .cache/faults.log; \
		echo "== what the failed tests said (process logs left out) =="; awk -f scripts/failed-tests.awk .cache/faults.log; fi; \
	exit $$status

## bench: micro benchmarks (see docs/BENCHMARKS.md for the end-to-end ones)
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./features/ ./scoring/ ./schemas/

## fuzz: every fuzz target (decoders, feature ops, model files, the HTTP doors, the sink's row parser, the config file) for FUZZTIME each
FUZZTIME ?= 30s
fuzz:
	for p in ./schemas/ ./features/ ./scoring/ ./httpapi/ ./pgsink/ ./cmd/streamscore/; do \
		for f in $$($(GO) test -list 'Fuzz.*' $$p | grep ^Fuzz); do $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 10s $$p; done; \
	done

clean:
	rm -rf bin .streamscore
