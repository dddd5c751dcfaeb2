# Install the meter as a service: `cargo build --release` (as your user), then
# `sudo make install`. DESTDIR stages into a directory (packaging); PREFIX moves the
# program files (the unit's ExecStart follows it). An existing /etc/meter/meter.toml is
# never overwritten; `make uninstall` leaves it in place too.

PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
SBINDIR    ?= $(PREFIX)/sbin
UNITDIR    ?= $(PREFIX)/lib/systemd/system
DOCDIR     ?= $(PREFIX)/share/doc/meter
DATADIR    ?= $(PREFIX)/share/meter
SYSCONFDIR ?= /etc
# The binary to install; override for another target directory.
METER_BIN  ?= target/release/meter

INSTALL ?= install

.PHONY: all build install uninstall

all: build

build:
	cargo build --release -p meter

install:
	@test -x "$(METER_BIN)" || { echo "make install: $(METER_BIN) not found; run 'cargo build --release' first (or set METER_BIN=)" >&2; exit 1; }
	$(INSTALL) -d -m 0755 "$(DESTDIR)$(BINDIR)" "$(DESTDIR)$(SBINDIR)" "$(DESTDIR)$(UNITDIR)" \
		"$(DESTDIR)$(DOCDIR)" "$(DESTDIR)$(DATADIR)/grafana" "$(DESTDIR)$(SYSCONFDIR)/meter"
	$(INSTALL) -m 0755 "$(METER_BIN)" "$(DESTDIR)$(BINDIR)/meter"
	$(INSTALL) -m 0755 tuning/meter-tune "$(DESTDIR)$(SBINDIR)/meter-tune"
	sed 's#/usr/local/bin/meter #$(BINDIR)/meter #; s#file:///usr/local/share/doc/meter/#file://$(DOCDIR)/#' \
		systemd/meter@.service > "$(DESTDIR)$(UNITDIR)/meter@.service"
	chmod 0644 "$(DESTDIR)$(UNITDIR)/meter@.service"
	$(INSTALL) -m 0644 systemd/meter.toml "$(DESTDIR)$(DOCDIR)/meter.toml.example"
	$(INSTALL) -m 0644 docs/operations.md "$(DESTDIR)$(DOCDIR)/operations.md"
	$(INSTALL) -m 0644 grafana/meter-dashboard.json "$(DESTDIR)$(DATADIR)/grafana/meter-dashboard.json"
	@if [ -e "$(DESTDIR)$(SYSCONFDIR)/meter/meter.toml" ]; then \
		echo "kept existing $(DESTDIR)$(SYSCONFDIR)/meter/meter.toml (the new example is $(DESTDIR)$(DOCDIR)/meter.toml.example)"; \
	else \
		$(INSTALL) -m 0644 systemd/meter.toml "$(DESTDIR)$(SYSCONFDIR)/meter/meter.toml"; \
		echo "installed $(DESTDIR)$(SYSCONFDIR)/meter/meter.toml: set pen and ipfix before starting"; \
	fi
	@if [ -z "$(DESTDIR)" ] && [ -d /run/systemd/system ]; then systemctl daemon-reload; fi
	@echo "start with: systemctl enable --now meter@IFACE"

uninstall:
	rm -f "$(DESTDIR)$(BINDIR)/meter" "$(DESTDIR)$(SBINDIR)/meter-tune" \
		"$(DESTDIR)$(UNITDIR)/meter@.service" \
		"$(DESTDIR)$(DOCDIR)/meter.toml.example" "$(DESTDIR)$(DOCDIR)/operations.md" \
		"$(DESTDIR)$(DATADIR)/grafana/meter-dashboard.json"
	-rmdir "$(DESTDIR)$(DOCDIR)" "$(DESTDIR)$(DATADIR)/grafana" "$(DESTDIR)$(DATADIR)" 2>/dev/null
	@if [ -z "$(DESTDIR)" ] && [ -d /run/systemd/system ]; then systemctl daemon-reload; fi
	@echo "kept $(DESTDIR)$(SYSCONFDIR)/meter/meter.toml (remove it by hand if no longer wanted)"
