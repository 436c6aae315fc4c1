/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <limits.h>
#include <string.h>

#include "bus.h"
#include "cpuset.h"
#include "dlib.h"
#include "host.h"
#include "macro.h"

#define DEST "org.freedesktop.systemd1"
#define PATH "/org/freedesktop/systemd1"
#define MANAGER "org.freedesktop.systemd1.Manager"

static char last_error[PATH_MAX + 256];

const char *bus_last_error(void)
{
	return last_error;
}

static int fail(sd_bus_error *e, int r)
{
	snprintf(last_error, sizeof(last_error), "%s", e && e->message ? e->message : strerror(-r));
	if (e)
		sym_sd_bus_error_free(e);
	return r < 0 ? r : -EIO;
}

/* bus_client: a bus daemon wants Hello first; systemd's private socket is peer to peer */
static int connect_address(const char *address, bool bus_client, sd_bus **ret)
{
	sd_bus *bus = NULL;
	int r;

	r = sym_sd_bus_new(&bus);
	if (r < 0)
		return r;
	r = sym_sd_bus_set_bus_client(bus, bus_client);
	if (r >= 0)
		r = sym_sd_bus_set_address(bus, address);
	if (r >= 0)
		r = sym_sd_bus_start(bus);
	if (r < 0) {
		sym_sd_bus_flush_close_unref(bus);
		return r;
	}
	*ret = bus;
	return 0;
}

/* A unix socket below the root: a bus daemon's (bus_client: Hello first) or a manager's own. */
static int connect_socket(const char *host_socket, bool bus_client, sd_bus **ret, char *path, size_t size)
{
	char address[PATH_MAX + 16];
	int r;

	snprintf(path, size, "%s", host_socket);
	r = dlopen_sdbus();
	if (r < 0) {
		snprintf(last_error, sizeof(last_error), "libsystemd is not installed");
		return r;
	}
	r = host_path(path, size, "%s", host_socket);
	if (r < 0)
		return r;
	if (bus_client && access(path, F_OK) < 0)
		return -ENOENT;
	snprintf(address, sizeof(address), "unix:path=%s", path);
	return connect_address(address, bus_client, ret);
}

int bus_connect(sd_bus **ret)
{
	char path[PATH_MAX];
	int r;

	/* the system bus first; systemd's private socket when no bus daemon answers */
	if (connect_socket("/run/dbus/system_bus_socket", true, ret, path, sizeof(path)) >= 0)
		return 0;
	r = connect_socket("/run/systemd/private", false, ret, path, sizeof(path));
	if (r < 0 && r != -EOPNOTSUPP)
		snprintf(last_error, sizeof(last_error), "cannot reach systemd (no system bus, no %s): %s", path,
			 strerror(-r));
	return r;
}

int bus_connect_user(unsigned uid, sd_bus **ret)
{
	char sock[64], path[PATH_MAX];
	int r;

	/* the user's manager on its private socket: root may connect, nobody else can send */
	snprintf(sock, sizeof(sock), "/run/user/%u/systemd/private", uid);
	r = connect_socket(sock, false, ret, path, sizeof(path));
	if (r < 0 && r != -EOPNOTSUPP)
		snprintf(last_error, sizeof(last_error), "cannot reach the systemd manager of user %u (%s): %s", uid,
			 path, strerror(-r));
	return r;
}

void bus_close(sd_bus *bus)
{
	if (bus)
		sym_sd_bus_flush_close_unref(bus);
}

static int unit_path_by(sd_bus *bus, const char *method, const char *unit, char *ret, size_t size)
{
	sd_bus_error e = SD_BUS_ERROR_NULL;
	sd_bus_message *m = NULL;
	const char *p;
	int r;

	r = sym_sd_bus_call_method(bus, DEST, PATH, MANAGER, method, &e, &m, "s", unit);
	if (r < 0) {
		bool missing = sym_sd_bus_error_has_name(&e, "org.freedesktop.systemd1.NoSuchUnit");
		fail(&e, r);
		return missing ? -ENOENT : r;
	}
	r = sym_sd_bus_message_read(m, "o", &p);
	if (r >= 0 && strlen(p) < size)
		strcpy(ret, p);
	sym_sd_bus_message_unref(m);
	return r < 0 ? r : 0;
}

static int unit_path(sd_bus *bus, const char *unit, char *ret, size_t size)
{
	return unit_path_by(bus, "GetUnit", unit, ret, size);
}

static int unit_property(sd_bus *bus, const char *path, const char *name, char *ret, size_t size)
{
	sd_bus_error e = SD_BUS_ERROR_NULL;
	char *v = NULL;
	int r;

	r = sym_sd_bus_get_property_string(bus, DEST, path, "org.freedesktop.systemd1.Unit", name, &e, &v);
	if (r < 0)
		return fail(&e, r);
	snprintf(ret, size, "%s", v);
	free(v);
	return 0;
}

int bus_unit_state(sd_bus *bus, const char *unit, char *ret, size_t size, char *id, size_t id_size)
{
	char path[256], load[32];
	int r;

	/* LoadUnit: a unit that exists but is not loaded now (inactive, unreferenced) is found too */
	r = unit_path_by(bus, "LoadUnit", unit, path, sizeof(path));
	if (r < 0)
		return r;
	r = unit_property(bus, path, "LoadState", load, sizeof(load));
	if (r < 0)
		return r;
	if (streq(load, "not-found")) {
		snprintf(last_error, sizeof(last_error), "unit %s does not exist", unit);
		return -ENOENT;
	}
	r = unit_property(bus, path, "ActiveState", ret, size);
	if (r >= 0 && id)
		r = unit_property(bus, path, "Id", id, id_size);
	return r;
}

int bus_system_state(sd_bus *bus, char *ret, size_t size)
{
	sd_bus_error e = SD_BUS_ERROR_NULL;
	char *state = NULL;
	int r;

	r = sym_sd_bus_get_property_string(bus, DEST, PATH, MANAGER, "SystemState", &e, &state);
	if (r < 0)
		return fail(&e, r);
	snprintf(ret, size, "%s", state);
	free(state);
	return 0;
}

struct job_wait {
	char path[256];
	char result[32];
	char owner[256]; /* the unique name of org.freedesktop.systemd1 on a bus; "" otherwise */
	bool done;
};

static int on_job_removed(sd_bus_message *m, void *data, sd_bus_error *e)
{
	struct job_wait *w = data;
	const char *path, *unit, *result, *sender;

	uint32_t id;

	/* only systemd's word counts: any peer on a bus can send a signal of this name */
	sender = sym_sd_bus_message_get_sender(m);
	if (w->owner[0] && (!sender || !streq(sender, w->owner)))
		return 0;
	if (sym_sd_bus_message_read(m, "uoss", &id, &path, &unit, &result) < 0)
		return 0;
	if (streq(path, w->path)) {
		snprintf(w->result, sizeof(w->result), "%s", result);
		w->done = true;
	}
	return 0;
}

int bus_unit_job(sd_bus *bus, const char *method, const char *unit, double timeout, char *result,
		 size_t size)
{
	sd_bus_error e = SD_BUS_ERROR_NULL;
	sd_bus_message *m = NULL;
	sd_bus_slot *slot = NULL;
	struct job_wait w = { .done = false };
	double deadline = now_seconds() + timeout;
	const char *job;
	int r;

	/*
	 * Subscribe before the call, so the job's end cannot be missed. On a bus, from the peer
	 * that owns systemd's name only (the bus daemon sets the sender; nobody can forge it); on
	 * systemd's private socket no one else can send anything.
	 */
	if (sym_sd_bus_is_bus_client(bus) > 0) {
		const char *owner;
		r = sym_sd_bus_call_method(bus, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
					   "GetNameOwner", &e, &m, "s", DEST);
		if (r < 0)
			return fail(&e, r);
		r = sym_sd_bus_message_read(m, "s", &owner);
		if (r >= 0)
			snprintf(w.owner, sizeof(w.owner), "%s", owner);
		m = sym_sd_bus_message_unref(m);
		if (r < 0)
			return fail(NULL, r);
	}
	r = sym_sd_bus_match_signal(bus, &slot, w.owner[0] ? w.owner : NULL, PATH, MANAGER, "JobRemoved",
				    on_job_removed, &w);
	if (r < 0)
		return fail(NULL, r);
	r = sym_sd_bus_call_method(bus, DEST, PATH, MANAGER, method, &e, &m, "ss", unit, "replace");
	if (r < 0) {
		sym_sd_bus_slot_unref(slot);
		fail(&e, r);
		return -ECANCELED; /* refused: no job, nothing changed */
	}
	r = sym_sd_bus_message_read(m, "o", &job);
	if (r >= 0)
		snprintf(w.path, sizeof(w.path), "%s", job);
	sym_sd_bus_message_unref(m);
	while (r >= 0 && !w.done) {
		double left = deadline - now_seconds();
		r = sym_sd_bus_process(bus, NULL);
		if (r > 0)
			continue;
		if (r < 0)
			break;
		if (left <= 0) {
			r = -ETIMEDOUT;
			break;
		}
		r = sym_sd_bus_wait(bus, (uint64_t)(left * 1e6));
	}
	sym_sd_bus_slot_unref(slot);
	if (r < 0 && r != -ETIMEDOUT)
		return fail(NULL, r);
	snprintf(result, size, "%s", w.done ? w.result : "timeout");
	if (r == -ETIMEDOUT)
		snprintf(last_error, sizeof(last_error), "the %s job of %s did not finish within %.0f s", method,
			 unit, timeout);
	else if (!streq(w.result, "done"))
		snprintf(last_error, sizeof(last_error), "the %s job of %s ended with \"%s\"", method, unit, w.result);
	return r == -ETIMEDOUT ? r : streq(w.result, "done") ? 0 : -EIO;
}

static const char *unit_interface(const char *unit)
{
	size_t l = strlen(unit);

	if (l > 6 && streq(unit + l - 6, ".slice"))
		return "org.freedesktop.systemd1.Slice";
	if (l > 6 && streq(unit + l - 6, ".scope"))
		return "org.freedesktop.systemd1.Scope";
	return "org.freedesktop.systemd1.Service";
}

static int get_allowed_mask(sd_bus *bus, const char *unit, uint8_t *mask, size_t max, size_t *ret_len);

int bus_get_allowed_cpus(sd_bus *bus, const char *unit, char *ret, size_t size)
{
	struct cpuset set = { { 0 } };
	uint8_t mask[CPUSET_MAX / 8];
	size_t len = 0;
	int r = get_allowed_mask(bus, unit, mask, sizeof(mask), &len);

	if (r < 0)
		return r;
	for (size_t c = 0; c < len * 8; c++)
		if (mask[c / 8] & (1u << (c % 8)))
			cpuset_set(&set, (unsigned)c);
	cpuset_format(&set, ret, size);
	return 0;
}

static int get_allowed_mask(sd_bus *bus, const char *unit, uint8_t *mask, size_t max, size_t *ret_len)
{
	sd_bus_error e = SD_BUS_ERROR_NULL;
	sd_bus_message *m = NULL;
	char path[256];
	const void *p;
	size_t len = 0;
	int r;

	r = unit_path(bus, unit, path, sizeof(path));
	if (r < 0)
		return r;
	r = sym_sd_bus_get_property(bus, DEST, path, unit_interface(unit), "AllowedCPUs", &e, &m, "ay");
	if (r < 0)
		return fail(&e, r);
	r = sym_sd_bus_message_read_array(m, 'y', &p, &len);
	if (r >= 0) {
		if (len > max)
			r = -E2BIG;
		else
			memcpy(mask, p, len);
	}
	sym_sd_bus_message_unref(m);
	*ret_len = len;
	return r < 0 ? fail(NULL, r) : 0;
}

int bus_set_allowed_cpus(sd_bus *bus, const char *unit, const char *cpus)
{
	struct cpuset set;
	uint8_t mask[CPUSET_MAX / 8] = { 0 };
	size_t len = 0;
	sd_bus_error e = SD_BUS_ERROR_NULL;
	sd_bus_message *m = NULL, *reply = NULL;
	int r;

	if (cpuset_parse(cpus, &set) < 0)
		return -EINVAL;
	for (unsigned c = 0; c < CPUSET_MAX; c++)
		if (cpuset_has(&set, c)) {
			mask[c / 8] |= (uint8_t)(1u << (c % 8));
			len = c / 8 + 1;
		}
	r = sym_sd_bus_message_new_method_call(bus, &m, DEST, PATH, MANAGER, "SetUnitProperties");
	if (r >= 0)
		r = sym_sd_bus_message_append(m, "sb", unit, 1);
	if (r >= 0)
		r = sym_sd_bus_message_open_container(m, 'a', "(sv)");
	if (r >= 0)
		r = sym_sd_bus_message_open_container(m, 'r', "sv");
	if (r >= 0)
		r = sym_sd_bus_message_append(m, "s", "AllowedCPUs");
	if (r >= 0)
		r = sym_sd_bus_message_open_container(m, 'v', "ay");
	if (r >= 0)
		r = sym_sd_bus_message_append_array(m, 'y', mask, len);
	for (int i = 0; i < 3 && r >= 0; i++)
		r = sym_sd_bus_message_close_container(m);
	if (r >= 0)
		r = sym_sd_bus_call(bus, m, 0, &e, &reply);
	if (m)
		sym_sd_bus_message_unref(m);
	if (reply)
		sym_sd_bus_message_unref(reply);
	return r < 0 ? fail(&e, r) : 0;
}
