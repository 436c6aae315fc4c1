/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pciaddr.h"

#define CONF_DEFAULT_PATH "/etc/libvirt/hooks/kvm.conf"
#define CONF_MAX_SIZE (1024 * 1024)

/* One VM of kvm.conf, validated. */
struct vm_conf {
	char *name;
	char uuid[37]; /* lower-case, dashed; empty when not given */
	unsigned line;

	/* pci */
	bool pci_from_hostdev; /* devices = "hostdev" */
	struct pci_addr *pci;
	size_t n_pci;
	double pci_timeout;    /* seconds to wait for a driver link */
	double unbind_timeout; /* seconds an unbind or probe write may block in the kernel */

	/* drop-in scripts */
	double script_timeout;

	/* display: systemd units stopped while the VM runs ("auto" = display-manager.service) */
	char **units;
	size_t n_units;
	char **user_units; /* units of each logged-in user's manager (pipewire.service, ...) */
	size_t n_user_units;
	double unit_timeout;

	bool vtconsole;   /* unbind the framebuffer consoles */
	bool framebuffer; /* unbind efi/simple/vesa-framebuffer */

	/* GPU driver modules unloaded while the VM runs */
	char **modules;
	size_t n_modules;
	double module_wait; /* seconds to wait for the GPU's users to let go */

	/* hugepages */
	bool hugepages;
	uint64_t hp_size_kib;  /* 0: the domain's page size, else the default size */
	uint64_t hp_pages;     /* 0: from the domain's memory */
	double hp_timeout;     /* budget for allocation with compaction retries */
	bool hp_drop_caches;

	/* cpufreq governor */
	char governor[32];       /* empty: not managed */
	char governor_cpus[256]; /* "all", "pinned" or a CPU list */

	/* CPU isolation: host processes limited to these CPUs while the VM runs */
	char host_cpus[256];     /* empty: not managed; "auto": derived from the domain */
};

struct conf {
	char *path;
	struct vm_conf *vms;
	size_t n_vms;
	double lock_timeout;
	/* every problem found, as "file:line: message" */
	char **errors;
	size_t n_errors;
};

/*
 * Reads and validates kvm.conf. Returns 0, -ENOENT when the file does not exist (no VM is
 * configured), or another negative errno with the reasons in ret->errors (call conf_done()
 * in every case). relax_owner accepts a file owned by the calling user (test roots); group- or
 * world-writable files are refused always.
 */
int conf_load(const char *path, bool relax_owner, struct conf *ret);
/*
 * The same, for one event of VM vm (NULL: always parse): when the file cannot configure that VM (its name does not
 * occur in it as a string), the parse is skipped and no VM is returned. The hook runs for
 * every state change of every domain on the host; most of them are not ours.
 */
int conf_load_for(const char *path, bool relax_owner, const char *vm, struct conf *ret);
bool conf_may_name(const struct conf *c, const char *text, const char *vm);
/* Could the file at path (and what it includes) name vm? True when any of it is unreadable. */
bool conf_file_may_name(const char *path, bool relax_owner, const char *vm);
void conf_done(struct conf *c);
const struct vm_conf *conf_find(const struct conf *c, const char *name);

/* Normalises a UUID ("3B4B...", with or without dashes) to lower-case dashed form; -EINVAL. */
int uuid_normalize(const char *in, char out[37]);
/* A name that can be a path component and a log field: no '/', not "." or "..", printable. */
bool vm_name_is_safe(const char *name);
/* A systemd unit name as kvm.conf accepts it ("auto" included). */
bool unit_name_is_valid(const char *name);
