# The README's two commands (`make run`, `make test`) and a few more for developers.
# Every target that needs the plugins builds them first (scripts/build-plugins.sh finds or
# installs a wasm32 toolchain).
CARGO ?= cargo

.PHONY: run test plugins fresh-plugins browser postgres lint bench check fuzz screenshots

## Build everything and run the portal with demo data.
run: plugins
	@echo "make run: building the portal (release). The first build compiles wasmtime and takes about 5 minutes on 2 cores; later ones take seconds."
	$(CARGO) run --release --locked -p host --bin portal -- serve --demo fixtures/demo.toml

## Run every test (unit, integration with the real wasm plugin, the storage and plugin
## tests on both SQLite and a throwaway PostgreSQL server, end-to-end in headless
## Chromium, doc tests; the PostgreSQL pass reuses the first pass's build), then a short
## fuzzing run (20 s per target, after replaying every saved crash).
test: plugins browser postgres
	$(CARGO) test --workspace --locked
	PORTAL_TEST_ENGINE=postgres $(CARGO) test --workspace --locked --test it
	scripts/fuzz.sh 20

## Chromium and chromedriver for the end-to-end tests (installed with apt-get if missing).
browser:
	scripts/browser.sh

## PostgreSQL's server binaries for the tests on PostgreSQL (installed with apt-get if
## missing; the tests start their own throwaway server from them).
postgres:
	scripts/postgres.sh

## Refresh the README's screenshots (docs/screenshots/) from a run of the browser test,
## which writes them to target/screenshots/.
screenshots: plugins browser
	$(CARGO) test --locked -p host --test it browser::
	mkdir -p docs/screenshots
	cp target/screenshots/*.png docs/screenshots/

## Fuzz longer: 10 minutes per target.
fuzz:
	scripts/fuzz.sh 600

## Build the plugins' wasm modules into manifests/wasm/.
plugins:
	scripts/build-plugins.sh

## Prove the fresh-machine route: build the plugins with Debian 12's own rustc-web (1.85) in
## a clean Debian 12 root (debootstrap, cached in /var/cache/portal-ci). Needs root. CI runs it.
fresh-plugins:
	scripts/debian12-plugins.sh

## Lints, warnings as errors.
lint:
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

## Benchmarks: prints tables of numbers taken in one run, writes target/bench/report.json.
## Takes about 6 minutes (the scale and digest sections seed millions of rows).
bench: plugins
	$(CARGO) build --release --locked -p host --bin portal
	$(CARGO) run --release --locked -p portal-bench -- $(BENCH_ARGS)

## Check a plugin manifest and its module: make check MANIFEST=manifests/conversations.toml
MANIFEST ?= manifests/conversations.toml
check: plugins
	$(CARGO) run --release --locked -p host --bin portal -- plugin check $(MANIFEST)
