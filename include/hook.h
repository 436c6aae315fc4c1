/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "domain.h"
#include "state.h"

/* Everything one hook run knows. */
struct run {
	const char *vm_name, *op, *subop, *extra;
	const struct conf *conf;
	const struct vm_conf *vm; /* NULL: not configured */
	const char *xml;
	size_t xml_len;
	const struct domain *dom; /* NULL when no domain XML was given */
	struct state *state;
	const char *hooks_dir;
	bool relax_owner; /* test roots: files may be owned by the caller */
};

/*
 * A built-in stage. prepare() makes its changes, each recorded with state_add() before it is
 * made; undo() reverses one of its records, for release and for rollback, and must cope with a
 * change that was recorded but not (or only partly) made.
 */
struct stage {
	const char *name;
	int (*prepare)(struct run *run);
	int (*undo)(struct run *run, const struct record *rec);
	/*
	 * A host-wide resource (a unit, a cpufreq policy, a slice): records are "STAGE KEY ..."; a
	 * VM that finds the resource already changed for another VM records just "STAGE KEY", and
	 * the change is undone by whichever VM releases last.
	 */
	bool shared;
};

extern const struct stage stage_hugepages;
extern const struct stage stage_display;
extern const struct stage stage_vtcon;
extern const struct stage stage_framebuffer;
extern const struct stage stage_kmod;
extern const struct stage stage_pci;
extern const struct stage stage_module;
extern const struct stage stage_governor;
extern const struct stage stage_isolation;

/* Has another VM's state a record for this shared resource? */
bool hook_shared_held(const struct run *run, const char *stage, const char *key);
/* Has this VM's own state one already? */
bool hook_shared_held_by_self(const struct run *run, const char *stage, const char *key);

/* Drop-in scripts of hooks_dir/VM/OP/SUBOP; returns < 0 when one failed (already logged). */
int scripts_run(struct run *run, bool stop_on_failure);
bool scripts_present(const char *hooks_dir, const char *vm, const char *op, const char *subop);

/* Runs the hook for one event; returns the process exit code. */
int hook_dispatch(struct run *run);

enum {
	EXIT_OK = 0,
	EXIT_FAILED = 1,     /* the operation failed; the host was left as it was */
	EXIT_USAGE = 2,      /* bad command line or configuration */
	EXIT_ROLLBACK = 3,   /* failed, and rollback could not restore everything */
};
