/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>

#include "cli.h"

/*
 * `vfiohook import [--dry-run]`: the passthrough tutorial's hooks in /etc/libvirt/hooks (its
 * bash dispatcher as qemu, a shell-style kvm.conf, qemu.d/VM/prepare/begin and release/end
 * scripts) turned into kvm.conf settings, the originals kept in a backup directory with a
 * manifest; `vfiohook import --undo DIR` puts them back from that manifest. import.c.
 */
int cmd_import(const struct options *o);

/* The tutorials' dispatcher (PassthroughPOST's qemu and its copies), by its text. */
bool import_is_tutorial_dispatcher(const char *text);
