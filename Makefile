# simplechat — the everyday commands. `make run` serves, `make test` tests; both first make sure
# Postgres and Redis answer (docker/dev-services.sh starts project-local ones when needed).

TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/postgres
TEST_REDIS_URL ?= redis://127.0.0.1:6379

.PHONY: run test migrate openapi fmt lint services test-services

## Run the server (creates the database and applies migrations first).
run: services
	cargo run --bin simplechat -- serve

## Run every test: unit tests and the integration tests against real Postgres and Redis.
test: test-services
	TEST_DATABASE_URL=$(TEST_DATABASE_URL) TEST_REDIS_URL=$(TEST_REDIS_URL) cargo test

## Create the database if missing and apply pending migrations.
migrate: services
	cargo run --bin simplechat -- migrate

## Regenerate docs/openapi.json from the code.
openapi:
	cargo run --quiet --bin simplechat -- openapi > docs/openapi.json

fmt:
	cargo fmt --all

lint:
	cargo fmt --all -- --check
	cargo clippy --all-targets -- -D warnings

services:
	@docker/dev-services.sh

test-services:
	@DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) docker/dev-services.sh
