/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "macro.h"
#include "pciaddr.h"

/*
 * The per-VM state file under /run/vfiohook: one record per change prepare made, written
 * before the change itself (so a crash leaves nothing unaccounted for), replaced atomically on
 * every update. Release and rollback undo the records in reverse order.
 *
 *   vfiohook-state 2
 *   vm win10
 *   uuid 3b4b1f4e-...
 *   pci bdf=0000:09:00.0 driver=nvidia
 *   display unit=display-manager.service held
 *   complete
 *
 * A record is its kind and key=value fields; every kind declares its fields, their types and
 * which may be absent (an absent field is an absent value: no driver, no override, no EPP).
 * "held" marks a shared resource that another VM changed first. Values are validated as
 * strictly as kvm.conf's on reading; a space, '%', control characters and non-ASCII bytes are
 * written as %XX. A file that does not parse is never guessed at, and never deleted.
 */

#define STATE_DIR "/run/vfiohook"

enum record_kind {
	REC_HUGEPAGES,
	REC_DISPLAY,
	REC_USER_UNIT,
	REC_VTCON,
	REC_FRAMEBUFFER,
	REC_KMOD,
	REC_VFIO,
	REC_PCI,
	REC_GOVERNOR,
	REC_ISOLATION,
	_REC_MAX,
	_REC_INVALID = -EINVAL,
};

struct record {
	enum record_kind kind;
	/* a shared resource (a unit, a cpufreq policy, a slice, a vfio module) that another VM
	 * changed first: nothing of this VM's to undo, but the last VM to release restores it */
	bool held;
	union {
		struct {
			char pool[128];  /* /sys/kernel/mm/hugepages/hugepages-NkB or a node's */
			uint64_t before; /* nr_hugepages before */
			uint64_t target; /* what was written */
			uint64_t added;  /* pages this VM added, once read back */
			bool added_known; /* false: the write's outcome is not known (a crash, a
					   * write that did not return): at most target - before */
		} hugepages;
		struct {
			char unit[256];
		} display;
		struct {
			char uid[12]; /* the user whose systemd manager runs it */
			char unit[256];
		} user_unit;
		struct {
			char name[128]; /* the console's name: "(M) frame buffer device" */
		} vtcon;
		struct {
			char device[64], driver[64];
		} framebuffer;
		struct {
			char module[64];
		} kmod, vfio;
		struct {
			char bdf[PCI_ADDR_STRLEN];
			char driver[64];   /* empty: had no driver */
			char override[64]; /* empty: no driver_override */
		} pci;
		struct {
			char policy[32], governor[32];
			char epp[64]; /* empty: no energy_performance_preference */
		} governor;
		struct {
			char unit[256];
			char cpus[256]; /* AllowedCPUs as a CPU list; empty: not set */
		} isolation;
	};
};

const char *record_kind_name(enum record_kind kind);
/* Shared kinds name a host-wide resource by their first field; see record_key(). */
bool record_is_shared(enum record_kind kind);
const char *record_key(const struct record *r);
int record_set_key(struct record *r, const char *key);
/* The record as it is written in the file (kind and fields, no newline). */
int record_format(const struct record *r, char *buf, size_t size);
/* Parses one line of a state file (modified in place); -EBADMSG with a reason in err. */
int record_parse(char *line, struct record *ret, char *err, size_t errlen);

struct state {
	char file[128]; /* file name inside STATE_DIR */
	char vm[256];
	char uuid[37];
	struct record *records;
	size_t n_records;
	bool complete;
	bool persist;     /* false in a dry run: never written */
	char error[256];  /* why the file could not be read (state_find() -EBADMSG) */
	char *saved;      /* what this run last wrote: a save of the same text is skipped */
};

/* Takes the global lock (STATE_DIR/lock), waiting at most timeout seconds. */
int state_lock(double timeout, int *ret_fd);

/* A new, empty state for a VM; nothing is written until state_save(). */
int state_init(struct state *s, const char *vm, const char *uuid, bool persist);
/*
 * Finds the state of a VM by name (and UUID when known). -ENOENT when there is none;
 * -EBADMSG when its file exists but cannot be read: ret->file and ret->error say which and
 * why, and there are no records.
 */
int state_find(const char *vm, const char *uuid, struct state *ret);
int state_save(struct state *s);
int state_remove(struct state *s);
void state_done(struct state *s);

/* Appends a record and saves: call before making the change it describes. */
int state_add(struct state *s, const struct record *rec);
/* Removes record i (its change is undone, or was never made) and saves. */
int state_drop(struct state *s, size_t i);

/*
 * Every other VM's state (all files in STATE_DIR but self_file, which may be NULL). A file that
 * cannot be read is returned with its error set and no records, so callers can report it.
 */
int state_load_others(const char *self_file, struct state **ret, size_t *ret_n);
void state_free_all(struct state *states, size_t n);

/*
 * Shared resources: rec (a full record) replaces the held record of the same kind and key in
 * the state file `file` of another VM, so that VM's release restores it. 1 when handed over, 0
 * when that VM holds it no more.
 */
int state_hand_over(const char *file, const struct record *rec);

/* Text of the file of a state (for `vfiohook forget`), as stored. */
int state_read_raw(const char *file, char **ret);
