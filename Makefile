# The README's two commands: `make demo` and `make test`. Both install what is missing first.
SWIFT ?= swift
SLUICE := .build/debug/sluice
PREFIX ?= /usr/local
# Release builds link the Swift runtime in: the installed binary needs no toolchain, and the service
# stays under 30 MB resident (bench/service.sh).
RELEASE := -c release --static-swift-stdlib

.PHONY: setup build demo test lint bench install install-service uninstall clean

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
	$(SWIFT) build $(RELEASE)
	./bench/all.sh

# Puts a release build of sluice, and sluice-shim (the watcher of every step) beside it, on PATH:
# $(PREFIX)/bin (PREFIX=$$HOME/.local for a user install). Running steps keep their old watcher: install
# replaces files, it does not rewrite them in place, so an upgrade never disturbs a step that runs.
install: setup
	$(SWIFT) build $(RELEASE)
	install -d "$(DESTDIR)$(PREFIX)/bin"
	install -m 0755 -s "$$($(SWIFT) build $(RELEASE) --show-bin-path)/sluice" "$(DESTDIR)$(PREFIX)/bin/sluice"
	install -m 0755 -s "$$($(SWIFT) build $(RELEASE) --show-bin-path)/sluice-shim" "$(DESTDIR)$(PREFIX)/bin/sluice-shim"
	@echo "installed $(DESTDIR)$(PREFIX)/bin/sluice and sluice-shim"

# The systemd unit for `sluice serve` (see docker/README.md): $(DESTDIR)/etc/systemd/system/sluice.service.
install-service: install
	install -d "$(DESTDIR)/etc/systemd/system"
	sed "s|/usr/local/bin/sluice|$(PREFIX)/bin/sluice|" docker/sluice.service > "$(DESTDIR)/etc/systemd/system/sluice.service"
	@echo "installed $(DESTDIR)/etc/systemd/system/sluice.service; next: systemctl daemon-reload && systemctl enable --now sluice"

uninstall:
	rm -f "$(DESTDIR)$(PREFIX)/bin/sluice" "$(DESTDIR)$(PREFIX)/bin/sluice-shim"

clean:
	rm -rf .build .sluice
