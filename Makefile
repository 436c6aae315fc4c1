# SPDX-License-Identifier: GPL-2.0-or-later
# vfiohook: a libvirt QEMU hook for GPU passthrough.

VERSION    := 0.1.0
PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
MANDIR     ?= $(PREFIX)/share/man
DOCDIR     ?= $(PREFIX)/share/doc/vfiohook
SYSCONFDIR ?= /etc
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
DESTDIR    ?=
PKG_CONFIG ?= pkg-config
INSTALL    ?= install

# libconfig, libxml2, libsystemd, libkmod and libvirt are opened with dlopen() when a run needs
# them (see include/dlib.h): the hook runs for every state change of every VM, and a run for a
# VM it does not manage costs no more than a small program. Their headers are needed to build;
# the packages' runtime libraries are dependencies all the same.
DL_PKGS  := libconfig libxml-2.0 libsystemd libkmod libvirt
PKG_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(DL_PKGS) 2>/dev/null)
PKG_LIBS   := -ldl

WARN := -Wall -Wextra -Wformat=2 -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	-Wmissing-declarations -Wold-style-definition -Wpointer-arith -Wwrite-strings -Wundef \
	-Wvla -Wlogical-op -Wimplicit-fallthrough=5 -Wframe-larger-than=16384 -Wno-unused-parameter
HARDEN := -fstack-protector-strong -fstack-clash-protection -fPIE -D_FORTIFY_SOURCE=2
BASE_CFLAGS := -std=gnu17 -D_GNU_SOURCE -Iinclude -DVERSION='"$(VERSION)"' $(WARN) $(PKG_CFLAGS)
CFLAGS ?= -O2 -g
ifeq ($(WERROR),1)
BASE_CFLAGS += -Werror
endif
# no -z now: eager binding of every libc import would cost the hook more than its own work
LDFLAGS_ALL := -pie -Wl,-z,relro,-z,defs $(LDFLAGS)
SAN := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

SRCS := $(wildcard src/*.c)
OBJS := $(SRCS:src/%.c=build/obj/%.o)
ASAN_OBJS := $(SRCS:src/%.c=build/asan/obj/%.o)
LIB_OBJS := $(filter-out build/obj/main.o,$(OBJS))
LIB_ASAN_OBJS := $(filter-out build/asan/obj/main.o,$(ASAN_OBJS))

ifeq ($(V),1)
Q :=
else
Q := @
endif

.PHONY: all clean install uninstall dist check check-all check-unit check-sim check-hugepages check-libvirt check-kernel \
	check-e2e check-systemd bench demo deps asan

all: build/vfiohook

build/obj/%.o: src/%.c | build/obj
	@echo "  CC      $@"
	$(Q)$(CC) $(BASE_CFLAGS) $(HARDEN) $(CFLAGS) -MMD -MP -c -o $@ $<

build/asan/obj/%.o: src/%.c | build/asan/obj
	@echo "  CC      $@"
	$(Q)$(CC) $(BASE_CFLAGS) -O1 -g $(SAN) -MMD -MP -c -o $@ $<

build/vfiohook: $(OBJS)
	@echo "  LD      $@"
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS_ALL) -o $@ $^ $(PKG_LIBS)

build/asan/vfiohook: $(ASAN_OBJS)
	@echo "  LD      $@"
	$(Q)$(CC) $(SAN) -o $@ $^ $(PKG_LIBS)

asan: build/asan/vfiohook

build/obj build/asan/obj build/tests:
	$(Q)mkdir -p $@

# --- tests ---------------------------------------------------------------------------------
UNIT_TESTS := $(patsubst tests/unit/%.c,build/tests/%,$(wildcard tests/unit/test-*.c))

build/tests/test-%: tests/unit/test-%.c $(LIB_ASAN_OBJS) | build/tests
	@echo "  CC      $@"
	$(Q)$(CC) $(BASE_CFLAGS) -O1 -g $(SAN) -o $@ $< $(LIB_ASAN_OBJS) $(PKG_LIBS) \
		$(shell $(PKG_CONFIG) --cflags --libs cmocka)

build/simhost: tests/simhost/simhost.c | build/obj
	@echo "  CC      $@"
	$(Q)$(CC) $(BASE_CFLAGS) -O2 -g -o $@ $< $(shell $(PKG_CONFIG) --cflags --libs fuse3) -lpthread

build/simsystemd: tests/simsystemd/simsystemd.c | build/obj
	@echo "  CC      $@"
	$(Q)$(CC) $(BASE_CFLAGS) -O2 -g -o $@ $< $(shell $(PKG_CONFIG) --cflags --libs libsystemd)

deps:
	sh tests/deps.sh

export UBSAN_OPTIONS := halt_on_error=1:print_stacktrace=1
export ASAN_OPTIONS := detect_leaks=1

check-unit: $(UNIT_TESTS)
	@sh tests/run-unit.sh $(UNIT_TESTS)

check-sim: build/vfiohook build/asan/vfiohook build/simhost
	@bash tests/sim/run.sh

check-hugepages: build/vfiohook
	@bash tests/hugepages/run.sh "$(CURDIR)/build/vfiohook"

check-libvirt: build/vfiohook build/simhost
	@bash tests/libvirt/run.sh "$(CURDIR)/build/vfiohook"

check-kernel: build/vfiohook
	@bash tests/kernel/run.sh "$(CURDIR)/build/vfiohook"

check-e2e: build/vfiohook
	@bash tests/kernel/run-e2e.sh "$(CURDIR)/build/vfiohook"

check-systemd: build/vfiohook
	@bash tests/systemd/run.sh "$(CURDIR)/build/vfiohook"

# Every tier (installs what the tests need first); the last line adds up the tiers' results.
check:
	@sh tests/deps.sh
	@$(MAKE) --no-print-directory check-all

check-all: build/vfiohook build/asan/vfiohook build/simhost build/simsystemd $(UNIT_TESTS)
	@sh tests/check-all.sh

# Benchmarks, not tests: (a) the hook's cost for an unmanaged VM (N runs); (b) the hugepage
# stage on this machine's kernel, flat and fragmented, against the floor write and the
# tutorials' loop (root; HP_RUNS=3, see tests/bench/hugepages.sh); (c) prepare and release in
# the QEMU guest of tests/kernel against a shell script (opt-in: BENCH_KERNEL=1; KB_RUNS=5).
N ?= 2000
bench: build/vfiohook
	@N=$(N) sh tests/bench/hook-overhead.sh
	@sh tests/bench/hugepages.sh
	@bash tests/bench/kernel-bench.sh

# The bundled demo: the example kvm.conf on a simulated host (installs what it needs first).
demo:
	@sh tests/deps.sh
	@$(MAKE) --no-print-directory build/vfiohook build/simhost build/simsystemd
	@sh tests/demo.sh

# --- install -------------------------------------------------------------------------------
install: build/vfiohook
	$(INSTALL) -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(SYSCONFDIR)/libvirt/hooks \
		$(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(DOCDIR)/hooks.d \
		$(DESTDIR)$(BASHCOMPDIR)
	$(INSTALL) -m 0755 build/vfiohook $(DESTDIR)$(BINDIR)/vfiohook
	ln -sf $(BINDIR)/vfiohook $(DESTDIR)$(SYSCONFDIR)/libvirt/hooks/qemu
	@if [ -e $(DESTDIR)$(SYSCONFDIR)/libvirt/hooks/kvm.conf ]; then \
		echo "keeping existing $(DESTDIR)$(SYSCONFDIR)/libvirt/hooks/kvm.conf"; \
	else \
		$(INSTALL) -m 0644 conf/kvm.conf $(DESTDIR)$(SYSCONFDIR)/libvirt/hooks/kvm.conf; \
	fi
	$(INSTALL) -m 0644 man/vfiohook.8 $(DESTDIR)$(MANDIR)/man8/vfiohook.8
	$(INSTALL) -m 0644 man/kvm.conf.5 $(DESTDIR)$(MANDIR)/man5/kvm.conf.5
	$(INSTALL) -m 0644 conf/kvm.conf $(DESTDIR)$(DOCDIR)/kvm.conf.example
	cp -R hooks.d/. $(DESTDIR)$(DOCDIR)/hooks.d/
	$(INSTALL) -m 0644 completion/vfiohook $(DESTDIR)$(BASHCOMPDIR)/vfiohook
	@echo "Restart or reload the libvirt daemon once so that it sees the hook:"
	@echo "  systemctl reload virtqemud.service   (modular daemons), or"
	@echo "  systemctl reload libvirtd.service    (monolithic daemon)"

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/vfiohook $(DESTDIR)$(MANDIR)/man8/vfiohook.8 \
		$(DESTDIR)$(MANDIR)/man5/kvm.conf.5 $(DESTDIR)$(BASHCOMPDIR)/vfiohook
	rm -rf $(DESTDIR)$(DOCDIR)
	@if [ "$$(readlink $(DESTDIR)$(SYSCONFDIR)/libvirt/hooks/qemu)" = "$(BINDIR)/vfiohook" ]; then \
		rm -f $(DESTDIR)$(SYSCONFDIR)/libvirt/hooks/qemu; fi
	@echo "kept $(DESTDIR)$(SYSCONFDIR)/libvirt/hooks/kvm.conf"

# The source tarball vfiohook-VERSION.tar.gz in DISTDIR (build/ by default): the tree without
# build/, version control and package build products. The PKGBUILD builds from it.
DISTDIR ?= build
dist:
	$(Q)mkdir -p $(DISTDIR)
	$(Q)tar -C $(CURDIR) -czf $(DISTDIR)/vfiohook-$(VERSION).tar.gz --exclude-vcs \
		--exclude=./build --exclude='./*.pkg.tar*' --exclude=./debian/vfiohook \
		--exclude=./debian/.debhelper --exclude=./debian/files --exclude='./debian/*.substvars' \
		--exclude=./debian/debhelper-build-stamp --exclude='./*.tar.gz' \
		--sort=name --owner=0 --group=0 --numeric-owner \
		--transform 's,^\.,vfiohook-$(VERSION),S' .
	@echo "  DIST    $(DISTDIR)/vfiohook-$(VERSION).tar.gz"

clean:
	rm -rf build

-include $(OBJS:.o=.d) $(ASAN_OBJS:.o=.d)
