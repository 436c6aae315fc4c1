/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * One hook event: the dispatch table, the lock, the plan and its application with the undo
 * journal, the drop-ins.
 *
 * prepare begin: the plan of every built-in stage, checked as a whole before anything changes;
 *                then applied in order, then the drop-ins; a failure while applying undoes
 *                every recorded change in reverse and fails the start.
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
 * fragmented; the users' audio servers (which hold the GPU's audio function) before the
 * display manager ends their sessions; the display manager stops before the consoles (a console in graphics mode cannot
 * be unbound); the consoles and framebuffer let go before the GPU driver is unloaded; the
 * driver goes before vfio-pci takes the device (the PCI stage loads the vfio modules first).
 */
static const struct stage *const stages[] = {
	&stage_hugepages, &stage_user_units, &stage_display, &stage_vtcon,    &stage_framebuffer,
	&stage_kmod,      &stage_vfio,       &stage_pci,     &stage_governor, &stage_isolation,
};

static const struct stage *stage_of(enum record_kind kind)
{
	for (size_t i = 0; i < ELEMENTSOF(stages); i++)
		if (stages[i]->kind == kind)
			return stages[i];
	return NULL;
}

static const char *const op_names[_HOOK_OP_MAX] = {
	[HOOK_PREPARE] = "prepare",   [HOOK_START] = "start",     [HOOK_STARTED] = "started",
	[HOOK_STOPPED] = "stopped",   [HOOK_RELEASE] = "release", [HOOK_MIGRATE] = "migrate",
	[HOOK_RESTORE] = "restore",   [HOOK_RECONNECT] = "reconnect", [HOOK_ATTACH] = "attach",
};
static const char *const subop_names[_HOOK_SUBOP_MAX] = {
	[HOOK_BEGIN] = "begin", [HOOK_END] = "end", [HOOK_NONE] = "-",
};

enum hook_op hook_op_from_string(const char *s)
{
	for (int i = 0; i < _HOOK_OP_MAX; i++)
		if (streq(op_names[i], s))
			return (enum hook_op)i;
	return _HOOK_OP_INVALID;
}

enum hook_subop hook_subop_from_string(const char *s)
{
	for (int i = 0; i < _HOOK_SUBOP_MAX; i++)
		if (streq(subop_names[i], s))
			return (enum hook_subop)i;
	return _HOOK_SUBOP_INVALID;
}

/* A state file that cannot be read is reported on every event that meets it, never lost. */
static void report_unreadable(const struct state *s)
{
	log_error("state", 0, "cannot read %s/%s (%s); it is kept: 'vfiohook release %s' retries, "
			      "'vfiohook forget %s' drops it",
		  STATE_DIR, s->file, s->error, s->vm[0] ? s->vm : "VM", s->vm[0] ? s->vm : "VM");
	fprintf(stderr, "vfiohook: cannot read %s/%s (%s)\n", STATE_DIR, s->file, s->error);
}

struct action *plan_undo_action(struct plan *p, enum record_kind kind, size_t index)
{
	struct action *a = plan_action(p, kind, NULL);

	if (a)
		a->undoes = (ssize_t)index;
	return a;
}

/* The undo of one record; shared resources another VM still uses are handed over to it. */
static int plan_undo_record(struct plan *p, const struct state *s, size_t i)
{
	const struct record *rec = &s->records[i];
	const struct stage *st = stage_of(rec->kind);

	if (record_is_shared(rec->kind)) {
		const struct state *other = plan_holder(p, rec->kind, record_key(rec));
		struct action *a;

		if (rec->held || other) {
			a = plan_undo_action(p, rec->kind, i);
			if (!a)
				return -ENOMEM;
			if (!rec->held) {
				if (!plan_op(p, OP_HAND_OVER, other->vm, "%s", other->file))
					return -ENOMEM;
				snprintf(a->done, sizeof(a->done), "%s stays as it is for VM \"%s\"", record_key(rec),
					 other->vm);
			} else if (!other)
				snprintf(a->done, sizeof(a->done), "%s: the VM that changed it restored it already",
					 record_key(rec));
			return 0;
		}
	}
	return st->plan_undo(p, rec, i);
}

/* The plan that undoes every record of s, newest first. */
static int plan_release(struct plan *p, const struct state *s)
{
	for (size_t i = s->n_records; i-- > 0;) {
		int r = plan_undo_record(p, s, i);
		if (r < 0)
			return r;
	}
	return 0;
}

int hook_plan_prepare(struct plan *p)
{
	for (size_t i = 0; i < p->n_others; i++)
		if (p->others[i].error[0])
			report_unreadable(&p->others[i]);
	for (size_t i = 0; i < ELEMENTSOF(stages); i++) {
		int r;
		if (!stages[i]->plan)
			continue;
		r = stages[i]->plan(p);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Undoes every record of s in reverse; the ones that fail stay. Returns how many failed. */
static int undo_all(struct run *run, struct state *s)
{
	struct plan p;
	int failed = 0, r;

	run->state = s;
	r = plan_init(&p, run);
	if (r >= 0)
		r = plan_release(&p, s);
	if (r < 0) {
		log_error("release", r, "cannot plan the undo of %s", s->vm);
		plan_done(&p);
		return (int)s->n_records;
	}
	for (size_t i = 0; i < p.n_actions; i++)
		if (plan_apply(run, s, &p.actions[i]) < 0)
			failed++; /* stays recorded for a later release */
	plan_done(&p);
	return failed;
}

static int finish_release(struct run *run, struct state *s)
{
	int failed = undo_all(run, s);

	if (failed > 0 || s->n_records > 0) {
		s->complete = false;
		(void)state_save(s);
		log_error("release", 0, "%zu change(s) could not be undone; they stay recorded in %s/%s",
			  s->n_records, STATE_DIR, s->file);
		return failed > 0 ? failed : 1;
	}
	(void)state_remove(s);
	return 0;
}

static int take_lock(struct run *run, bool quiet_fail, int *ret_fd)
{
	int r;

	if (run->dry_run)
		return 0;
	r = state_lock(run->conf->lock_timeout, ret_fd);
	if (r >= 0)
		return 0;
	if (r == -EPERM) {
		/* records someone else may have written are not ours to act on */
		if (quiet_fail)
			fprintf(stderr, "vfiohook: refusing %s: not a directory of root's with mode 0700\n", STATE_DIR);
		return quiet_fail ? log_error(run->op, 0, "refusing %s: not a directory of root's with mode 0700 (a "
						      "link, or open to others); remove it", STATE_DIR)
				  : log_fail(run->op, 0, "refusing %s: not a directory of root's with mode 0700 (a link, "
							 "or open to others); remove it", STATE_DIR);
	}
	if (quiet_fail)
		return log_error(run->op, r, "cannot take the lock %s/lock", STATE_DIR);
	if (r == -ETIMEDOUT)
		return log_fail(run->op, 0, "another vfiohook run held %s/lock for %.0f s", STATE_DIR,
				run->conf->lock_timeout);
	return log_fail(run->op, r, "cannot take the lock %s/lock", STATE_DIR);
}

static int prepare_plan_and_apply(struct run *run)
{
	struct state s;
	struct plan p;
	int r;

	r = state_init(&s, run->vm_name, run->dom ? run->dom->uuid : NULL, !run->dry_run);
	if (r < 0)
		return log_fail("prepare", r, "bad VM name"), EXIT_FAILED;
	run->state = &s;
	r = plan_init(&p, run);
	if (r < 0) {
		log_fail("prepare", r, "cannot read the states under %s", STATE_DIR);
		goto refused;
	}
	r = hook_plan_prepare(&p);
	if (r < 0)
		goto refused;
	if (run->dry_run) {
		plan_print(&p, stdout);
		plan_done(&p);
		run->state = NULL;
		return scripts_run(run, true) < 0 ? EXIT_FAILED : EXIT_OK;
	}

	for (size_t i = 0; r >= 0 && i < p.n_actions; i++)
		r = plan_apply(run, &s, &p.actions[i]);
	plan_done(&p);
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
	if (r == -EINPROGRESS && s.n_records > 0) {
		/* a write still in the kernel: undoing it now could be overtaken by it, so it is
		 * left recorded for the next release to reconcile, and the start fails with 3 */
		struct record pending = s.records[--s.n_records];
		(void)undo_all(run, &s);
		(void)state_add(&s, &pending);
		log_error("prepare", 0, "a change whose outcome is not known yet stays recorded in %s/%s",
			  STATE_DIR, s.file);
		r = EXIT_ROLLBACK;
	} else
		r = finish_release(run, &s) > 0 ? EXIT_ROLLBACK : EXIT_FAILED;
	state_done(&s);
	run->state = NULL;
	return r;

refused:
	plan_done(&p);
	state_done(&s);
	run->state = NULL;
	return EXIT_FAILED;
}

static int do_prepare(struct run *run)
{
	_cleanup_close_ int lock = -1;
	struct state s;
	int r;

	if (!run->vm)
		return scripts_run(run, true) < 0 ? EXIT_FAILED : EXIT_OK;
	if (take_lock(run, false, &lock) < 0)
		return EXIT_FAILED;
	r = state_find(run->vm_name, run->dom ? run->dom->uuid : NULL, &s);
	if (r == -EBADMSG) {
		report_unreadable(&s);
		log_fail("prepare", 0,
			 "the state of %s in %s/%s cannot be read (%s): run 'vfiohook release %s' to undo what it "
			 "holds, or 'vfiohook forget %s' once the host is as it should be",
			 run->vm_name, STATE_DIR, s.file, s.error, run->vm_name, run->vm_name);
		return EXIT_FAILED;
	}
	if (r == 0 && s.complete) {
		log_info("prepare", "already prepared; nothing to do");
		state_done(&s);
		return scripts_run(run, true) < 0 ? EXIT_FAILED : EXIT_OK;
	}
	if (r == 0) {
		/* an earlier prepare was cut short (crash, power loss): finish its rollback first */
		log_warning("prepare", 0, "undoing an unfinished earlier prepare");
		if (run->dry_run) {
			struct plan p;
			run->state = &s;
			if (plan_init(&p, run) >= 0 && plan_release(&p, &s) >= 0)
				plan_print(&p, stdout);
			plan_done(&p);
		} else if (finish_release(run, &s) > 0) {
			state_done(&s);
			log_fail("prepare", 0, "an earlier, unfinished prepare of %s could not be undone; see the journal",
				 run->vm_name);
			return EXIT_ROLLBACK;
		}
		state_done(&s);
		run->state = NULL;
	}
	return prepare_plan_and_apply(run);
}

static int release_state(struct run *run)
{
	_cleanup_close_ int lock = -1;
	struct state s;
	struct plan p;
	int r;

	r = state_find(run->vm_name, run->dom ? run->dom->uuid : NULL, &s);
	if (r == -ENOENT) {
		log_debug("release", "nothing recorded for %s", run->vm_name);
		return 0;
	}
	if (r == -EBADMSG) {
		report_unreadable(&s);
		return -EBADMSG;
	}
	if (r < 0) {
		fprintf(stderr, "vfiohook: cannot read the state of %s: %s\n", run->vm_name, s.error[0] ? s.error : strerror(-r));
		return log_error("release", r, "cannot read the state of %s", run->vm_name);
	}
	if (take_lock(run, true, &lock) < 0)
		return -ENOLCK;
	/* found again under the lock: a prepare may have been running */
	state_done(&s);
	r = state_find(run->vm_name, run->dom ? run->dom->uuid : NULL, &s);
	if (r < 0)
		return r == -ENOENT ? 0 : r;
	run->state = &s;
	if (run->dry_run) {
		r = plan_init(&p, run);
		if (r >= 0)
			r = plan_release(&p, &s);
		if (r >= 0)
			plan_print(&p, stdout);
		plan_done(&p);
	} else {
		log_info("release", "undoing %zu change(s)", s.n_records);
		r = finish_release(run, &s) > 0 ? -EIO : 0;
	}
	state_done(&s);
	run->state = NULL;
	return r;
}

static int do_release(struct run *run)
{
	(void)scripts_run(run, false);
	(void)release_state(run);
	return EXIT_OK; /* libvirt ignores it, and the VM is gone either way */
}

static int do_scripts_can_fail(struct run *run)
{
	return scripts_run(run, true) < 0 ? EXIT_FAILED : EXIT_OK;
}

static int do_scripts(struct run *run)
{
	(void)scripts_run(run, false);
	return EXIT_OK; /* a failure here would kill a running VM, or is ignored by libvirt */
}

static const struct handler {
	enum hook_op op;
	enum hook_subop subop;
	int (*fn)(struct run *run);
} handlers[] = {
	{ HOOK_PREPARE, HOOK_BEGIN, do_prepare },
	{ HOOK_RELEASE, HOOK_END, do_release },
	{ HOOK_START, HOOK_BEGIN, do_scripts_can_fail },
	{ HOOK_STARTED, HOOK_BEGIN, do_scripts_can_fail },
};

int hook_dispatch(struct run *run)
{
	log_set_context(run->vm_name, run->op);
	if (run->vm && run->event != HOOK_PREPARE && run->event != HOOK_RELEASE) {
		/* an unreadable state of a configured VM is reported on each of its events */
		struct state s;
		if (state_find(run->vm_name, run->dom ? run->dom->uuid : NULL, &s) == -EBADMSG)
			report_unreadable(&s);
		state_done(&s);
	}
	for (size_t i = 0; i < ELEMENTSOF(handlers); i++)
		if (handlers[i].op == run->event && handlers[i].subop == run->phase)
			return handlers[i].fn(run);
	return do_scripts(run);
}

int hook_release_by_hand(struct run *run)
{
	int r;

	log_set_context(run->vm_name, "release");
	r = release_state(run);
	if (r == -EBADMSG) {
		log_fail("release", 0, "the state of %s cannot be read; nothing was undone. Once the host is as "
				       "it should be, 'vfiohook forget %s' drops it",
			 run->vm_name, run->vm_name);
		return EXIT_FAILED;
	}
	if (r < 0) {
		log_fail("release", 0, "not every change of %s could be undone; see the journal", run->vm_name);
		return EXIT_ROLLBACK;
	}
	return EXIT_OK;
}

int hook_forget(struct run *run)
{
	_cleanup_close_ int lock = -1;
	_cleanup_free_ char *text = NULL;
	struct state s;
	int r;

	log_set_context(run->vm_name, "forget");
	if (take_lock(run, false, &lock) < 0)
		return EXIT_FAILED;
	r = state_find(run->vm_name, NULL, &s);
	if (r == -ENOENT) {
		fprintf(stderr, "vfiohook: nothing is recorded for %s\n", run->vm_name);
		return EXIT_OK;
	}
	if (state_read_raw(s.file, &text) >= 0)
		printf("%s/%s:\n%s", STATE_DIR, s.file, text);
	s.persist = !run->dry_run;
	r = state_remove(&s);
	state_done(&s);
	if (r < 0)
		return log_fail("forget", r, "cannot remove %s/%s", STATE_DIR, s.file), EXIT_FAILED;
	if (!run->dry_run)
		log_warning("forget", 0, "dropped the records of %s without undoing them", run->vm_name);
	return EXIT_OK;
}
