# simplechat — the everyday commands. `make run` serves, `make test` tests; both first make sure
# Postgres and Redis answer (docker/dev-services.sh starts project-local ones when needed).

TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/postgres
TEST_REDIS_URL ?= redis://127.0.0.1:6379

# ops-check backup-drill upgrade-check: docs/deployment.md
.PHONY: ops-check backup-drill upgrade-check run test test-cluster chat migrate schema openapi fmt lint services test-services bench bench-compare bench-instructions bench-growth bench-scale bench-fair-share bench-search bench-export bench-smoke profile faults soak clean-data e2e compose.up compose.down

## Run the server (creates the database and applies migrations first).
run: services
	cargo run --bin simplechat -- serve

## Run every test: unit tests and the integration tests against real Postgres and Redis (with the
## `clients` feature, so the terminal client's test runs too).
test: test-services
	TEST_DATABASE_URL=$(TEST_DATABASE_URL) TEST_REDIS_URL=$(TEST_REDIS_URL) cargo test --features clients

## The messaging, presence, auth, pub/sub and reconnect-storm tests and the two-instances-behind-nginx check again,
## against a local Redis Cluster (docker/redis-cluster.sh: 3 masters + 3 replicas on ports
## 7000-7005), which is stopped afterwards. About two minutes after a build.
CLUSTER_TESTS = messaging:: live_events:: message_rules:: history:: presence:: auth:: pubsub_kind:: liveness:: rate_limits:: ws_ticket:: storm::
test-cluster: test-services
	cargo build --features clients --bin simplechat --tests
	docker/redis-cluster.sh start
	nodes=$$(docker/redis-cluster.sh nodes); \
	TEST_REDIS_CLUSTER_NODES=$$nodes TEST_DATABASE_URL=$(TEST_DATABASE_URL) TEST_REDIS_URL=$(TEST_REDIS_URL) \
		cargo test --features clients --test api -- $(CLUSTER_TESTS) \
	&& REDIS_CLUSTER_NODES=$$nodes SIMPLECHAT_BIN=$(E2E_BIN) bash .ci/e2e-nginx.sh; \
	status=$$?; docker/redis-cluster.sh stop; exit $$status

## Chat from the terminal against the running server: make chat AS=alice [TO=bob].
chat:
	cargo run --quiet --features clients --bin simplechat -- chat --user $(AS) $(if $(TO),--to $(TO))

## The end-to-end checks CI runs, on this machine: nginx in front of two instances, every
## rest/*.http file with httpyac, Swagger UI and the web client in headless Chromium. They install
## what they need (nginx and chromium with apt when root, httpyac with npm, Python packages into a
## venv).
E2E_BIN = $(or $(CARGO_TARGET_DIR),target)/debug/simplechat
e2e: test-services
	cargo build --bin simplechat
	SIMPLECHAT_BIN=$(E2E_BIN) bash .ci/e2e-nginx.sh
	SIMPLECHAT_BIN=$(E2E_BIN) bash .ci/http-files.sh
	SIMPLECHAT_BIN=$(E2E_BIN) bash .ci/swagger-check.sh
	SIMPLECHAT_BIN=$(E2E_BIN) bash .ci/web-client.sh

## Drop the database and the Redis keys that `make run` created (DATABASE_URL, REDIS_PREFIX).
clean-data:
	docker/clean-data.sh

## Create the database if missing and apply pending migrations.
migrate: services
	cargo run --bin simplechat -- migrate

## Regenerate platform/database/schema.rs from a freshly migrated database (diesel print-schema;
## installs diesel_cli when missing). CI fails when the committed file differs.
schema: test-services
	bash .ci/schema-check.sh --write

## Regenerate docs/openapi.json from the code.
openapi:
	cargo run --quiet --bin simplechat -- openapi > docs/openapi.json

## Measure throughput, latency and correctness under load, then fair share under search
## (bench-fair-share), then beside 44533c0 (bench-compare), then the scaled-out run (bench-scale);
## writes docs/BENCHMARKS.md.
## FAIR_SHARE=0 skips the fair-share run (a million messages loaded, a few minutes), COMPARE=0 the
## side-by-side run, BENCH_SCALE=0 the scaled-out run (about ten minutes).
BENCH_SCALE ?= 1
FAIR_SHARE ?= 1
COMPARE ?= 1
bench:
	docker/bench.sh
	@if [ "$(FAIR_SHARE)" != 0 ]; then docker/fair-share-bench.sh; fi
	@if [ "$(COMPARE)" != 0 ]; then docker/bench-compare.sh; fi
	@if [ "$(BENCH_SCALE)" != 0 ]; then docker/bench-scale.sh; fi

## This build beside an older one (BASELINE_REF, default 44533c0; or BASELINE_BIN), in turns on
## fresh databases: CPU per message by process and the ratios, reconnect storms, failovers (an
## instance killed with 5000 sockets, a bystander chatting), and on a local Redis Cluster the
## median it adds and the failover again; into the "Side by side" section of docs/BENCHMARKS.md.
## COMPARE_ROUNDS (default 3) rounds, about half an hour in all; COMPARE_STORM, COMPARE_FAILOVER
## and COMPARE_CLUSTER at 0 skip those parts. The first run builds the older commit in
## .bench-baseline/ (about twenty minutes on two cores).
bench-compare:
	docker/bench-compare.sh

## Instructions the server executes per 1:1 message (valgrind's callgrind), this build and the
## older one; repeatable where CPU time is not. About five minutes after the builds.
bench-instructions:
	docker/instructions.sh

## Whether a message costs more as the tables grow: `private` GROWTH_ROUNDS (default 6) times on
## one database, CPU per message by process for each round. About two minutes after the build.
bench-growth:
	docker/bench-growth.sh

## Scaled out: a Redis Cluster, three instances, 50,100 idle WebSockets from three load-generator
## processes, then cross-instance traffic through the cluster; writes the "Scaled out" section of
## docs/BENCHMARKS.md. About ten minutes; SCALE_PER_INSTANCE sets the sockets per instance.
bench-scale:
	docker/bench-scale.sh

## The server's memory while it streams data exports of 1k, 10k and 100k sent messages; writes the
## "Export memory" section of docs/BENCHMARKS.md.
bench-export:
	docker/export-memory.sh

## While one user runs 20 parallel worst-case searches on a million messages, another user's
## send→ack (issue 31); writes the "Fair share under search" section of docs/BENCHMARKS.md.
## FAIR_SHARE_MESSAGES sets the size (default 1,000,000).
bench-fair-share:
	docker/fair-share-bench.sh

## Message search and history reads on a million messages, with EXPLAIN ANALYZE (docs/api-notes.md).
bench-search:
	docker/search-bench.sh

## A few seconds of every bench scenario with tiny sizes (CI runs this).
bench-smoke:
	BENCH_MODE=smoke docker/bench.sh
	BENCH_MODE=smoke FAIR_SHARE_MESSAGES=20000 FAIR_SHARE_DURATION=3s docker/fair-share-bench.sh

## Where a message's CPU goes: perf flamegraphs of the server and Postgres' statements per message
## under `private` and `group`, into docs/perf/ (needs root, perf and `cargo install inferno`).
profile:
	docker/profile.sh

## Fault suite (docs/RELIABILITY.md): its own Redis and Postgres, two instances under WebSocket load;
## kill -9, Redis restart, FLUSHALL, Postgres outage, SIGTERM and a Redis Cluster failover, each checked. About 3 minutes.
faults:
	tests/faults/run.sh

## The operations checks CI runs (docs/deployment.md): metrics reference, promtool on the alert
## rules, the Kubernetes base rendered and validated, JSON logs; then the restore drill.
ops-check: test-services
	cargo build --bin simplechat
	SIMPLECHAT_BIN=$(E2E_BIN) bash .ci/ops-checks.sh
backup-drill: test-services
	cargo build --bin simplechat
	SIMPLECHAT_BIN=$(E2E_BIN) bash .ci/backup-drill.sh

## The previous release's binary on the schema this one migrated (builds the previous commit;
## skipped when no migration changed, UPGRADE_CHECK_FORCE=1 runs it anyway).
upgrade-check: test-services
	cargo build --bin simplechat
	SIMPLECHAT_BIN=$(E2E_BIN) bash .ci/upgrade-check.sh

## Soak: steady load for SOAK_MINUTES (default 3); each instance's RSS must stay flat. Not in CI.
soak:
	tests/faults/run.sh soak

fmt:
	cargo fmt --all

lint:
	cargo fmt --all -- --check
	cargo clippy --all-targets --all-features -- -D warnings
	@command -v cargo-machete >/dev/null || cargo install cargo-machete --locked
	cargo machete

services:
	@docker/dev-services.sh

test-services:
	@DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) docker/dev-services.sh

# Two instances behind nginx in Docker (docs/deployment.md). JWT_SECRET comes from the environment,
# else from docker/.env, which compose.up writes with a random secret the first time.
COMPOSE = docker compose -f docker/docker-compose.yml

## Build the image; start Postgres, Redis, two instances and nginx on https://localhost:8443
## (docker/dev-cert.sh makes its self-signed certificate on first use; http://localhost:8080 redirects).
compose.up:
	@if [ -z "$$JWT_SECRET" ] && ! grep -qs '^JWT_SECRET=..*' docker/.env; then \
	  umask 077; \
	  echo "JWT_SECRET=$$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')" >> docker/.env; \
	  echo "compose.up: wrote a random JWT_SECRET to docker/.env (kept for the next runs)"; \
	fi
	docker/dev-cert.sh
	$(COMPOSE) up --detach --build --wait
	@echo "simplechat runs behind nginx on https://localhost:$${SIMPLECHAT_HTTPS_PORT:-8443} (self-signed certificate; Swagger UI on nginx's port 9080 inside the network)"

## Stop and remove the containers; the Postgres volume stays (add -v by hand to drop it).
# down needs no secret, but compose checks every ${...} of the file, so it gets a stand-in.
compose.down:
	JWT_SECRET=$${JWT_SECRET:-unused-by-down} $(COMPOSE) down
