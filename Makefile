# micro: the two commands of the README's quick start are `make demo` and
# `make test`. Everything else here is for development.

GO      ?= go
BIN     ?= bin
VERSION ?= dev
LDFLAGS := -s -w -X github.com/microtools/micro/cmd/version.Version=$(VERSION)
# micro is built without cgo: a static binary, with Go's own DNS resolver
# (see docs/performance.md, "Start-up"). bench/lib.sh builds it the same way.
MICRO_BUILD := CGO_ENABLED=0 $(GO) build -ldflags '$(LDFLAGS)'

.PHONY: all build install demo test consul etcd rabbitmq node-deps vet fmt-check tidy-check bench bench-check fuzz clean

all: build

## install: build micro into $(go env GOPATH)/bin, which is on the PATH of
## most Go set-ups (or add it: export PATH="$$(go env GOPATH)/bin:$$PATH")
install:
	$(MICRO_BUILD) -o "$$($(GO) env GOPATH)/bin/micro" .

## build: compile bin/micro (static: CGO_ENABLED=0) and the example services
build:
	$(MICRO_BUILD) -o $(BIN)/micro .
	$(GO) build -o $(BIN)/greeter ./examples/greeter

## demo: run the main job end to end on the embedded default (micro server)
demo: build
	bash scripts/demo.sh

## consul: build the Consul agent the tests use, once per machine (cached)
consul:
	@bash scripts/install-consul.sh >/dev/null

## etcd: install the etcd server the tests use when it is missing (Debian's etcd-server)
etcd:
	@bash scripts/install-etcd.sh >/dev/null

## rabbitmq: install the RabbitMQ server the tests run (Debian's rabbitmq-server), once per machine
rabbitmq:
	@bash scripts/install-rabbitmq.sh >/dev/null

## node-deps: install the TypeScript MCP client of the e2e tests, once per lock file (cached)
node-deps:
	@bash scripts/install-node-deps.sh >/dev/null

## test: the whole suite, with the race detector, against real NATS, Consul,
## etcd and RabbitMQ (builds the Consul agent on the first run on a machine,
## then reuses it; installs Debian's etcd-server and rabbitmq-server when they
## are missing; installs the Node MCP client of the e2e tests once per lock
## file; builds buf for the gateway's tests once per machine; installs Chromium
## and playwright-core for the console's browser tests); fails when any
## cannot be had
CONSUL_INSTALL ?= bash scripts/install-consul.sh
ETCD_INSTALL ?= bash scripts/install-etcd.sh
RABBITMQ_INSTALL ?= bash scripts/install-rabbitmq.sh
NODE_DEPS_INSTALL ?= bash scripts/install-node-deps.sh
BUF_INSTALL ?= bash scripts/install-buf.sh
BROWSER_INSTALL ?= bash scripts/install-browser.sh
test: vet
	@consul_bin="$$($(CONSUL_INSTALL))" && [ -n "$$consul_bin" ] || { echo "make test: no Consul agent: '$(CONSUL_INSTALL)' failed (see above); set CONSUL_BIN to an agent binary" >&2; exit 1; }; \
	etcd_bin="$$($(ETCD_INSTALL))" && [ -n "$$etcd_bin" ] || { echo "make test: no etcd server: '$(ETCD_INSTALL)' failed (see above); set ETCD_BIN to an etcd binary" >&2; exit 1; }; \
	rabbitmq_server="$$($(RABBITMQ_INSTALL))" && [ -n "$$rabbitmq_server" ] || { echo "make test: no RabbitMQ: '$(RABBITMQ_INSTALL)' failed (see above); set RABBITMQ_SERVER to a rabbitmq-server script" >&2; exit 1; }; \
	node_modules="$$($(NODE_DEPS_INSTALL))" && [ -n "$$node_modules" ] || { echo "make test: no MCP test client: '$(NODE_DEPS_INSTALL)' failed (see above); it needs Node 20 and npm" >&2; exit 1; }; \
	buf_bin="$$($(BUF_INSTALL))" && [ -n "$$buf_bin" ] || { echo "make test: no buf: '$(BUF_INSTALL)' failed (see above); set BUF_BIN to a buf binary" >&2; exit 1; }; \
	playwright_dir="$$($(BROWSER_INSTALL))" && [ -n "$$playwright_dir" ] || { echo "make test: no Chromium and playwright-core for the console's browser tests: '$(BROWSER_INSTALL)' failed (see above)" >&2; exit 1; }; \
	echo "PLAYWRIGHT_DIR=$$playwright_dir BUF_BIN=$$buf_bin RABBITMQ_SERVER=$$rabbitmq_server MICRO_MCP_NODE_MODULES=$$node_modules ETCD_BIN=$$etcd_bin CONSUL_BIN=$$consul_bin $(GO) test -race -count=1 -timeout 30m ./..."; \
	PLAYWRIGHT_DIR="$$playwright_dir" BUF_BIN="$$buf_bin" RABBITMQ_SERVER="$$rabbitmq_server" MICRO_MCP_NODE_MODULES="$$node_modules" ETCD_BIN="$$etcd_bin" CONSUL_BIN="$$consul_bin" $(GO) test -race -count=1 -timeout 30m ./...

## bench: measure the performance figures side by side and write bench/RESULTS.md (not part of test)
bench: build
	bash bench/run.sh

## bench-check: fail when `micro version` or a warm `micro call` costs over 10% more
## instructions (callgrind) than bench/RESULTS.md records (MARGIN=percent; not part of test)
MARGIN ?= 10
bench-check:
	MARGIN=$(MARGIN) bash bench/check.sh

## fuzz: run each fuzz target for FUZZTIME (seed corpora in testdata/fuzz)
FUZZTIME ?= 60s
FUZZ_TARGETS := ./pkg/call:FuzzJSONToMessage ./pkg/registry/consul:FuzzDecodeTags ./pkg/registry/nats:FuzzDecodeRecord ./pkg/registry/nats:FuzzRecordKey
fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; \
		echo "fuzz $$name in $$pkg for $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) -parallel 2 $$pkg; \
	done

vet:
	$(GO) vet ./...

fmt-check:
	@out="$$(gofmt -l $$(git ls-files '*.go'))"; if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

tidy-check:
	$(GO) mod tidy -diff

clean:
	rm -rf $(BIN)
