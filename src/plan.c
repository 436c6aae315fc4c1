/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The plan: actions decided against the host plus the plan's own effects, then applied. See
 * include/plan.h.
 */
#include <stdarg.h>
#include <string.h>

#include "bus.h"
#include "hook.h"
#include "host.h"
#include "log.h"
#include "plan.h"

/* What the plan has changed so far, newest last; looked up newest first. */
enum overlay_kind { OV_FILE, OV_LINK, OV_EXISTS, OV_MODULE, OV_UNIT };

struct overlay_entry {
	enum overlay_kind kind;
	char key[256];
	char value[256];
};

int plan_init(struct plan *p, struct run *run)
{
	memset(p, 0, sizeof(*p));
	p->run = run;
	return state_load_others(run->state ? run->state->file : NULL, &p->others, &p->n_others);
}

void plan_done(struct plan *p)
{
	for (size_t i = 0; i < p->n_actions; i++)
		free(p->actions[i].ops);
	free(p->actions);
	free(p->overlay);
	state_free_all(p->others, p->n_others);
	bus_close(p->bus);
	memset(p, 0, sizeof(*p));
}

struct action *plan_action(struct plan *p, enum record_kind stage, const struct record *rec)
{
	struct action *na = realloc(p->actions, (p->n_actions + 1) * sizeof(*na));

	if (!na)
		return NULL;
	p->actions = na;
	na = &p->actions[p->n_actions++];
	memset(na, 0, sizeof(*na));
	na->stage = stage;
	na->undoes = -1;
	if (rec) {
		na->has_record = true;
		na->rec = *rec;
	}
	return na;
}

static int overlay_set(struct plan *p, enum overlay_kind kind, const char *key, const char *value)
{
	struct overlay_entry *n = realloc(p->overlay, (p->n_overlay + 1) * sizeof(*n));

	if (!n)
		return -ENOMEM;
	p->overlay = n;
	n = &p->overlay[p->n_overlay++];
	n->kind = kind;
	snprintf(n->key, sizeof(n->key), "%s", key);
	snprintf(n->value, sizeof(n->value), "%s", value);
	return 0;
}

static const struct overlay_entry *overlay_get(const struct plan *p, enum overlay_kind kind,
					       const char *key)
{
	for (size_t i = p->n_overlay; i-- > 0;)
		if (p->overlay[i].kind == kind && streq(p->overlay[i].key, key))
			return &p->overlay[i];
	return NULL;
}

static void module_name(char *out, size_t size, const char *name)
{
	size_t i;

	for (i = 0; name[i] && i + 1 < size; i++)
		out[i] = name[i] == '-' ? '_' : name[i];
	out[i] = '\0';
}

/* What an operation changes, as later stages will see it. */
static int overlay_effect(struct plan *p, const struct op *o)
{
	char key[256];

	switch (o->type) {
	case OP_WRITE: {
		/* sysfs reads back what was written, less one newline */
		char v[256];
		size_t l = strlen(o->value);
		snprintf(v, sizeof(v), "%s", o->value);
		if (l > 0 && v[l - 1] == '\n')
			v[l - 1] = '\0';
		return overlay_set(p, OV_FILE, o->path, v);
	}
	case OP_WAIT_LINK:
		return overlay_set(p, OV_LINK, o->path, o->value);
	case OP_MODULE_LOAD:
	case OP_MODULE_UNLOAD:
		module_name(key, sizeof(key), o->value);
		return overlay_set(p, OV_MODULE, key, o->type == OP_MODULE_LOAD ? "loaded" : "");
	case OP_UNIT_STOP:
	case OP_UNIT_START:
		/* a user's unit (path: the uid) is not the system's unit of the same name */
		if (o->path[0] && snprintf(key, sizeof(key), "%.20s/%.200s", o->path, o->value) < 0)
			return -EINVAL;
		return overlay_set(p, OV_UNIT, o->path[0] ? key : o->value,
				   o->type == OP_UNIT_STOP ? "inactive" : "active");
	case OP_HUGEPAGES:
		if (snprintf(key, sizeof(key), "%.200s/nr_hugepages", o->path) >= (int)sizeof(key))
			return -ENAMETOOLONG;
		return overlay_set(p, OV_FILE, key, o->value);
	case OP_SET_CPUS:
	case OP_HAND_OVER:
		return 0;
	}
	return 0;
}

struct op *plan_op(struct plan *p, enum op_type type, const char *value, const char *path_fmt, ...)
{
	struct action *a = p->n_actions ? &p->actions[p->n_actions - 1] : NULL;
	struct op *no, *o;
	va_list ap;
	int n = 0;

	if (!a)
		return NULL;
	no = realloc(a->ops, (a->n_ops + 1) * sizeof(*no));
	if (!no)
		return NULL;
	a->ops = no;
	o = &a->ops[a->n_ops];
	memset(o, 0, sizeof(*o));
	o->type = type;
	if (path_fmt) {
		va_start(ap, path_fmt);
		n = vsnprintf(o->path, sizeof(o->path), path_fmt, ap);
		va_end(ap);
	}
	if (n < 0 || (size_t)n >= sizeof(o->path) || strlen(value) >= sizeof(o->value))
		return NULL;
	strcpy(o->value, value);
	if (overlay_effect(p, o) < 0)
		return NULL;
	a->n_ops++;
	return o;
}

size_t plan_n_ops(const struct plan *p)
{
	size_t n = 0;

	for (size_t i = 0; i < p->n_actions; i++)
		n += p->actions[i].n_ops;
	return n;
}

static void quote(char *out, size_t size, const char *v)
{
	size_t o = 0;

	out[o++] = '"';
	for (const unsigned char *c = (const unsigned char *)v; *c && o + 6 < size; c++) {
		if (*c == '\n')
			o += (size_t)snprintf(out + o, size - o, "\\n");
		else if (*c == '"' || *c == '\\')
			o += (size_t)snprintf(out + o, size - o, "\\%c", *c);
		else if (*c < 0x20 || *c >= 0x7f)
			o += (size_t)snprintf(out + o, size - o, "\\x%02x", *c);
		else
			out[o++] = (char)*c;
	}
	out[o++] = '"';
	out[o] = '\0';
}

/* One line per operation: what a dry run prints and a real run logs. */
static void op_line(const struct op *o, char *buf, size_t size)
{
	char p[PATH_MAX], q[600];

	if (o->type == OP_WRITE || o->type == OP_WAIT_LINK || o->type == OP_HUGEPAGES)
		if (host_path(p, sizeof(p), "%s", o->path) < 0)
			snprintf(p, sizeof(p), "%s", o->path);
	switch (o->type) {
	case OP_WRITE:
		quote(q, sizeof(q), o->value);
		snprintf(buf, size, "write %s %s", p, q);
		break;
	case OP_WAIT_LINK:
		snprintf(buf, size, "wait %s -> %s (%.1f s)", p, o->value[0] ? o->value : "(none)", o->timeout);
		break;
	case OP_MODULE_LOAD:
		snprintf(buf, size, "load module %s", o->value);
		break;
	case OP_MODULE_UNLOAD:
		snprintf(buf, size, "unload module %s", o->value);
		break;
	case OP_UNIT_STOP:
	case OP_UNIT_START:
		snprintf(buf, size, "%s unit %s%s%s", o->type == OP_UNIT_STOP ? "stop" : "start", o->value,
			 o->path[0] ? " of user " : "", o->path);
		break;
	case OP_SET_CPUS:
		snprintf(buf, size, "set %s AllowedCPUs=%s", o->path, o->value[0] ? o->value : "(reset)");
		break;
	case OP_HUGEPAGES:
		snprintf(buf, size, "write %s/nr_hugepages \"%s\" (compacting and retrying for up to %.0f s)", p,
			 o->value, o->timeout);
		break;
	case OP_HAND_OVER:
		snprintf(buf, size, "hand over to VM \"%s\" (%s)", o->value, o->path);
		break;
	}
}

void plan_print(const struct plan *p, FILE *f)
{
	char line[PATH_MAX + 700];

	for (size_t i = 0; i < p->n_actions; i++)
		for (size_t j = 0; j < p->actions[i].n_ops; j++) {
			op_line(&p->actions[i].ops[j], line, sizeof(line));
			fprintf(f, "%s\n", line);
		}
}

const struct state *plan_holder(const struct plan *p, enum record_kind kind, const char *key)
{
	for (size_t i = 0; i < p->n_others; i++)
		for (size_t j = 0; j < p->others[i].n_records; j++) {
			const struct record *r = &p->others[i].records[j];
			if (r->kind == kind && streq(record_key(r), key))
				return &p->others[i];
		}
	return NULL;
}

int plan_hold(struct plan *p, enum record_kind kind, const char *key)
{
	struct record rec = { .kind = kind, .held = true };
	struct action *a;
	const struct state *holder = plan_holder(p, kind, key);
	int r;

	if (!holder)
		return -ENOENT;
	r = record_set_key(&rec, key);
	if (r < 0)
		return r;
	if (!(a = plan_action(p, kind, &rec)))
		return -ENOMEM;
	snprintf(a->done, sizeof(a->done), "%s is already changed for VM \"%s\"; whoever releases last restores it",
		 key, holder->vm);
	return 0;
}

int plan_bus(struct plan *p, struct sd_bus **ret)
{
	if (!p->bus && p->bus_error == 0) {
		p->bus_error = bus_connect(&p->bus);
		if (p->bus_error == 0)
			p->bus_error = 1;
	}
	*ret = p->bus;
	return p->bus ? 0 : p->bus_error;
}

/* --- the view ------------------------------------------------------------------------------- */

#define FORMAT(buf, fmt)                                                                           \
	({                                                                                         \
		va_list _ap;                                                                       \
		int _n;                                                                            \
		va_start(_ap, fmt);                                                                \
		_n = vsnprintf(buf, sizeof(buf), fmt, _ap);                                        \
		va_end(_ap);                                                                       \
		_n < 0 || (size_t)_n >= sizeof(buf) ? -ENAMETOOLONG : 0;                           \
	})

int view_read(struct plan *p, char *buf, size_t size, const char *fmt, ...)
{
	char path[PATH_MAX];
	const struct overlay_entry *e;

	if (FORMAT(path, fmt) < 0)
		return -ENAMETOOLONG;
	e = overlay_get(p, OV_FILE, path);
	if (e) {
		if (strlen(e->value) >= size)
			return -ENAMETOOLONG;
		strcpy(buf, e->value);
		return (int)strlen(buf);
	}
	return host_read(buf, size, "%s", path);
}

/* The basename of a link, as the plan leaves it; -ENOENT when absent. */
static int link_name(struct plan *p, char *buf, size_t size, const char *path)
{
	const struct overlay_entry *e = overlay_get(p, OV_LINK, path);

	if (!e)
		return host_link_name(buf, size, "%s", path);
	if (!e->value[0])
		return -ENOENT;
	if (strlen(e->value) >= size)
		return -ENAMETOOLONG;
	strcpy(buf, e->value);
	return 0;
}

bool view_module_loaded(struct plan *p, const char *name)
{
	char n[128];
	const struct overlay_entry *e;

	module_name(n, sizeof(n), name);
	e = overlay_get(p, OV_MODULE, n);
	if (e)
		return e->value[0] != '\0';
	return host_module_loaded(n);
}

/* A driver of bus whose module the plan unloads is gone, and so are its links. */
static bool driver_gone(struct plan *p, const char *bus, const char *driver)
{
	char mod[128];

	if (host_link_name(mod, sizeof(mod), "/sys/bus/%s/drivers/%s/module", bus, driver) < 0)
		return false; /* built in */
	return !view_module_loaded(p, mod);
}

bool view_exists(struct plan *p, const char *fmt, ...)
{
	char path[PATH_MAX], drv[128];
	const struct overlay_entry *e;
	char bus[16];

	if (FORMAT(path, fmt) < 0)
		return false;
	for (size_t i = p->n_overlay; i-- > 0;) {
		e = &p->overlay[i];
		if (!streq(e->key, path))
			continue;
		if (e->kind == OV_LINK)
			return e->value[0] != '\0';
		if (e->kind == OV_FILE || e->kind == OV_EXISTS)
			return true;
	}
	/* /sys/bus/BUS/drivers/DRV (and below): gone with its module */
	if (sscanf(path, "/sys/bus/%15[^/]/drivers/%127[^/]", bus, drv) == 2 && driver_gone(p, bus, drv))
		return false;
	return host_exists("%s", path);
}

int view_add_exists(struct plan *p, const char *path)
{
	return overlay_set(p, OV_EXISTS, path, "");
}

void view_driver(struct plan *p, const char *bus, const char *dev, char *buf, size_t size)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "/sys/bus/%s/devices/%s/driver", bus, dev);
	if (link_name(p, buf, size, path) < 0 || driver_gone(p, bus, buf))
		buf[0] = '\0';
}

bool view_unit_stopping(const struct plan *p, const char *id)
{
	for (size_t i = 0; i < p->n_overlay; i++)
		if (p->overlay[i].kind == OV_UNIT && streq(p->overlay[i].value, "inactive") &&
		    (!id || streq(p->overlay[i].key, id)))
			return true;
	return false;
}

int view_set_unit_state(struct plan *p, const char *unit, const char *state)
{
	return overlay_set(p, OV_UNIT, unit, state);
}

/* --- apply ---------------------------------------------------------------------------------- */

static int exec_hugepages(struct state *s, ssize_t rec_index, const struct op *o, struct run *run);

static bool in_strv(char **v, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (streq(v[i], name))
			return true;
	return false;
}

/*
 * The modules loaded now: /proc/modules on a real host (one read), else those of /sys/module
 * with an initstate (built-ins have none).
 */
static int loaded_modules(char ***ret, size_t *ret_n)
{
	char **v;
	size_t n, k = 0;
	int r;

	if (host_is_real()) {
		_cleanup_free_ char *text = NULL;
		char *save = NULL;

		r = host_read_all(&text, 4u << 20, "/proc/modules");
		if (r < 0)
			return r;
		v = NULL;
		n = 0;
		for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
			char **nv = realloc(v, (n + 1) * sizeof(*v));
			line[strcspn(line, " ")] = '\0';
			if (!nv || !(nv[n] = strdup(line))) {
				strv_free(nv ? nv : v, n);
				return -ENOMEM;
			}
			v = nv;
			n++;
		}
		*ret = v;
		*ret_n = n;
		return 0;
	}
	r = host_dir_list(&v, &n, "/sys/module");
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		if (host_module_loaded(v[i]))
			v[k++] = v[i];
		else
			free(v[i]);
	}
	*ret = v;
	*ret_n = k;
	return 0;
}

/* Does module A hold module B (A depends on B)? */
static bool holds(const char *a, const char *b)
{
	return host_exists("/sys/module/%s/holders/%s", b, a);
}

/*
 * A vfio module: loading it loads what it depends on too (vfio, vfio_pci_core, ...), and its
 * softdeps (vfio's "post: vfio_iommu_type1", which depends on vfio). Each module that appeared
 * gets a record of its own, so that undoing the records in reverse unloads every module before
 * the modules it depends on: those that hold the requested one (directly or through another
 * new one) after its record, the others before it, each after the new ones it depends on.
 * A load that fails may have loaded some all the same: they are recorded too.
 */
static int load_and_record(struct state *s, size_t rec_index, const char *name)
{
	char **before = NULL, **after = NULL, req[64];
	size_t n_before = 0, n_after = 0, inserted = 0;
	bool *late = NULL;
	int r, load = 0;

	snprintf(req, sizeof(req), "%s", s->records[rec_index].vfio.module);
	r = loaded_modules(&before, &n_before);
	if (r >= 0) {
		load = host_module_load(name);
		r = loaded_modules(&after, &n_after);
	}
	/* the new ones, but the requested one: it has its record */
	for (size_t i = 0; r >= 0 && i < n_after; i++)
		if (in_strv(before, n_before, after[i]) || streq(after[i], req))
			after[i][0] = '\0';
	if (r >= 0 && n_after && !(late = calloc(n_after, sizeof(*late))))
		r = -ENOMEM;
	for (bool grew = true; r >= 0 && grew;) {
		grew = false;
		for (size_t i = 0; i < n_after; i++) {
			bool l = after[i][0] && !late[i] && holds(after[i], req);
			for (size_t j = 0; !l && after[i][0] && !late[i] && j < n_after; j++)
				l = late[j] && holds(after[i], after[j]);
			if (l)
				late[i] = grew = true;
		}
	}
	for (int pass = 0; r >= 0 && pass < 2; pass++) {
		size_t at = pass == 0 ? rec_index : rec_index + 1;
		bool progress = true, force = false;
		while (r >= 0 && (progress || !force)) {
			if (!progress)
				force = true; /* a dependency cycle: the rest as they come */
			progress = false;
			for (size_t i = 0; r >= 0 && i < n_after; i++) {
				struct record rec = { .kind = REC_VFIO };
				struct record *nr;
				bool waits = false;
				if (!after[i][0] || late[i] != (pass == 1))
					continue;
				/* after the new modules of this pass it depends on */
				for (size_t j = 0; j < n_after; j++)
					if (j != i && after[j][0] && late[j] == late[i] && holds(after[i], after[j]))
						waits = true;
				if (waits && !force)
					continue;
				if (snprintf(rec.vfio.module, sizeof(rec.vfio.module), "%s", after[i]) >=
				    (int)sizeof(rec.vfio.module))
					continue;
				nr = realloc(s->records, (s->n_records + 1) * sizeof(*nr));
				if (!nr) {
					r = -ENOMEM;
					break;
				}
				s->records = nr;
				memmove(&nr[at + 1], &nr[at], (s->n_records - at) * sizeof(*nr));
				nr[at++] = rec;
				s->n_records++;
				inserted++;
				if (pass == 0)
					rec_index++;
				after[i][0] = '\0';
				progress = true;
			}
		}
	}
	free(late);
	strv_free(before, n_before);
	strv_free(after, n_after);
	if (inserted > 0) {
		int k = state_save(s);
		if (r >= 0)
			r = k;
	}
	return load < 0 ? load : r;
}

static int exec_op(struct run *run, struct state *s, ssize_t rec_index, const struct op *o)
{
	char buf[64];
	int r;

	switch (o->type) {
	case OP_WRITE:
		r = host_write(o->value, strlen(o->value), o->timeout, "%s", o->path);
		if (r >= 0 && o->verify[0] && (host_read(buf, sizeof(buf), "%s", o->path) < 0 || !streq(buf, o->verify)))
			r = -EBUSY;
		return r;
	case OP_WAIT_LINK:
		return host_wait_link(o->value[0] ? o->value : NULL, o->timeout, "%s", o->path);
	case OP_MODULE_LOAD:
		if (rec_index >= 0 && s->records[rec_index].kind == REC_VFIO)
			return load_and_record(s, (size_t)rec_index, o->value);
		return host_module_load(o->value);
	case OP_MODULE_UNLOAD: {
		double deadline = now_seconds() + o->timeout;
		/* in use (EAGAIN; EBUSY from older kernels): retried until the bound */
		while ((r = host_module_unload(o->value)) == -EAGAIN || r == -EBUSY) {
			if (now_seconds() >= deadline)
				break;
			sleep_seconds(0.1);
		}
		return r;
	}
	case OP_UNIT_STOP:
	case OP_UNIT_START: {
		struct sd_bus *bus = NULL;
		char result[32];
		r = o->path[0] ? bus_connect_user((unsigned)strtoul(o->path, NULL, 10), &bus) : bus_connect(&bus);
		if (r < 0)
			r = -ECANCELED;
		else
			r = bus_unit_job(bus, o->type == OP_UNIT_STOP ? "StopUnit" : "StartUnit", o->value, o->timeout,
					 result, sizeof(result));
		bus_close(bus);
		return r;
	}
	case OP_SET_CPUS: {
		struct sd_bus *bus = NULL;
		r = bus_connect(&bus);
		if (r >= 0)
			r = bus_set_allowed_cpus(bus, o->path, o->value);
		bus_close(bus);
		return r < 0 ? -ECANCELED : 0; /* a method call: done, or not at all */
	}
	case OP_HUGEPAGES:
		return exec_hugepages(s, rec_index, o, run);
	case OP_HAND_OVER:
		return -EINVAL; /* handled by plan_apply() */
	}
	return -EINVAL;
}

int plan_apply(struct run *run, struct state *s, const struct action *a)
{
	const char *stage = record_kind_name(a->stage);
	char line[PATH_MAX + 700];
	ssize_t idx = a->undoes;
	bool undo = a->undoes >= 0;
	int r;

	if (a->has_record) {
		r = state_add(s, &a->rec);
		if (r < 0)
			return log_fail(stage, r, "cannot record the change in the state file under %s", STATE_DIR);
		idx = (ssize_t)s->n_records - 1;
	}
	for (size_t i = 0; i < a->n_ops; i++) {
		const struct op *o = &a->ops[i];

		op_line(o, line, sizeof(line));
		log_debug("action", "%s", line);
		if (o->type == OP_HAND_OVER) {
			r = state_hand_over(o->path, &s->records[a->undoes]);
			if (r < 0)
				return log_error(stage, r, "cannot hand %s over to VM \"%s\"", record_key(&s->records[a->undoes]),
						 o->value);
			continue;
		}
		r = exec_op(run, s, idx, o);
		if (r < 0 && (o->optional || (o->ok_errno && (-r == o->ok_errno ||
							      (o->ok_errno == EAGAIN && r == -EBUSY))))) {
			log_info(stage, "%s: %s", o->fail, strerror(-r));
			continue;
		}
		if (r == -EINTR && o->type == OP_WRITE && o->timeout > 0)
			return undo ? log_error(stage, 0, "%s: the kernel did not finish the write within %.0f s", o->fail,
						o->timeout)
				    : log_fail(stage, 0,
					       "%s: the kernel did not finish the write within %.0f s (is something still "
					       "using the device?)",
					       o->fail, o->timeout);
		if (r == -ETIMEDOUT && (o->type == OP_WRITE || o->type == OP_WAIT_LINK)) {
			char now[128] = "";
			if (o->type == OP_WAIT_LINK && host_link_name(now, sizeof(now), "%s", o->path) < 0)
				strcpy(now, "none");
			if (now[0])
				r = undo ? log_error(stage, 0, "%s within %.1f s (driver: %s)", o->fail, o->timeout, now)
					 : log_fail(stage, 0, "%s within %.1f s (driver: %s)", o->fail, o->timeout, now);
			else {
				/* the write may still happen: its record must outlive this run */
				if (undo)
					log_error(stage, 0, "%s: the kernel did not finish the write within %.0f s",
						  o->fail, o->timeout);
				else
					log_fail(stage, 0,
						 "%s: the kernel did not finish the write within %.0f s (is something "
						 "still using the device?); it stays recorded for release",
						 o->fail, o->timeout);
				return -EINPROGRESS;
			}
			return r;
		}
		if (r < 0 && o->type == OP_MODULE_UNLOAD && (r == -EAGAIN || r == -EBUSY) && !undo) {
			char users[512];
			gpu_users(users, sizeof(users), NULL);
			return log_fail(stage, 0, "module %s is in use%s%s", o->value, users[0] ? " by " : "", users);
		}
		if (r < 0 && o->type == OP_HUGEPAGES)
			return r; /* reported where the shortfall is known */
		if (r < 0 && (o->type == OP_UNIT_STOP || o->type == OP_UNIT_START || o->type == OP_SET_CPUS)) {
			/* systemd refused the call itself: no job was made, nothing changed */
			if (r == -ECANCELED && i == 0 && a->has_record)
				(void)state_drop(s, (size_t)idx);
			return undo ? log_error(stage, 0, "%s: %s", o->fail, bus_last_error())
				    : log_fail(stage, 0, "%s: %s", o->fail, bus_last_error());
		}
		if (r < 0)
			return undo ? log_error(stage, r, "%s", o->fail) : log_fail(stage, r, "%s", o->fail);
	}
	if (a->done[0])
		log_info(stage, "%s", a->done);
	if (undo)
		return state_drop(s, (size_t)a->undoes);
	return 0;
}

/*
 * Hugepages: write the target, read the count back (a write of nr_hugepages is a request, not
 * a promise), and until the deadline compact memory (and drop caches, if allowed) and retry.
 * Every write, and sync(), is made in a watchdog child with what is left of the time: the
 * timeout is a hard bound even for a kernel that blocks in the allocator. The record says, at
 * every moment, how many pages this VM added, or that it is not known (a write in flight).
 */
static int set_added(struct state *s, struct record *rec, bool known, uint64_t added)
{
	if (!rec)
		return 0;
	rec->hugepages.added_known = known;
	rec->hugepages.added = known ? added : 0;
	/* "not known" is written before the pool is touched; what was added then goes into the
	 * next save (the next record's, or the one marking prepare complete): one write less per
	 * allocation, and a hook killed before that save leaves "not known", which release
	 * handles (it gives back no more than was asked for) */
	return known ? 0 : state_save(s);
}

static int exec_hugepages(struct state *s, ssize_t rec_index, const struct op *o, struct run *run)
{
	struct record *rec = rec_index >= 0 ? &s->records[rec_index] : NULL;
	uint64_t target = strtoull(o->value, NULL, 10), before = rec ? rec->hugepages.before : 0, got = 0;
	double deadline = now_seconds() + o->timeout;
	bool drop = run->vm && run->vm->hp_drop_caches, dropped = false;
	uint64_t last = 0;
	unsigned rounds = 0, stalled = 0;
	char buf[32];
	int r;

#define LEFT() MAX(deadline - now_seconds(), 0.05)
	for (;;) {
		r = set_added(s, rec, false, 0);
		if (r < 0)
			return log_fail("hugepages", r, "cannot record the change in the state file");
		r = host_write(o->value, strlen(o->value), LEFT(), "%s/nr_hugepages", o->path);
		if (r == -ETIMEDOUT) {
			log_fail("hugepages", 0,
				 "the write of %s/nr_hugepages did not return within %.0f s; it stays recorded for release",
				 o->path, o->timeout);
			return -EINPROGRESS;
		}
		/* -EINTR: the deadline ended the allocation; what it got is read back below */
		if (r < 0 && r != -ENOMEM && r != -EINTR)
			return log_fail("hugepages", r, "cannot write %s/nr_hugepages", o->path);
		if (host_read(buf, sizeof(buf), "%s/nr_hugepages", o->path) >= 0)
			got = strtoull(buf, NULL, 10);
		r = set_added(s, rec, true, got > before ? got - before : 0);
		if (r < 0)
			return log_fail("hugepages", r, "cannot record the change in the state file");
		if (got >= target)
			return 0;
		/*
		 * The kernel reclaims and compacts inside the write already: once a round of our
		 * own compaction brings (next to) nothing twice in a row, no more is coming. The
		 * page cache is dropped once, if allowed, before giving up.
		 */
		stalled = rounds > 0 && got < last + MAX((target - before) / 100, 1) ? stalled + 1 : 0;
		if (stalled >= 2 && drop && !dropped) {
			dropped = true;
			stalled = 0;
			(void)host_sync(LEFT());
			(void)host_write("3", 1, LEFT(), "/proc/sys/vm/drop_caches");
		}
		if (stalled >= 2 || now_seconds() >= deadline) {
			unsigned long long had = (got > before ? got - before : 0) + o->had;
			return log_fail("hugepages", 0,
					"only %llu of %llu %s could be had (%s; memory too fragmented): ask for at "
					"most %llu, reserve them at boot (hugepages= on the kernel command line), or "
					"use 1 GiB pages",
					had, (unsigned long long)(target - before) + o->had, o->fail,
					stalled >= 2 ? "compacting memory brought no more" : "not in time", had);
		}
		/* defragment, then try again */
		log_debug("hugepages", "%llu of %llu pages; compacting memory", (unsigned long long)got,
			  (unsigned long long)target);
		last = got;
		rounds++;
		(void)host_write("1", 1, LEFT(), "/proc/sys/vm/compact_memory");
		if (now_seconds() < deadline)
			sleep_seconds(MIN(0.02, deadline - now_seconds()));
	}
#undef LEFT
}
