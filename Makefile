# The README's two commands: `make demo` and `make test`. Both install what is missing first.
SWIFT ?= swift
SLUICE := .build/debug/sluice
PREFIX ?= /usr/local

.PHONY: setup build demo test lint bench install uninstall clean

setup:
	@./scripts/setup.sh

build: setup
	$(SWIFT) build

# The demo's steps run as whoever runs make; as root, Sluice refuses that unless it is said (--run-as).
demo: build
	$(SLUICE) run dags/hello.yaml --run-as "$$(id -un)"
	$(SLUICE) status

lint:
	$(SWIFT) format lint --strict --recursive Sources Tests Package.swift

test: setup lint
	./scripts/build-checked.sh
	$(SWIFT) test --skip-build

bench: setup
	$(SWIFT) build -c release --product sluice
	./bench/chain.sh 1000
	./bench/validate.sh 10000

# Puts a release build of sluice on PATH: $(PREFIX)/bin/sluice (PREFIX=$$HOME/.local for a user install).
install: setup
	$(SWIFT) build -c release --product sluice
	install -d "$(DESTDIR)$(PREFIX)/bin"
	install -m 0755 "$$($(SWIFT) build -c release --show-bin-path)/sluice" "$(DESTDIR)$(PREFIX)/bin/sluice"
	@echo "installed $(DESTDIR)$(PREFIX)/bin/sluice"

uninstall:
	rm -f "$(DESTDIR)$(PREFIX)/bin/sluice"

clean:
	rm -rf .build .sluice
