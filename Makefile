# Larder. `make run` and `make test` install what is missing, then do their job.
.PHONY: run test setup build bench lint fmt clean

LISTEN ?= 127.0.0.1:8080
DATA ?= ./data

run: setup
	cargo build --quiet --release -p larder
	./target/release/larder serve --data $(DATA) --listen $(LISTEN) --demo

test:
	scripts/test.sh

setup:
	@scripts/setup.sh

build: setup
	cargo build --release -p larder

bench: setup
	scripts/bench.sh

lint:
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings

fmt:
	cargo fmt --all

clean:
	cargo clean
