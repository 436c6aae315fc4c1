/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "config.h"
#include "domain.h"
#include "plan.h"
#include "state.h"

/* The events libvirt runs the qemu hook for (OP of "qemu VM OP SUBOP EXTRA"). */
enum hook_op {
	HOOK_PREPARE,
	HOOK_START,
	HOOK_STARTED,
	HOOK_STOPPED,
	HOOK_RELEASE,
	HOOK_MIGRATE,
	HOOK_RESTORE,
	HOOK_RECONNECT,
	HOOK_ATTACH,
	_HOOK_OP_MAX,
	_HOOK_OP_INVALID = -EINVAL,
};

enum hook_subop {
	HOOK_BEGIN,
	HOOK_END,
	HOOK_NONE, /* "-" */
	_HOOK_SUBOP_MAX,
	_HOOK_SUBOP_INVALID = -EINVAL,
};

enum hook_op hook_op_from_string(const char *s);
enum hook_subop hook_subop_from_string(const char *s);

/* Everything one hook run knows. */
struct run {
	const char *vm_name, *op, *subop, *extra;
	enum hook_op event;
	enum hook_subop phase;
	const struct conf *conf;
	const struct vm_conf *vm; /* NULL: not configured */
	const char *xml;
	size_t xml_len;
	const struct domain *dom; /* NULL when no domain XML was given */
	struct state *state;      /* this VM's state, while an event works on it */
	const char *hooks_dir;
	bool relax_owner; /* test roots: files may be owned by the caller */
	bool dry_run;     /* print the plan, apply nothing */
};

/*
 * A built-in stage. plan() decides the stage's part of prepare against the view (see plan.h):
 * it adds actions, each with the record that undoes it, or refuses with log_fail() and a
 * negative errno. plan_undo() adds the one action that undoes one of its records (the index
 * of the record is the action's undoes), deciding from the view what is left to do: a change
 * may have been recorded and not, or only partly, made.
 */
struct stage {
	enum record_kind kind;
	int (*plan)(struct plan *p);
	int (*plan_undo)(struct plan *p, const struct record *rec, size_t index);
};

extern const struct stage stage_hugepages;
extern const struct stage stage_display;
extern const struct stage stage_user_units;
extern const struct stage stage_vtcon;
extern const struct stage stage_framebuffer;
extern const struct stage stage_kmod;
extern const struct stage stage_vfio;
extern const struct stage stage_pci;
extern const struct stage stage_governor;
extern const struct stage stage_isolation;

/* An undo action for record index of the state (no record of its own). */
struct action *plan_undo_action(struct plan *p, enum record_kind kind, size_t index);

/* The plan of prepare begin for run (run->state: this VM's state, or NULL). */
int hook_plan_prepare(struct plan *p);

/* Drop-in scripts of hooks_dir/VM/OP/SUBOP; returns < 0 when one failed (already logged). */
int scripts_run(struct run *run, bool stop_on_failure);

/* Runs the hook for one event; returns the process exit code. */
int hook_dispatch(struct run *run);
/* `vfiohook release VM` and `vfiohook forget VM`, by hand. */
int hook_release_by_hand(struct run *run);
int hook_forget(struct run *run);

/* "Xorg (pid 1234), gnome-shell (pid 1301)": processes with a GPU device node open; with
 * a plan, only those that no unit the plan stops will take away. */
void gpu_users(char *out, size_t size, const struct plan *p);

/*
 * Does the host itself need PCI device bdf: a mounted filesystem, active swap, an assembled dm,
 * md or btrfs member device on it, or the console? 1 with what needs it in why; 0; or a
 * negative errno (why says what could not be read: the caller fails closed).
 */
int host_needs_device(const char *bdf, bool passing_gpu, char *why, size_t size);

enum {
	EXIT_OK = 0,
	EXIT_FAILED = 1,     /* the operation failed; the host was left as it was */
	EXIT_USAGE = 2,      /* bad command line or configuration */
	EXIT_ROLLBACK = 3,   /* failed, and rollback could not restore everything */
};
