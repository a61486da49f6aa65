# dockpack — see README.md.
SHELL     := /bin/bash
.SHELLFLAGS := -o pipefail -c
GO        ?= go
PKGS      := ./...
# Unit tests: pure logic and real SQLite files, with the race detector.
UNIT_TIMEOUT ?= 5m
# Integration tests: the real Docker Engine, tmpfs mounts (root), heavy SQLite load.
INTEG_TIMEOUT ?= 20m
# make bench runs every benchmark of integration/ (the images ones alone take ~20 min)
BENCH_TIMEOUT ?= 120m

.PHONY: test test-unit test-integration faults bench store-big fuzz vet lint build demo demo-clean image clean browser

## test: unit + integration tests (integration needs the Docker Engine and root)
test: vet lint test-unit test-integration

vet:
	$(GO) vet $(PKGS)
	$(GO) vet -tags integration ./integration/
	$(GO) vet -tags dockpacktest ./cmd/dockpack/...

## lint: staticcheck (pinned; installed once into bin/tools) on every build configuration of the tree
STATICCHECK_VERSION ?= v0.8.2
TOOLS_BIN   := $(CURDIR)/bin/tools
STATICCHECK := $(TOOLS_BIN)/staticcheck-$(STATICCHECK_VERSION)

lint: $(STATICCHECK)
	$(STATICCHECK) $(PKGS)
	$(STATICCHECK) -tags integration $(PKGS)
	$(STATICCHECK) -tags dockpacktest ./cmd/...

# The binary's name carries its version: another pin installs anew, the same one is never reinstalled.
$(STATICCHECK):
	mkdir -p $(TOOLS_BIN)
	GOBIN=$(TOOLS_BIN) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	mv $(TOOLS_BIN)/staticcheck $@

## s3-server: versitygw, a real S3-compatible server (Apache-2.0), for the object-storage tests
## (backup/storage/s3, integration/s3_*): installed once into bin/tools, its version in the file name;
## the tests start it on a loopback port with a temporary posix directory and stop it themselves
VERSITYGW_VERSION ?= v1.8.0
VERSITYGW   := $(TOOLS_BIN)/versitygw-$(VERSITYGW_VERSION)
export DOCKPACK_VERSITYGW := $(VERSITYGW)
export DOCKPACK_REQUIRE_S3 := 1
.PHONY: s3-server
s3-server: $(VERSITYGW)
$(VERSITYGW):
	mkdir -p $(TOOLS_BIN)
	GOBIN=$(TOOLS_BIN) $(GO) install github.com/versity/versitygw/cmd/versitygw@$(VERSITYGW_VERSION)
	mv $(TOOLS_BIN)/versitygw $@
test-unit test-integration bench: $(VERSITYGW)

## storage-large: a 1 GiB stream through each storage backend (versitygw's S3 and a local directory),
## read back and compared, with its time and peak memory (the conformance suite's LargeStream; not in CI)
.PHONY: storage-large
storage-large: $(VERSITYGW)
	DOCKPACK_STORAGE_LARGE=1GiB $(GO) test -count=1 -v -run 'TestConformance$$/LargeStream' ./backup/storage/s3/ ./backup/storage/local/ 2>&1 | grep -E 'large stream|^(ok|FAIL|---)'
bench: storage-large

test-unit:
	$(GO) test -race -count=1 -timeout $(UNIT_TIMEOUT) $(PKGS)

# The admin page's tests drive headless Chromium: installed when missing (make browser), and
# required here (they fail instead of skipping without it).
test-integration: browser
	DOCKPACK_REQUIRE_BROWSER=1 $(GO) test -tags integration -count=1 -timeout $(INTEG_TIMEOUT) -v ./integration/ 2>&1 | tee integration-test.log

## faults: the fault suite at full size (not in CI, which runs it with 24 kill points):
## 120 kill points of the CLI and the daemon, unmounts, signals at helper creation, ENOSPC; prints the table
FAULT_POINTS ?= 120
FAULTS_TIMEOUT ?= 60m
faults:
	DOCKPACK_FAULT_POINTS=$(FAULT_POINTS) DOCKPACK_FAULT_REPORT=$(CURDIR)/faults-report.txt \
	  $(GO) test -tags integration -count=1 -timeout $(FAULTS_TIMEOUT) -v -run '^TestFaults' ./integration/ 2>&1 | tee faults-test.log
	@echo; cat faults-report.txt

## browser: headless Chromium for the admin page's tests (integration/ui_test.go) and a CJK font for
## their screenshots, installed from Debian's packages only when missing (one apt-get update)
BROWSER_FONT := fonts-wqy-microhei
browser:
	@missing=""; \
	command -v chromium >/dev/null 2>&1 || missing="chromium"; \
	dpkg -s $(BROWSER_FONT) >/dev/null 2>&1 || missing="$$missing $(BROWSER_FONT)"; \
	if [ -n "$$missing" ]; then \
	  echo "browser: installing$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi; \
	echo "browser: $$(command -v chromium)"

## bench: benchmarks with their anchors (not in CI; needs Debian's sqlite3)
bench:
	command -v sqlite3 >/dev/null || apt-get install -y sqlite3
	command -v restic >/dev/null || apt-get install -y restic
	$(GO) test -tags integration -run '^$$' -bench . -benchtime 1x -timeout $(BENCH_TIMEOUT) ./integration/

## store-big: the pack store's ratio test (in CI too, at the same >= 1 GiB size), then the
## benchmark against restic (Debian's, installed when missing)
store-big:
	command -v restic >/dev/null || apt-get install -y restic
	DOCKPACK_STORE_REPORT=$(CURDIR)/store-report.txt \
	  $(GO) test -tags integration -count=1 -timeout $(BENCH_TIMEOUT) -v -run '^TestStorePacks$$' ./integration/ 2>&1 | tee store-test.log
	DOCKPACK_STORE_REPORT=$(CURDIR)/store-report.txt \
	  $(GO) test -tags integration -run '^$$' -bench '^BenchmarkStoreVsRestic$$' -benchtime 1x -timeout $(BENCH_TIMEOUT) ./integration/ 2>&1 | tee -a store-test.log
	@echo; cat store-report.txt

## fuzz: a short run of every fuzz target
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "fuzz $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime 20s -fuzzminimizetime 200x $$pkg || exit 1; \
	  done; \
	done

build:
	CGO_ENABLED=0 $(GO) build -o bin/dockpack ./cmd/dockpack

## demo: build a sample stack, back it up into ./demo-packs, verify and print the pack
demo:
	./examples/demo/demo.sh

demo-clean:
	DEMO_DATA=$(CURDIR)/demo-data docker-compose -p dockpack-demo -f examples/demo/docker-compose.yml down -v </dev/null || true
	docker rmi dockpack-demo/app:1 2>/dev/null || true
	rm -rf demo-data demo-packs bin/demo-image

clean: demo-clean
	rm -rf bin integration-test.log faults-test.log faults-report.txt

## image: the container image FROM scratch (nothing pulled): static binary, CA certificates, /tmp 1777
IMAGE ?= dockpack:latest
IMAGE_CA ?= /etc/ssl/certs/ca-certificates.crt
image:
	rm -rf bin/image
	mkdir -p bin/image/rootfs/usr/local/bin bin/image/rootfs/etc/ssl/certs bin/image/rootfs/tmp bin/image/rootfs/var/lib/dockpack
	CGO_ENABLED=0 $(GO) build -trimpath -tags timetzdata -ldflags '-s -w' -o bin/image/rootfs/usr/local/bin/dockpack ./cmd/dockpack
	cp $(IMAGE_CA) bin/image/rootfs/etc/ssl/certs/ca-certificates.crt
	chmod 1777 bin/image/rootfs/tmp
	chmod 0700 bin/image/rootfs/var/lib/dockpack
	cp Dockerfile bin/image/Dockerfile
	DOCKER_BUILDKIT=0 docker build -q -t $(IMAGE) bin/image
	docker image inspect $(IMAGE) --format 'image {{index .RepoTags 0}}: {{.Size}} bytes, entrypoint {{json .Config.Entrypoint}}'
