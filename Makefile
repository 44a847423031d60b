# synq — build, test and lint. `make test` is the command CI runs.
GO        ?= go
PKGS      := ./...
BIN       := bin
CMDS      := $(notdir $(wildcard cmd/*))
# Inputs per fuzz target in `make fuzz`. A count, not a duration: Go 1.26's
# fuzz coordinator can fail a target with "context deadline exceeded" when a
# -fuzztime duration ends while a worker is busy on a loaded machine
# (go.dev/issue/75804, fixed in 1.27).
FUZZTIME  ?= 300000x
# What `ctl version` prints.
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)

.PHONY: all build dev dev-reset test test-short fuzz bench lint fmt proto clean images-offline images-offline-worker compose-plugin

all: lint build test

# One line per step rather than a screen of `go: downloading`: a first
# build (modules to download, nothing compiled yet) takes about 3 minutes
# on 2 cores; later ones take seconds.
build:
	@mkdir -p $(BIN)
	@echo "build 1/3: Go modules (downloaded on a first build)"
	@$(GO) mod download
	@echo "build 2/3: compiling the packages (a first build takes about 3 minutes on 2 cores; later ones seconds)"
	@$(GO) build ./...
	@echo "build 3/3: linking the commands into $(BIN)/"
	@if [ -d cmd ]; then $(GO) build -ldflags "-X main.version=$(VERSION)" -o $(BIN)/ ./cmd/...; fi

# A complete local stack: Redis, the Notion emulator, the demo API, a
# scheduler and an executor; WORKER=DIR (a module from `ctl new DIR`) also
# builds and runs your worker. Ctrl-C stops it. DEV_FLAGS: see bin/dev --help.
dev: build
	$(BIN)/dev $(foreach w,$(WORKER),--worker $(w)) $(DEV_FLAGS)

# make dev, started clean: the emulator's rows and Redis's data in
# .synq-dev are removed first (together: one without the other disagrees).
dev-reset: build
	$(BIN)/dev --fresh $(foreach w,$(WORKER),--worker $(w)) $(DEV_FLAGS)

# The full suite: race detector on, real redis-server, the emulator over HTTP.
# It runs every fuzz target on its seed corpus and on every input a fuzzing
# run has found (testdata/fuzz), but does not explore: a gate must give the
# same answer twice, and a new finding belongs in testdata/fuzz, with its fix.
test:
	$(GO) test -race -count=1 -timeout 45m $(PKGS)
	@# The failover and pause storm at 10,000 syncs: under -race it runs 1,000.
	$(GO) test -count=1 -run TestFailoverAndPauseStormNeitherMissNorDouble ./internal/scheduler/

test-short:
	$(GO) test -count=1 -short $(PKGS)

# Explores: each fuzz target runs FUZZTIME new inputs (`go test -fuzz` takes
# one target at a time). A failure writes the input to the package's
# testdata/fuzz; commit it with the fix, and `make test` keeps checking it.
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
	  dir=$$($(GO) list -f '{{.Dir}}' $$pkg); \
	  for f in $$(grep -ho '^func Fuzz[A-Za-z0-9_]*' $$dir/*_test.go 2>/dev/null | sed 's/func //'); do \
	    echo "fuzz $$pkg $$f ($(FUZZTIME))"; \
	    $(GO) test -run='^$$' -fuzz="^$$f$$" -fuzztime=$(FUZZTIME) $$pkg; \
	  done; \
	done

bench:
	$(GO) test -run='^$$' -bench=. -benchtime=1x $(PKGS)

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

fmt:
	gofmt -w $$(git ls-files '*.go')

proto:
	protoc --go_out=. --go_opt=module=github.com/synqhq/synq \
	  --go-grpc_out=. --go-grpc_opt=module=github.com/synqhq/synq proto/synq/v1/*.proto

# Container images without a registry: static binaries built here, FROM
# scratch, and a Redis image from this machine's redis-server (Debian's
# redis-server package); nothing is pulled, buildx is not needed. Then:
#   SYNQ_REDIS_IMAGE=synq-redis:local docker compose up -d --wait
# SYNQ_IMAGE / SYNQ_REDIS_IMAGE name them. docs/compose.md.
images-offline:
	deploy/offline/images.sh synq redis

# Your worker's image, the same way: make images-offline-worker WORKER=DIR
images-offline-worker:
	@test -n "$(WORKER)" || { echo "set WORKER=DIR (a module from ctl new DIR)"; exit 2; }
	deploy/offline/images.sh worker $(WORKER)

# Docker Compose (the `docker compose` plugin), built from its Go module:
# Debian's docker-compose is the old Python 1.29, which this repository's
# compose file does not support. `go install` refuses the module (its go.mod
# has exclude directives), so it is built from a copy of its source.
COMPOSE_VERSION ?= v5.6.0
COMPOSE_PLUGIN  ?= $(HOME)/.docker/cli-plugins/docker-compose
compose-plugin:
	@set -e; dir=$$(cd / && $(GO) mod download -json github.com/docker/compose/v5@$(COMPOSE_VERSION) | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$$/\1/p'); \
	  test -n "$$dir" || { echo "compose-plugin: go mod download failed"; exit 1; }; \
	  tmp=$$(mktemp -d); cp -r "$$dir"/. "$$tmp"; chmod -R u+w "$$tmp"; mkdir -p $$(dirname $(COMPOSE_PLUGIN)); \
	  echo "building docker compose $(COMPOSE_VERSION) into $(COMPOSE_PLUGIN) (a few minutes)"; \
	  (cd "$$tmp" && $(GO) build -trimpath -ldflags "-s -w -X github.com/docker/compose/v5/internal.Version=$(COMPOSE_VERSION)" \
	    -o $(COMPOSE_PLUGIN) ./cmd) || { rm -rf "$$tmp"; exit 1; }; rm -rf "$$tmp"
	docker compose version

clean:
	rm -rf $(BIN) .offline
