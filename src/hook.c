/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * One hook event: the lock, the stage runner with its undo journal, the drop-ins.
 *
 * prepare begin: built-in stages in order, then drop-ins; any failure undoes every recorded
 *                change in reverse and fails the start.
 * release end:   drop-ins, then every recorded change undone in reverse; never fails.
 * anything else: drop-ins only; only start and started can fail the VM.
 */
#include <string.h>
#include <sys/file.h>

#include "hook.h"
#include "host.h"
#include "log.h"

/*
 * Prepare order (release runs the records backwards): hugepages first, while memory is least
 * fragmented; the display manager stops before the consoles (a console in graphics mode cannot
 * be unbound); the consoles and framebuffer let go before the GPU driver is unloaded; the
 * driver goes before vfio-pci takes the device.
 */
static const struct stage *const stages[] = {
	&stage_hugepages, &stage_display, &stage_vtcon,    &stage_framebuffer,
	&stage_kmod,      &stage_pci,     &stage_governor, &stage_isolation,
};

/* Stages that only undo records (no prepare of their own). */
static const struct stage *const undo_only[] = {
	&stage_module,
};

struct held_query {
	const char *stage, *key;
};

static int held(const struct state *other, const struct record *r, void *data)
{
	const struct held_query *q = data;

	return r->n_fields >= 2 && streq(r->fields[0], q->stage) && streq(r->fields[1], q->key);
}

bool hook_shared_held(const struct run *run, const char *stage, const char *key)
{
	struct held_query q = { stage, key };

	return state_foreach_other(run->state, held, &q) > 0;
}

bool hook_shared_held_by_self(const struct run *run, const char *stage, const char *key)
{
	for (size_t i = 0; i < run->state->n_records; i++) {
		const struct record *r = &run->state->records[i];
		if (r->n_fields >= 2 && streq(r->fields[0], stage) && streq(r->fields[1], key))
			return true;
	}
	return false;
}

static const struct stage *stage_by_name(const char *name)
{
	for (size_t i = 0; i < ELEMENTSOF(stages); i++)
		if (streq(stages[i]->name, name))
			return stages[i];
	for (size_t i = 0; i < ELEMENTSOF(undo_only); i++)
		if (streq(undo_only[i]->name, name))
			return undo_only[i];
	return NULL;
}

/* Undoes the records in reverse; keeps the ones that failed. Returns the number that failed. */
static int undo_all(struct run *run, struct state *s)
{
	int failed = 0;

	for (size_t i = s->n_records; i-- > 0;) {
		struct record *rec = &s->records[i];
		const struct stage *st = stage_by_name(rec->fields[0]);
		int r;

		if (!st)
			r = log_error("state", EINVAL, "unknown record '%s' in the state of %s", rec->fields[0],
				      s->vm);
		else if (st->shared && !host_is_dry_run() && (r = state_hand_over(s, rec)) != 0) {
			/* another VM still needs it: that VM's release restores it */
			if (r > 0)
				log_info(st->name, "%s stays as it is for another VM", rec->fields[1]);
		} else
			r = st->undo(run, rec);
		if (r < 0) {
			failed++; /* stays recorded for a later release */
			continue;
		}
		for (size_t f = 0; f < rec->n_fields; f++)
			free(rec->fields[f]);
		memmove(rec, rec + 1, (s->n_records - 1 - i) * sizeof(*rec));
		s->n_records--;
		(void)state_save(s);
	}
	return failed;
}

static int finish_release(struct run *run, struct state *s)
{
	int failed = undo_all(run, s);

	if (failed > 0) {
		s->complete = false;
		(void)state_save(s);
		log_error("release", 0, "%d change(s) could not be undone; they stay recorded in %s/%s",
			  failed, STATE_DIR, s->file);
		return failed;
	}
	(void)state_remove(s);
	return 0;
}

static int do_prepare(struct run *run)
{
	struct state s;
	int r;

	r = state_find(run->vm_name, run->dom ? run->dom->uuid : NULL, &s);
	if (r == 0 && s.complete) {
		log_info("prepare", "already prepared; nothing to do");
		state_done(&s);
		return scripts_run(run, true) < 0 ? EXIT_FAILED : EXIT_OK;
	}
	if (r == 0) {
		/* an earlier prepare was cut short (crash, power loss): finish its rollback first */
		log_warning("prepare", 0, "undoing an unfinished earlier prepare");
		s.persist = !host_is_dry_run();
		if (finish_release(run, &s) > 0) {
			state_done(&s);
			log_fail("prepare", 0,
				 "an earlier, unfinished prepare of %s could not be undone; see the journal",
				 run->vm_name);
			return EXIT_ROLLBACK;
		}
		state_done(&s);
	}

	r = state_init(&s, run->vm_name, run->dom ? run->dom->uuid : NULL, !host_is_dry_run());
	if (r < 0)
		return log_fail("prepare", r, "bad VM name"), EXIT_FAILED;
	run->state = &s;
	r = state_save(&s);
	if (r < 0) {
		log_fail("prepare", r, "cannot write the state file under %s", STATE_DIR);
		state_done(&s);
		return EXIT_FAILED;
	}
	for (size_t i = 0; r >= 0 && i < ELEMENTSOF(stages); i++)
		r = stages[i]->prepare(run);
	if (r >= 0) {
		s.complete = true;
		r = state_save(&s);
		if (r < 0)
			log_fail("prepare", r, "cannot write the state file");
	}
	if (r >= 0)
		r = scripts_run(run, true);
	if (r >= 0) {
		log_info("prepare", "done");
		state_done(&s);
		run->state = NULL;
		return EXIT_OK;
	}

	log_info("prepare", "failed; rolling back %zu change(s)", s.n_records);
	s.complete = false;
	r = finish_release(run, &s) > 0 ? EXIT_ROLLBACK : EXIT_FAILED;
	state_done(&s);
	run->state = NULL;
	return r;
}

static int do_release(struct run *run)
{
	struct state s;
	int r;

	(void)scripts_run(run, false);
	r = state_find(run->vm_name, run->dom ? run->dom->uuid : NULL, &s);
	if (r < 0) {
		log_debug("release", "nothing recorded for %s", run->vm_name);
		return EXIT_OK;
	}
	s.persist = !host_is_dry_run();
	run->state = &s;
	log_info("release", "undoing %zu change(s)", s.n_records);
	(void)finish_release(run, &s);
	state_done(&s);
	run->state = NULL;
	return EXIT_OK; /* libvirt ignores it, and the VM is gone either way */
}

int hook_dispatch(struct run *run)
{
	bool is_prepare = streq(run->op, "prepare") && streq(run->subop, "begin");
	bool is_release = streq(run->op, "release") && streq(run->subop, "end");
	bool can_fail = (streq(run->op, "start") || streq(run->op, "started")) &&
			streq(run->subop, "begin");
	_cleanup_close_ int lock = -1;
	int r;

	log_set_context(run->vm_name, run->op);
	if (!is_prepare && !is_release) {
		r = scripts_run(run, can_fail);
		return can_fail && r < 0 ? EXIT_FAILED : EXIT_OK;
	}
	if (is_prepare && !run->vm)
		return scripts_run(run, true) < 0 ? EXIT_FAILED : EXIT_OK;
	if (is_release) {
		/* the VM may be gone from kvm.conf since prepare: the state file decides */
		struct state s;
		if (state_find(run->vm_name, NULL, &s) < 0) {
			(void)scripts_run(run, false);
			return EXIT_OK;
		}
		state_done(&s);
	}
	if (!host_is_dry_run()) {
		r = state_lock(run->conf->lock_timeout, &lock);
		if (r < 0) {
			if (is_release) {
				log_error("release", r, "cannot take the lock %s/lock", STATE_DIR);
				return EXIT_OK;
			}
			if (r == -ETIMEDOUT)
				log_fail("prepare", r, "another vfiohook run held %s/lock for %.0f s", STATE_DIR,
					 run->conf->lock_timeout);
			else
				log_fail("prepare", r, "cannot take the lock %s/lock", STATE_DIR);
			return EXIT_FAILED;
		}
	}
	if (is_release)
		return do_release(run);
	return do_prepare(run);
}
