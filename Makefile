# authlab — see README.md. `make help` lists the targets.

GO        ?= go
BIN       := bin/authlab
STRATEGY  ?= jwt
SCENARIO  ?=
RATE      ?=
DURATION  ?=
USERS     ?=
INSTANCES ?=
REDIS     ?=
FUZZTIME  ?= 60s
# bench-all: rounds of the paired comparison (each ≈ 25 s here: six pools
# started, their logins, 2 s warm-up, a 20 s window), then the event
# scenarios in EVENT_ROUNDS rounds per strategy, each on a fresh topology, at
# EVENT_DURATION each (unless DURATION is set; recovery needs 5 s of success
# after the heal at 2/3). Measured here on 2026-12-07: 6 paired rounds took
# 2.5 min, the 2 × 5 event runs 14.5 min (≈ 87 s each: failover, Redis
# outage, revocation, cost): about 18 min with the default 8 rounds. The
# events dominate; EVENT_ROUNDS=1 halves them.
ROUNDS          ?= 8
EVENT_ROUNDS    ?= 2
EVENT_SCENARIOS ?= failover,redis-outage,revocation,cost
EVENT_DURATION  ?= 20s
# One name for the event runs of one bench-all: compare summarises them.
BATCH           := $(shell date -u +%Y%m%d-%H%M%S)

# Only pass the overrides the user set, so the harness's defaults apply otherwise.
BENCH_FLAGS := --strategy $(STRATEGY) \
	$(if $(SCENARIO),--scenario $(SCENARIO)) \
	$(if $(RATE),--rate $(RATE)) \
	$(if $(DURATION),--duration $(DURATION)) \
	$(if $(USERS),--users $(USERS)) \
	$(if $(INSTANCES),--instances $(INSTANCES)) \
	$(if $(REDIS),--redis $(REDIS))

.PHONY: help build test test-fallback test-deploy test-short lint fuzz gobench bench bench-all bench-paired sweep sweep-jwt scale compare demo up bench-lb clean

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

build: ## build bin/authlab
	$(GO) build -o $(BIN) ./cmd/authlab

# Packages whose tests talk to Redis: run a second time against the embedded
# fallback, which must pass what a real redis-server passes.
REDIS_PKGS := ./internal/redisx/... ./strategies/... ./services/...

test: lint ## gofmt, go vet, every test with the race detector (starts redis-server itself), the Redis tests against the embedded fallback, then the docker compose deployment (skipped without a Docker engine)
	$(GO) test -race -count=1 -timeout 20m $$($(GO) list ./... | grep -v '/deploy$$')
	$(MAKE) --no-print-directory test-fallback
	$(MAKE) --no-print-directory test-deploy

test-deploy: ## the docker compose deployment: builds the images, kills containers (skipped without a Docker engine); run alone, it is the heaviest
	$(GO) test -count=1 -timeout 30m ./deploy/

test-fallback: ## the Redis-dependent tests against the embedded fallback (miniredis), as on a machine without redis-server
	AUTHLAB_TEST_EMBEDDED_REDIS=1 $(GO) test -race -count=1 -timeout 10m $(REDIS_PKGS)

test-short: ## unit tests only, skipping the end-to-end runs
	$(GO) test -short -count=1 ./...

lint: ## gofmt and go vet
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

fuzz: ## run every credential-parser fuzz target for FUZZTIME each (default 60s)
	@set -e; for t in $$(grep -rl --include='*_test.go' '^func Fuzz' . | xargs -n1 dirname | sort -u); do \
		for f in $$(grep -ho '^func Fuzz[A-Za-z0-9_]*' $$t/*_test.go | sed 's/func //'); do \
			echo "== $$t $$f"; $(GO) test -run='^$$' -fuzz="^$$f$$" -fuzztime=$(FUZZTIME) $$t; \
		done; done

gobench: ## Go micro-benchmarks of every strategy's authenticate path
	$(GO) test -run='^$$' -bench=. -benchmem ./strategies/... ./internal/assertion/ ./services/backend/

bench: build ## run the harness: make bench STRATEGY=jwt [SCENARIO= RATE= DURATION= USERS= REDIS=single|cluster|sentinel]
	$(BIN) bench $(BENCH_FLAGS)

# The paired comparison's flags: only the overrides given (RATE and USERS are
# per pool there).
PAIRED_FLAGS := --strategy all --rounds $(ROUNDS) \
	$(if $(RATE),--rate $(RATE)) \
	$(if $(DURATION),--duration $(DURATION)) \
	$(if $(USERS),--users $(USERS)) \
	$(if $(INSTANCES),--instances $(INSTANCES))

bench-all: build ## the paired latency comparison in ROUNDS rounds, the event scenarios in EVENT_ROUNDS rounds per strategy (fresh topology each), then compare (~18 min; short check: make bench-all DURATION=10s ROUNDS=2 EVENT_ROUNDS=2)
	$(BIN) bench $(PAIRED_FLAGS)
	@set -e; known=$$($(BIN) bench --list-scenarios); scen=""; \
	for x in $$(echo "$(or $(SCENARIO),$(EVENT_SCENARIOS))" | tr ',' ' '); do \
		if echo "$$known" | grep -qx "$$x"; then scen="$${scen:+$$scen,}$$x"; else echo "bench-all: no scenario $$x in this build; skipped"; fi; done; \
	if [ -z "$$scen" ]; then echo "bench-all: no event scenario left to run" >&2; exit 2; fi; \
	for r in $$(seq $(EVENT_ROUNDS)); do for s in $$($(BIN) strategies --names); do \
		echo "bench-all: event round $$r of $(EVENT_ROUNDS), $$s"; \
		$(BIN) bench --strategy $$s --scenario $$scen --duration $(or $(DURATION),$(EVENT_DURATION)) --batch $(BATCH) \
			$(if $(RATE),--rate $(RATE)) $(if $(USERS),--users $(USERS)) $(if $(INSTANCES),--instances $(INSTANCES)); done; done
	$(BIN) compare

sweep: build ## the opaque cache sweep: TTL × pub/sub against revocation lag and Redis load, one run per point, frontier chart (~2 min): make sweep [TTLS=1ms,1s,5s,30s]
	$(BIN) sweep $(if $(TTLS),--ttls $(TTLS)) $(if $(RATE),--rate $(RATE)) $(if $(DURATION),--duration $(DURATION)) $(if $(USERS),--users $(USERS))

sweep-jwt: build ## the jwt sweeps: denylist off/on, HS256 vs EdDSA (micro-benchmark + 3 runs each), access TTL 1/5/15 min at 60× (~4–5 min): make sweep-jwt [SWEEP=all REPEAT=3]
	$(BIN) sweep --strategy jwt $(if $(SWEEP),--sweep $(SWEEP)) $(if $(REPEAT),--repeat $(REPEAT)) $(if $(RATE),--rate $(RATE)) $(if $(DURATION),--duration $(DURATION)) $(if $(USERS),--users $(USERS))

scale: build ## memory per session at 1k–1M sessions beside estimates, /api/me and the opaque cache hit ratio at each size, a login storm after a restart (~8 min): make scale [STRATEGIES=sticky,redis-session SIZES=1k,10k,100k,1M]
	$(BIN) scale $(if $(STRATEGIES),--strategies $(STRATEGIES)) $(if $(SIZES),--sizes $(SIZES))

bench-paired: build ## only the paired latency comparison: make bench-paired [ROUNDS=8 DURATION=20s RATE=100 USERS=200]
	$(BIN) bench $(PAIRED_FLAGS)

compare: build ## write results/COMPARISON.md and COMPARISON.json: latency from the latest paired run, events from the latest run of each strategy
	$(BIN) compare

demo: build ## narrated walkthrough: a session lost with its instance, and kept; then Redis goes down
	$(BIN) demo

up: build ## start the topology for hands-on use: make up STRATEGY=jwt
	$(BIN) up --strategy $(STRATEGY) $(if $(INSTANCES),--instances $(INSTANCES))

bench-lb: build ## the Go lb versus HAProxy at saturation, with an A/A control (round-robin and sticky, 5 rotating rounds, ~6 min)
	$(BIN) bench-lb --aa

clean: ## remove build output
	rm -rf bin

# --- the docker compose deployment (docker-compose.yml, deploy/) -----------
REDIS_TOPOLOGY ?= single
FRONT          ?= lb
# STRATEGY reaches compose only when given (make … STRATEGY=x, or the
# environment): otherwise .env's STRATEGY applies.
COMPOSE_VARS := $(if $(filter command line environment,$(origin STRATEGY)),STRATEGY=$(STRATEGY)) \
	REDIS_TOPOLOGY=$(REDIS_TOPOLOGY) FRONT=$(FRONT)

.PHONY: compose-images compose-env compose-up compose-down compose-bench

compose-images: ## build the compose images without a registry (authlab FROM scratch; Redis/HAProxy stand-ins from Debian's packages when they cannot be pulled)
	GO=$(GO) bash deploy/build-images.sh

compose-env: ## write .env with random secrets, unless there is one
	bash deploy/compose.sh env

compose-up: compose-images ## start the compose deployment, wait for a login through the lb: make compose-up STRATEGY=redis-session [REDIS_TOPOLOGY=cluster|sentinel] [FRONT=haproxy]
	$(COMPOSE_VARS) bash deploy/compose.sh up

compose-down: ## remove every container, network and volume of the compose deployment
	bash deploy/compose.sh down

compose-bench: build compose-images ## the harness against the compose deployment (started when needed): steady, docker kill of a gateway, a gateway cut off from Redis: make compose-bench STRATEGY=redis-session [RATE= DURATION= USERS=]
	$(COMPOSE_VARS) BENCH_ARGS="$(strip $(if $(RATE),--rate $(RATE)) $(if $(DURATION),--duration $(DURATION)) $(if $(USERS),--users $(USERS)))" bash deploy/compose.sh bench
