# ovn-dpu build, test and demo entry points. `make test` is what CI runs.
SHELL := /bin/bash
GO ?= go
BIN := $(CURDIR)/bin
TOOLS := $(BIN)/tools
DEB_PACKAGES := openvswitch-switch ovn-central ovn-host iproute2 iputils-ping protobuf-compiler libprotobuf-dev systemd
# Integration tests start real OVN daemons; run packages one at a time so two
# beds never compete for the 2 cores CI has.
TEST_FLAGS ?= -count=1 -p 1 -timeout 15m
GENERATED := pkg/ovsdb/nbdb pkg/ovsdb/sbdb pkg/ovsdb/vswitchd proto/ovndpu/v1

.PHONY: all deps build test unit fuzz churn test-faults bench scale generate check-generated lint demo clean tools image

all: build

# deps installs what the build and the tests need; it is idempotent and
# only refreshes the package index when something is missing.
deps:
	@missing=""; for p in $(DEB_PACKAGES); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		$(SUDO) apt-get update -q && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q --no-install-recommends $$missing; \
	fi
	$(GO) mod download

tools:
	@mkdir -p $(TOOLS)
	$(GO) build -o $(TOOLS)/ google.golang.org/protobuf/cmd/protoc-gen-go google.golang.org/grpc/cmd/protoc-gen-go-grpc

build:
	@mkdir -p $(BIN)
	$(GO) build -o $(BIN)/ovn-dpu-cni ./cni
	$(GO) build -o $(BIN)/ovn-dpu-host-agent ./host-agent
	$(GO) build -o $(BIN)/ovn-dpu-agent ./dpu-agent

# test runs everything: unit, real-OVN integration and end-to-end tests.
# CI=true turns every "missing root/package" skip into a failure.
test: deps lint check-generated build fuzz
	$(GO) test $(TEST_FLAGS) -skip '^TestChurnUnderFaults$$' ./...
	$(MAKE) -s churn

# churn is the fault suite's churn test on its own, verbose so that the
# counts it prints (ADDs, failures by reason, kill -9s per component,
# what is left behind) are in the log: CHURN_CYCLES ADD/DEL cycles at
# concurrency 20 (make test: the short form, 60), CHURN_SEED to replay a
# run's fault order and timing.
CHURN_CYCLES ?= 60
churn:
	ODPU_CHURN_CYCLES=$(CHURN_CYCLES) ODPU_CHURN_SEED=$(CHURN_SEED) \
		$(GO) test -count=1 -timeout 40m -v -run '^TestChurnUnderFaults$$' ./test/e2e/

# test-faults is the whole fault suite: the churn with 500 cycles, then
# the DPU-side surprises (representor gone, port deleted by an operator,
# ovn-controller down, ovs-vswitchd frozen, the DPU rebooted).
test-faults: build
	$(MAKE) -s churn CHURN_CYCLES=500
	$(GO) test -count=1 -timeout 20m -v -run '^TestDPU(Surprise|Reboot)' ./test/e2e/

unit:
	$(GO) test -count=1 -short ./...

# fuzz runs every fuzz target (a func Fuzz... in a _test.go file) for
# FUZZTIME each, one at a time: go test -fuzz takes one target of one
# package per run. Plain `go test` already runs their seed corpora;
# crashers land in the package's testdata/fuzz/, to be committed.
FUZZTIME ?= 3s
fuzz:
	@targets=$$(grep -sHo '^func Fuzz[A-Za-z0-9_]*([a-z]* \*testing\.F)' \
		$$(git ls-files '*_test.go'; git ls-files --others --exclude-standard '*_test.go') | \
		grep -v '/testdata/' | sed 's/:func \(Fuzz[A-Za-z0-9_]*\)(.*/:\1/'); \
	[ -n "$$targets" ] || { echo "no fuzz targets found"; exit 1; }; \
	for t in $$targets; do \
		dir=$$(dirname $${t%%:*}); name=$${t##*:}; \
		echo "fuzz $$name ./$$dir for $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) ./$$dir || exit 1; \
	done

# bench runs the micro-benchmarks, then the scale benchmarks (one real-OVN
# bed per iteration, hence -benchtime=1x), then the attach-speed bench
# (test/bench: ours vs OVN's own plug, a CMS-side plug and the exec floor,
# on one bed), which prints its report and writes its plot to BENCH_SVG.
# BENCH_ARGS go to ovn-dpu-bench (e.g. --samples=30). CI runs a tiny
# smoke of the same code (test/bench TestSmoke) in `make test`.
BENCH_SVG ?= docs/perf/attach-speed.svg
BENCH_ARGS ?=
bench: deps build
	$(GO) test -p 1 -run '^$$' -bench . -skip 'WithForeignBindings' -benchmem -count=1 ./...
	$(GO) test -p 1 -run '^$$' -bench 'WithForeignBindings' -benchtime=1x -count=1 -timeout 30m ./test/...
	$(GO) run ./test/cmd/ovn-dpu-bench --svg=$(BENCH_SVG) $(BENCH_ARGS)

# scale is the fleet-scale measurement (test/scale, not in CI): for each
# N of SCALE_N, clustered NB and SB (3 members each, a relay in front of
# each) serve N real host agents and N real DPU agents (own OVS DB each,
# ovn-controller simulated) while each host attaches and detaches pods.
# Prints latency, per-session and per-operation costs on the central
# servers, and one summary line per N; writes the plot to SCALE_SVG.
# SCALE_ARGS go to ovn-dpu-scale (e.g. --pods=10). Only the full run
# replaces the README's plot; other sizes plot to SCALE_SVG if given.
SCALE_N ?= 10,50,100
ifeq ($(SCALE_N),10,50,100)
SCALE_SVG ?= docs/perf/scale.svg
endif
SCALE_ARGS ?=
scale: deps build
	ODPU_BIN_DIR=$(BIN) $(GO) run ./test/cmd/ovn-dpu-scale --n=$(SCALE_N) $(if $(SCALE_SVG),--svg=$(SCALE_SVG)) $(SCALE_ARGS)

# image builds the multi-arch (linux/amd64, linux/arm64) OCI image as an
# OCI layout directory in IMAGE_OUT and prints its name and index digest
# (docs/image.md). Reproducible: the binaries are built -trimpath and every
# time in it is SOURCE_DATE_EPOCH (default: the last commit's time). The
# static busybox it ships is Debian's, fetched once into IMAGE_DEPS.
IMAGE_OUT ?= $(BIN)/image
IMAGE_DEPS ?= $(BIN)/image-deps
image:
	./build/image/fetch-busybox.sh $(IMAGE_DEPS)
	@rev=$$(git rev-parse HEAD 2>/dev/null) && { git diff --quiet HEAD || rev=$$rev-dirty; }; \
	SOURCE_DATE_EPOCH=$${SOURCE_DATE_EPOCH:-$$(git log -1 --format=%ct 2>/dev/null || echo 0)} \
		$(GO) run ./build/image --out=$(IMAGE_OUT) --busybox-dir=$(IMAGE_DEPS) --revision=$$rev

generate: tools
	PATH=$(TOOLS):$$PATH $(GO) generate $(addprefix ./,$(addsuffix /...,$(GENERATED)))

# check-generated regenerates into the work tree and fails if that changed
# anything, so committed generated code always matches its sources and the
# pinned tool versions. It compares the tree before and after, so uncommitted
# hand edits elsewhere in these directories do not count as drift.
check-generated:
	@state() { git status --porcelain -- $(GENERATED); git diff -- $(GENERATED); }; \
	before=$$(state | sha256sum); \
	$(MAKE) -s generate >/dev/null || exit 1; \
	if [ "$$(state | sha256sum)" != "$$before" ]; then \
		echo "generated code is out of date; run 'make generate' and commit:"; \
		git status --porcelain -- $(GENERATED); exit 1; \
	fi

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go'; git ls-files --others --exclude-standard '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) tool staticcheck ./...

demo: deps build
	./test/demo.sh

clean:
	rm -rf $(BIN)
