# orderflow: every entry point. `make help` lists them.
# Each target installs what it needs (Python venvs, cargo-lambda) into gitignored folders.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:

CARGO ?= cargo
E2E_CRATE := e2e

.PHONY: help
help: ## List the targets
	@grep -hE '^[a-z][a-z0-9-]*:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

# --- the two commands of the README -------------------------------------------------------

.PHONY: demo
demo: ## Local stack up, build, deploy, seed, place an order, show what each consumer did
	scripts/demo

.PHONY: test
test: lint unit infra-check localstack-test e2e ## Everything CI runs: lints, unit tests, template checks, LocalStack and end-to-end tests

# --- pieces ---------------------------------------------------------------------------------

.PHONY: lint
lint: ## ruff, shellcheck, doc links, rustfmt and clippy (-D warnings)
	scripts/lint
	scripts/check-docs
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

.PHONY: unit
unit: ## Rust unit tests (in-memory adapters, no LocalStack)
	$(CARGO) test --workspace --exclude $(E2E_CRATE) --locked

.PHONY: infra-check
infra-check: ## sam validate --lint, checkov and the template tests
	infra/scripts/check

.PHONY: localstack-test
localstack-test: ## Tests of the host-mode LocalStack plugin (unit + integration)
	localstack/run-tests

.PHONY: e2e
e2e: ## LocalStack up, build, deploy, seed, end-to-end tests, LocalStack down (also on failure)
	scripts/e2e

.PHONY: cli
cli: ## Build the `orderflow` command (target/release/orderflow); install it with `cargo install --path cli --locked`
	$(CARGO) build --release -p orderflow-cli --locked

.PHONY: build-lambdas
build-lambdas: ## Release bootstrap binaries with cargo-lambda (x86_64 for local stacks)
	infra/scripts/build-lambdas

.PHONY: localstack-up localstack-down
localstack-up: ## Start LocalStack in host mode on 127.0.0.1:4566
	localstack/start
localstack-down: ## Stop LocalStack and everything it started
	localstack/stop

.PHONY: local-deploy local-destroy seed
local-deploy: build-lambdas ## Deploy infra/template.yaml into the running LocalStack
	infra/scripts/local-deploy
local-destroy: ## Delete the local stack
	infra/scripts/local-destroy
seed: ## Load the seed stock into the local stack
	infra/scripts/seed

.PHONY: deploy
deploy: ## Build with SAM and deploy to AWS (guided on first use)
	infra/scripts/deploy

.PHONY: template
template: ## Regenerate the consumers' part of infra/template.yaml from infra/consumers.yaml
	infra/scripts/generate-template

.PHONY: schemas
schemas: ## Regenerate crates/orderflow-events/schemas from the event types
	$(CARGO) run -p orderflow-events --example generate-schema

.PHONY: bench
bench: ## Benchmarks; writes bench/REPORT.md
	bench/run
