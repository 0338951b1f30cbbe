# Sky High Booker operator. `make demo` and `make test` work on a fresh machine: they install
# what they need (Python tools in .venv via scripts/python-tools.sh) and start the local AWS.

SHELL := /bin/bash
CARGO ?= cargo
VENV := .venv
VENV_SAM := .venv-sam

# Never let the SDK probe instance metadata or read a developer's profiles in local runs.
export AWS_EC2_METADATA_DISABLED := true
export SAM_CLI_TELEMETRY := 0

.PHONY: help tools tools-sam build test check lint fmt demo bench sam-build deploy clean

help:
	@echo "make demo      the whole environment on a local AWS (moto): create, update, delete"
	@echo "make test      unit and integration tests (starts moto itself) and the template check"
	@echo "make check     cargo fmt --check, clippy -D warnings, cfn-lint -c I, checkov, cargo deny"
	@echo "make lint      check + sam validate --lint"
	@echo "make bench     cold start, peak RSS, size and AWS calls of the release functions"
	@echo "make sam-build sam build (cargo-lambda); make deploy: sam build && sam deploy (samconfig.toml, no prompts)"

tools:
	@scripts/python-tools.sh test
	@scripts/python-tools.sh iam

tools-sam:
	@scripts/python-tools.sh sam

build:
	$(CARGO) build --workspace

# The tests build the functions as `cargo test` does (with dev-dependencies, stack.rs's
# build_function): a separate `cargo build --bins` here would resolve other features and
# compile the SDK a second time.
test: tools
	$(VENV)/bin/cfn-lint template.yaml
	$(CARGO) build --workspace --bins --tests
	$(CARGO) test --workspace

# The template's scanners (scripts/scan-template.sh installs checkov into .venv-scan) and the
# dependencies' licenses, bans and advisories (scripts/deny.sh installs cargo-deny into .tools).
check: tools
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	scripts/scan-template.sh
	scripts/deny.sh

lint: check tools-sam
	$(VENV_SAM)/bin/sam validate --lint -t template.yaml

fmt:
	$(CARGO) fmt --all

# The functions' own log lines (JSON, as in Lambda) at warn, so that the demo's story reads;
# `make demo FUNCTION_LOG=info` shows every line.
FUNCTION_LOG ?= warn
demo: tools
	$(CARGO) build --quiet --workspace --bins
	FUNCTION_LOG='$(FUNCTION_LOG)' target/debug/demo

FUNCTIONS := provisioner redeployer image-pruner autoscaler

# Each function's main path cold and warm (median of BENCH_RUNS), beside a Python boto3 function
# making the same calls (tests/bench/python/) on the same local AWS; README "Benchmarks". The
# bench itself (its Runtime API, the strict layer) is optimised too: its time is in every figure.
BENCH_RUNS ?= 21
bench: tools
	$(CARGO) build --release $(foreach f,$(FUNCTIONS),-p $(f) --bin $(f))
	@# Apart: built together, cargo would give the functions the harness's features.
	$(CARGO) build --release -p local-harness --bin bench
	@for f in $(FUNCTIONS); do target/release/bench $$f target/release/$$f $(BENCH_RUNS) || exit 1; done
	$(CARGO) run --release -q -p image-pruner --example scale

sam-build: tools-sam
	PATH="$(CURDIR)/$(VENV_SAM)/bin:$$PATH" $(VENV_SAM)/bin/sam build

deploy: sam-build
	PATH="$(CURDIR)/$(VENV_SAM)/bin:$$PATH" $(VENV_SAM)/bin/sam deploy

clean:
	$(CARGO) clean
	rm -rf .aws-sam
