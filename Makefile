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

# Runs each fuzz target for FUZZ_SECONDS on the stable toolchain (see README, "Fuzzing").
# A crash stops the run; libFuzzer saves the input under collector/fuzz/artifacts/<target>/.
FUZZ_SECONDS ?= 60
.PHONY: fuzz
fuzz:
	@command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
	cd collector && for target in event_body url_hygiene; do \
		mkdir -p fuzz/corpus/$$target && \
		RUSTC_BOOTSTRAP=1 cargo fuzz run --debug-assertions $$target fuzz/corpus/$$target fuzz/seeds/$$target -- \
			-dict=fuzz/dict/$$target.dict -max_total_time=$(FUZZ_SECONDS) -max_len=16384 -timeout=10 \
			-print_final_stats=1 || exit 1; \
	done
