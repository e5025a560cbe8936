# The README's two commands: `make demo` and `make test`. Both install what is missing first.
SWIFT ?= swift
SLUICE := .build/debug/sluice

.PHONY: setup build demo test bench clean

setup:
	@./scripts/setup.sh

build: setup
	$(SWIFT) build

demo: build
	$(SLUICE) run dags/hello.yaml
	$(SLUICE) status

test: setup
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build
	$(SWIFT) build -c release --product sluice >/dev/null

bench: setup
	$(SWIFT) build -c release --product sluice
	./bench/chain.sh 1000

clean:
	rm -rf .build .sluice
