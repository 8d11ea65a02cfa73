# overstapd — build, run, test.
#
#   make            build the daemon, the clients and the unit tests into build/
#   make run        set up everything (packages, PostgreSQL, PKI) and run the daemon
#   make test       set up everything, then every unit and integration test,
#                   on a normal and an ASan+UBSan build
#   make help       list the targets
#
# B is the build directory; `make asan` builds the same tree into build/asan
# with the sanitizers on.

B        ?= build
SAN      ?=
CC       ?= cc
PKGS     := libevent libevent_openssl libpq openssl libprotobuf-c inih jansson libsystemd
CFLAGS   := -std=c11 -D_DEFAULT_SOURCE -D_GNU_SOURCE -Wall -Wextra -Werror -O2 -g \
            -fno-omit-frame-pointer $(SAN) -MMD -MP \
            -Icommon -I$(B)/gen \
            $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDFLAGS  := $(SAN)
LIBS     := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lcsv -lm
TESTLIBS := $(LIBS) $(shell pkg-config --libs cunit 2>/dev/null)

PROTO_C  := $(B)/gen/overstap.pb-c.c
PROTO_H  := $(B)/gen/overstap.pb-c.h
PROTO_O  := $(B)/obj/gen/overstap.pb-c.o
MIGRATIONS_C := $(B)/gen/migrations.c
WEBASSETS_C  := $(B)/gen/webassets.c

# Code the daemon and the client library share (the pure domain core, the
# framing, calendar and UTF-8): common/. Neither side reaches into the other.
COMMON_O    := $(patsubst %.c,$(B)/obj/%.o,$(wildcard common/*.c)) $(PROTO_O)
# The daemon: every daemon/*.c; main.c only in the daemon binary itself.
DAEMON_SRC  := $(filter-out daemon/main.c,$(wildcard daemon/*.c))
DAEMON_O    := $(DAEMON_SRC:%.c=$(B)/obj/%.o) $(COMMON_O) $(B)/obj/gen/migrations.o $(B)/obj/gen/webassets.o
# The client library a school-system vendor could link.
CLIENTLIB_O := $(patsubst %.c,$(B)/obj/%.o,$(wildcard clients/lib/*.c)) $(COMMON_O)
CLIENTS     := $(patsubst clients/%.c,$(B)/%,$(wildcard clients/*.c))
# Unit tests: one CUnit binary per tests/unit/test_*.c.
UNIT_TESTS  := $(patsubst tests/unit/%.c,$(B)/tests/%,$(wildcard tests/unit/test_*.c))

.PHONY: all run test unit integration lint asan bench demo deps clean help
all: $(B)/overstapd $(CLIENTS) $(UNIT_TESTS)

help:
	@echo "make          build daemon, clients and unit tests into build/"
	@echo "make run      install packages, set up PostgreSQL and PKI under var/, run overstapd"
	@echo "make test     the same set-up, then unit + integration tests (normal and ASan/UBSan)"
	@echo "make unit     build and run the CUnit suites only"
	@echo "make lint     structure checks: no include cycle in daemon/, functions <= 100 lines"
	@echo "make asan     build everything with -fsanitize=address,undefined into build/asan"
	@echo "make fuzz     build the libFuzzer targets (build/fuzz), fuzz each FUZZ_SECS (600) on FUZZ_JOBS (2) cores"
	@echo "make fuzz-check  run every fuzz target over its committed corpus once (part of make test)"
	@echo "make bench    the benchmark of bench/ (writes bench/results.md)"
	@echo "make demo     play a school year for region 39, leave daemon and dashboard running"
	@echo "make deps     install the Debian packages the build and tests need"
	@echo "make demo-stop  stop the daemon make demo left running"
	@echo "make install  install into PREFIX (/usr/local) under DESTDIR: daemon, clients, unit, config, man pages"
	@echo "make deb      the Debian packages overstapd and overstap-clients (dpkg-buildpackage -us -uc -b, into ..)"
	@echo "make clean    remove build/ (var/ keeps the database and the PKI)"

deps:
	@bash scripts/deps.sh

run: deps
	@$(MAKE) --no-print-directory all
	@bash scripts/run.sh

test: deps
	@bash scripts/test.sh

unit: $(UNIT_TESTS)
	@bash scripts/unit.sh $(B)

integration: all
	@bash scripts/integration.sh $(B)

lint:
	@python3 scripts/lint.py

asan:
	@$(MAKE) --no-print-directory B=build/asan SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined" all

bench: deps
	@$(MAKE) --no-print-directory all
	@bash scripts/bench.sh

demo: deps
	@$(MAKE) --no-print-directory all
	@bash scripts/demo.sh

clean:
	rm -rf build

$(PROTO_C) $(PROTO_H): proto/overstap.proto
	@mkdir -p $(B)/gen
	protoc-c --proto_path=proto --c_out=$(B)/gen proto/overstap.proto

$(MIGRATIONS_C): $(sort $(wildcard sql/*.sql)) scripts/embed-sql.sh
	@mkdir -p $(B)/gen
	bash scripts/embed-sql.sh $@ $(sort $(wildcard sql/*.sql))

$(WEBASSETS_C): $(sort $(wildcard web/*)) scripts/embed-web.sh
	@mkdir -p $(B)/gen
	bash scripts/embed-web.sh $@ $(sort $(wildcard web/*))

# Who may include whom: common/ only itself; daemon/ also daemon/; clients/
# also clients/lib (overstapctl also the daemon's config); the tests all.
$(B)/obj/daemon/%.o: CFLAGS += -Idaemon
$(B)/obj/clients/%.o: CFLAGS += -Iclients/lib
$(B)/obj/clients/overstapctl.o: CFLAGS += -Idaemon
$(B)/obj/tests/%.o: CFLAGS += -Idaemon -Iclients/lib

$(B)/obj/gen/%.o: $(B)/gen/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(B)/obj/%.o: %.c $(PROTO_H)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(B)/overstapd: $(B)/obj/daemon/main.o $(DAEMON_O)
	$(CC) $(LDFLAGS) -o $@ $(sort $^) $(LIBS)

# Clients: the client library (and common/). overstapctl also reads the
# daemon's config file for its calendar (verify): config and what it uses.
# .SECONDARY keeps the objects.
CTL_DAEMON_O := $(patsubst %,$(B)/obj/daemon/%.o,config log clock)
$(B)/overstapctl: $(B)/obj/clients/overstapctl.o $(CLIENTLIB_O) $(CTL_DAEMON_O)
	$(CC) $(LDFLAGS) -o $@ $(sort $^) $(LIBS)
$(B)/%: $(B)/obj/clients/%.o $(CLIENTLIB_O)
	$(CC) $(LDFLAGS) -o $@ $(sort $^) $(LIBS)

.SECONDARY:

$(B)/tests/%: $(B)/obj/tests/unit/%.o $(DAEMON_O) $(CLIENTLIB_O)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $(sort $^) $(TESTLIBS)

-include $(shell find $(B)/obj -name '*.d' 2>/dev/null)

# ---- operations (issue 16): the demo's stop, installation, the Debian package

.PHONY: demo-stop
demo-stop:
	@if [ -f var/demo/overstapd.pid ] && kill -0 "$$(cat var/demo/overstapd.pid)" 2>/dev/null; then \
		kill "$$(cat var/demo/overstapd.pid)" && echo "demo daemon (pid $$(cat var/demo/overstapd.pid)) stopped"; \
	else echo "no demo daemon is running"; fi

# make install [PREFIX=/usr/local] [DESTDIR=] — the daemon in SBINDIR, the
# clients in BINDIR, the systemd unit (its paths rewritten to these), the
# configuration (only when none is there) and its example, the man pages, and
# deploy/'s examples in DOCDIR. The Debian package (debian/) uses it.
PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
SBINDIR    ?= $(PREFIX)/sbin
MANDIR     ?= $(PREFIX)/share/man
DOCDIR     ?= $(PREFIX)/share/doc/overstapd
SYSCONFDIR ?= $(if $(filter /usr,$(PREFIX)),/etc,$(PREFIX)/etc)
UNITDIR    ?= $(PREFIX)/lib/systemd/system
MAN1       := $(wildcard man/*.1)
MAN8       := $(wildcard man/*.8)
CONF_SED   := -e 's|^cert = var/pki/|cert = $(SYSCONFDIR)/overstapd/tls/|' \
              -e 's|^key = var/pki/|key = $(SYSCONFDIR)/overstapd/tls/|' \
              -e 's|^ca = var/pki/|ca = $(SYSCONFDIR)/overstapd/tls/|'

.PHONY: install uninstall
install: $(B)/overstapd $(CLIENTS)
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR) $(DESTDIR)$(UNITDIR) \
		$(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(DOCDIR)/examples \
		$(DESTDIR)$(SYSCONFDIR)/overstapd
	install -m 0755 $(B)/overstapd $(DESTDIR)$(SBINDIR)/overstapd
	install -m 0755 $(CLIENTS) $(DESTDIR)$(BINDIR)/
	sed -e 's|/usr/sbin/overstapd|$(SBINDIR)/overstapd|g' -e 's|/etc/overstapd|$(SYSCONFDIR)/overstapd|g' \
		deploy/overstapd.service >$(DESTDIR)$(UNITDIR)/overstapd.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/overstapd.service
	sed $(CONF_SED) deploy/overstapd.conf.example >$(DESTDIR)$(DOCDIR)/examples/overstapd.conf
	chmod 0644 $(DESTDIR)$(DOCDIR)/examples/overstapd.conf
	[ -e $(DESTDIR)$(SYSCONFDIR)/overstapd/overstapd.conf ] || \
		install -m 0640 $(DESTDIR)$(DOCDIR)/examples/overstapd.conf $(DESTDIR)$(SYSCONFDIR)/overstapd/overstapd.conf
	install -m 0644 $(MAN1) $(DESTDIR)$(MANDIR)/man1/
	install -m 0644 $(MAN8) $(DESTDIR)$(MANDIR)/man8/
	install -m 0644 deploy/MULTI-INSTANCE.md deploy/FAILOVER.md deploy/nginx-overstapd.conf \
		deploy/postgres-setup.sql deploy/patroni.yml deploy/etcd.conf $(DESTDIR)$(DOCDIR)/examples/
	install -m 0755 deploy/pki.sh $(DESTDIR)$(DOCDIR)/examples/

# Leaves the configuration in SYSCONFDIR alone.
uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/overstapd $(patsubst $(B)/%,$(DESTDIR)$(BINDIR)/%,$(CLIENTS)) \
		$(DESTDIR)$(UNITDIR)/overstapd.service \
		$(patsubst man/%,$(DESTDIR)$(MANDIR)/man1/%,$(MAN1)) $(patsubst man/%,$(DESTDIR)$(MANDIR)/man8/%,$(MAN8))
	rm -rf $(DESTDIR)$(DOCDIR)/examples

# The Debian package: ../overstapd_VERSION_ARCH.deb (and overstap-clients).
.PHONY: deb
deb:
	dpkg-buildpackage -us -uc -b

# Extra flags from outside (debian/rules passes dpkg-buildflags' hardening
# flags through these; CFLAGS/LDFLAGS above are set, not taken from the environment).
CFLAGS  += $(EXTRA_CFLAGS)
LDFLAGS += $(EXTRA_LDFLAGS)

# ---- fuzzing (tests/fuzz, issue 11) -------------------------------------------
# libFuzzer targets, one per tests/fuzz/fuzz_*.c, built by clang into their own
# tree build/fuzz (B=build/fuzz: the object rules above, with CC and SAN set
# here). Each target links what the clients link (the pure daemon modules and
# clients/lib), so a module that moves follows CLIENT_DAEMON_O and CLIENTLIB_O.
# `make fuzz` runs each for FUZZ_SECS on FUZZ_JOBS cores (new inputs go to
# var/fuzz/, not into git); `make fuzz-check` runs each over its committed
# corpus once (tests/fuzz/corpus/TARGET), as `make test` does.
FUZZ_B       := build/fuzz
FUZZ_CC      ?= clang
# UBSan stays recoverable here (unlike `make asan`) so tests/fuzz/ubsan.supp can
# apply; scripts/fuzz.sh makes every other report fatal (halt_on_error=1).
FUZZ_SAN     := -fsanitize=fuzzer-no-link,address,undefined
FUZZ_SECS    ?= 600
FUZZ_JOBS    ?= 2
FUZZ_TARGETS := $(patsubst tests/fuzz/%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_O       := $(CTL_DAEMON_O) $(CLIENTLIB_O)

.PHONY: fuzz fuzz-check fuzz-build fuzz-targets
fuzz-build:
	@bash scripts/deps.sh fuzz
	@$(MAKE) --no-print-directory B=$(FUZZ_B) CC=$(FUZZ_CC) SAN="$(FUZZ_SAN)" fuzz-targets

fuzz-targets: $(FUZZ_TARGETS:%=$(B)/%) $(B)/fuzz-mkcorpus
	@:

fuzz: fuzz-build
	@FUZZ_SECS=$(FUZZ_SECS) FUZZ_JOBS=$(FUZZ_JOBS) bash scripts/fuzz.sh run $(FUZZ_B)

fuzz-check: fuzz-build
	@bash scripts/fuzz.sh check $(FUZZ_B)

# the targets (shortest stem, so this rule wins over the clients' $(B)/%)
$(B)/fuzz_%: $(B)/obj/tests/fuzz/fuzz_%.o $(FUZZ_O)
	$(CC) $(LDFLAGS) -fsanitize=fuzzer -o $@ $^ $(LIBS)

# writes the generated part of the seed corpus (frames, states): see tests/fuzz/README.md
$(B)/fuzz-mkcorpus: $(B)/obj/tests/fuzz/mkcorpus.o $(FUZZ_O)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)
