/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <limits.h>
#include <stdbool.h>

#define HOOKS_DIR "/etc/libvirt/hooks/qemu.d"

enum command { CMD_EVENT, CMD_CHECK, CMD_RELEASE, CMD_FORGET, CMD_OTHER };

/* The command line, parsed (main.c); what every subcommand gets. */
struct options {
	const char *config;    /* --config as given, NULL: the default */
	const char *root;      /* --root DIR, NULL: this host */
	const char *hooks_dir; /* --hooks-dir as given */
	const char *xml_file;  /* --xml FILE */
	const char *undo_dir;  /* --undo DIR */
	const char *host_cores; /* pin --host-cores N, as given (pin.c checks it) */
	bool pin_check;         /* pin --check */
	bool dry_run;
	bool verbose;
	bool json;
	bool hook_mode;
	enum command cmd;
	char **args; /* the words after the subcommand (or the event's words) */
	int n_args;
	char config_path[PATH_MAX];    /* resolved */
	char hooks_path[PATH_MAX];     /* resolved */
};

/*
 * Subcommands that are not hook events, each in a file of its own; they return an exit
 * status (EXIT_OK, ...). The table of words, argument counts and functions is in main.c.
 */
int cmd_status(const struct options *o); /* status.c: what each VM's state file records */
int cmd_groups(const struct options *o); /* groups.c: the IOMMU groups, GPU groups' pci lines */
