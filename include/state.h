/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "macro.h"

/*
 * The per-VM state file under /run/vfiohook: one line per change prepare made, written before
 * the change itself (so a crash leaves nothing unaccounted for), replaced atomically on every
 * update. Release and rollback undo the records in reverse order.
 *
 *   vfiohook-state 1
 *   vm win10
 *   uuid 3b4b1f4e-...
 *   pci 0000:09:00.0 nvidia (null)
 *   complete
 *
 * Fields are separated by one space; a space, '%', control characters and non-ASCII bytes in a
 * field are written as %XX.
 */

#define STATE_DIR "/run/vfiohook"
#define STATE_MAX_FIELDS 8

struct record {
	char *fields[STATE_MAX_FIELDS]; /* fields[0] is the stage */
	size_t n_fields;
};

struct state {
	char file[128]; /* file name inside STATE_DIR */
	char vm[256];
	char uuid[37];
	struct record *records;
	size_t n_records;
	bool complete;
	bool persist; /* false in dry-run: never written */
};

int state_lock(double timeout, int *ret_fd);

/* A new, empty state for a VM; nothing is written until state_save(). */
int state_init(struct state *s, const char *vm, const char *uuid, bool persist);
/* Finds the state of a VM by name (and UUID when known); -ENOENT when there is none. */
int state_find(const char *vm, const char *uuid, struct state *ret);
int state_save(struct state *s);
int state_remove(struct state *s);
void state_done(struct state *s);

/* Appends a record and saves: call before making the change it describes. */
int state_add(struct state *s, const char *stage, ...) __attribute__((sentinel));
/* Drops the last record (its change was not made after all) and saves. */
int state_drop_last(struct state *s);

/*
 * Shared resources: when another VM's state has a record (stage, key) too, hand rec over to it
 * (it replaces that VM's bare "stage key" record, so the last VM to release restores it) and
 * return 1; 0 when no other VM holds the resource.
 */
int state_hand_over(const struct state *self, const struct record *rec);

/* Calls fn for every record of every other VM's state (for "who holds this device"). */
int state_foreach_other(const struct state *self,
			int (*fn)(const struct state *other, const struct record *r, void *data),
			void *data);
