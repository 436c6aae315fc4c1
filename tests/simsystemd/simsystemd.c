// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * simsystemd: a simulated systemd manager for the black-box tests. It listens on a unix socket
 * and speaks peer-to-peer D-Bus as systemd does on its private socket (/run/systemd/private):
 * no bus daemon and no Hello, replies and signals with the sender "org.freedesktop.systemd1",
 * every signal sent to every connection, peers other than root or our own uid refused.
 *
 *   /org/freedesktop/systemd1  org.freedesktop.systemd1.Manager: GetUnit(s)->o, LoadUnit(s)->o (as
 *     GetUnit: every unit of the spec is loaded; an unknown one is NoSuchUnit), StartUnit(ss)->o,
 *     StopUnit(ss)->o, SetUnitProperties(sba(sv)) (AllowedCPUs only), Subscribe(), Unsubscribe();
 *     properties SystemState, Version; signals JobNew(uos), JobRemoved(uoss)
 *   /org/freedesktop/systemd1/unit/<escaped name>  .Unit: Id, LoadState, ActiveState;
 *     .Service/.Slice/.Scope: AllowedCPUs, EffectiveCPUs ("ay": byte cpu/8, bit cpu%8, padded to
 *     8 bytes as systemd's cpu_set_to_dbus() does; an empty array resets AllowedCPUs)
 *
 * Jobs: StartUnit/StopUnit reply with a job path at once, the unit turns activating or
 * deactivating, and after the delay it is active or inactive and JobRemoved(id, job, unit,
 * "done") goes out. With a fault the result is the fault's and the unit keeps its state; "hang"
 * never ends. A job of the other type on the same unit cancels the pending one (JobRemoved
 * "canceled"; mode "fail": TransactionIsDestructive instead); one of the same type is merged
 * (same path). StartUnit while the system is "stopping" fails with TransactionIsDestructive.
 *
 * usage: simsystemd --spec SPEC --socket PATH [--dump FILE] [--log FILE] [--delay-ms N]
 *                   [--pidfile FILE] [--hello] [-f|--foreground]
 * Without -f it forks once the socket listens and the first dump is written, prints the PID on
 * stdout and exits 0. SIGTERM/SIGINT: exit 0, removing the socket. SIGUSR1: dump again (to
 * stdout without --dump). --dump FILE is rewritten atomically after every change. --log FILE
 * gets one line per call and per job end. --hello answers a bus client's Hello, AddMatch and
 * RemoveMatch (busctl always sends Hello; systemd does not answer it: keep it off for vfiohook).
 *
 * SPEC, one directive a line, '#' starts a comment; any error is fatal, with its line number:
 *   unit NAME active|inactive|failed [alias=NAME[,NAME]] [stop=R] [start=R] [delay=MS]
 *        R: done failed canceled timeout dependency skipped (the JobRemoved result) or hang
 *   slice NAME.slice [allowed=CPULIST] [set=denied]     (always active)
 *   scope NAME.scope [allowed=CPULIST] [set=denied]     (set=denied: SetUnitProperties refused)
 *   system-state running|stopping|...                  (default running)
 *   cpus CPULIST                                        (online CPUs, default 0-7)
 * Dump: "system-state S", then per unit in spec order "unit|slice|scope NAME STATE[ job=start|
 * stop][ allowed=LIST effective=LIST]" (CPUs for slices, scopes and restricted services), then
 * "persistent-writes N" (SetUnitProperties calls with runtime=false).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>
#include <systemd/sd-id128.h>

#define NCPU 1024
#define MAX_UNITS 128
#define MAX_ALIASES 8
#define MAX_CONNS 64
#define ROOT "/org/freedesktop/systemd1"
#define IFACE "org.freedesktop.systemd1"
#define E_NO_UNIT "org.freedesktop.systemd1.NoSuchUnit"
#define E_DESTRUCTIVE "org.freedesktop.systemd1.TransactionIsDestructive"
#define streq(a, b) (strcmp((a), (b)) == 0)

enum kind { K_OTHER, K_SERVICE, K_SLICE, K_SCOPE };

struct cpus {
	uint8_t b[NCPU / 8];
};

struct unit {
	enum kind kind;
	char *name, *path, *aliases[MAX_ALIASES];
	int n_aliases, delay_ms; /* delay_ms -1: --delay-ms */
	char state[16], stop_result[16], start_result[16];
	bool set_denied;
	struct cpus allowed;
	struct job *job;
};

struct job {
	uint32_t id;
	char path[64], prev[16], result[16];
	struct unit *unit;
	bool start;
	sd_event_source *timer;
};

static struct unit units[MAX_UNITS];
static int n_units, delay_ms = 100;
static struct cpus online;
static char system_state[16] = "running";
static unsigned persistent_writes;
static uint32_t next_job = 1;
static bool hello;
static const char *dump_path, *socket_path;
static FILE *logf_;
static sd_event *event;
static sd_bus *conns[MAX_CONNS];

static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("simsystemd: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(2);
}

static void logmsg(const char *fmt, ...)
{
	va_list ap;
	if (!logf_)
		return;
	va_start(ap, fmt);
	vfprintf(logf_, fmt, ap);
	fputc('\n', logf_);
	fflush(logf_);
	va_end(ap);
}

/* to stderr (/dev/null once daemonized) and to the log */
static void warn(const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	fprintf(stderr, "simsystemd: %s\n", buf);
	logmsg("error: %s", buf);
}

/* ---- CPU sets ---- */

static bool cpu_has(const struct cpus *c, unsigned i)
{
	return i < NCPU && (c->b[i / 8] >> (i % 8)) & 1;
}

/* "0-3,8", strictly; "" is the empty set */
static int cpus_parse(const char *s, struct cpus *ret)
{
	memset(ret, 0, sizeof(*ret));
	while (*s) {
		char *end;
		unsigned long a, b;
		if (*s < '0' || *s > '9')
			return -1;
		a = b = strtoul(s, &end, 10);
		if (*end == '-') {
			if (end[1] < '0' || end[1] > '9')
				return -1;
			b = strtoul(end + 1, &end, 10);
		}
		if (a > b || b >= NCPU || (*end && (*end != ',' || !end[1])))
			return -1;
		for (unsigned long i = a; i <= b; i++)
			ret->b[i / 8] |= (uint8_t)(1u << (i % 8));
		s = *end ? end + 1 : end;
	}
	return 0;
}

static void cpus_format(const struct cpus *c, char *out, size_t size)
{
	size_t n = 0;
	out[0] = 0;
	for (unsigned i = 0, j; i < NCPU; i = j + 1) {
		for (j = i; cpu_has(c, i) && cpu_has(c, j + 1); j++)
			;
		if (!cpu_has(c, i))
			continue;
		n += (size_t)snprintf(out + n, n < size ? size - n : 0, "%s%u", n ? "," : "", i);
		if (j > i)
			n += (size_t)snprintf(out + n, n < size ? size - n : 0, "-%u", j);
	}
}

/* like cpuset.cpus.effective: allowed ∩ online, or the parent's (every online CPU) when empty */
static void effective(const struct unit *u, struct cpus *ret)
{
	bool any = false;
	for (size_t i = 0; i < sizeof(ret->b); i++)
		any |= (ret->b[i] = u->allowed.b[i] & online.b[i]) != 0;
	if (!any)
		*ret = online;
}

/* like systemd's cpu_set_to_dbus(): CPU_ALLOC_SIZE(highest + 1) bytes, none when empty */
static int append_cpus(sd_bus_message *m, const struct cpus *c)
{
	size_t len = 0;
	for (unsigned i = 0; i < NCPU; i++)
		if (cpu_has(c, i))
			len = (i / 64 + 1) * 8;
	return sd_bus_message_append_array(m, 'y', c->b, len);
}

/* ---- units, state dump ---- */

static struct unit *find_unit(const char *name)
{
	for (int i = 0; i < n_units; i++) {
		if (streq(units[i].name, name))
			return &units[i];
		for (int a = 0; a < units[i].n_aliases; a++)
			if (streq(units[i].aliases[a], name))
				return &units[i];
	}
	return NULL;
}

static void write_dump(FILE *f)
{
	static const char *const word[] = { "unit", "unit", "slice", "scope" };
	char a[4096], e[4096];
	struct cpus eff, none = { { 0 } };

	fprintf(f, "system-state %s\n", system_state);
	for (int i = 0; i < n_units; i++) {
		const struct unit *u = &units[i];
		fprintf(f, "%s %s %s", word[u->kind], u->name, u->state);
		if (u->job)
			fprintf(f, " job=%s", u->job->start ? "start" : "stop");
		if (u->kind == K_SLICE || u->kind == K_SCOPE || memcmp(&u->allowed, &none, sizeof(none))) {
			effective(u, &eff);
			cpus_format(&u->allowed, a, sizeof(a));
			cpus_format(&eff, e, sizeof(e));
			fprintf(f, " allowed=%s effective=%s", a, e);
		}
		fputc('\n', f);
	}
	fprintf(f, "persistent-writes %u\n", persistent_writes);
}

/* replaced atomically: a reader never sees half of it */
static void dump(void)
{
	char tmp[4096];
	FILE *f;

	if (!dump_path)
		return;
	snprintf(tmp, sizeof(tmp), "%s.tmp", dump_path);
	if (!(f = fopen(tmp, "we"))) {
		warn("%s: %s", tmp, strerror(errno));
		return;
	}
	write_dump(f);
	if (fclose(f) != 0 || rename(tmp, dump_path) < 0)
		warn("%s: %s", dump_path, strerror(errno));
}

/* as systemd's bus_foreach_bus(): to every private connection that is ready */
static void broadcast(const char *member, const char *types, ...)
{
	for (int i = 0; i < MAX_CONNS; i++) {
		va_list ap;
		if (!conns[i] || sd_bus_is_ready(conns[i]) <= 0)
			continue;
		va_start(ap, types);
		(void)sd_bus_emit_signalv(conns[i], ROOT, IFACE ".Manager", member, types, ap);
		va_end(ap);
	}
}

/* ---- jobs ---- */

static void finish_job(struct job *j, const char *result)
{
	struct unit *u = j->unit;
	const char *state = j->prev;

	if (streq(result, "done"))
		state = j->start ? "active" : streq(j->prev, "failed") ? "failed" : "inactive";
	snprintf(u->state, sizeof(u->state), "%s", state);
	u->job = NULL;
	sd_event_source_disable_unref(j->timer);
	logmsg("JobRemoved %u %s %s %s", j->id, j->path, u->name, result);
	broadcast("JobRemoved", "uoss", j->id, j->path, u->name, result);
	free(j);
	dump();
}

static int job_timer(sd_event_source *s, uint64_t usec, void *data)
{
	struct job *j = data;
	finish_job(j, j->result);
	return 0;
}

static int enqueue(sd_bus_message *m, bool start, sd_bus_error *err)
{
	const char *name, *mode, *type = start ? "start" : "stop";
	char padded[64];
	struct unit *u;
	struct job *j;
	int r;

	if ((r = sd_bus_message_read(m, "ss", &name, &mode)) < 0)
		return r;
	snprintf(padded, sizeof(padded), " %s ", mode);
	if (!strstr(" replace fail isolate replace-irreversibly ignore-dependencies ignore-requirements flush ",
		    padded) || (!start && streq(mode, "isolate")))
		return sd_bus_error_setf(err, SD_BUS_ERROR_INVALID_ARGS, "Job mode %s invalid.", mode);
	u = find_unit(name);
	logmsg("%s %s %s%s", start ? "StartUnit" : "StopUnit", name, mode, u ? "" : " -> NoSuchUnit");
	if (!u)
		return sd_bus_error_setf(err, E_NO_UNIT, "Unit %s not found.", name);
	if (start && streq(system_state, "stopping"))
		return sd_bus_error_setf(err, E_DESTRUCTIVE, "Transaction for %s/start is destructive (shutdown.target "
					 "has 'start' job queued, but 'stop' is included in transaction).", u->name);
	if (u->job && u->job->start == start) /* merged into the pending job */
		return sd_bus_reply_method_return(m, "o", u->job->path);
	if (u->job && streq(mode, "fail"))
		return sd_bus_error_setf(err, E_DESTRUCTIVE, "Transaction for %s/%s is destructive (%s has '%s' job "
					 "queued, but '%s' is included in transaction).", u->name, type, u->name,
					 start ? "stop" : "start", type);
	if (u->job)
		finish_job(u->job, "canceled");
	if (!(j = calloc(1, sizeof(*j))))
		return -ENOMEM;
	j->id = next_job++;
	snprintf(j->path, sizeof(j->path), ROOT "/job/%u", j->id);
	j->unit = u;
	j->start = start;
	snprintf(j->prev, sizeof(j->prev), "%s", u->state);
	snprintf(j->result, sizeof(j->result), "%s", start ? u->start_result : u->stop_result);
	if (!streq(j->result, "hang")) {
		/* accuracy 1 us: sd-event would otherwise coalesce wakeups over 250 ms */
		uint64_t usec = (uint64_t)(u->delay_ms >= 0 ? u->delay_ms : delay_ms) * 1000;
		if ((r = sd_event_add_time_relative(event, &j->timer, CLOCK_MONOTONIC, usec, 1, job_timer, j)) < 0) {
			free(j);
			return r;
		}
	}
	u->job = j;
	logmsg("%s %s -> job %u %s", start ? "StartUnit" : "StopUnit", u->name, j->id, j->result);
	r = sd_bus_reply_method_return(m, "o", j->path);
	broadcast("JobNew", "uos", j->id, j->path, u->name);
	if (start && !streq(u->state, "active"))
		strcpy(u->state, "activating");
	else if (!start && (streq(u->state, "active") || streq(u->state, "activating")))
		strcpy(u->state, "deactivating");
	dump();
	return r;
}

/* ---- D-Bus methods and properties ---- */

static int m_get_unit(sd_bus_message *m, void *data, sd_bus_error *err)
{
	const char *name;
	struct unit *u;
	int r;

	if ((r = sd_bus_message_read(m, "s", &name)) < 0)
		return r;
	u = find_unit(name);
	logmsg("GetUnit %s -> %s", name, u ? u->path : "NoSuchUnit");
	if (!u)
		return sd_bus_error_setf(err, E_NO_UNIT, "Unit %s not loaded.", name);
	return sd_bus_reply_method_return(m, "o", u->path);
}

static int m_start_unit(sd_bus_message *m, void *data, sd_bus_error *err)
{
	return enqueue(m, true, err);
}

static int m_stop_unit(sd_bus_message *m, void *data, sd_bus_error *err)
{
	return enqueue(m, false, err);
}

static int m_set_properties(sd_bus_message *m, void *data, sd_bus_error *err)
{
	const char *name, *prop;
	int runtime, r;
	struct unit *u;
	struct cpus set;
	bool have = false;
	char list[4096];

	if ((r = sd_bus_message_read(m, "sb", &name, &runtime)) < 0)
		return r;
	u = find_unit(name);
	if (!u || u->set_denied) {
		logmsg("SetUnitProperties %s -> %s", name, u ? "AccessDenied" : "NoSuchUnit");
		return u ? sd_bus_error_set(err, SD_BUS_ERROR_ACCESS_DENIED, "Access denied")
			 : sd_bus_error_setf(err, E_NO_UNIT, "Unit %s not found.", name);
	}
	if ((r = sd_bus_message_enter_container(m, 'a', "(sv)")) < 0)
		return r;
	while ((r = sd_bus_message_enter_container(m, 'r', "sv")) > 0) {
		const uint8_t *p;
		size_t len;

		if ((r = sd_bus_message_read(m, "s", &prop)) < 0)
			return r;
		if (!streq(prop, "AllowedCPUs") || u->kind == K_OTHER)
			return sd_bus_error_setf(err, SD_BUS_ERROR_PROPERTY_READ_ONLY,
						 "Cannot set property %s, or unknown property.", prop);
		if (sd_bus_message_enter_container(m, 'v', "ay") <= 0 ||
		    sd_bus_message_read_array(m, 'y', (const void **)&p, &len) < 0)
			return sd_bus_error_set(err, SD_BUS_ERROR_INVALID_ARGS, "AllowedCPUs must be an array of bytes (ay)");
		for (size_t i = sizeof(set.b); i < len; i++)
			if (p[i])
				return sd_bus_error_setf(err, SD_BUS_ERROR_INVALID_ARGS, "CPU index too large (max %d)", NCPU - 1);
		memset(&set, 0, sizeof(set));
		memcpy(set.b, p, len < sizeof(set.b) ? len : sizeof(set.b));
		have = true;
		if ((r = sd_bus_message_exit_container(m)) < 0 || (r = sd_bus_message_exit_container(m)) < 0)
			return r;
	}
	if (r < 0 || (r = sd_bus_message_exit_container(m)) < 0)
		return r;
	/* applied once the whole message proved valid, as systemd does */
	if (have)
		u->allowed = set;
	persistent_writes += !runtime;
	cpus_format(&u->allowed, list, sizeof(list));
	logmsg("SetUnitProperties %s runtime=%d AllowedCPUs=%s", u->name, runtime, list);
	dump();
	return sd_bus_reply_method_return(m, NULL);
}

static int m_noop(sd_bus_message *m, void *data, sd_bus_error *err)
{
	return sd_bus_reply_method_return(m, NULL);
}

static int m_hello(sd_bus_message *m, void *data, sd_bus_error *err)
{
	static unsigned n;
	char name[32];
	snprintf(name, sizeof(name), ":1.%u", ++n);
	return sd_bus_reply_method_return(m, "s", name);
}

static int p_manager(sd_bus *bus, const char *path, const char *iface, const char *prop, sd_bus_message *reply,
		     void *data, sd_bus_error *err)
{
	return sd_bus_message_append(reply, "s", streq(prop, "Version") ? "252-simsystemd" : system_state);
}

static int p_unit(sd_bus *bus, const char *path, const char *iface, const char *prop, sd_bus_message *reply,
		  void *data, sd_bus_error *err)
{
	const struct unit *u = data;
	return sd_bus_message_append(reply, "s", streq(prop, "Id") ? u->name : streq(prop, "LoadState") ? "loaded" : u->state);
}

static int p_cpus(sd_bus *bus, const char *path, const char *iface, const char *prop, sd_bus_message *reply,
		  void *data, sd_bus_error *err)
{
	const struct unit *u = data;
	struct cpus eff;

	if (streq(prop, "AllowedCPUs"))
		return append_cpus(reply, &u->allowed);
	effective(u, &eff);
	return append_cpus(reply, &eff);
}

#define METHOD(name, in, out, fn) SD_BUS_METHOD(name, in, out, fn, SD_BUS_VTABLE_UNPRIVILEGED)
static const sd_bus_vtable manager_vtable[] = {
	SD_BUS_VTABLE_START(0),
	SD_BUS_PROPERTY("Version", "s", p_manager, 0, SD_BUS_VTABLE_PROPERTY_CONST),
	SD_BUS_PROPERTY("SystemState", "s", p_manager, 0, 0),
	METHOD("GetUnit", "s", "o", m_get_unit),
	METHOD("LoadUnit", "s", "o", m_get_unit),
	METHOD("StartUnit", "ss", "o", m_start_unit),
	METHOD("StopUnit", "ss", "o", m_stop_unit),
	METHOD("SetUnitProperties", "sba(sv)", "", m_set_properties),
	METHOD("Subscribe", "", "", m_noop),
	METHOD("Unsubscribe", "", "", m_noop),
	SD_BUS_SIGNAL("JobNew", "uos", 0),
	SD_BUS_SIGNAL("JobRemoved", "uoss", 0),
	SD_BUS_VTABLE_END,
};
static const sd_bus_vtable hello_vtable[] = {
	SD_BUS_VTABLE_START(0),
	METHOD("Hello", "", "s", m_hello),
	METHOD("AddMatch", "s", "", m_noop),
	METHOD("RemoveMatch", "s", "", m_noop),
	SD_BUS_VTABLE_END,
};
static const sd_bus_vtable unit_vtable[] = {
	SD_BUS_VTABLE_START(0),
	SD_BUS_PROPERTY("Id", "s", p_unit, 0, SD_BUS_VTABLE_PROPERTY_CONST),
	SD_BUS_PROPERTY("LoadState", "s", p_unit, 0, 0),
	SD_BUS_PROPERTY("ActiveState", "s", p_unit, 0, 0),
	SD_BUS_VTABLE_END,
};
static const sd_bus_vtable cgroup_vtable[] = {
	SD_BUS_VTABLE_START(0),
	SD_BUS_PROPERTY("AllowedCPUs", "ay", p_cpus, 0, 0),
	SD_BUS_PROPERTY("EffectiveCPUs", "ay", p_cpus, 0, 0),
	SD_BUS_VTABLE_END,
};

/* unit objects; data: the kind the interface belongs to (K_OTHER for .Unit: every unit) */
static int find_object(sd_bus *bus, const char *path, const char *iface, void *data, void **found,
		       sd_bus_error *err)
{
	for (int i = 0; i < n_units; i++)
		if (streq(units[i].path, path) && (!data || units[i].kind == (enum kind)(intptr_t)data)) {
			*found = &units[i];
			return 1;
		}
	return 0;
}

/* ---- connections ---- */

static int on_disconnected(sd_bus_message *m, void *data, sd_bus_error *err)
{
	sd_bus *bus = sd_bus_message_get_bus(m);

	for (int i = 0; i < MAX_CONNS; i++)
		if (conns[i] == bus) {
			conns[i] = NULL;
			sd_bus_close_unref(bus); /* what systemd does too; sd_bus_process() holds a ref */
		}
	return 0;
}

static int serve(sd_bus *bus, int fd)
{
	static const char *const ifaces[] = { IFACE ".Unit", IFACE ".Service", IFACE ".Slice", IFACE ".Scope" };
	struct ucred cred;
	socklen_t len = sizeof(cred);
	sd_id128_t id;
	int r;

	/* systemd's bus_check_peercred() */
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return -errno;
	if (cred.uid != 0 && cred.uid != geteuid())
		return -EPERM;
	r = sd_id128_randomize(&id);
	if (r >= 0)
		r = sd_bus_set_server(bus, 1, id);
	if (r >= 0)
		r = sd_bus_set_anonymous(bus, 1);
	if (r >= 0)
		r = sd_bus_set_trusted(bus, 1);
	if (r >= 0) /* systemd (v237 and later) sets it on its direct connections */
		r = sd_bus_set_sender(bus, IFACE);
	if (r >= 0 && hello)
		r = sd_bus_add_object_vtable(bus, NULL, "/org/freedesktop/DBus", "org.freedesktop.DBus", hello_vtable, NULL);
	if (r >= 0)
		r = sd_bus_add_object_vtable(bus, NULL, ROOT, IFACE ".Manager", manager_vtable, NULL);
	for (intptr_t k = K_OTHER; r >= 0 && k <= K_SCOPE; k++)
		r = sd_bus_add_fallback_vtable(bus, NULL, ROOT "/unit", ifaces[k], k ? cgroup_vtable : unit_vtable,
					       find_object, (void *)k);
	if (r >= 0)
		r = sd_bus_match_signal(bus, NULL, NULL, "/org/freedesktop/DBus/Local", "org.freedesktop.DBus.Local",
					"Disconnected", on_disconnected, NULL);
	if (r >= 0)
		r = sd_bus_attach_event(bus, event, 0);
	return r < 0 ? r : sd_bus_start(bus);
}

static int on_accept(sd_event_source *s, int fd, uint32_t revents, void *data)
{
	sd_bus *bus = NULL;
	int cfd, slot = -1, r;

	if ((cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) < 0)
		return 0;
	for (int i = 0; i < MAX_CONNS && slot < 0; i++)
		if (!conns[i])
			slot = i;
	if (slot < 0 || (r = sd_bus_new(&bus)) < 0) {
		warn("connection refused: too many connections");
		close(cfd);
		return 0;
	}
	if ((r = sd_bus_set_fd(bus, cfd, cfd)) < 0)
		close(cfd);
	else
		r = serve(bus, cfd);
	if (r < 0) {
		warn("connection refused: %s", strerror(-r));
		sd_bus_close_unref(bus);
		return 0;
	}
	conns[slot] = bus;
	return 0;
}

static int on_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *data)
{
	if (si->ssi_signo != SIGUSR1)
		return sd_event_exit(event, 0);
	if (dump_path)
		dump();
	else {
		write_dump(stdout);
		fflush(stdout);
	}
	return 0;
}

/* ---- spec ---- */

static bool one_of(const char *word, const char *list)
{
	char padded[256];
	snprintf(padded, sizeof(padded), " %s ", word);
	return !strchr(word, ' ') && strstr(list, padded);
}

static const char *suffix(const char *name)
{
	const char *dot = strrchr(name, '.');
	return dot ? dot : "";
}

static bool unit_name_ok(const char *s)
{
	return strlen(s) <= 255 && s[0] != '.' &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789:-_.\\@") == strlen(s) &&
	       one_of(suffix(s), " .service .socket .target .device .mount .automount .swap .timer .path .slice .scope ");
}

static void parse_option(struct unit *u, char *opt, const char *file, int no)
{
	char *v = strchr(opt, '='), *save = NULL, *end;

	if (!v)
		die("%s:%d: '%s' is not KEY=VALUE", file, no, opt);
	*v++ = 0;
	if (u->kind != K_SLICE && u->kind != K_SCOPE && streq(opt, "alias")) {
		for (char *a = strtok_r(v, ",", &save); a; a = strtok_r(NULL, ",", &save)) {
			if (!unit_name_ok(a) || !streq(suffix(a), suffix(u->name)))
				die("%s:%d: alias '%s' is not a unit name of the same type", file, no, a);
			if (find_unit(a) || streq(a, u->name) || u->n_aliases == MAX_ALIASES)
				die("%s:%d: %s is defined twice (or too many aliases)", file, no, a);
			u->aliases[u->n_aliases++] = strdup(a);
		}
	} else if (u->kind != K_SLICE && u->kind != K_SCOPE && (streq(opt, "stop") || streq(opt, "start"))) {
		if (!one_of(v, " done failed canceled timeout dependency skipped hang "))
			die("%s:%d: %s=%s: expected done, failed, canceled, timeout, dependency, skipped or hang", file,
			    no, opt, v);
		strcpy(streq(opt, "stop") ? u->stop_result : u->start_result, v);
	} else if (u->kind != K_SLICE && u->kind != K_SCOPE && streq(opt, "delay")) {
		long ms = strtol(v, &end, 10);
		if (!*v || *end || ms < 0 || ms > 600000)
			die("%s:%d: delay=%s: expected milliseconds (0-600000)", file, no, v);
		u->delay_ms = (int)ms;
	} else if (u->kind != K_OTHER && streq(opt, "allowed")) {
		if (cpus_parse(v, &u->allowed) < 0)
			die("%s:%d: allowed=%s is not a CPU list", file, no, v);
	} else if (u->kind != K_OTHER && streq(opt, "set") && streq(v, "denied"))
		u->set_denied = true;
	else
		die("%s:%d: unknown option '%s=%s' for %s", file, no, opt, v, u->name);
}

static void load_spec(const char *file)
{
	FILE *f = fopen(file, "re");
	char *line = NULL;
	size_t cap = 0;
	int no = 0;
	bool have_state = false, have_cpus = false;

	if (!f)
		die("%s: %s", file, strerror(errno));
	cpus_parse("0-7", &online);
	while (getline(&line, &cap, f) >= 0) {
		char *save = NULL, *args[16];
		int n = 0;

		no++;
		for (char *h = line; (h = strchr(h, '#')); h++)
			if (h == line || h[-1] == ' ' || h[-1] == '\t') {
				*h = 0;
				break;
			}
		for (char *w = strtok_r(line, " \t\r\n", &save); w; w = strtok_r(NULL, " \t\r\n", &save))
			if (n == 16)
				die("%s:%d: too many words", file, no);
			else
				args[n++] = w;
		if (n == 0)
			continue;
		if (streq(args[0], "system-state")) {
			if (n != 2 || have_state)
				die("%s:%d: expected one 'system-state STATE'", file, no);
			if (!one_of(args[1], " initializing starting running degraded maintenance stopping offline unknown "))
				die("%s:%d: unknown system state '%s'", file, no, args[1]);
			snprintf(system_state, sizeof(system_state), "%s", args[1]);
			have_state = true;
		} else if (streq(args[0], "cpus")) {
			struct cpus none = { { 0 } };
			if (n != 2 || have_cpus || cpus_parse(args[1], &online) < 0 || !memcmp(&online, &none, sizeof(none)))
				die("%s:%d: expected one 'cpus LIST' (a non-empty CPU list such as 0-7)", file, no);
			have_cpus = true;
		} else if (streq(args[0], "unit") || streq(args[0], "slice") || streq(args[0], "scope")) {
			struct unit *u = &units[n_units];
			bool is_unit = streq(args[0], "unit");
			const char *want = is_unit ? NULL : streq(args[0], "slice") ? ".slice" : ".scope";

			if (n_units == MAX_UNITS)
				die("%s:%d: too many units", file, no);
			if (n < (is_unit ? 3 : 2))
				die("%s:%d: expected '%s'", file, no,
				    is_unit ? "unit NAME active|inactive|failed [OPTION...]" : "slice|scope NAME [OPTION...]");
			if (!unit_name_ok(args[1]))
				die("%s:%d: '%s' is not a unit name", file, no, args[1]);
			if (want && !streq(suffix(args[1]), want))
				die("%s:%d: '%s' does not end in %s", file, no, args[1], want);
			if (is_unit && one_of(suffix(args[1]), " .slice .scope "))
				die("%s:%d: use 'slice' or 'scope' for %s", file, no, args[1]);
			if (find_unit(args[1]))
				die("%s:%d: %s is defined twice", file, no, args[1]);
			if (is_unit && !one_of(args[2], " active inactive failed "))
				die("%s:%d: state '%s' is not active, inactive or failed", file, no, args[2]);
			u->kind = want ? (want[2] == 'l' ? K_SLICE : K_SCOPE) : streq(suffix(args[1]), ".service") ? K_SERVICE : K_OTHER;
			u->name = strdup(args[1]);
			strcpy(u->state, is_unit ? args[2] : "active");
			strcpy(u->stop_result, "done");
			strcpy(u->start_result, "done");
			u->delay_ms = -1;
			for (int i = is_unit ? 3 : 2; i < n; i++)
				parse_option(u, args[i], file, no);
			if (!u->name || sd_bus_path_encode(ROOT "/unit", u->name, &u->path) < 0)
				die("out of memory");
			n_units++;
		} else
			die("%s:%d: unknown directive '%s' (unit, slice, scope, system-state, cpus)", file, no, args[0]);
	}
	if (ferror(f))
		die("%s: %s", file, strerror(errno));
	free(line);
	fclose(f);
}

/* ---- main ---- */

static void write_pidfile(const char *file, pid_t pid)
{
	FILE *p = fopen(file, "we");
	if (!p || fprintf(p, "%d\n", (int)pid) < 0 || fclose(p) != 0) {
		if (pid != getpid())
			kill(pid, SIGTERM);
		die("%s: %s", file, strerror(errno));
	}
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "spec", required_argument, NULL, 's' },     { "socket", required_argument, NULL, 'S' },
		{ "dump", required_argument, NULL, 'd' },     { "log", required_argument, NULL, 'l' },
		{ "delay-ms", required_argument, NULL, 'D' }, { "pidfile", required_argument, NULL, 'p' },
		{ "hello", no_argument, NULL, 'H' },	      { "foreground", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },	      { NULL, 0, NULL, 0 },
	};
	static const char usage[] = "usage: simsystemd --spec SPEC --socket PATH [--dump FILE] [--log FILE] "
				    "[--delay-ms N] [--pidfile FILE] [--hello] [-f|--foreground]\n";
	const char *spec = NULL, *pidfile = NULL;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	bool foreground = false;
	sigset_t mask;
	char *end;
	int c, fd, r;

	while ((c = getopt_long(argc, argv, "fh", opts, NULL)) >= 0)
		switch (c) {
		case 's': spec = optarg; break;
		case 'S': socket_path = optarg; break;
		case 'd': dump_path = optarg; break;
		case 'p': pidfile = optarg; break;
		case 'H': hello = true; break;
		case 'f': foreground = true; break;
		case 'l':
			if (!(logf_ = fopen(optarg, "ae")))
				die("%s: %s", optarg, strerror(errno));
			break;
		case 'D':
			delay_ms = (int)strtol(optarg, &end, 10);
			if (!*optarg || *end || delay_ms < 0 || delay_ms > 600000)
				die("--delay-ms %s: expected milliseconds (0-600000)", optarg);
			break;
		case 'h': fputs(usage, stdout); return 0;
		default: fputs(usage, stderr); return 2;
		}
	if (!spec || !socket_path || optind != argc) {
		fputs(usage, stderr);
		return 2;
	}
	load_spec(spec);
	if (strlen(socket_path) >= sizeof(sa.sun_path))
		die("%s: socket path too long", socket_path);
	strcpy(sa.sun_path, socket_path);
	if (lstat(socket_path, &st) == 0 && !S_ISSOCK(st.st_mode))
		die("%s exists and is not a socket", socket_path);
	unlink(socket_path); /* a stale socket, as systemd does */
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, SOMAXCONN) < 0)
		die("%s: %s", socket_path, strerror(errno));
	dump();

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGUSR1);
	sigprocmask(SIG_BLOCK, &mask, NULL); /* before fork: none can be lost */
	signal(SIGPIPE, SIG_IGN);
	if (!foreground) {
		pid_t pid;
		int null;

		fflush(NULL);
		if ((pid = fork()) < 0)
			die("fork: %s", strerror(errno));
		if (pid > 0) {
			if (pidfile)
				write_pidfile(pidfile, pid);
			printf("%d\n", (int)pid);
			return 0;
		}
		setsid();
		if ((null = open("/dev/null", O_RDWR | O_CLOEXEC)) >= 0)
			for (int i = 0; i < 3; i++)
				dup2(null, i);
	} else if (pidfile)
		write_pidfile(pidfile, getpid());
	r = sd_event_new(&event);
	if (r >= 0)
		r = sd_event_add_io(event, NULL, fd, EPOLLIN, on_accept, NULL);
	for (int i = 0; r >= 0 && i < 3; i++)
		r = sd_event_add_signal(event, NULL, i == 0 ? SIGTERM : i == 1 ? SIGINT : SIGUSR1, on_signal, NULL);
	if (r >= 0)
		r = sd_event_loop(event);
	for (int i = 0; i < MAX_CONNS; i++)
		if (conns[i])
			sd_bus_flush_close_unref(conns[i]);
	unlink(socket_path);
	if (r < 0)
		warn("event loop: %s", strerror(-r));
	return r < 0;
}
