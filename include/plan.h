/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "state.h"

/*
 * Decide, then act. A hook event is handled in two phases:
 *
 *  1. plan: every stage decides its actions against a read-only view of the host (the view
 *     functions below), and every check that can refuse runs. The view is the real host plus
 *     the effects of the actions planned so far (the overlay): once a stage plans to unload a
 *     module, later stages see its drivers gone; once a device is planned onto vfio-pci, its
 *     driver link reads vfio-pci; a unit planned to stop reads inactive.
 *  2. apply: only when every stage accepted, the actions are carried out in order, each one's
 *     record written to the state file before its first operation.
 *
 * An action is data: a record (how to undo it) and a list of primitive operations. A dry run
 * prints the operations, one line each; a real run logs the same line (debug) as it carries
 * each one out. Nothing else differs between the two.
 */

struct run;
struct sd_bus;

enum op_type {
	OP_WRITE,         /* write value to path (timeout > 0: in a watchdog child) */
	OP_WAIT_LINK,     /* wait until path links to value (empty: is gone) */
	OP_MODULE_LOAD,   /* value: module name */
	OP_MODULE_UNLOAD, /* value: module name */
	OP_UNIT_STOP,     /* value: unit name */
	OP_UNIT_START,    /* value: unit name */
	OP_SET_CPUS,      /* path: unit name, value: CPU list ("": reset) */
	OP_HUGEPAGES,     /* path: pool directory, value: target nr_hugepages, with retries */
	OP_HAND_OVER,     /* path: the other VM's state file, value: its VM name */
};

struct op {
	enum op_type type;
	char path[256]; /* a host path ("/sys/..."), or what the type says */
	char value[256];
	double timeout;
	int ok_errno;     /* this error is expected and no failure (e.g. EBUSY of a pinned EPP) */
	bool optional;    /* any error is no failure: a step that only helps */
	char verify[8];   /* OP_WRITE: read the file back and expect this */
	char fail[320];   /* what went wrong, for the one line the user sees */
	uint64_t had;     /* OP_HUGEPAGES: free pages that count toward the request already */
};

struct action {
	enum record_kind stage;
	bool has_record;
	struct record rec; /* written before the first operation */
	ssize_t undoes;    /* the index of the record this action undoes, or -1 */
	struct op *ops;
	size_t n_ops;
	char done[400];    /* logged at info when the action is complete */
};

struct overlay_entry;

struct plan {
	struct run *run;
	struct action *actions;
	size_t n_actions;
	struct overlay_entry *overlay;
	size_t n_overlay;
	struct state *others; /* every other VM's state */
	size_t n_others;
	struct sd_bus *bus;   /* systemd, connected on first use */
	int bus_error;        /* < 0: could not connect */
};

int plan_init(struct plan *p, struct run *run);
void plan_done(struct plan *p);

/* A new action of a stage; NULL on ENOMEM. The record is written before its operations. */
struct action *plan_action(struct plan *p, enum record_kind stage, const struct record *rec);
/* Appends an operation to the last action and applies its effect to the view. */
struct op *plan_op(struct plan *p, enum op_type type, const char *value, const char *path_fmt, ...)
	_printf_(4, 5);

/* The plan's operations as lines (the dry run's output). */
void plan_print(const struct plan *p, FILE *f);
size_t plan_n_ops(const struct plan *p);

/*
 * Shared resources: is (kind, key) held by another VM (its state has a record for it)? Then
 * the stage records a held record and plans no change: plan_hold() does both. Returns the
 * other VM's state, or NULL.
 */
const struct state *plan_holder(const struct plan *p, enum record_kind kind, const char *key);
int plan_hold(struct plan *p, enum record_kind kind, const char *key);

/* systemd, for the stages that need it; < 0 (bus_last_error() says why) when unreachable. */
int plan_bus(struct plan *p, struct sd_bus **ret);

/* --- the view: the host as the plan so far leaves it --------------------------------------- */
int view_read(struct plan *p, char *buf, size_t size, const char *fmt, ...) _printf_(4, 5);
bool view_exists(struct plan *p, const char *fmt, ...) _printf_(2, 3);
bool view_module_loaded(struct plan *p, const char *name);
/* The driver a PCI or platform device is bound to ("" when none). */
void view_driver(struct plan *p, const char *bus, const char *dev, char *buf, size_t size);
/* Does the plan stop this unit (NULL: any unit)? */
bool view_unit_stopping(const struct plan *p, const char *id);
/* What a unit is once the plan so far is applied (for a unit known by another name too). */
int view_set_unit_state(struct plan *p, const char *unit, const char *state);
/* Marks a path as existing from here on (a driver a planned module load brings). */
int view_add_exists(struct plan *p, const char *path);

/*
 * Carries out one action: writes its record, then its operations in order. The record stays
 * when an operation fails (the change may be partly made); the failure is logged and set as
 * the user's line. Undo actions (undoes >= 0) drop their record when they succeed.
 */
int plan_apply(struct run *run, struct state *s, const struct action *a);
