# The two commands: `make run` serves the console with demo data, `make test` runs every test.
# Both install what is missing first (scripts/setup.sh) and are quick when nothing changed.

SHELL := /bin/bash
# wasm-opt from npm's binaryen must come before any system one.
export PATH := $(CURDIR)/end2end/node_modules/.bin:$(HOME)/.cargo/bin:$(PATH)
PG_TEST_URL ?= postgres://postgres@127.0.0.1:5432/test

.PHONY: run test build bench bench-proxy bench-scale bench-compare bundle-size setup-app setup-test unit e2e python clean-test-dbs

run: setup-app build
	DATABASE_URL=$${DATABASE_URL:-sqlite://tollgate.db} ./target/release/tollgate serve --demo

test: setup-test unit build e2e python

setup-app:
	@scripts/setup.sh app

setup-test:
	@scripts/setup.sh test

# The release server binary and the optimised wasm bundle in target/site, with hashed names
# and brotli/gzip copies beside each file. cargo-leptos regenerates the bundle on every call,
# so make skips it when no source changed.
SOURCES := $(shell find src style public migrations -type f) Cargo.toml Cargo.lock
BUILD_STAMP := target/.release-build.stamp

build: $(BUILD_STAMP)

$(BUILD_STAMP): $(SOURCES)
	cargo leptos build --release --precompress --split
	@touch $@

# The module graph (no import cycles, pure modules stay pure), formatting, clippy with every
# warning an error (server, benches and tests; the browser half), then unit, property and
# integration tests; integration tests run on SQLite and PostgreSQL. One test at a time: each
# test runs its server on its own Tokio runtime, and with several runtimes alive and ending
# in one process, a server-rendered page occasionally never finished (about 1 run in 10 of
# the auth tests, never in the real one-runtime server under load); serial takes as long here.
unit: clean-test-dbs
	python3 scripts/check_modules.py
	cargo fmt --check
	cargo clippy --features bench --all-targets -- -D warnings
	cargo clippy --features hydrate --lib --target wasm32-unknown-unknown -- -D warnings
	promtool check rules deploy/prometheus-rules.yml
	TOLLGATE_TEST_POSTGRES_URL=$$(pg_isready -q -h 127.0.0.1 -p 5432 && echo $(PG_TEST_URL)) \
	  cargo test --features ssr -- --test-threads=1

# Playwright in Debian's chromium against the release build, hydrated and with JavaScript off.
e2e:
	cd end2end && npx playwright test

# The Python client library and the OpenAI-compatible proxy driven by the official openai
# package, against the release server and a stand-in upstream (clients/python/tests).
python: build
	target/pyenv/bin/pytest -q clients/python/tests

# Throughput and latency of the agent API on loopback (README, "Performance"), on SQLite
# and on PostgreSQL. Not part of `make test`: numbers are read, not asserted.
# The load generator builds in target/bench: the console's release build uses other RUSTFLAGS.
bench: setup-test build
	CARGO_TARGET_DIR=target/bench cargo build --release --features bench --bin loadgen
	./target/bench/release/loadgen
	./target/bench/release/loadgen --backend postgres --scenarios noop,check,check-reserve,report,budget-check,budget-report,user-check,user-report

# The OpenAI-compatible proxy against its (stand-in) upstream called directly, in one run:
# added latency at 1,000 and 5,000 requests/s and the maximum proxied throughput
# (docs/performance.md), then what huge prompts cost: the estimate of a 32 MB single-word
# body and `/healthz` while 8 such requests are in flight. Not part of `make test`.
bench-proxy: setup-test build
	CARGO_TARGET_DIR=target/bench cargo build --release --features bench --bin proxybench
	./target/bench/release/proxybench
	./target/bench/release/proxybench --long-prompts
	./target/bench/release/proxybench --pricing

# The Usage Limits list and the history API on 10,000 tenants, 100,000 overrides and
# 1,000,000 events, on SQLite and on PostgreSQL (docs/performance.md). Not part of `make test`.
bench-scale: setup-test build
	CARGO_TARGET_DIR=target/bench cargo build --release --features bench --bin scalebench
	./target/bench/release/scalebench
	./target/bench/release/scalebench --backend postgres

# The agent API of BASE (a commit) and of the working tree in one run, back to back.
BASE ?= HEAD~1
bench-compare: setup-test
	scripts/bench-compare.sh $(BASE)

# What the browser downloads: each bundle file raw, gzip and brotli, and per page (the main
# module plus the page's wasm chunks) as sent over the wire.
bundle-size: build
	python3 scripts/bundle_size.py target/site/pkg

# Databases left behind by an interrupted test run.
clean-test-dbs:
	@if pg_isready -q -h 127.0.0.1 -p 5432; then \
	  psql -qAt "$(PG_TEST_URL)" -c "SELECT datname FROM pg_database WHERE datname LIKE 'tollgate_test_%'" \
	  | while read -r db; do psql -q "$(PG_TEST_URL)" -c "DROP DATABASE IF EXISTS \"$$db\" WITH (FORCE)"; done; \
	fi
