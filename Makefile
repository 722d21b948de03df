# Web Sonic — one module, one Makefile. `make help` lists the targets.
SHELL := /bin/bash
GO ?= go
BIN := bin
BUILD := build
# Every folder with a module.json under examples/ and modules/ is a module.
MODULE_DIRS := $(patsubst %/module.json,%,$(wildcard examples/*/module.json modules/*/module.json))
WASM_ENV := GOOS=wasip1 GOARCH=wasm CGO_ENABLED=0
TEST_TIMEOUT ?= 30m

.PHONY: vendor-axe help build modules run run-local release test bench check vet fmt tidy clean

help:
	@echo "make run     build everything, start a local registry (:8090) and the site (:8080), which installs the modules from it;"
	@echo "             run it again while it runs (after bumping a module's version) to publish to it and wait until the site serves it"
	@echo "make run-local  the site alone, loading build/modules unsigned (development shortcut)"
	@echo "make test    run every test (real PostgreSQL, real wasm)"
	@echo "make bench   run the benchmarks (figures go to BENCHMARKS.md by hand)"
	@echo "make check   vet, gofmt, go mod tidy, tests; fails on a dirty tree"
	@echo "make modules build every module and example to $(BUILD)/modules/NAME/module.wasm"
	@echo "make release [VERSION=x.y.z] [CHANNEL=beta]  reproducible runtime binaries and container image in $(DIST)/;"
	@echo "             published to the make run registry if one runs, else it prints the command that publishes"

build:
	$(GO) build -o $(BIN)/websonic ./cmd/websonic

# Each module becomes a package folder: module.json, module.wasm, migrations/, assets/.
modules:
	@set -e; for d in $(MODULE_DIRS); do \
		name=$$(basename $$d); out=$(BUILD)/modules/$$name; \
		mkdir -p $$out; rm -rf $$out/migrations; \
		echo "module $$d -> $$out"; \
		(cd $$d && $(WASM_ENV) $(GO) build -buildmode=c-shared -trimpath -o $(CURDIR)/$$out/module.wasm .); \
		cp $$d/module.json $$out/; \
		if [ -d $$d/migrations ]; then cp -r $$d/migrations $$out/; fi; \
		rm -rf $$out/assets; if [ -d $$d/assets ]; then cp -r $$d/assets $$out/; fi; \
	done

# A first run serves; a second one, while the first runs, publishes to it and exits.
run: build modules
	$(BIN)/websonic dev --modules $(BUILD)/modules

run-local: build modules
	$(BIN)/websonic serve --modules-dir $(BUILD)/modules --dev-approve-local

# The runtime's own release (internal/release): VERSION from the newest tag
# (v1.2.3 -> 1.2.3; between tags git describe's 1.2.3-4-gabcdef), else
# 0.0.0-dev; the image's time is the commit's. Then, if `make run` runs on
# data/, it is published there with its development keys.
VERSION ?= $(shell git describe --tags 2>/dev/null | sed "s/^v//" | grep . || echo 0.0.0-dev)
COMMIT ?= $(shell git rev-parse HEAD 2>/dev/null)
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
DIST ?= dist
CHANNEL ?= stable
release: build
	rm -rf $(DIST)
	SOURCE_DATE_EPOCH=$(SOURCE_DATE_EPOCH) $(BIN)/websonic release build --version $(VERSION) --commit "$(COMMIT)" --out $(DIST)
	$(BIN)/websonic release publish --dist $(DIST) --dev --channel $(CHANNEL)

vet:
	$(GO) vet ./...
	$(WASM_ENV) $(GO) vet ./sdk/... ./examples/... ./modules/... ./runtime/internal/testmodules/...

fmt:
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

tidy:
	$(GO) mod tidy

# The browser tests keep their screenshots (every admin page, both themes)
# in $(ARTIFACTS)/browser.
ARTIFACTS ?= $(CURDIR)/$(BUILD)/test-artifacts
# runtime/server's tests take about as long as all the others together: they
# run as two shards beside the other packages, each under TEST_TIMEOUT. The
# shards share one pattern (-run and -skip), so no test is left out.
SERVER_SHARD := ^(Test|Fuzz|Example)[A-L]
TEST_ENV := WEBSONIC_BROWSER_ARTIFACTS=$(ARTIFACTS)/browser
test: vet
	@rc=0; \
	$(TEST_ENV) $(GO) test -count=1 -timeout $(TEST_TIMEOUT) $$($(GO) list ./... | grep -v '/runtime/server$$') & a=$$!; \
	$(TEST_ENV) $(GO) test -count=1 -timeout $(TEST_TIMEOUT) -run '$(SERVER_SHARD)' ./runtime/server & b=$$!; \
	$(TEST_ENV) $(GO) test -count=1 -timeout $(TEST_TIMEOUT) -skip '$(SERVER_SHARD)' ./runtime/server & c=$$!; \
	wait $$a || rc=1; wait $$b || rc=1; wait $$c || rc=1; \
	if [ $$rc != 0 ]; then echo "make test: FAILED (see FAIL above)"; fi; exit $$rc

bench: build
	$(GO) test -run='^$$' -bench=. -benchtime=2s -timeout 30m ./runtime/internal/bench/...
	$(GO) test -run='^$$' -bench=. -benchtime=1x -timeout 30m ./internal/watch/watchbench/ ./registry/bench/
	$(GO) test -run='^$$' -bench=Dashboard -benchtime=200x ./runtime/internal/admin/
	$(GO) test -run='^$$' -bench=AdminModuleList -benchtime=1000x -timeout 30m ./runtime/server/
	$(GO) test -run='^$$' -bench=SelfUpdate -benchtime=3x -timeout 30m ./cmd/websonic/
	$(GO) test -run='^$$' -bench=Custody -benchtime=1x -timeout 90m ./runtime/internal/bench/

check: fmt tidy vet test
	@if [ -n "$$(git status --porcelain)" ]; then echo "dirty tree after check:"; git status --porcelain; exit 1; fi

# vendor-axe refreshes the axe-core accessibility engine the browser tests
# inject (runtime/server/testdata/axe), from the npm registry, at a pinned
# version: tests never fetch it.
AXE_VERSION ?= 4.11.0
vendor-axe:
	tmp=$$(mktemp -d) && cd $$tmp && npm pack --silent axe-core@$(AXE_VERSION) >/dev/null && tar xzf axe-core-$(AXE_VERSION).tgz && \
	cp package/axe.min.js package/LICENSE $(CURDIR)/runtime/server/testdata/axe/ && rm -rf $$tmp
	cd runtime/server/testdata/axe && echo $(AXE_VERSION) > VERSION && sha256sum axe.min.js > axe.min.js.sha256

clean:
	rm -rf $(BIN) $(BUILD)
